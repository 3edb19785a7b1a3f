"""The command line's passes over a data file read in chunks of rows.

Memory stays bounded whatever the file's size: the rows themselves are held
only while they fit in RETAIN_BYTES; beyond that they go, as parsed float64,
to a temporary file that later passes read back chunk by chunk.  What is
kept in memory of every row is its float64 score (8 bytes) and, when there
are labels, its uint8 label (1 byte): 36 MB for 4 million rows.
"""

import copy
import itertools
import tempfile

import numpy as np

from gaussext._blocks import progress_bar

__all__ = ["PROGRESS_DELAY", "RETAIN_BYTES", "Rows", "fit_rows", "progress", "score_rows"]

# Parsed rows kept in memory for later passes: 128 MiB, 2 million rows of 8
# features.  Beyond it they are spilled to a temporary file.
RETAIN_BYTES = 1 << 27
# A bar appears on a terminal only for work lasting longer than this (seconds).
PROGRESS_DELAY = 1.0


def progress(command):
    """The command's progress bar: rows and rows/s on a terminal's stderr,
    after PROGRESS_DELAY seconds; nothing in a pipe or a log."""
    return progress_bar(None, None, command, delay=PROGRESS_DELAY)


class _Spill:
    """Chunks written as raw float64 to an anonymous temporary file and read
    back one at a time: a later pass costs a read, not a parse."""

    def __init__(self):
        self._file = tempfile.TemporaryFile(prefix="gaussext-")
        self._entries = []  # (chunk without its rows, offset, shape)

    def add(self, chunk):
        X = np.ascontiguousarray(chunk.X, dtype=np.float64)
        self._entries.append((chunk, self._file.tell(), X.shape))
        self._file.write(memoryview(X).cast("B"))
        chunk.X = None  # held by the file now

    def __iter__(self):
        for chunk, offset, shape in self._entries:
            X = np.empty(shape)
            self._file.seek(offset)
            self._file.readinto(memoryview(X).cast("B"))
            read = copy.copy(chunk)
            read.X = X
            yield read

    def close(self):
        self._file.close()


class Rows:
    """The chosen columns of a source, chunk by chunk, as often as iterated.

    The first complete pass reads the file; later passes read the chunks
    kept in memory (up to RETAIN_BYTES of rows), or beyond that spilled as
    float64 to a temporary file (8 bytes a value, in the system's temporary
    folder), so the text is parsed once.

    Parameters
    ----------
    source : a source of ``gaussext._sources``
    features : list of str
    label : str or None
        A 0/1 column to read beside the features.
    chosen_for_user : bool
        The features were not named by the user (messages then suggest --columns).
    retain : bool, default=True
        Keep the chunks for later passes; False for a single pass (which
        then neither holds nor spills any rows).
    bar : tqdm or None
        Advanced by the rows of the pass that reads the file.
    """

    def __init__(self, source, features, label=None, *, chosen_for_user=False, bar=None,
                 retain=True):
        self.source, self.features, self.label = source, list(features), label
        self._chosen_for_user, self._bar = chosen_for_user, bar
        self._retain = retain
        self._kept = self._labels = None

    def __iter__(self):
        if self._kept is not None:
            yield from self._kept
            return
        if not self._retain:  # one pass only: nothing kept, nothing spilled
            for chunk in self.source.chunks(self.features, self.label,
                                            chosen_for_user=self._chosen_for_user):
                if self._bar is not None:
                    self._bar.update(chunk.X.shape[0])
                yield chunk
            return
        kept, size, labels, spill = [], 0, [], None
        try:
            for chunk in self.source.chunks(self.features, self.label,
                                            chosen_for_user=self._chosen_for_user):
                if self._bar is not None:
                    self._bar.update(chunk.X.shape[0])
                if self.label is not None:
                    labels.append(chunk.labels)
                size += chunk.X.nbytes
                if spill is None and size > RETAIN_BYTES:
                    spill = _Spill()
                    for earlier in kept:
                        spill.add(earlier)
                    kept = spill
                yield chunk
                if spill is None:
                    kept.append(chunk)
                else:
                    spill.add(chunk)
        except BaseException:
            if spill is not None:
                spill.close()
            raise
        self._kept = kept
        if self.label is not None:
            self._labels = np.concatenate(labels)

    def labels(self):
        """The 0/1 labels of every row (uint8), gathered by a complete pass."""
        if self._labels is None:
            for _ in self:
                pass
        return self._labels

    def features_array(self):
        """Every row in one array (for a figure): memory of the whole data."""
        return np.concatenate([chunk.X for chunk in self])


def score_rows(detector, rows):
    """log p(x) of every row, float64, in file order."""
    return np.concatenate([detector.score_samples(chunk.X) for chunk in rows])


def fit_rows(detector, rows, wrap=None, *, scores=True):
    """Fit `detector` on every row, in one pass; returns every row's training
    score (None when `scores` is false).

    One chunk is fitted as an in-memory array (the same result, bit for bit;
    its scores are those the fit took epsilon from).  More are fitted from
    their mergeable statistics, chunk by chunk (the parameters agree with an
    in-memory fit within about 1e-15 relative), with epsilon, the
    `contamination` quantile over every row, from the row sample the
    statistics keep (exact up to its capacity, see ``gaussext._sample``):
    so ``gaussext fit`` reads the file once and keeps no rows.  Only when
    `scores` are wanted (detect) does a second pass score every row.  `wrap(X)`
    is what the estimator is given for the rows X of a chunk (column names,
    say).
    """
    wrap = wrap or (lambda X: X)
    chunks = (wrap(chunk.X) for chunk in rows)
    first = next(chunks)
    second = next(chunks, None)
    if second is None:  # the fit scores the rows once for epsilon: keep those scores
        log_density = detector.fit_score_samples(first)
        return log_density if scores else None
    detector.fit(itertools.chain([first, second], chunks))
    return score_rows(detector, rows) if scores else None
