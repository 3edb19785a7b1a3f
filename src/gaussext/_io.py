"""Reading data tables for the command line, and writing its results.

Inputs: CSV with a header row (any file not ending in ``.npy``/``.npz``),
read here whole with the standard ``csv`` module (the command line streams
large files through ``gaussext/_csv.py``, which falls back to this reader, and
so to its messages, for any block it cannot read plainly); ``.npy`` holding a
2-D numeric array;
``.npz`` holding an array ``X`` (or a single array), with optional 1-D arrays
beside it that a label column may name.  Columns of ``.npy``/``.npz`` data are
named by their index: "0", "1", ...  Outputs: CSV or JSON, by extension.

Every problem is raised as :class:`DataError` with a one-line message that
names the file and, where there is one, the line (CSV) or row and the column.
"""

import contextlib
import csv
import io
import json
import math
import re
import zipfile
from dataclasses import dataclass

import numpy as np

from gaussext._files import atomic_output

__all__ = ["DataError", "Table", "read_table", "write_records"]


class DataError(ValueError):
    """Input the command line cannot use; its message is one line for the user."""


# What a CSV number is (as in pandas' and NumPy's parsers): ASCII decimal with
# an optional exponent, or nan/inf/infinity.  Python's float() accepts more:
# '1_000', full-width and Arabic-Indic digits, which are not numbers in a CSV.
_CSV_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                         r"|nan|inf|infinity)", re.IGNORECASE | re.ASCII)


def _parse_float(cell):
    """float of a stripped cell, or None when it is not a CSV number."""
    if _CSV_NUMBER.fullmatch(cell) is None:
        return None
    return float(cell)


def column_index(path, names, name, role="column"):
    """Index of column `name` in `names`, or DataError listing the columns."""
    if name not in names:
        shown = ", ".join(repr(n) for n in names[:20])
        raise DataError(f"{path} has no {role} {name!r}; its columns are: {shown}")
    return names.index(name)


@dataclass
class Table:
    """A table read from a file: named columns of raw values.

    Attributes
    ----------
    path : str
    names : list of str
        Column names: the CSV header, or "0", "1", ... for arrays.
    has_header : bool
        True for CSV, whose column names mean something.
    n_rows : int
    """

    path: str
    names: list
    has_header: bool
    n_rows: int
    _csv_columns: list = None     # CSV: one list of stripped cells per column
    _csv_lines: list = None       # CSV: file line number of each data row
    _array: np.ndarray = None     # .npy/.npz: (n_rows, n_columns), numeric
    _extra: dict = None           # .npz: other 1-D arrays, by name

    def where(self, row, column=None):
        """'file, line 7, column 'x'' (CSV) or 'file, row 5, column 2' (arrays)."""
        place = (f"line {self._csv_lines[row]}" if self.has_header else f"row {row}")
        named = "" if column is None else (
            f", column {column!r}" if self.has_header else f", column {column}")
        return f"{self.path}, {place}{named}"

    def row_label(self, row):
        """How a user finds data row `row`: "line 7" (CSV) or the index (arrays)."""
        return f"line {self._csv_lines[row]}" if self.has_header else int(row)

    @property
    def line_numbers(self):
        """CSV: the file line of each data row."""
        return self._csv_lines

    def _column_index(self, name, role="column"):
        return column_index(self.path, self.names, name, role)

    def _numeric_column(self, index, *, check=True, missing_ok=False):
        """(float64 values, None) or (None, first non-numeric (row, cell)).

        With `check`, an empty or non-finite cell raises DataError naming it;
        with `missing_ok` too, empty CSV cells (NaN in arrays) are kept as NaN
        and only the other non-finite cells raise.
        """
        name = self.names[index]
        if not self.has_header:
            values = self._array[:, index]
        else:
            cells = self._csv_columns[index]
            try:
                values = np.array(cells, dtype=np.float64)
                if not all(map(_CSV_NUMBER.fullmatch, cells)):
                    raise ValueError("a cell float() reads is not a CSV number")
            except ValueError:
                parsed = [_parse_float(cell) for cell in cells]
                bad = [row for row, value in enumerate(parsed) if value is None and cells[row]]
                if bad:
                    return None, (bad[0], cells[bad[0]])
                values = np.array([math.nan if v is None else v for v in parsed])
        if check:
            nonfinite = ~np.isfinite(values)
            if missing_ok and self.has_header:
                nonfinite &= np.array([bool(cell) for cell in self._csv_columns[index]])
            elif missing_ok:
                nonfinite &= ~np.isnan(values)
            bad = np.flatnonzero(nonfinite)
            if bad.size:
                row = int(bad[0])
                if self.has_header and not self._csv_columns[index][row]:
                    what = "empty cell"
                else:
                    raw = self._csv_columns[index][row] if self.has_header else values[row]
                    what = f"{raw!r} is not a finite number"
                raise DataError(f"{self.where(row, name)}: {what} "
                                f"({bad.size} such cell(s) in this column)")
        return values, None

    def looks_numeric(self, index):
        """A column meant to hold numbers: any of its cells is one.  (A column
        with a stray text cell is then reported, not silently left out.)"""
        if not self.has_header:
            return True
        return any(_parse_float(cell) is not None for cell in self._csv_columns[index])

    def features(self, columns=None, exclude=(), *, chosen_for_user=False, missing_ok=False):
        """(X of shape (n_rows, n_selected) float64, selected names).

        `columns` None selects every column not in `exclude` in which some
        cell is a number; otherwise exactly `columns`, each of which must
        exist.  A text, empty or non-finite cell of a selected column raises
        DataError naming its line and column, and suggests --columns when the
        columns were not the user's choice (None, or `chosen_for_user`); with
        `missing_ok`, empty cells are read as NaN (missing) instead.
        """
        if columns is None:
            chosen = [i for i, name in enumerate(self.names)
                      if name not in exclude and self.looks_numeric(i)]
            if not chosen:
                raise DataError(f"{self.path} has no numeric column to use as a feature "
                                f"(columns: {', '.join(repr(n) for n in self.names)})")
        else:
            chosen = [self._column_index(name) for name in columns]
            duplicated = {name for name in columns if list(columns).count(name) > 1}
            if duplicated:
                raise DataError(f"column(s) {sorted(duplicated)} selected more than once")
        values = []
        for i in chosen:
            column, problem = self._numeric_column(i, missing_ok=missing_ok)
            if problem is not None:
                row, cell = problem
                raise DataError(f"{self.where(row, self.names[i])}: {cell!r} is not a number"
                                + ("" if columns and not chosen_for_user
                                   else "; choose the feature columns with --columns"))
            values.append(column)
        return np.column_stack(values), [self.names[i] for i in chosen]

    def labels(self, name):
        """0/1 labels (uint8) from a column (or, for .npz, a 1-D array) `name`."""
        if self._extra and name in self._extra:
            values = self._extra[name]
            if values.shape != (self.n_rows,) or values.dtype.kind not in "biuf":
                raise DataError(f"{self.path}: label array {name!r} has dtype {values.dtype} "
                                f"and shape {values.shape}; 0/1 numbers of shape "
                                f"({self.n_rows},) are needed")
            values = values.astype(np.float64)
            shown, place = values, lambda row: f"{self.path}, array {name!r}, index {row}"
        else:
            index = self._column_index(name, role="label column")
            values, problem = self._numeric_column(index, check=False)
            if problem is not None:
                row, cell = problem
                raise DataError(f"{self.where(row, name)}: label {cell!r} is not 0 or 1")
            shown = self._csv_columns[index] if self.has_header else values
            place = lambda row: self.where(row, name)  # noqa: E731
        bad = np.flatnonzero((values != 0) & (values != 1))  # NaN included
        if bad.size:
            row = int(bad[0])
            cell = shown[row] if isinstance(shown, list) else float(shown[row])
            raise DataError(f"{place(row)}: label {cell!r} is not 0 or 1 (1 = anomaly, "
                            f"0 = normal; {bad.size} such label(s))")
        return values.astype(np.uint8)


