"""Offline reference DTW, windowed online DTW: equality where final, order invariance."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.video import (
    DTWPair,
    OnlineSubsequenceDTW,
    banded_subsequence_dtw,
    subsequence_dtw,
)
from operators.video.offline_dtw import dtw_on_band, step_weights
from stream import ParameterError

Feats = npt.NDArray[np.float32]


def _unit(x: npt.NDArray[np.float64]) -> Feats:
    x = x - x.mean(axis=1, keepdims=True)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _sequences(
    seed: int, m: int, start: int, n: int, slope: float, drops: tuple[int, ...] = ()
) -> tuple[Feats, Feats, npt.NDArray[np.int64]]:
    """bg features (a smooth random walk), fg = noisy bg at the true path, the truth."""
    rng = np.random.default_rng(seed)
    bg = _unit(np.cumsum(rng.normal(size=(m, 64)), axis=0) * 0.3 + rng.normal(size=(m, 64)))
    truth = start + np.floor(np.arange(n) * slope + 1e-9).astype(np.int64)
    for d in drops:
        truth[d:] += 1
    fg = _unit(bg[truth] + rng.normal(size=(n, 64)) * 0.05)
    return fg, bg, truth


def _costs(fg: Feats, bg: Feats) -> npt.NDArray[np.float64]:
    """The frame costs exactly as the online DTW computes them (float32 products)."""
    return np.stack([(1.0 - bg @ fg[i]).astype(np.float64) for i in range(len(fg))])


def _path_cost(
    c: npt.NDArray[np.float64], path: npt.NDArray[np.int64], w: npt.NDArray[np.float64]
) -> float:
    steps = np.diff(path)
    return float(c[np.arange(len(path)), path].sum() + w[steps].sum())


def _brute_min(c: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> float:
    d = c[0].copy()
    for i in range(1, c.shape[0]):
        nd = np.full_like(d, np.inf)
        for s in range(len(w)):
            nd[s:] = np.minimum(nd[s:], d[: len(d) - s] + w[s])
        d = nd + c[i]
    return float(d.min())


def _run(
    dtw: OnlineSubsequenceDTW, fg: Feats, bg: Feats, order: list[bool], bg_first: int = 0
) -> list[DTWPair]:
    out: list[DTWPair] = []
    i = j = 0
    for take_fg in [*order, *([True] * len(fg)), *([False] * len(bg))]:
        if take_fg and i < len(fg):
            out += dtw.push_fg(i, fg[i])
            i += 1
        elif not take_fg and j < len(bg):
            out += dtw.push_bg(bg_first + j, bg[j])
            j += 1
    return out + dtw.finish()


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 9),
    st.integers(3, 14),
    st.integers(1, 3),
    st.floats(0.5, 2.0),
    st.integers(0, 2**31),
)
def test_offline_full_dtw_finds_the_minimum_cost_path(
    n: int, m: int, max_step: int, slope: float, seed: int
) -> None:
    slope = min(slope, float(max_step))
    c = np.random.default_rng(seed).random((n, m))
    path = subsequence_dtw(c, slope, max_step, 0.05)
    w = step_weights(slope, max_step, 0.05)
    assert np.all(np.diff(path) >= 0) and np.all(np.diff(path) <= max_step)
    assert _path_cost(c, path, w) == pytest.approx(_brute_min(c, w))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(2, 9),
    st.integers(3, 14),
    st.integers(1, 3),
    st.floats(0.5, 2.0),
    st.integers(2, 4),
    st.integers(0, 2**31),
)
def test_subframes_are_the_dtw_on_a_matrix_with_each_bg_frame_repeated(
    n: int, m: int, max_step: int, slope: float, sub: int, seed: int
) -> None:
    # Sub-frame positions: the same recurrence on a matrix whose every column is
    # repeated ``sub`` times, at ``sub`` times the slope and steps and 1/sub the
    # penalty per position; position u shows bg frame u // sub.
    slope = min(slope, float(max_step))
    c = np.random.default_rng(seed).random((n, m))
    got = subsequence_dtw(c, slope, max_step, 0.05, subframes=sub)
    lifted = subsequence_dtw(np.repeat(c, sub, axis=1), slope * sub, max_step * sub, 0.05 / sub)
    assert np.array_equal(got, lifted // sub)
    assert np.all(np.diff(got) >= 0) and np.all(np.diff(got) <= max_step)


PHASE_START = 10.3  # bg position of fg frame 0


def _phase_case() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """60 -> 25 fps (slope 2.4) with fg frame 50 dropped: every bg frame costs 0.004
    except the true one (0): weak evidence, as on a still shot."""
    n = 120
    times = np.delete(np.arange(n + 1, dtype=np.float64), 50)  # later frames 1 later
    truth = np.floor(PHASE_START + times * 2.4).astype(np.int64)
    c = np.full((n, truth[-1] + 20), 0.004)
    c[np.arange(n), truth] = 0.0
    return c, truth


def test_subframes_keep_the_new_phase_after_a_dropped_fg_frame() -> None:
    # After the drop the true path steps 2, 2, 3, 2, 3... in another phase of the
    # pattern. On whole frames, each row that phase steps differently costs one
    # step penalty, more than the evidence gains, so the path stays on the old phase
    # (one frame off on 2 rows in 5); on 5 positions per frame (12 per fg frame), the
    # new phase is followed exactly.
    c, truth = _phase_case()
    whole = banded_subsequence_dtw(c, PHASE_START, 2.4, max_step=5, step_penalty=0.03)
    fine = banded_subsequence_dtw(c, PHASE_START, 2.4, max_step=5, step_penalty=0.03, subframes=5)
    assert np.array_equal(fine, truth)
    assert np.array_equal(whole[:50], truth[:50])
    assert np.count_nonzero(whole[50:] != truth[50:]) > 20


@pytest.mark.parametrize(
    ("slope", "drops"), [(1.0, ()), (24 / 30, (40, 41)), (60 / 50, (70,)), (2.0, ())]
)
def test_banded_equals_full_and_finds_the_truth(slope: float, drops: tuple[int, ...]) -> None:
    fg, bg, truth = _sequences(1, 500, 77, 150, slope, drops)
    c = _costs(fg, bg)
    full = subsequence_dtw(c, slope)
    assert np.array_equal(full, truth)
    assert np.array_equal(banded_subsequence_dtw(c, 75, slope), full)


@pytest.mark.parametrize(
    ("slope", "drops", "sub"),
    [(1.0, (), 1), (24 / 30, (40,), 1), (60 / 50, (70, 71), 1), (24 / 30, (40,), 5),
     (60 / 25, (90,), 5)],
)  # fmt: skip
def test_online_equals_offline_wherever_final(
    slope: float, drops: tuple[int, ...], sub: int
) -> None:
    fg, bg, truth = _sequences(2, 500, 133, 150, slope, drops)
    dtw = OnlineSubsequenceDTW(
        slope=slope, dim=64, max_lag=1000, subframes=sub, max_step=max(3, math.ceil(2 * slope))
    )
    pairs = _run(dtw, fg, bg, [False, True] * 500)
    assert [p.fg for p in pairs] == list(range(150))
    assert dtw.start is not None and abs(dtw.start - 133) <= 2 and dtw.forced == 0
    c = _costs(fg, bg)
    offline = banded_subsequence_dtw(c, dtw.start, slope, max_step=dtw.max_step, subframes=sub)
    assert all(p.final for p in pairs)
    assert [p.bg for p in pairs] == offline.tolist() == truth.tolist()
    # Pairs came out long before the end: the finality rule, not the flush, released them.
    assert dtw.held_frames[0] < 150


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.booleans(), min_size=0, max_size=700), st.integers(0, 3), st.sampled_from([1, 5])
)
def test_pairs_do_not_depend_on_the_arrival_order(order: list[bool], seed: int, sub: int) -> None:
    fg, bg, _ = _sequences(seed, 260, 60, 120, 0.8, (50,))
    reference = _run(OnlineSubsequenceDTW(slope=0.8, dim=64, subframes=sub), fg, bg, [])
    got = _run(OnlineSubsequenceDTW(slope=0.8, dim=64, subframes=sub), fg, bg, order)
    assert got == reference


def test_bg_may_start_at_any_index() -> None:
    fg, bg, truth = _sequences(4, 300, 40, 100, 1.0)
    a = _run(OnlineSubsequenceDTW(dim=64), fg, bg, [])
    b = _run(OnlineSubsequenceDTW(dim=64), fg, bg, [], bg_first=1000)
    assert [p.bg for p in a] == truth.tolist()
    assert [p.bg - 1000 for p in b] == truth.tolist()


def test_max_lag_forces_pairs_out_monotone_and_consistent() -> None:
    # A frozen stretch (identical bg frames) keeps paths apart: nothing becomes final.
    fg, bg, truth = _sequences(5, 300, 50, 160, 1.0)
    bg[100:160] = bg[100]
    fg[50:110] = bg[100]
    dtw = OnlineSubsequenceDTW(dim=64, max_lag=10, band=6)
    pairs = _run(dtw, fg, bg, [False, True] * 300)
    assert [p.fg for p in pairs] == list(range(160))
    js = [p.bg for p in pairs]
    assert all(b >= a for a, b in itertools.pairwise(js))
    assert dtw.forced > 0 and sum(not p.final for p in pairs) == dtw.forced
    # Outside the frozen stretch the truth is found again.
    assert js[:45] == truth[:45].tolist() and js[-30:] == truth[-30:].tolist()


def test_memory_is_bounded_by_band_and_lag_not_length() -> None:
    fg, bg, _ = _sequences(6, 3000, 30, 2900, 1.0)
    dtw = OnlineSubsequenceDTW(dim=64, max_lag=40)
    most = [0, 0]
    i = j = 0
    count = 0
    while j < len(bg):  # time order: fg frame i arrives with bg frame i
        for side in ("bg", "fg"):
            if side == "bg":
                count += len(dtw.push_bg(j, bg[j]))
                j += 1
            elif i < len(fg):
                count += len(dtw.push_fg(i, fg[i]))
                i += 1
        held = dtw.held_frames
        most = [max(most[0], held[0]), max(most[1], held[1])]
    count += len(dtw.finish())
    assert count == 2900
    # fg: the 30-frame start offset plus search and lag; bg: band and search window; both
    # with the slack of lazy compaction (at most twice what is live). Not the 3000 frames.
    assert most[0] <= 2 * (30 + 24 + 40) and most[1] <= 2 * (2 * 8 + 1 + 2 * 24 + 12)
    assert dtw._fg.data.shape[0] <= 256 and dtw._bg.data.shape[0] <= 256


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"band": 1}, "band"),
        ({"max_lag": 0}, "max_lag"),
        ({"slope": 5.0}, "max_step"),
        ({"slope": -1.0}, "slope"),
        ({"step_penalty": -0.1}, "step_penalty"),
        ({"accept_cost": 3.0}, "accept_cost"),
        ({"search_frames": 0}, "search_frames"),
        ({"subframes": 0}, "subframes"),
        ({"subframes": 65}, "subframes"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        OnlineSubsequenceDTW(**kwargs)  # type: ignore[arg-type]


def test_bad_input_is_named() -> None:
    dtw = OnlineSubsequenceDTW(dim=4)
    with pytest.raises(ValueError, match="fg frames must start at index 0"):
        dtw.push_fg(3, np.zeros(4, np.float32))
    dtw.push_bg(10, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="bg frame 12 arrived after frame 10"):
        dtw.push_bg(12, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="feature shape"):
        dtw.push_bg(11, np.zeros(5, np.float32))
    assert dtw.finish() == []
    with pytest.raises(ValueError, match="after the end"):
        dtw.push_fg(0, np.zeros(4, np.float32))


def test_dtw_on_a_given_band_equals_full_dtw_restricted_to_it() -> None:
    fg, bg, truth = _sequences(7, 200, 20, 120, 1.0, (60,))
    c = _costs(fg, bg)
    width = 11
    los = np.maximum(0, np.arange(120) + 20 - 5)
    cols = los[:, None] + np.arange(width)[None, :]
    band = np.where(cols < 200, c[np.arange(120)[:, None], np.minimum(cols, 199)], np.inf)
    masked = np.full_like(c, np.inf)
    np.put_along_axis(masked, np.minimum(cols, 199), band, axis=1)
    got = dtw_on_band(band, los)
    assert np.array_equal(got, subsequence_dtw(masked))
    assert np.array_equal(got, truth)
    with pytest.raises(ValueError, match="never decrease"):
        dtw_on_band(band[:3], [5, 4, 6])


def test_flat_fg_frames_follow_the_expected_slope_online_and_offline() -> None:
    # A black intro (10 frames) and a fade to black in the middle (12 frames): zero
    # thumbnails, cost 1 everywhere. The band keeps moving at the expected slope.
    fg, bg, truth = _sequences(3, 400, 90, 160, 0.8, (100,))
    fg[:10] = 0.0
    fg[60:72] = 0.0
    dtw = OnlineSubsequenceDTW(slope=0.8, dim=64, max_lag=1000)
    pairs = _run(dtw, fg, bg, [False, True] * 400)
    assert dtw.start is not None and abs(dtw.start - 90) <= 2
    c = _costs(fg, bg)
    offline = banded_subsequence_dtw(c, dtw.start, 0.8)
    assert [p.bg for p in pairs] == offline.tolist()
    got = np.array([p.bg for p in pairs])
    content = np.r_[10:60, 72:160]
    assert np.array_equal(got[content], truth[content])
    assert np.abs(got - truth).max() <= 2  # flat frames: placed by the slope
