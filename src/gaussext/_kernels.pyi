import numpy as np
import numpy.typing as npt

Float = np.float32 | np.float64

def openmp_enabled() -> bool: ...
def simd_dispatch_enabled() -> bool: ...
def max_threads() -> int: ...
def full_block_rows(n_features: int) -> int: ...
def diagonal_log_density(
    X: npt.NDArray[Float],
    mean: npt.NDArray[np.float64],
    inv_std: npt.NDArray[np.float64],
    log_norm: float,
    out: npt.NDArray[np.float64],
    n_threads: int,
) -> int: ...
def full_workspace_shape(n_threads: int, n_features: int, n_rows: int) -> tuple[int, int]: ...
def full_log_density(
    X: npt.NDArray[Float],
    mean: npt.NDArray[np.float64],
    inv_std: npt.NDArray[np.float64],
    whitening: npt.NDArray[Float],
    log_norm: float,
    out: npt.NDArray[np.float64],
    workspace: npt.NDArray[Float],
    n_threads: int,
) -> int: ...
def transpose_in_registers() -> bool: ...
def standardised_panels(
    X: npt.NDArray[Float],
    mean: npt.NDArray[np.float64],
    inv_std: npt.NDArray[np.float64],
    transpose: str = ...,
) -> npt.NDArray[Float]: ...
def wide_columns_runnable() -> bool: ...
def whitened_log_density(
    whitening: npt.NDArray[Float],
    standardised: npt.NDArray[Float],
    log_norm: float,
    out: npt.NDArray[np.float64],
    columns: str = ...,
) -> None: ...
def scatter_update(residual: npt.NDArray[np.float64], scatter: npt.NDArray[np.float64]) -> None: ...
def statistics_chunk_rows(n_samples: int) -> int: ...
def shifted_statistics(
    X: npt.NDArray[Float],
    shift: npt.NDArray[np.float64],
    mean: npt.NDArray[np.float64],
    moments: npt.NDArray[np.float64],
    matrix: bool,
    n_threads: int,
) -> None: ...
def merge_statistics(
    counts: npt.NDArray[np.float64],
    means: npt.NDArray[np.float64],
    moments: npt.NDArray[np.float64],
    mean: npt.NDArray[np.float64],
    merged_moments: npt.NDArray[np.float64],
    matrix: bool,
) -> None: ...
def accumulate_statistics(
    X: npt.NDArray[Float],
    shift: npt.NDArray[np.float64],
    n_before: float,
    mean: npt.NDArray[np.float64],
    moments: npt.NDArray[np.float64],
    chunk_mean: npt.NDArray[np.float64],
    chunk_moments: npt.NDArray[np.float64],
    matrix: bool,
    n_threads: int,
) -> bool: ...
def cholesky_lower(
    matrix: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]: ...
def f1_scan(
    sorted_normal: npt.NDArray[np.float64], sorted_anomalous: npt.NDArray[np.float64]
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    int,
    int,
    int,
]: ...
def thresholds_between(
    values: npt.NDArray[np.float64], next_values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]: ...
def f1_from_counts(
    true_positives: npt.NDArray[np.int64],
    false_positives: npt.NDArray[np.int64],
    n_anomalies: int,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], int
]: ...

class FewRowScorer:
    n_features: int
    def __init__(
        self,
        mean: npt.NDArray[np.float64],
        inv_std: npt.NDArray[np.float64],
        log_norm: float,
        whitening: npt.NDArray[np.float64] | None = ...,
        whitening_float32: npt.NDArray[np.float32] | None = ...,
    ) -> None: ...
    def log_density(self, X: object) -> npt.NDArray[np.float64] | None: ...
    def predict(self, X: object, log_epsilon: float) -> npt.NDArray[np.int64] | None: ...

def row_uniforms(first_row: int, out: npt.NDArray[np.float64]) -> None: ...
def sample_offer(
    X: npt.NDArray[Float],
    first_row: int,
    floor: float,
    rows: npt.NDArray[Float],
    index: npt.NDArray[np.int64],
    keys: npt.NDArray[np.float64],
    size: int,
) -> tuple[int, int, float]: ...
def sample_compact(
    rows: npt.NDArray[Float],
    index: npt.NDArray[np.int64],
    keys: npt.NDArray[np.float64],
    size: int,
    capacity: int,
    keep_key: float,
    keep_row: int,
) -> int: ...
