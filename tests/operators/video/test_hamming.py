"""Hamming distance matrices of packed hashes (Numba popcount kernel)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.video import hamming_distance, hamming_matrix

_u64 = st.integers(0, 2**64 - 1)


@settings(max_examples=30, deadline=None)
@given(st.lists(_u64, max_size=20), st.lists(_u64, max_size=20))
def test_matches_numpy_bitwise_count(a: list[int], b: list[int]) -> None:
    x = np.array(a, np.uint64)
    y = np.array(b, np.uint64)
    got = hamming_matrix(x, y)
    assert got.shape == (len(a), len(b)) and got.dtype == np.uint16
    ref = np.bitwise_count(x[:, None] ^ y[None, :]) if a and b else np.zeros((len(a), len(b)))
    assert np.array_equal(got, ref)
    for i, u in enumerate(a[:3]):
        for j, v in enumerate(b[:3]):
            assert hamming_distance(u, v) == got[i, j]


def test_extremes_and_multi_word_hashes() -> None:
    top = np.uint64(2**63)
    assert hamming_matrix([0, top], [np.uint64(2**64 - 1)]).tolist() == [[64], [63]]
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**63, (7, 4), dtype=np.uint64)
    b = rng.integers(0, 2**63, (5, 4), dtype=np.uint64)
    ref = np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2)
    assert np.array_equal(hamming_matrix(a, b), ref)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(TypeError, match="unsigned 64-bit"):
        hamming_matrix(np.array([1.5]), np.array([1], np.uint64))
    with pytest.raises(TypeError, match="unsigned"):
        hamming_matrix(np.array([-1]), np.array([1], np.uint64))
    with pytest.raises(ValueError, match="words"):
        hamming_matrix(np.zeros((2, 2), np.uint64), np.zeros((2, 3), np.uint64))
