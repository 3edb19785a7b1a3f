"""The full model's own products (``gaussext/_simd.h``) against plain NumPy.

The full model computes two products inside its OpenMP threads: at scoring,
z = W s for each standardised row s and its squared norm; at fit, the
scatter update R^T R of each block of centred rows.  They are our own loops,
not BLAS calls (a BLAS call there would start BLAS threads of its own), and
their test twins in ``gaussext._kernels`` (``whitened_log_density``,
``scatter_update``) run exactly the kernels' code.  So does
``standardised_panels``, the scoring product's first step, which must give
NumPy's bits exactly.  Each is compared here with
a NumPy expression written out plainly, over the feature counts where the
loops change shape (1, 2, 3; either side of their 4- and 8-wide steps; the
old BLAS switch at 32; 300) and row counts either side of the panel of 8
rows, and checked to give the same bits however its input is stored.

Tolerances
----------
float64: |error| <= 1e-12 times the magnitude of the summed terms (for a
score, |log_norm| + 1/2 sum_k ((|W| |s|)_k)^2; for a scatter entry,
|C_ab| + sum_i |R_ia R_ib|).  Each sum has at most 300 terms, so rounding
contributes at most ~600 eps = 7e-14 of that scale on either side; a wrong
term, row or triangle errs by O(1) of it, and float32 arithmetic by 1e-7.
float32 (the whitening only, which runs in float32 by design): the float64
tolerance plus the bound the tests state for that product
(``conftest.py``, ``whitening_error_bound``).
"""

import numpy as np
import pytest

from gaussext import _kernels

FEATURES = [1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 128, 300]
ROWS = [1, 2, 7, 8, 9, 1000]
RTOL = 1e-12


def _whitening(rng, d, dtype):
    """Lower-triangular d x d in `dtype` with NaN above the diagonal (a loop
    that read there would return NaN): a correlation matrix's inverse factor,
    as the estimator builds W, so that |W| stays moderate at every d."""
    mixing = rng.uniform(-1.0, 1.0, size=(d, d))
    correlation = mixing @ mixing.T / d + 0.5 * np.eye(d)
    std = np.sqrt(np.diagonal(correlation))
    correlation = correlation / std[:, None] / std[None, :]
    whitening = np.linalg.inv(np.linalg.cholesky(correlation))
    whitening[np.triu_indices(d, 1)] = np.nan
    return whitening.astype(dtype)


def _expected_scores(whitening, standardised, log_norm):
    """(log_norm - 1/2 |W s_i|^2, the scale of its terms), in float64 from the
    stored values."""
    lower = np.nan_to_num(np.tril(whitening.astype(np.float64)), nan=0.0)
    rows = standardised.astype(np.float64)
    whitened = rows @ lower.T
    magnitude = np.abs(rows) @ np.abs(lower).T
    return (log_norm - 0.5 * np.sum(whitened**2, axis=1),
            abs(log_norm) + 0.5 * np.sum(magnitude**2, axis=1), rows, lower)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", FEATURES)
@pytest.mark.parametrize("n_rows", ROWS)
@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("columns", ["auto", "narrow", "wide"])
def test_whitened_log_density_matches_numpy(dtype, n_features, n_rows, offset, columns,
                                            whitening_product_bound):
    """out[i] = log_norm - 1/2 |W s_i|^2 with W's strict upper triangle never
    read, rows near 0 and far out (a standardised residual of 1e4), the inputs
    left as they were: the product the kernel picks, and each of the two it
    picks from (16-byte columns, plain multiply-adds; 32-byte, fused where
    the CPU has FMA)."""
    if columns == "wide" and not _kernels.wide_columns_runnable():
        pytest.skip("this CPU cannot run the 32-byte product (no AVX2 and FMA)")
    rng = np.random.default_rng(1000 * n_features + n_rows)
    whitening = _whitening(rng, n_features, dtype)
    standardised = (rng.normal(size=(n_rows, n_features)) + offset).astype(dtype)
    whitening_before, standardised_before = whitening.copy(), standardised.copy()
    out = np.full(n_rows, np.nan)

    _kernels.whitened_log_density(whitening, standardised, -3.5, out, columns=columns)

    expected, scale, rows, lower = _expected_scores(whitening, standardised, -3.5)
    allowance = whitening_product_bound(rows, lower) if dtype == np.float32 else 0.0
    error = np.abs(out - expected)
    assert np.all(error <= RTOL * scale + allowance), np.max((error - allowance) / scale)
    assert np.array_equal(whitening, whitening_before, equal_nan=True)
    assert np.array_equal(standardised, standardised_before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [3, 9, 33, 128])
