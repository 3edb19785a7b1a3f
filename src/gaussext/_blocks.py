"""Reading data in bounded blocks of rows: chunk streams, memory maps, .npy files.

A memory-mapped array read from start to end keeps every page it touched
resident in the process (as file-backed RSS) until the mapping is closed.
Blocks of a whole ``.npy`` file are therefore each mapped on their own and
unmapped when dropped, so that reading a file of any size holds about one
block in memory.
"""

import collections.abc
import math
import mmap
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["BLOCK_BYTES", "NpyFile", "default_block_rows", "is_chunk_stream", "iter_chunks",
           "progress_bar"]

# 16 MiB of input per block: large enough that per-block overhead (a mapping,
# a kernel call) is negligible, small enough to keep memory bounded.
BLOCK_BYTES = 1 << 24


def default_block_rows(n_features, itemsize=8, block_bytes=None):
    """Rows in a block of about `block_bytes` (BLOCK_BYTES by default) of
    `n_features` items of `itemsize` bytes."""
    if block_bytes is None:
        block_bytes = BLOCK_BYTES
    return max(1, block_bytes // (max(1, n_features) * itemsize))


def is_chunk_stream(X):
    """True for input that `fit` reads chunk by chunk: a memory-mapped array,
    an iterator (a generator, ``iter(list)``), or a list/tuple of 2-D arrays."""
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, np.ndarray):
        return False
    if isinstance(X, collections.abc.Iterator):
        return True
    return (isinstance(X, (list, tuple)) and len(X) > 0
            and all(getattr(chunk, "ndim", None) == 2 for chunk in X))


def _whole_file_map(X):
    """(filename, offset) when X is an entire C-ordered memory-mapped file, else None."""
    if (isinstance(X, np.memmap) and isinstance(X.base, mmap.mmap) and X.ndim == 2
            and X.flags.c_contiguous and X.filename is not None):
        return X.filename, X.offset
    return None


def _map_rows(filename, offset, dtype, n_features, start, stop, mode="r"):
    """A fresh memory map of rows start..stop of a C-ordered 2-D array stored at
    `offset` in `filename` (1-D when n_features is None)."""
    row_items = 1 if n_features is None else n_features
    shape = (stop - start,) if n_features is None else (stop - start, n_features)
    return np.memmap(filename, dtype=dtype, mode=mode,
                     offset=offset + start * row_items * dtype.itemsize, shape=shape)


def iter_chunks(X, block_rows=None):
    """Yield the chunks of a chunk stream (see is_chunk_stream).

    A memory-mapped array is cut into blocks of `block_rows` rows (by default
    about BLOCK_BYTES); a whole mapped file is re-mapped block by block so
    that pages already read are released.  Other streams are yielded as they are.
    """
    if not isinstance(X, np.memmap):
        yield from X
        return
    if X.ndim != 2:
        yield X  # let validation name the wrong shape
        return
    n_rows, n_features = X.shape
    if block_rows is None:
        block_rows = default_block_rows(n_features, X.dtype.itemsize)
    whole_file = _whole_file_map(X)
    for start in range(0, n_rows, block_rows):
        stop = min(start + block_rows, n_rows)
        if whole_file is None:
            yield X[start:stop]
        else:
            yield _map_rows(*whole_file, X.dtype, n_features, start, stop)


class NpyFile:
    """A ``.npy`` file of a C-ordered 1-D or 2-D array, read block by block.

    Attributes
    ----------
    path : pathlib.Path
    shape : tuple of int
    dtype : numpy.dtype
    offset : int
        Bytes of header before the data.
    """

    def __init__(self, path, *, name="file"):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                self.shape, fortran_order, self.dtype = read_header(handle)
                self.offset = handle.tell()
        except ValueError as exc:
            raise ValueError(f"{name} {str(self.path)!r} is not a valid .npy file: {exc}") from exc
        if self.dtype.hasobject or self.dtype.fields is not None:
            raise TypeError(f"{name} {str(self.path)!r} holds dtype {self.dtype}; "
                            "a numeric dtype is required")
        if fortran_order and len(self.shape) > 1:
            raise ValueError(
                f"{name} {str(self.path)!r} is stored in Fortran (column) order, which "
                "cannot be read by rows; save it with np.save(path, np.ascontiguousarray(X))"
            )
        if len(self.shape) not in (1, 2):
            raise ValueError(f"{name} {str(self.path)!r} holds a {len(self.shape)}-D array "
                             f"of shape {self.shape}; a 1-D or 2-D array is required")
        # a header may claim more rows than the file holds: refuse before
        # anything is sized by it (an output of as many rows, a memory map)
        needed = self.offset + math.prod(self.shape) * self.dtype.itemsize
        size = os.path.getsize(self.path)
        if min(self.shape) < 0 or needed > size:
            raise ValueError(f"{name} {str(self.path)!r} is {size} bytes, but its header "
                             f"describes a {self.dtype} array of shape {self.shape} "
                             f"({needed} bytes): it is truncated or its header is wrong")

    @property
    def n_rows(self):
        return self.shape[0]

    def rows(self, start, stop):
        """Rows start..stop, read-only, mapped afresh (released when dropped)."""
        n_features = self.shape[1] if len(self.shape) == 2 else None
        return _map_rows(self.path, self.offset, self.dtype, n_features, start, stop)

    def blocks(self, block_rows, progress_bar=None):
        """Yield (start, rows) over the file, advancing `progress_bar` by each block."""
        for start in range(0, self.n_rows, block_rows):
            stop = min(start + block_rows, self.n_rows)
            yield start, self.rows(start, stop)
            if progress_bar is not None:
                progress_bar.update(stop - start)


def progress_bar(total, progress, description, delay=0.0):
    """A tqdm bar over `total` rows (None: unknown, then rows and rows/s are
    shown): shown when `progress` is True, or when it is None and stderr is
    a terminal; silent otherwise.  It appears only after `delay` seconds."""
    from tqdm import tqdm

    if progress is None:
        progress = sys.stderr is not None and sys.stderr.isatty()
    return tqdm(total=total, desc=description, unit="rows", unit_scale=True,
                disable=not progress, file=sys.stderr, delay=delay)