def read_csv_header(path, handle):
    """(column names, bytes of header) of the CSV open in binary `handle`,
    which is left at an unspecified position.

    A UTF-8 byte-order mark (Excel writes one) is not part of the first name.
    The header ends at the first newline outside quotes.
    """
    head, end = b"", -1
    while end < 0:
        block = handle.read(1 << 16)
        start = len(head)
        head += block
        end = head.find(b"\n", start)
        while end >= 0 and head.count(b'"', 0, end) % 2:
            end = head.find(b"\n", end + 1)
        if not block:
            end = len(head) if end < 0 else end
            break
    header_bytes = head[:end + 1] if end < len(head) else head
    text = _decode(path, header_bytes, 0)
    if text.startswith("\ufeff"):
        text = text[1:]
    header = next(csv.reader(io.StringIO(text)), None) if text.strip("\r\n") else None
    if header is None:
        raise DataError(f"{path} is empty: a CSV file needs a header row")
    names = [name.strip() for name in header]
    if any(not name for name in names):
        raise DataError(f"{path}, line 1: the header has an empty column name "
                        f"(column {names.index('') + 1})")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataError(f"{path}, line 1: column name(s) {duplicated} appear twice")
    return names, len(header_bytes)


def _decode(path, data, offset):
    """`data` (bytes read at `offset` of the file) as text, or DataError."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte "
                        f"{offset + exc.start}); is it a CSV file?") from exc


def csv_text_table(path, names, data, offset, first_line):
    """A Table of the CSV records in `data` (whole lines, bytes read at
    `offset` of the file, starting at line `first_line`), read with the
    ``csv`` module: blank lines skipped, every other record of len(names)
    cells, else DataError naming its line.  None when `data` holds no record.
    """
    text = _decode(path, data, offset)
    if offset == 0 and text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines = [], []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            line = first_line + reader.line_num - 1
            if len(row) != len(names):
                raise DataError(f"{path}, line {line}: {len(row)} cell(s), but "
                                f"the header names {len(names)} columns")
            rows.append([cell.strip() for cell in row])
            lines.append(line)
    except csv.Error as exc:
        raise DataError(f"{path} is not valid CSV: {exc}") from exc
    if not rows:
        return None
    return Table(path, names, True, len(rows), _csv_columns=[list(c) for c in zip(*rows)],
                 _csv_lines=lines)


def _read_csv(path):
    with open(path, "rb") as handle:
        names, header_bytes = read_csv_header(path, handle)
        handle.seek(header_bytes)
        table = csv_text_table(path, names, handle.read(), header_bytes, 2)
    if table is None:
        raise DataError(f"{path} has a header but no data rows")
    return table


def _numeric_array(path, array, what):
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} has dtype {array.dtype}; numbers are needed")
    if array.ndim != 2:
        raise DataError(f"{path}: {what} has shape {array.shape}; a 2-D array "
                        "(rows x columns) is needed")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{path}: {what} is empty (shape {array.shape})")
    return array.astype(np.float64, copy=False)


def _read_arrays(path):
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise  # read_table names these
        if "pickle" in str(exc):  # NumPy's text would suggest loading it unsafely
            raise DataError(f"{path} is not a .npy array file nor an .npz archive (it "
                            "starts with neither's signature); a CSV file needs a name not "
                            "ending in .npy/.npz") from exc
        raise DataError(f"{path} cannot be read as a NumPy file ({exc})") from exc
    if isinstance(loaded, np.ndarray):
        array = _numeric_array(path, loaded, "the array")
        extra = {}
    else:
        with loaded:
            arrays = {name: loaded[name] for name in loaded.files}
        if {"metadata", "mean", "spread"} <= set(arrays):
            raise DataError(f"{path} is a gaussext model file, not data (was the model given "
                            "where the data was expected?)")
        if "X" in arrays:
            key = "X"
        elif len(arrays) == 1:
            key = next(iter(arrays))
        else:
            raise DataError(f"{path} holds arrays {sorted(arrays)}: name the data array 'X'")
        array = _numeric_array(path, arrays.pop(key), f"array {key!r}")
        extra = {name: value for name, value in arrays.items() if value.ndim == 1}
    names = [str(j) for j in range(array.shape[1])]
    return Table(path, names, False, array.shape[0], _array=array, _extra=extra)


def read_table(path):
    """Read a CSV (with header), ``.npy`` or ``.npz`` file into a :class:`Table`.

    Raises
    ------
    DataError
        For a missing or unreadable file and for malformed content.
    """
    with reading(path):
        if str(path).endswith((".npy", ".npz")):
            return _read_arrays(path)
        return _read_csv(path)


@contextlib.contextmanager
def reading(path):
    """Turn a missing, directory or unreadable `path` into a one-line DataError."""
    try:
        yield
    except FileNotFoundError as exc:
        raise DataError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path} is a directory, not a data file") from exc
    except PermissionError as exc:
        raise DataError(f"cannot read {path}: permission denied") from exc


def _json_value(value):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# A spreadsheet runs a cell beginning with one of these as a formula (OWASP's
# CSV injection list): "=HYPERLINK(...)" in a feature name would become a link.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value):
    """A CSV cell: floats by repr; text a spreadsheet would run as a formula
    behind a leading apostrophe (shown, not run); numbers untouched."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_records(handle_or_path, fieldnames, records, *, format=None):
    """Write `records` (dicts keyed by `fieldnames`) as CSV or JSON.

    Parameters
    ----------
    handle_or_path : str or text file
        A path ending in ``.csv`` or ``.json``, or an open text file (then
        `format` says which).
    fieldnames : list of str
    records : iterable of dict
    format : {"csv", "json"}, optional
        Needed with an open file; read from the extension for a path.

    Notes
    -----
    Floats are written with ``repr``, the shortest text that reads back to
    the same float64.  A text cell beginning with ``= + - @``, a tab or a
    carriage return gets a leading apostrophe in CSV, so that a spreadsheet
    shows it instead of running it as a formula.  JSON is a list of objects;
    NaN and infinities, which JSON lacks, are written as null.  A path is
    written atomically: replaced only once every record is written.
    """
    if isinstance(handle_or_path, str):
        format = handle_or_path.rsplit(".", 1)[-1].lower() if "." in handle_or_path else ""
        if format not in ("csv", "json"):
            raise DataError(f"cannot write {handle_or_path}: the output must end in .csv or "
                            ".json")
        try:
            with atomic_output(handle_or_path, "w", newline="", encoding="utf-8") as handle:
                return write_records(handle, fieldnames, records, format=format)
        except OSError as exc:
            raise DataError(f"cannot write {handle_or_path}: {exc.strerror}") from exc
    if format == "json":
        json.dump([{name: _json_value(record[name]) for name in fieldnames}
                   for record in records], handle_or_path, indent=1, allow_nan=False)
        handle_or_path.write("\n")
    else:
        writer = csv.DictWriter(handle_or_path, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows({name: _csv_cell(value) for name, value in record.items()}
                         for record in records)