def test_whitened_product_is_one_of_its_two_forms(dtype, n_features):
    """The kernel's product is, bit for bit, the one on 16-byte columns or
    the one on 32-byte columns (no mixture: every row from the same one)."""
    rng = np.random.default_rng(n_features)
    whitening = _whitening(rng, n_features, dtype)
    standardised = rng.normal(size=(1000, n_features)).astype(dtype)
    scores = {}
    for columns in ("auto", "narrow", "wide"):
        if columns == "wide" and not _kernels.wide_columns_runnable():
            continue
        scores[columns] = np.full(1000, np.nan)
        _kernels.whitened_log_density(whitening, standardised, 1.25, scores[columns],
                                      columns=columns)
    assert any(np.array_equal(scores["auto"], scores[form])
               for form in ("narrow", "wide") if form in scores)


def test_whitened_product_refuses_unknown_columns():
    whitening = np.eye(3)
    with pytest.raises(ValueError, match="columns must be 'auto', 'narrow' or 'wide'"):
        _kernels.whitened_log_density(whitening, np.ones((2, 3)), 0.0, np.empty(2),
                                      columns="avx")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [3, 9, 33])
def test_whitened_log_density_does_not_depend_on_storage(dtype, n_features):
    """The same rows stored C- or Fortran-ordered, one element off alignment,
    with a column stride, or with byte strides that are not whole elements
    (read by the kernel's fallback loop) give the same bits, run after run."""
    rng = np.random.default_rng(n_features)
    whitening = _whitening(rng, n_features, dtype)
    rows = rng.normal(size=(1000, n_features)).astype(dtype)
    shifted = np.empty(rows.size + 1, dtype=dtype)[1:].reshape(rows.shape)
    shifted[:] = rows
    strided = np.full((1000, 2 * n_features), np.nan, dtype=dtype)[:, ::2]
    strided[:] = rows
    itemsize = rows.itemsize
    raw = np.zeros(1000 * (n_features * itemsize + 3) + 1, dtype=np.uint8)
    odd = np.ndarray(rows.shape, dtype=dtype, buffer=raw, offset=1,
                     strides=(n_features * itemsize + 3, itemsize))
    odd[:] = rows
    assert odd.strides[0] % itemsize != 0
    scores = []
    for stored in (rows, rows, np.asfortranarray(rows), shifted, strided, odd):
        out = np.empty(len(rows))
        _kernels.whitened_log_density(whitening, stored, 0.0, out)
        scores.append(out)
    assert np.all(np.isfinite(scores[0]))
    for other in scores[1:]:
        assert np.array_equal(scores[0], other)


