"""RollingWindows: windows cut from the carried tail are identical for any chunking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.speaker import RollingWindows
from stream import ParameterError
from tests.chunking import cut_points


def _cut(x: np.ndarray, cuts: list[int], window: int, step: int, start: int = 0):
    rw = RollingWindows(window, step)
    bounds = [0, *cuts, x.shape[0]]
    got = [rw.push(x[a:b], start + a) for a, b in itertools.pairwise(bounds)]
    got.append(rw.flush())
    samples = np.concatenate([g.samples for g in got])
    starts = np.concatenate([g.starts for g in got])
    lengths = np.concatenate([g.lengths for g in got])
    return samples, starts, lengths


def test_windows_of_a_known_ramp() -> None:
    x = np.arange(11, dtype=np.float32)
    samples, starts, lengths = _cut(x, [3, 4, 7], window=4, step=3, start=100)
    assert starts.tolist() == [100, 103, 106, 109]
    assert lengths.tolist() == [4, 4, 4, 2]
    assert samples.tolist() == [
        [0, 1, 2, 3],
        [3, 4, 5, 6],
        [6, 7, 8, 9],
        [9, 10, 0, 0],  # frame 10 is in no full window: flushed, zero-padded
    ]


def test_no_partial_window_when_the_stream_ends_on_a_window() -> None:
    x = np.ones(8, np.float32)
    _, starts, lengths = _cut(x, [5], window=4, step=4)
    assert starts.tolist() == [0, 4] and lengths.tolist() == [4, 4]


def test_stream_shorter_than_a_window_gives_one_partial_window() -> None:
    _, starts, lengths = _cut(np.ones(3, np.float32), [1], window=10, step=5)
    assert starts.tolist() == [0] and lengths.tolist() == [3]


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    window=st.integers(1, 300),
    step=st.integers(1, 400),
)
def test_chunk_invariance_identical_windows(data: st.DataObject, window: int, step: int) -> None:
    total = data.draw(st.integers(1, 2000))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    x = rng.uniform(-1, 1, total).astype(np.float32)
    whole = _cut(x, [], window, step)
    chunked = _cut(x, data.draw(cut_points(total)), window, step)
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_array_equal(a, b)
    # And every full window is exactly the stream's samples at its start.
    for w, s, n in zip(*whole, strict=True):
        np.testing.assert_array_equal(w[:n], x[s : s + n])


def test_memory_is_bounded_by_the_window() -> None:
    rw = RollingWindows(1000, 250)
    for i in range(200):
        rw.push(np.zeros(4096, np.float32), i * 4096)
        assert rw._buf.shape[0] < 1000


def test_gap_in_the_stream_is_an_error_naming_frames() -> None:
    rw = RollingWindows(10, 5)
    rw.push(np.zeros(7, np.float32), 0)
    with pytest.raises(ValueError, match=r"frame 9.*expected frame 7"):
        rw.push(np.zeros(3, np.float32), 9)


def test_bad_sizes() -> None:
    with pytest.raises(ParameterError):
        RollingWindows(0, 1)
