"""Data files as sources of row chunks, whatever their format.

Every source has ``path``, ``names`` (column names), ``has_header`` (names
that mean something, as in a CSV header), ``numeric_names()`` (the columns
used as features when none are named) and ``chunks(features, label)``,
yielding chunks with ``X`` (float64 rows), ``labels`` (uint8 or None),
``start`` (index of the first row) and ``row_label(i)`` (how a user finds
row i).  CSV (``gaussext/_csv.py``) and Parquet or Arrow/Feather
(``gaussext/_arrow.py``) are read chunk by chunk; ``.npy`` and ``.npz`` are
read whole, as one chunk.
"""

from gaussext._arrow import is_arrow_path
from gaussext._io import DataError, read_table, reading

__all__ = ["open_source", "select_features"]


class _WholeChunk:
    def __init__(self, X, labels, row_label):
        self.X, self.labels, self.start, self.row_label = X, labels, 0, row_label


class TableSource:
    """A table read whole, as one chunk: ``.npy``/``.npz`` files, and any
    table whose empty cells are to be read as missing (NaN), which the
    chunked readers refuse (`missing_ok`)."""

    def __init__(self, path, *, missing_ok=False):
        self._table = read_table(path)
        self.path, self.names = path, self._table.names
        self.has_header, self._missing_ok = self._table.has_header, missing_ok

    def numeric_names(self):
        if not self.has_header:
            return list(self.names)
        return self._table.features(None, missing_ok=self._missing_ok)[1]

    def chunks(self, features, label=None, *, chosen_for_user=False):
        labels = None if label is None else self._table.labels(label)
        X, _ = self._table.features(list(features), chosen_for_user=chosen_for_user,
                                    missing_ok=self._missing_ok)
        yield _WholeChunk(X, labels, self._table.row_label)


def open_source(path, chunk_bytes=None, *, missing_ok=False):
    """The source reading `path`, chosen by its extension (CSV otherwise);
    `missing_ok` reads empty cells as NaN, from a table read whole."""
    name = str(path).lower()
    with reading(path):
        if name.endswith((".npy", ".npz")) or missing_ok:
            return TableSource(path, missing_ok=missing_ok)
        if is_arrow_path(name):
            from gaussext._arrow import ArrowSource

            return ArrowSource(path)
        from gaussext._csv import CsvSource

        return CsvSource(path, chunk_bytes)


def select_features(source, columns=None, exclude=()):
    """(feature names, chosen_for_user): `columns` as given, each of which
    must exist once, or every numeric column of `source` not in `exclude`."""
    if columns is None:
        names = [name for name in source.numeric_names() if name not in exclude]
        if not names:
            raise DataError(f"{source.path} has no numeric column to use as a feature "
                            f"(columns: {', '.join(repr(n) for n in source.names)})")
        return names, True
    duplicated = {name for name in columns if list(columns).count(name) > 1}
    if duplicated:
        raise DataError(f"column(s) {sorted(duplicated)} selected more than once")
    return list(columns), False