def _expected_panels(X, mean, inv_std):
    """(X - mean) * inv_std in float64, stored in X's type, rows padded with
    zeros to whole panels of 8, each panel feature by feature."""
    standardised = ((X.astype(np.float64) - mean) * inv_std).astype(X.dtype)
    n_rows, n_features = X.shape
    padded = np.zeros((-(-n_rows // 8) * 8, n_features), dtype=X.dtype)
    padded[:n_rows] = standardised
    return padded.reshape(-1, 8, n_features).transpose(0, 2, 1).ravel()


def _layouts(rows):
    """The same rows C-ordered, Fortran-ordered, one element off alignment,
    inside a wider array (a row stride past the features), and reversed."""
    shifted = np.empty(rows.size + 1, dtype=rows.dtype)[1:].reshape(rows.shape)
    shifted[:] = rows
    wider = np.full((rows.shape[0], rows.shape[1] + 3), np.nan, dtype=rows.dtype)
    wider[:, 1:-2] = rows
    reversed_rows = np.ascontiguousarray(rows[::-1])[::-1]
    return {"C": rows, "F": np.asfortranarray(rows), "shifted": shifted,
            "wider": wider[:, 1:-2], "reversed": reversed_rows}


PANEL_FEATURES = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33]
# "registers" only where this CPU and build have the code (x86-64 with AVX)
TRANSPOSES = ["auto", "elements"] + (["registers"] if _kernels.transpose_in_registers() else [])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", PANEL_FEATURES)
@pytest.mark.parametrize("n_rows", [1, 7, 8, 9, 16, 23, 1000])
@pytest.mark.parametrize("transpose", TRANSPOSES)
def test_standardised_panels_match_numpy(dtype, n_features, n_rows, transpose):
    """The full kernel's first step, bit for bit: s = (x - mean) * inv_std in
    float64, rounded once to X's type, laid out panel by panel, however X is
    stored, whole panels transposed in registers or not, with features past
    the last whole group of 8 (float) or 4 (double) and a last panel that is
    not whole; rows far from 0 (an offset of 1e4 that the mean removes)."""
    rng = np.random.default_rng(100 * n_features + n_rows)
    rows = (rng.normal(size=(n_rows, n_features)) * 3.0 + 1e4).astype(dtype)
    mean = rng.normal(size=n_features) + 1e4
    inv_std = 1.0 / rng.uniform(0.5, 4.0, size=n_features)
    expected = _expected_panels(rows, mean, inv_std)
    for name, stored in _layouts(rows).items():
        before = stored.copy()
        panels = _kernels.standardised_panels(stored, mean, inv_std, transpose=transpose)
        assert panels.dtype == dtype
        assert np.array_equal(panels, expected), name
        assert np.array_equal(stored, before)


def test_standardised_panels_refuse_unknown_transpose():
    with pytest.raises(ValueError, match="transpose must be 'auto', 'elements' or 'registers'"):
        _kernels.standardised_panels(np.ones((2, 3)), np.zeros(3), np.ones(3), transpose="avx")


def test_registers_transpose_runs_exactly_where_the_code_and_cpu_allow():
    """An x86-64 glibc build (every Linux wheel) on a CPU with AVX2 (what the
    row loops' clones check for) transposes in registers; elsewhere asking
    for it is refused by name, not run."""
    rows = np.arange(64.0).reshape(8, 8)
    if _kernels.simd_dispatch_enabled() and _kernels.wide_columns_runnable():
        assert _kernels.transpose_in_registers()
    if _kernels.transpose_in_registers():
        assert np.array_equal(
            _kernels.standardised_panels(rows, np.zeros(8), np.ones(8), transpose="registers"),
            rows.T.ravel())
    else:
        with pytest.raises(ValueError, match="cannot transpose panels in registers"):
            _kernels.standardised_panels(rows, np.zeros(8), np.ones(8), transpose="registers")


@pytest.mark.parametrize("n_features", FEATURES)
@pytest.mark.parametrize("n_rows", ROWS)
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_scatter_update_matches_numpy(n_features, n_rows, offset):
    """scatter += R^T R on the upper triangle; nothing below the diagonal is
    read (NaN there stays NaN and spreads nowhere) or written; R is left as it
    was.  Rows far from 0 (an offset of 1e6) make terms of 1e12."""
    rng = np.random.default_rng(1000 * n_features + n_rows)
    residual = rng.normal(size=(n_rows, n_features)) + offset
    scatter = rng.normal(size=(n_features, n_features))  # not symmetric
    scatter[np.tril_indices(n_features, -1)] = np.nan
    residual_before, scatter_before = residual.copy(), scatter.copy()

    _kernels.scatter_update(residual, scatter)

    upper = np.triu_indices(n_features)
    expected = (scatter_before + residual.T @ residual)[upper]
    scale = (np.abs(scatter_before) + np.abs(residual).T @ np.abs(residual))[upper]
    error = np.abs(scatter[upper] - expected)
    assert np.all(error <= RTOL * scale), np.max(error / scale)
    lower = np.tril_indices(n_features, -1)
    assert np.all(np.isnan(scatter[lower]))
    assert np.array_equal(residual, residual_before)


@pytest.mark.parametrize("n_features", [3, 9, 33])
def test_scatter_update_does_not_depend_on_alignment(n_features):
    """The same rows stored one element off, run twice, give the same bits."""
    rng = np.random.default_rng(n_features)
    residual = rng.normal(size=(5000, n_features))
    shifted = np.empty(residual.size + 1)[1:].reshape(residual.shape)
    shifted[:] = residual
    results = []
    for rows in (residual, residual, shifted):
        scatter = np.zeros((n_features, n_features))
        _kernels.scatter_update(rows, scatter)
        results.append(scatter)
    assert np.array_equal(results[0], results[1])
    assert np.array_equal(results[0], results[2])


def test_scatter_update_of_no_rows_changes_nothing():
    """An empty block adds nothing (and reads no first row, which has none)."""
    scatter = np.arange(9.0).reshape(3, 3)
    _kernels.scatter_update(np.empty((0, 3)), scatter)
    assert np.array_equal(scatter, np.arange(9.0).reshape(3, 3))


@pytest.mark.parametrize("n_features", [1, 8, 300])
def test_workspace_grows_with_the_rows_up_to_one_block(n_features):
    """One row needs one panel of 8 rows per thread; more rows, panels for
    them, never more than one block (65536 elements, rounded up to whole
    panels) per thread."""
    block_rows = _kernels.full_block_rows(n_features)
    assert block_rows == max(1, 65536 // n_features)
    assert _kernels.full_workspace_shape(3, n_features, 1) == (3, 8 * n_features)
    assert _kernels.full_workspace_shape(2, n_features, 9) == (2, 16 * n_features)
    whole_panels = -(-block_rows // 8) * 8
    for n_rows in (block_rows, block_rows + 1, 10**7):
        assert _kernels.full_workspace_shape(2, n_features, n_rows) == (
            2, whole_panels * n_features)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_full_log_density_refuses_a_workspace_too_small(dtype):
    """A workspace smaller than full_workspace_shape says so instead of being
    written past its end."""
    X = np.ones((20, 3), dtype=dtype)
    whitening = np.eye(3, dtype=dtype)
    out = np.empty(20)
    args = (X, np.zeros(3), np.ones(3), whitening, 0.0, out)
    for shape in [(1, 8 * 3), (2, 24 * 3 - 1)]:
        with pytest.raises(ValueError, match=r"smaller than full_workspace_shape\(2, 3, 20\)"):
            _kernels.full_log_density(*args, np.empty(shape, dtype), 2)
    assert _kernels.full_log_density(*args, np.empty((2, 24 * 3), dtype), 2) == 0
    assert np.array_equal(out, np.full(20, -1.5))
