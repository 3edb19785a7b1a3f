"""Parquet and Arrow/Feather files, in and out, through pyarrow (the
``gaussext[arrow]`` extra).

Input is read batch by batch (a Parquet file by row group, an Arrow/Feather
file by record batch) and only the columns asked for, by name.  Output
(``--out scores.parquet`` or ``.feather``) is written in batches of rows.
"""

import numpy as np

from gaussext._io import DataError, column_index

__all__ = ["ArrowSource", "is_arrow_path", "write_records"]

PARQUET_SUFFIXES = (".parquet", ".pq")
FEATHER_SUFFIXES = (".feather", ".arrow", ".ipc")
# Rows per batch taken from a Parquet row group and written to any output file.
BATCH_ROWS = 1 << 16


def is_arrow_path(path):
    return str(path).lower().endswith(PARQUET_SUFFIXES + FEATHER_SUFFIXES)


def _pyarrow(path, action):
    """pyarrow, or a one-line DataError saying how to install it."""
    try:
        import pyarrow
        import pyarrow.ipc  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise DataError(f"{action} {path} needs pyarrow: pip install 'gaussext[arrow]'") from exc
    return pyarrow


def _is_number_type(pa, kind):
    return pa.types.is_integer(kind) or pa.types.is_floating(kind)


class _ArrowChunk:
    def __init__(self, X, labels, start):
        self.X, self.labels, self.start = X, labels, start

    def row_label(self, row):
        return int(self.start + row)


class ArrowSource:
    """A Parquet or Arrow IPC (Feather v2) file, read batch by batch."""

    has_header = True

    def __init__(self, path):
        pa = _pyarrow(path, "reading")
        self.path = path
        self._parquet = str(path).lower().endswith(PARQUET_SUFFIXES)
        try:
            if self._parquet:
                schema = pa.parquet.ParquetFile(path).schema_arrow
            else:
                with pa.memory_map(str(path)) as source:
                    schema = pa.ipc.open_file(source).schema
        except (pa.ArrowInvalid, pa.ArrowIOError) as exc:
            if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
                raise  # open_source names these
            kind = "Parquet" if self._parquet else "Arrow IPC (Feather v2)"
            raise DataError(f"{path} cannot be read as an {kind} file ({exc})") from exc
        self.names = list(schema.names)
        self._types = {field.name: field.type for field in schema}

    def numeric_names(self):
        pa = _pyarrow(self.path, "reading")
        return [name for name in self.names if _is_number_type(pa, self._types[name])]

    def _batches(self, columns):
        pa = _pyarrow(self.path, "reading")
        if self._parquet:
            # a row group at a time: iter_batches reads ahead, and measured
            # 480 MiB of peak RSS on a 4M x 8 file where this takes 190 MiB
            parquet = pa.parquet.ParquetFile(self.path)
            for group in range(parquet.num_row_groups):
                yield from parquet.read_row_group(group, columns=columns).to_batches(BATCH_ROWS)
            return
        with pa.memory_map(str(self.path)) as source:
            reader = pa.ipc.open_file(source)
            for index in range(reader.num_record_batches):
                yield reader.get_batch(index).select(columns)

    def _column(self, batch, name, start, role):
        """A batch's column as float64; DataError naming a null or a non-number."""
        pa = _pyarrow(self.path, "reading")
        column = batch.column(name)
        kind = column.type
        if not (_is_number_type(pa, kind) or (role == "label" and pa.types.is_boolean(kind))):
            raise DataError(f"{self.path}: column {name!r} holds {kind}; numbers are needed")
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{self.path}, row {start + row}, column {name!r}: empty cell "
                            f"({column.null_count} such cell(s) in this batch)")
        return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)

    def chunks(self, features, label=None, *, chosen_for_user=False):
        for name in features:
            column_index(self.path, self.names, name)
        if label is not None:
            column_index(self.path, self.names, label, "label column")
        wanted = list(features) + ([label] if label is not None and label not in features
                                   else [])
        start = 0
        for batch in self._batches(wanted):
            if batch.num_rows == 0:
                continue
            X = np.empty((batch.num_rows, len(features)))
            for j, name in enumerate(features):
                X[:, j] = self._column(batch, name, start, "feature")
            bad = np.argwhere(~np.isfinite(X))
            if bad.size:
                row, j = bad[0]
                raise DataError(f"{self.path}, row {start + row}, column {features[j]!r}: "
                                f"{X[row, j]!r} is not a finite number")
            labels = None
            if label is not None:
                values = self._column(batch, label, start, "label")
                wrong = np.flatnonzero((values != 0) & (values != 1))
                if wrong.size:
                    raise DataError(f"{self.path}, row {start + wrong[0]}, column {label!r}: "
                                    f"label {values[wrong[0]]!r} is not 0 or 1 (1 = anomaly, "
                                    "0 = normal)")
                labels = values.astype(np.uint8)
            yield _ArrowChunk(X, labels, start)
            start += batch.num_rows
        if start == 0:
            raise DataError(f"{self.path} has no data rows")


def write_records(path, fieldnames, records):
    """Write `records` (dicts keyed by `fieldnames`) to a Parquet or Arrow IPC
    file, BATCH_ROWS rows at a time; floats as float64, text as strings."""
    pa = _pyarrow(path, "writing")
    parquet = str(path).lower().endswith(PARQUET_SUFFIXES)
    writer = None
    batch = []

    def flush():
        nonlocal writer
        table = pa.table({name: [record[name] for record in batch] for name in fieldnames})
        if writer is None:
            writer = (pa.parquet.ParquetWriter(path, table.schema) if parquet
                      else pa.ipc.new_file(path, table.schema))
        writer.write_table(table) if parquet else writer.write(table)
        batch.clear()

    try:
        for record in records:
            batch.append(record)
            if len(batch) == BATCH_ROWS:
                flush()
        if batch or writer is None:
            flush()
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if writer is not None:
            writer.close()
