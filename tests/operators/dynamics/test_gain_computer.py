"""GainComputer: the static curve, knee continuity, the kernel's curve, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from operators.dynamics import GainComputer
from operators.dynamics.gain_computer import static_reduction_db
from stream import ParameterError


def test_curve_at_known_levels() -> None:
    gc = GainComputer(threshold_db=-20.0, ratio=4.0, knee_db=6.0, makeup_db=2.0)
    levels = np.array([-60.0, -23.0, -20.0, -17.0, 0.0])
    # Below the knee: unchanged; above: T + (x - T)/R; knee centre: quadratic value
    # -0.75 * 3**2 / 12 = -0.5625 dB; plus 2 dB makeup everywhere.
    expected = np.array([-60.0, -23.0, -20.5625, -17.0 - 2.25, -15.0]) + 2.0
    np.testing.assert_allclose(gc.output_db(levels), expected, atol=1e-12)
    np.testing.assert_allclose(gc.gain_db(levels), expected - levels, atol=1e-12)


@pytest.mark.parametrize("ratio", [1.0, 1.5, 4.0, 20.0, math.inf])
@pytest.mark.parametrize("knee", [0.5, 6.0, 24.0])
def test_static_curve_is_continuous_at_both_knee_edges(ratio: float, knee: float) -> None:
    gc = GainComputer(threshold_db=-18.0, ratio=ratio, knee_db=knee)
    eps = 1e-9
    for edge in (-18.0 - knee / 2, -18.0 + knee / 2):
        below, at, above = gc.output_db([edge - eps, edge, edge + eps])
        assert abs(above - below) < 1e-8
        assert abs(at - below) < 1e-8
        # The slope is continuous too: compare one-sided finite differences.
        h = 1e-5
        left = (gc.output_db(edge)[()] - gc.output_db(edge - h)[()]) / h
        right = (gc.output_db(edge + h)[()] - gc.output_db(edge)[()]) / h
        assert left == pytest.approx(right, abs=1e-4)


def test_hard_knee_and_kernel_agree_with_the_vectorised_curve() -> None:
    levels = np.linspace(-80, 10, 451)
    for knee in (0.0, 3.0, 12.0):
        gc = GainComputer(-24.0, 3.0, knee)
        kernel = np.array([static_reduction_db(v, -24.0, gc.slope, knee) for v in levels])
        np.testing.assert_allclose(kernel, gc.reduction_db(levels), atol=1e-12)
    hard = GainComputer(-24.0, 3.0, 0.0)
    assert hard.reduction_db(-24.0)[()] == 0.0
    assert hard.reduction_db(-12.0)[()] == pytest.approx(-8.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratio": 0.5},
        {"ratio": float("nan")},
        {"threshold_db": float("nan")},
        {"knee_db": -1.0},
        {"makeup_db": float("inf")},
    ],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        GainComputer(**kwargs)
