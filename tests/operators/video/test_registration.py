"""Spatial registration on generated crops and scales, with and without a time offset."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from operators.video import Registrar, Registration, match_frame
from operators.video.registration import scale_grid
from stream import ParameterError

from .pairs import PairSpec, generate


def _gray(im: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize(
    ("crop", "scale"),
    [
        ((60, 40, 200, 112), 0.8),
        ((20, 30, 240, 136), 0.5),
        ((100, 10, 160, 90), 1.0),
        ((0, 0, 320, 180), 1.0),
        ((37, 51, 250, 120), 0.65),
    ],
)
def test_match_frame_finds_crop_offset_and_scale(
    crop: tuple[int, int, int, int], scale: float
) -> None:
    spec = PairSpec(crop=crop, scale=scale, fg_frames=4, bg_frames=40, start=10)
    fg, bg, gt = generate(spec)
    reg = match_frame(_gray(fg[0]), _gray(bg[gt[0]]), min_scale=0.4)
    assert reg is not None
    fw = spec.fg_size[0]
    true_scale = fw / crop[2]
    assert reg.scale == pytest.approx(true_scale, rel=0.03)
    assert abs(reg.x - crop[0]) <= 2 and abs(reg.y - crop[1]) <= 2
    assert reg.score > 0.9
    x, y, w, h = reg.region(320, 180)
    assert abs(w - crop[2]) <= 0.03 * crop[2] + 2 and x >= 0 and x + w <= 320 and y + h <= 180


def test_registrar_finds_place_and_time_without_knowing_the_offset() -> None:
    spec = PairSpec(bg_fps=60, fg_fps=50, bg_frames=220, fg_frames=60, start=110, cut_at=None,
                    crop=(20, 30, 240, 136), scale=0.5)  # fmt: skip
    fg, bg, gt = generate(spec)
    reg = Registrar(slope=60 / 50, min_scale=0.4)
    found = None
    for k in range(max(len(fg), len(bg))):  # time order: both start together
        if k < len(fg):
            reg.push_fg(k, _gray(fg[k]))
        if k < len(bg) and found is None:
            found = reg.push_bg(k, _gray(bg[k]))
    assert found is not None and reg.bg_index == gt[0]
    assert abs(found.x - 20) <= 2 and abs(found.y - 30) <= 2
    assert found.scale == pytest.approx(spec.fg_size[0] / 240, rel=0.03)
    # The ring of bg frames held is bounded: about two confirm windows.
    assert len(reg.bg_frames) <= 2 * reg.confirm + 20


def test_registrar_falls_back_to_the_best_held_match_at_the_end() -> None:
    spec = PairSpec(bg_frames=30, fg_frames=4, start=20, cut_at=None)
    fg, bg, gt = generate(spec)
    reg = Registrar(confirm=24)
    for k, im in enumerate(fg):
        reg.push_fg(k, _gray(im))
    for k, im in enumerate(bg):
        assert reg.push_bg(k, _gray(im)) is None  # never certain: the bg ends too soon
    found = reg.finish()
    assert found is not None and reg.bg_index == gt[0] and abs(found.x - 60) <= 2


def test_rescaled_registration_and_scale_grid() -> None:
    r = Registration(10, 20, 100, 50, 0.8, 0.9).rescaled(2.0, 2.0)
    assert (r.x, r.y, r.width, r.height, r.scale) == (20, 40, 200, 100, 0.4)
    grid = scale_grid((100, 50), (200, 100), 0.25, 1.0)
    assert grid[0] == 1.0 and grid[-1] == 0.5 and all(a > b for a, b in itertools.pairwise(grid))
    assert scale_grid((300, 50), (200, 100), 0.25, 1.0) == []


@pytest.mark.parametrize(
    "kwargs", [{"min_scale": 0}, {"min_scale": 2.0}, {"accept": 1.0}, {"confirm": -1}]
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        Registrar(**kwargs)  # type: ignore[arg-type]
