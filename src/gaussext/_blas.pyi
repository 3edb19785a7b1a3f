import numpy as np
import numpy.typing as npt

Float = np.float32 | np.float64

# Test-only twins of the fused LAPACK wrappers; Fortran-ordered arrays.
def potrf_lower(a: npt.NDArray[Float]) -> int: ...
def trtri_lower(a: npt.NDArray[Float]) -> int: ...
