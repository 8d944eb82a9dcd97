"""Exact registration, sub-pixel crops, and the DTW's frame-rate step pattern."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from operators.video import banded_subsequence_dtw, subsequence_dtw
from operators.video.fingerprint import subpixel_crop
from operators.video.offline_dtw import pattern_weights
from operators.video.refine import (
    fit_placement,
    pair_scores,
    placement_score,
    polish_registration,
    refine_registration,
)
from operators.video.template_match import Registration

from .pairs import PairSpec, Scene


def _fg_of(bg: np.ndarray, x: float, y: float, w: float, h: float, size: tuple[int, int]):
    """The fg showing the sub-pixel region (x, y, w, h) of ``bg`` at ``size`` (area)."""
    sx, sy = size[0] / w, size[1] / h
    # Shift by the fractional part at 4x, then shrink by area: a faithful sub-pixel crop.
    big = cv2.resize(bg, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    x4, y4 = round(4 * x), round(4 * y)
    crop = big[y4 : y4 + round(4 * h), x4 : x4 + round(4 * w)]
    assert abs(crop.shape[1] / 4 * sx - size[0]) < 1 and abs(crop.shape[0] / 4 * sy - size[1]) < 1
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)


def test_refinement_finds_sub_pixel_position_and_scale_over_several_frames() -> None:
    spec = PairSpec(bg_size=(320, 180), cut_at=None)
    scene = Scene(spec)
    x, y, w, h = 61.25, 40.5, 187.5, 105.0
    size = (120, 68)  # scales 0.64 and 0.6476: not the same on both axes
    pairs = []
    for j in (10, 22, 34, 46):
        bg = cv2.cvtColor(scene.frame(j), cv2.COLOR_RGB2GRAY)
        pairs.append((_fg_of(bg, x, y, w, h, size), bg))
    guess = Registration(63.0, 39.0, 196.0, 110.0, 120 / 196, 0.9)  # 4.5 % and 2 px off
    got = refine_registration(pairs, guess)
    reg = got.registration
    assert abs(reg.x - x) <= 0.25 and abs(reg.y - y) <= 0.25, reg
    assert reg.width == pytest.approx(w, rel=0.004) and reg.height == pytest.approx(h, rel=0.004)
    assert got.pairs == 4 and got.residual < 0.5 and reg.score > 0.98
    # The exact placement scores above the guess on the same frames.
    assert placement_score(pairs, reg) > placement_score(pairs, guess)


def test_continuous_fit_is_exact_where_the_resize_grid_is_not() -> None:
    # The same frames as above: the sweep over resized windows lands within 0.12 px and
    # 0.12 %; fitting position and per-axis scale continuously (the bg resampled onto
    # the fg grid) lands within 0.02 px and 0.02 %.
    scene = Scene(PairSpec(bg_size=(320, 180), cut_at=None))
    x, y, w, h = 61.25, 40.5, 187.5, 105.0
    pairs = []
    for j in (10, 22, 34, 46):
        bg = cv2.cvtColor(scene.frame(j), cv2.COLOR_RGB2GRAY)
        pairs.append((_fg_of(bg, x, y, w, h, (120, 68)), bg))
    guess = Registration(63.0, 39.0, 196.0, 110.0, 120 / 196, 0.9)
    reg = fit_placement(pairs, guess)
    assert abs(reg.x - x) <= 0.02 and abs(reg.y - y) <= 0.02, reg
    assert reg.width == pytest.approx(w, rel=2e-4) and reg.height == pytest.approx(h, rel=2e-4)
    assert reg.scale == pytest.approx(120 / w, rel=2e-4) and reg.score > 0.998
    assert min(pair_scores(pairs, reg)) > 0.998 > max(pair_scores(pairs, guess))
    with pytest.raises(ValueError, match="at least one"):
        fit_placement([], guess)


def test_polish_leaves_out_a_pair_at_the_wrong_time() -> None:
    # Ten fg frames of a moving scene; the fifth is paired with a bg frame 15 frames
    # later (what a pairing that lost the timing gives). Its correlation at the fit is
    # far below the others': it is dropped and the fit stays exact.
    scene = Scene(PairSpec(bg_size=(320, 180), cut_at=None))
    x, y, w, h = 61.25, 40.5, 187.5, 105.0
    bgs = [cv2.cvtColor(scene.frame(j), cv2.COLOR_RGB2GRAY) for j in range(10, 60, 5)]
    pairs = [(_fg_of(b, x, y, w, h, (120, 68)), b) for b in bgs]
    pairs[4] = (pairs[4][0], bgs[7])
    asked: list[Registration] = []

    def pairs_for(reg: Registration) -> list[tuple[np.ndarray, np.ndarray]]:
        asked.append(reg)
        return pairs

    guess = Registration(63.0, 39.0, 196.0, 110.0, 120 / 196, 0.9)
    got = polish_registration(pairs_for, guess)
    reg = got.registration
    assert got.pairs == 9 and got.dropped == 1
    assert abs(reg.x - x) <= 0.02 and abs(reg.y - y) <= 0.02, reg
    assert reg.width == pytest.approx(w, rel=2e-4), reg
    # Paired with the guess, then again with the first fit.
    assert len(asked) == 2 and asked[0] == guess and asked[1] != guess
    # No pairs: the guess stands.
    none = polish_registration(lambda r: [], guess)
    assert none.registration == guess and none.pairs == 0


def test_refinement_residual_exposes_frames_that_disagree() -> None:
    scene = Scene(PairSpec(bg_size=(320, 180), cut_at=None))
    bg = [cv2.cvtColor(scene.frame(j), cv2.COLOR_RGB2GRAY) for j in (10, 40)]
    fg0 = _fg_of(bg[0], 60, 40, 160, 90, (128, 72))
    fg1 = _fg_of(bg[1], 66, 40, 160, 90, (128, 72))  # the same fg, 6 px elsewhere
    guess = Registration(62, 40, 160, 90, 0.8, 0.9)
    assert refine_registration([(fg0, bg[0]), (fg1, bg[1])], guess).residual > 2.0


def test_subpixel_crop_shifts_by_the_fraction_and_keeps_whole_pixels_exact() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 60), dtype=np.uint8)
    assert np.array_equal(subpixel_crop(img, 5, 7, 20, 10), img[7:17, 5:25])
    half = subpixel_crop(img, 5.5, 7, 20, 10).astype(np.float64)
    mean = (img[7:17, 5:25].astype(np.float64) + img[7:17, 6:26]) / 2
    assert np.abs(half - mean).max() <= 1.0
    edge = subpixel_crop(img, 50.5, 35.5, 20, 10)  # past the frame: border repeated
    assert edge.shape == (10, 20)


@pytest.mark.parametrize("slope", [0.8, 1.25, 2.5, 24 / 25])
def test_flat_costs_follow_the_frame_rate_pattern_not_the_nearest_step(slope: float) -> None:
    # A static shot: every bg frame costs the same except at the start.
    n, m = 60, 200
    cost = np.full((n, m), 0.5)
    cost[0, :] = 0.9
    cost[0, 20] = 0.0
    start = 20.3
    expected = [math.floor(start + slope * i) for i in range(n)]
    got = banded_subsequence_dtw(cost, start, slope, band=8, max_step=4, step_penalty=0.03)
    assert got.tolist() == expected
    full = subsequence_dtw(cost, slope, max_step=4, step_penalty=0.03, phase=start)
    assert full.tolist() == expected
    if slope != round(slope):  # constant weights take the nearest integer step instead
        const = banded_subsequence_dtw(cost, start, slope, 8, 4, 0.03, pattern=False)
        assert const.tolist() != expected


def test_pattern_weights_are_free_on_the_pattern_and_cost_one_penalty_per_frame_off() -> None:
    w = pattern_weights(0.3, 0.8, 5, 4, 0.03)  # floor(4.3) - floor(3.5) = 1
    assert w.tolist() == pytest.approx([0.03, 0.0, 0.03, 0.06, 0.09])
