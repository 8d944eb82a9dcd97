"""EnvelopeFollower: step response times, RMS mode, chunk invariance, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators import EnvelopeFollower
from stream import ParameterError
from tests.chunking import chunk_audio, cut_points

from ._util import RATE, run, step


def _first_at_or_above(y: np.ndarray, level: float) -> int:
    return int(np.argmax(y >= level))


def test_peak_step_reaches_63_percent_at_attack_and_37_at_release() -> None:
    attack, release = 10.0, 100.0
    up = 24_000
    x = step(1.0, 0.0, up, 48_000)
    x[:, :100] = 0.0  # start from silence: the rise begins at frame 100
    y, _ = run(EnvelopeFollower(attack, release), [chunk_audio(x, RATE, [])[0]], 1)
    rise = y[0, 100:up]
    att_frames = attack * 1e-3 * RATE
    # e after m frames of the step = 1 - a**m: 63.2 % at m = attack frames.
    m = _first_at_or_above(rise, 1 - math.exp(-1)) + 1
    assert abs(m - att_frames) <= 2
    fall = y[0, up:]
    rel_frames = release * 1e-3 * RATE
    m = int(np.argmax(fall <= math.exp(-1) * rise[-1])) + 1
    assert abs(m - rel_frames) <= 2


def test_rms_mode_follows_the_mean_square() -> None:
    x = np.ones((2, 4800), np.float32)
    x[1] *= 0.5
    y, _ = run(EnvelopeFollower(5.0, 50.0, mode="rms"), chunk_audio(x, RATE, [1000]), 2)
    a = math.exp(-1 / (5e-3 * RATE))
    n = np.arange(1, 4801)
    expected = np.sqrt((1 - a**n)[np.newaxis, :] * np.array([[1.0], [0.25]]))
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    # A full-scale sine reads 1/sqrt(2) once settled.
    t = np.arange(48_000) / RATE
    sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)[np.newaxis, :]
    y, _ = run(EnvelopeFollower(50.0, 50.0, mode="rms"), chunk_audio(sine, RATE, []), 1)
    assert y[0, -4800:].mean() == pytest.approx(1 / math.sqrt(2), rel=1e-3)


def test_zero_times_follow_instantly() -> None:
    x = np.array([[0.0, -0.5, 0.25, 1.0, 0.0]], np.float32)
    y, _ = run(EnvelopeFollower(0.0, 0.0), chunk_audio(x, RATE, []), 1)
    np.testing.assert_array_equal(y, np.abs(x))
    assert y.dtype == np.float32


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    channels=st.integers(1, 3),
    mode=st.sampled_from(["peak", "rms"]),
    times=st.tuples(st.sampled_from([0.0, 0.3, 5.0, 80.0]), st.sampled_from([0.0, 2.0, 60.0])),
)
def test_chunk_invariance_bit_identical(
    data: st.DataObject, channels: int, mode: str, times: tuple[float, float]
) -> None:
    total = data.draw(st.integers(1, 2000))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    x = (rng.standard_normal((channels, total)) * rng.uniform(0.01, 2)).astype(np.float32)
    whole = run(EnvelopeFollower(*times, mode=mode), chunk_audio(x, RATE, []), channels)
    cuts = data.draw(cut_points(total))
    chunked = run(EnvelopeFollower(*times, mode=mode), chunk_audio(x, RATE, cuts), channels)
    assert whole[0].tobytes() == chunked[0].tobytes()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attack_ms": -1.0},
        {"release_ms": float("nan")},
        {"attack_ms": float("inf")},
        {"mode": "loud"},
    ],
)
def test_bad_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        EnvelopeFollower(**kwargs)  # type: ignore[arg-type]


def test_non_finite_input_names_the_frame() -> None:
    x = np.zeros((2, 1000), np.float32)
    x[1, 700] = np.inf
    with pytest.raises(ValueError, match="frame 700"):
        run(EnvelopeFollower(), chunk_audio(x, RATE, [500]), 2)
