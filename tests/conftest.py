"""Shared fixtures: the reference data in ../shared/data beside the checkout,
and the stated error bound of the full model's single-precision product."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from scipy import linalg

# CI must not pass or fail by a random draw: property tests draw their examples
# from a fixed seed (derandomize) unless a developer asks for fresh ones with
# `pytest --hypothesis-profile=explore`; what that finds becomes a named test.
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=2000, print_blob=True)
settings.load_profile("deterministic")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data; the tests that need it skip only when it is absent
    (it is always present in CI)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def server_csv(shared_data):
    """(X, y) from server-operational-params.csv: two features, 0/1 labels."""
    table = np.genfromtxt(shared_data / "server-operational-params.csv", delimiter=",",
                          names=True)
    X = np.column_stack([table["Latency_ms"], table["Throughput_mbs"]])
    return X, table["Anomaly"].astype(np.int64)


@pytest.fixture(scope="session")
def ex8(shared_data):
    """Loader for the course's ex8data1 / ex8data2: dict with X, Xval, yval."""
    from scipy.io import loadmat

    def load(name):
        mat = loadmat(shared_data / f"{name}.mat")
        return {"X": mat["X"], "Xval": mat["Xval"], "yval": mat["yval"].ravel()}

    return load


FLOAT32_UNIT_ROUNDOFF = 2.0**-24


def _single_precision_product_bound(X, mean, covariance):
    """Per row, a bound on |score - score computed exactly| added when float32
    rows are whitened in float32 (the full model's product for float32 input).

    With r = x - mu, z = L^-1 r and w = |L^-1| |r| (entrywise absolute values):
    storing the standardised residual and the whitening matrix in float32 (one
    rounding each) and a float32 dot product of d terms change each z_i by at
    most e_i = (d + 3) u w_i, u = 2^-24 (d + 2 roundings to first order, and
    one more u for their products), so |z|^2 moves by at most sum_i 2 |z_i| e_i + e_i^2
    and the score, -|z|^2 / 2, by half that.  Computed here in float64 from
    SciPy's factor, sharing nothing with the kernel; on correlated data at
    offsets 0 to 1e6 the errors measured were about 2% of it, while whitening
    the uncentred float32 rows instead exceeds it 20-fold at an offset of 1e3.
    """
    residual = np.asarray(X, dtype=np.float64) - mean
    inverse_factor = linalg.solve_triangular(
        linalg.cholesky(covariance, lower=True), np.eye(len(mean)), lower=True)
    return whitening_error_bound(residual, inverse_factor)


def whitening_error_bound(residual, inverse_factor):
    """The bound above for rows `residual` (n x d) whitened by the lower
    triangular `inverse_factor` (d x d), both float64.  The same holds for
    standardised rows s and W = L^-1 diag(sigma): W s = L^-1 r and
    |W| |s| = |L^-1| |r|."""
    whitened = residual @ inverse_factor.T
    error = ((inverse_factor.shape[0] + 3) * FLOAT32_UNIT_ROUNDOFF
             * (np.abs(residual) @ np.abs(inverse_factor).T))
    return 0.5 * np.sum(2.0 * np.abs(whitened) * error + error**2, axis=1)


@pytest.fixture(scope="session")
def single_precision_product_bound():
    """The function bounding the float32 product's error, per row (see above)."""
    return _single_precision_product_bound


@pytest.fixture(scope="session")
def whitening_product_bound():
    """The same bound, from standardised rows and the whitening matrix."""
    return whitening_error_bound
