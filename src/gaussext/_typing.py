"""Type aliases used in the public API's annotations (see ``py.typed``)."""

import os
from collections.abc import Iterable
from typing import Any, Union

import numpy as np
import numpy.typing as npt

__all__ = ["ArrayLike", "Chunks", "Float64Array", "LabelArray", "Path", "SignArray"]

#: Anything ``numpy.asarray`` turns into a 2-D array of numbers, DataFrames included.
ArrayLike = npt.ArrayLike
#: Training rows given as chunks: an iterable of 2-D array-likes.
Chunks = Iterable[Any]
#: A float64 result: log-densities, densities, contributions.
Float64Array = npt.NDArray[np.float64]
#: +1 (normal) / -1 (anomaly), as ``predict`` returns them.
SignArray = npt.NDArray[np.int64]
#: 0/1 labels (1 = anomaly).
LabelArray = npt.NDArray[np.int64]
#: A file-system path.
Path = Union[str, "os.PathLike[str]"]
