"""VideoAlign on generated pairs: accuracy against the truth, arrival-order invariance."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.video import AlignPair, AlignRegistration, VideoAlign
from operators.video.align import auto_subframes
from stream import (
    Event,
    IncompatibleInputError,
    MediaStreamError,
    ParameterError,
    VideoFrame,
    VideoSpec,
)

from .pairs import PairSpec, generate, interleave, video_frames

CASES = {
    "crop+grade+noise": PairSpec(),
    "24->30 drops dups": PairSpec(fg_fps=30, fg_frames=80, drops=(20, 21), dups=(40, 55)),
    "60->50 scale 0.5": PairSpec(bg_fps=60, bg_frames=300, fg_fps=50, fg_frames=150, start=70,
                                 cut_at=180, scale=0.5, crop=(20, 30, 240, 136)),
    "whole frame": PairSpec(scale=1.0, crop=(0, 0, 320, 180), noise=6.0),
    "late start 0.7": PairSpec(bg_frames=200, start=120, scale=0.7, crop=(90, 20, 220, 124),
                               cut_at=150),
}  # fmt: skip


def _align(
    fg: list[VideoFrame], bg: list[VideoFrame], order: list[bool] | None = None, **kw: float
) -> tuple[VideoAlign, list[Event[object]]]:
    op = VideoAlign(**kw)  # type: ignore[arg-type]
    rate = {p: Fraction(1, 1) / f[0].time_base for p, f in (("fg", fg), ("bg", bg))}
    op.configure(
        {
            p: VideoSpec(f[0].width, f[0].height, "gray", rate[p])
            for p, f in (("fg", fg), ("bg", bg))
        }
    )
    if order is None:  # the runtime's time order
        items = sorted(
            [("fg", f) for f in fg] + [("bg", b) for b in bg],
            key=lambda t: (t[1].time, t[0] == "bg"),
        )
    else:
        items = list(interleave(fg, bg, order))
    out: list[Event[object]] = []
    for port, f in items:
        out += op.process_port(port, f)  # type: ignore[arg-type]
    return op, out + op.flush()  # type: ignore[operator]


def _pairs(events: list[Event[object]]) -> list[AlignPair]:
    return [e.payload for e in events if e.kind == "align_pair"]  # type: ignore[misc]


@pytest.mark.parametrize("name", list(CASES))
def test_alignment_matches_the_ground_truth(name: str) -> None:
    spec = CASES[name]
    fg_img, bg_img, gt = generate(spec)
    fg, bg = video_frames(fg_img, spec.fg_fps), video_frames(bg_img, spec.bg_fps)
    _, events = _align(fg, bg)
    assert events[0].kind == "align_registration"
    reg = events[0].payload
    assert isinstance(reg, AlignRegistration)
    assert abs(reg.x - spec.crop[0]) <= 2 and abs(reg.y - spec.crop[1]) <= 2
    assert reg.scale == pytest.approx(spec.fg_size[0] / spec.crop[2], rel=0.03)
    pairs = _pairs(events)
    assert [p.fg_index for p in pairs] == list(range(len(gt)))
    err = np.abs(np.array([p.bg_index for p in pairs]) - gt)
    assert err.mean() <= 0.5 and err.max() <= 2
    # Times come from the frames; events are in fg time order; bg never goes back.
    assert all(p.fg_time == pytest.approx(p.fg_index / spec.fg_fps) for p in pairs)
    assert all(p.bg_time == pytest.approx(p.bg_index / spec.bg_fps) for p in pairs)
    assert [e.end for e in events] == sorted(e.end for e in events)
    assert all(b.bg_index >= a.bg_index for a, b in itertools.pairwise(pairs))
    assert all(0 <= p.confidence <= 1 and p.final for p in pairs)


_SPEC = PairSpec(fg_fps=30, fg_frames=50, bg_frames=110, start=40, drops=(20,), dups=(30,),
                 cut_at=70)  # fmt: skip
_DATA = generate(_SPEC)
_REFERENCE: list[Event[object]] = []  # the pairs in the runtime's time order, computed once


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.booleans(), max_size=200))
def test_pairs_do_not_depend_on_the_interleaving_of_fg_and_bg(order: list[bool]) -> None:
    fg_img, bg_img, gt = _DATA
    fg, bg = video_frames(fg_img, _SPEC.fg_fps), video_frames(bg_img, _SPEC.bg_fps)
    if not _REFERENCE:
        _REFERENCE.extend(_align(fg, bg)[1])
    _, events = _align(fg, bg, order)
    assert events == _REFERENCE
    assert [p.bg_index for p in _pairs(events)] == gt.tolist()


def test_bound_never_passes_the_oldest_unpaired_fg_frame() -> None:
    fg = video_frames(_DATA[0], _SPEC.fg_fps)
    op = VideoAlign()
    op.configure({p: VideoSpec(96, 54, "gray", Fraction(r)) for p, r in (("fg", 30), ("bg", 24))})
    for k in range(10):
        op.process_port("fg", fg[k])
    assert op.bound(Fraction(5)) == fg[0].time


def test_rgb_frames_work_too() -> None:
    spec = PairSpec(bg_frames=80, fg_frames=30, cut_at=None)
    fg_img, bg_img, gt = generate(spec)
    fg, bg = video_frames(fg_img, 24, gray=False), video_frames(bg_img, 24, gray=False)
    _, events = _align(fg, bg)
    assert [p.bg_index for p in _pairs(events)] == gt.tolist()


def test_configuration_errors_name_the_problem() -> None:
    with pytest.raises(ParameterError, match="fg_rate"):
        VideoAlign(fg_rate=0)
    with pytest.raises(ParameterError, match="band"):
        VideoAlign(band=0)
    with pytest.raises(IncompatibleInputError, match="frame rate is unknown"):
        VideoAlign().configure({"fg": VideoSpec(10, 10, "gray"), "bg": VideoSpec(10, 10, "gray")})
    with pytest.raises(IncompatibleInputError, match="exceeds max_step"):
        VideoAlign(max_step=3).configure(
            {p: VideoSpec(10, 10, "gray", Fraction(r)) for p, r in (("fg", 10), ("bg", 60))}
        )
    with pytest.raises(IncompatibleInputError, match="takes video"):
        VideoAlign().configure({"fg": VideoSpec(10, 10, "gray", Fraction(25))})


def test_black_intro_and_a_fade_to_black_in_the_fg() -> None:
    spec = PairSpec(fg_fps=30, fg_frames=90, bg_frames=130, start=30, cut_at=100)
    fg_img, bg_img, gt = generate(spec)
    for k in range(8):  # black intro (with the fg's noise floor)
        fg_img[k] = np.clip(fg_img[k] * 0.02, 0, 255).astype(np.uint8)
    for k in range(40, 52):  # fade out and back in
        f = abs(k - 45.5) / 6.0
        fg_img[k] = np.clip(fg_img[k] * f, 0, 255).astype(np.uint8)
    fg, bg = video_frames(fg_img, spec.fg_fps), video_frames(bg_img, spec.bg_fps)
    _, events = _align(fg, bg)
    reg = events[0].payload
    assert isinstance(reg, AlignRegistration)
    assert reg.fg_index == 8 and reg.bg_index == gt[8]
    assert abs(reg.x - spec.crop[0]) <= 2 and abs(reg.y - spec.crop[1]) <= 2
    err = np.abs(np.array([p.bg_index for p in _pairs(events)]) - gt)
    assert err.mean() <= 0.5 and err.max() <= 2
    assert not err[8:40].any() and not err[52:].any()


def test_fg_held_before_the_bg_reaches_it_is_bounded() -> None:
    # _SPEC: the fg (30 fps) starts 40 bg frames (1.67 s) into the bg (24 fps); in time
    # order about 50 fg frames wait for the bg. Bound: 1 s of fg (30 frames) + max_lag 5.
    fg_img, bg_img, gt = _DATA
    fg, bg = video_frames(fg_img, _SPEC.fg_fps), video_frames(bg_img, _SPEC.bg_fps)
    with pytest.raises(MediaStreamError) as info:
        _align(fg, bg, max_lag=5, max_pending_s=1.0)
    msg = str(info.value)
    # The 36th fg frame (index 35, 1.167 s) passes 35 frames; the bg had reached 1.125 s.
    assert "36 fg frames (1.2 s) wait unpaired at fg time 1.167 s" in msg, msg
    assert "the bg at 1.125 s" in msg and "max_pending_s=1 s plus max_lag=5" in msg
    assert "not found in the bg so far" in msg
    # Within the bound nothing changes: same pairs as without a bound.
    _, events = _align(fg, bg, max_lag=5, max_pending_s=2.0)
    _, unbounded = _align(fg, bg, max_lag=5, max_pending_s=math.inf)
    assert events == unbounded and len(_pairs(events)) == len(gt)
    # fg alone (the bg never comes): it stops at the bound, whatever the order.
    op = VideoAlign(max_lag=5, max_pending_s=0.5)
    op.configure({p: VideoSpec(96, 54, "gray", Fraction(r)) for p, r in (("fg", 30), ("bg", 24))})
    for k in range(20):
        op.process_port("fg", fg[k])
    with pytest.raises(MediaStreamError, match="no bg frame yet"):
        op.process_port("fg", fg[20])
    with pytest.raises(ParameterError, match="max_pending_s"):
        VideoAlign(max_pending_s=0)
    with pytest.raises(ParameterError, match="max_pending_s"):
        VideoAlign(max_pending_s=math.nan)


def _registered_after(op: VideoAlign, fg: list[VideoFrame], bg: list[VideoFrame]) -> int:
    """bg frames pushed (in the runtime's time order) when the registration came."""
    items = sorted(
        [("fg", f) for f in fg] + [("bg", b) for b in bg],
        key=lambda t: (t[1].time, t[0] == "bg"),
    )
    seen = 0
    for port, f in items:
        seen += port == "bg"
        if any(e.kind == "align_registration" for e in op.process_port(port, f)):
            return seen
    raise AssertionError("no registration before the end")


def test_the_final_fit_spans_fit_s_of_fg_and_can_be_turned_off() -> None:
    spec = PairSpec(bg_frames=240, fg_frames=160, start=40, cut_at=None)
    fg_img, bg_img, _ = generate(spec)
    fg, bg = video_frames(fg_img, spec.fg_fps), video_frames(bg_img, spec.bg_fps)
    at, matched = {}, {}
    for fit_s in (4.0, 0.0):
        op = VideoAlign(fit_s=fit_s)
        op.configure({p: VideoSpec(f[0].width, f[0].height, "gray", Fraction(24))
                      for p, f in (("fg", fg), ("bg", bg))})  # fmt: skip
        at[fit_s] = _registered_after(op, fg, bg)
        matched[fit_s] = op.registrar.bg_index
        polished = op.registrar.polished
        assert (polished is None) == (fit_s == 0)
        reg = op.registration
        assert reg is not None
        assert abs(reg.x - spec.crop[0]) <= 1 and abs(reg.y - spec.crop[1]) <= 1
        assert reg.width == pytest.approx(spec.crop[2], rel=0.01 if fit_s else 0.03)
    # The same match; with the fit, the registration comes once the bg is 4 s of fg
    # (96 frames at 24 fps) past it, plus the pairing's slack (2 x 2 frames); without,
    # once the match is confirmed (about confirm_s and the check frames later).
    assert matched[4.0] == matched[0.0] == spec.start
    assert at[4.0] - 1 == matched[4.0] + 96 + 4, (at, matched)
    assert at[0.0] < at[4.0] - 48, at
    assert op.registrar.polishes == []
    for bad in (-1.0, math.nan, 61.0):
        with pytest.raises(ParameterError, match="fit_s"):
            VideoAlign(fit_s=bad)


@pytest.mark.parametrize(
    ("bg_fps", "fg_fps", "sub"),
    [(24, 24, 1), (60, 25, 5), (24, 30, 5), (50, 60, 6), (24, 25, 25), (25, 24, 24),
     (30000 / 1001, 24000 / 1001, 4), (30, 25 * 1.001, 5)],
)  # fmt: skip
def test_the_dtw_moves_on_sub_frame_positions_of_the_frame_rate_ratio(
    bg_fps: float, fg_fps: float, sub: int
) -> None:
    assert auto_subframes(bg_fps / fg_fps) == sub
    op = VideoAlign()
    op.configure({"fg": VideoSpec(64, 36, "gray", Fraction(fg_fps)),
                  "bg": VideoSpec(64, 36, "gray", Fraction(bg_fps))})  # fmt: skip
    assert op.dtw.sub == sub
    op = VideoAlign(subframes=2)
    op.configure({"fg": VideoSpec(64, 36, "gray", Fraction(fg_fps)),
                  "bg": VideoSpec(64, 36, "gray", Fraction(bg_fps))})  # fmt: skip
    assert op.dtw.sub == 2


def test_bad_subframes_are_named() -> None:
    for bad in (0, 65):
        with pytest.raises(ParameterError, match="subframes"):
            VideoAlign(subframes=bad)
