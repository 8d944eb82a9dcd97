"""FrameStats: brightness, motion, cuts, chunk (arrival) invariance."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediastream.synth import synth_frame
from operators import FrameStats
from stream import ParameterError, VideoFrame


def _frames(n: int, w: int = 64, h: int = 36) -> list[VideoFrame]:
    return [VideoFrame(synth_frame(i, w, h), i, i * 512, Fraction(1, 12800)) for i in range(n)]


def test_luma_and_motion_values() -> None:
    black = np.zeros((10, 10, 3), np.uint8)
    white = np.full((10, 10, 3), 255, np.uint8)
    frames = [VideoFrame(a, i, i, Fraction(1, 25)) for i, a in enumerate([black, black, white])]
    events = FrameStats(cut_threshold=40).run_all(frames)
    readings = [e.payload for e in events]
    assert [r.mean_luma for r in readings] == pytest.approx([0.0, 0.0, 255.0], abs=1e-3)
    assert [r.motion for r in readings] == pytest.approx([0.0, 0.0, 255.0], abs=1e-3)
    assert [r.cut for r in readings] == [False, False, True]
    assert [(e.start, e.end, e.time_base) for e in events] == [
        (i, i, Fraction(1, 25)) for i in range(3)
    ]


def test_bgr_and_gray_agree_with_rgb() -> None:
    rgb = _frames(3)
    bgr = [
        VideoFrame(np.ascontiguousarray(f.data[..., ::-1]), f.index, f.pts, f.time_base, "bgr24")
        for f in rgb
    ]
    luma = [e.payload.mean_luma for e in FrameStats().run_all(rgb)]
    assert [e.payload.mean_luma for e in FrameStats().run_all(bgr)] == pytest.approx(luma, rel=1e-5)


def test_every_nth_frame_still_measures_motion_against_the_previous_frame() -> None:
    frames = _frames(12)
    all_events = FrameStats().run_all(frames)
    sparse = FrameStats(every=4).run_all(frames)
    assert [e.payload.index for e in sparse] == [0, 4, 8]
    assert [e.payload for e in sparse] == [all_events[i].payload for i in (0, 4, 8)]


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 30), st.integers(1, 5))
def test_reset_and_rerun_are_identical(n: int, every: int) -> None:
    op = FrameStats(every=every)
    frames = _frames(n, 32, 18)
    assert op.run_all(frames) == op.run_all(frames)


@pytest.mark.parametrize("kwargs", [{"every": 0}, {"cut_threshold": 0}, {"cut_threshold": 300}])
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        FrameStats(**kwargs)  # type: ignore[arg-type]
