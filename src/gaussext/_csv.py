"""CSV files read in chunks of float64 rows, at the speed of a C parser.

A chunk is about CHUNK_BYTES of whole lines.  Its selected columns are
parsed by the compiled reader of plain lines (``_csvparse``); a chunk it does
not accept -- a blank line, a quoted field, a cell that is not a plain number,
a wrong number of cells, a non-finite value, a label other than 0 or 1 -- is
read again by the ``csv`` module into a :class:`gaussext._io.Table`, which
either reads it exactly as the whole-file reader would or raises its one-line
message naming the file, line and column.  The fast path never decides a
message, so messages are the same whichever path a chunk takes; the ``csv``
module's cost is paid only by chunks that need it.
"""

import numpy as np

from gaussext._csvparse import parse_plain_lines
from gaussext._io import DataError, column_index, csv_text_table, read_csv_header

__all__ = ["CHUNK_BYTES", "CsvChunk", "CsvSource"]

# 8 MiB of text a chunk (about 55,000 rows of 8 numbers): per-chunk costs are
# negligible, and the csv module's fallback (about 1 KB of Python objects a
# row) stays bounded.
CHUNK_BYTES = 1 << 23
# Rows read with the csv module to tell numeric columns from text columns.
SAMPLE_BYTES = 1 << 16


class CsvChunk:
    """Consecutive data rows of a CSV file: features, labels, line numbers.

    Attributes
    ----------
    X : ndarray of shape (n_rows, n_features), float64
    labels : ndarray of shape (n_rows,), uint8, or None
    start : int
        Index of the chunk's first row among the file's data rows.
    """

    def __init__(self, X, labels, start, first_line, lines=None):
        self.X, self.labels, self.start = X, labels, start
        self._first_line, self._lines = first_line, lines

    def row_label(self, row):
        """How a user finds row `row` of the chunk: "line N" of the file."""
        line = self._first_line + row if self._lines is None else self._lines[row]
        return f"line {line}"


def _record_end(buffer):
    """Bytes of `buffer` up to and including its last newline outside quotes
    (0 when there is none)."""
    end = buffer.rfind(b"\n")
    if b'"' in buffer:
        while end >= 0 and buffer.count(b'"', 0, end) % 2:
            end = buffer.rfind(b"\n", 0, end)
    return end + 1


class CsvSource:
    """A CSV file with a header row, read in chunks of the selected columns.

    Parameters
    ----------
    path : str
    chunk_bytes : int, optional
        Text per chunk (CHUNK_BYTES by default).
    """

    has_header = True

    def __init__(self, path, chunk_bytes=None):
        self.path = path
        self.chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
        with open(path, "rb") as handle:
            self.names, self._data_offset = read_csv_header(path, handle)

    def _blocks(self, limit=None):
        """Yield (byte offset, first line, bytes, newlines in them) of whole
        records, in order."""
        offset, line, carry = self._data_offset, 2, b""
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            while True:
                block = handle.read(self.chunk_bytes if limit is None else limit)
                buffer = carry + block if carry else block
                end = len(buffer) if not block else _record_end(buffer)
                if end:
                    data, carry = buffer[:end], buffer[end:]
                    newlines = data.count(b"\n")
                    yield offset, line, data, newlines
                    offset += end
                    line += newlines
                else:
                    carry = buffer
                if not block or limit is not None:
                    return

    def numeric_names(self):
        """Names of the columns holding a number in the first lines of the file
        (about SAMPLE_BYTES of them): the features when none are named."""
        for offset, line, data, _ in self._blocks(limit=SAMPLE_BYTES):
            table = csv_text_table(self.path, self.names, data, offset, line)
            if table is not None:
                return [name for i, name in enumerate(self.names) if table.looks_numeric(i)]
        return list(self.names)

    def chunks(self, features, label=None, *, chosen_for_user=False):
        """Yield a :class:`CsvChunk` of the columns `features` (and the 0/1
        column `label`) for every CHUNK_BYTES of the file; DataError for the
        first cell that is not a finite number (or not 0/1)."""
        indices = [column_index(self.path, self.names, name) for name in features]
        label_index = (None if label is None
                       else column_index(self.path, self.names, label, "label column"))
        column_of_cell = np.full(len(self.names), -1, dtype=np.intp)
        column_of_cell[indices] = np.arange(len(indices))
        if label_index is not None:
            column_of_cell[label_index] = len(indices)
        start = 0
        for offset, line, data, newlines in self._blocks():
            n_lines = newlines + (not data.endswith(b"\n"))
            chunk = self._plain_chunk(data, n_lines, column_of_cell, len(indices), label_index,
                                      start, line)
            if chunk is None:
                chunk = self._csv_chunk(data, offset, line, features, label, start,
                                        chosen_for_user)
            if chunk is not None:
                start += chunk.X.shape[0]
                yield chunk
        if start == 0:
            raise DataError(f"{self.path} has a header but no data rows")

    def _plain_chunk(self, data, n_lines, column_of_cell, n_features, label_index, start, line):
        """The chunk read by the compiled parser, or None when it needs the csv module."""
        if not data.isascii():
            return None
        out = np.empty((n_lines, n_features + (label_index is not None)))
        if parse_plain_lines(data, len(self.names), column_of_cell, out) != n_lines:
            return None
        if not np.isfinite(out).all():
            return None  # the csv path names the cell
        if label_index is None:
            return CsvChunk(out, None, start, line)
        labels = out[:, -1]
        if not ((labels == 0) | (labels == 1)).all():
            return None
        return CsvChunk(np.ascontiguousarray(out[:, :-1]), labels.astype(np.uint8), start,
                        line)

    def _csv_chunk(self, data, offset, line, features, label, start, chosen_for_user):
        """The chunk read by the csv module, with its messages (None: no rows)."""
        table = csv_text_table(self.path, self.names, data, offset, line)
        if table is None:
            return None
        labels = None if label is None else table.labels(label)
        X, _ = table.features(list(features), chosen_for_user=chosen_for_user)
        return CsvChunk(X, labels, start, None, table.line_numbers)
