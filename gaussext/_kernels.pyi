import numpy as np
import numpy.typing as npt

Float = np.float32 | np.float64

def openmp_enabled() -> bool: ...
def max_threads() -> int: ...
def full_block_rows(n_features: int) -> int: ...
def diagonal_log_density(
    X: npt.NDArray[Float],
    mean: npt.NDArray[np.float64],
    inv_std: npt.NDArray[np.float64],
    log_norm: float,
    out: npt.NDArray[np.float64],
    n_threads: int,
) -> None: ...
def full_log_density(
    X: npt.NDArray[Float],
    mean: npt.NDArray[np.float64],
    cholesky_factor: npt.NDArray[np.float64],
    log_norm: float,
    out: npt.NDArray[np.float64],
    workspace: npt.NDArray[np.float64],
    n_threads: int,
) -> None: ...
def diagonal_statistics(
    X: npt.NDArray[Float], mean: npt.NDArray[np.float64], sum_squares: npt.NDArray[np.float64]
) -> None: ...
def full_statistics(
    X: npt.NDArray[Float], mean: npt.NDArray[np.float64], scatter: npt.NDArray[np.float64]
) -> None: ...
def cholesky_lower(matrix: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], int]: ...
def f1_scan(
    sorted_scores: npt.NDArray[np.float64], sorted_labels: npt.NDArray[np.uint8]
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    int,
]: ...
def grid_counts(
    sorted_values: npt.NDArray[np.float64],
    sorted_labels: npt.NDArray[np.uint8],
    ascending_thresholds: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
