"""The compiled row priorities of the streaming row sample against splitmix64
written out in Python integers (the published algorithm, plainly)."""

import numpy as np
import pytest

from gaussext import _kernels

MASK = (1 << 64) - 1


def splitmix64(i):
    z = (i + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def uniform(i):
    return ((splitmix64(i) >> 12) + 0.5) / 2.0**52


@pytest.mark.parametrize("first_row", [0, 1, 12345, 2**40 + 7, 2**62])
def test_row_uniforms_equal_splitmix64_bit_for_bit(first_row):
    out = np.empty(300)
    _kernels.row_uniforms(first_row, out)
    expected = np.array([uniform(first_row + j) for j in range(300)])
    np.testing.assert_array_equal(out, expected)
    assert np.all((out > 0) & (out < 1))


def test_the_first_values_of_splitmix64_are_the_published_ones():
    # splitmix64 seeded with 0 (state advanced by the golden gamma first)
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert splitmix64(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4
