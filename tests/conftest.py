"""Shared fixtures: the reference data in ../shared/data beside the checkout."""

from pathlib import Path

import numpy as np
import pytest

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
