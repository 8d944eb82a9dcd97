"""Gate: closes by range_db, holds, opens with attack; expander curve; invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators import Gate
from stream import ParameterError
from tests.chunking import chunk_audio, cut_points

from ._util import RATE, db, run


def test_closes_by_range_after_hold_and_opens_with_attack() -> None:
    hold_ms, attack_ms, release_ms = 20.0, 1.0, 10.0
    fall, rise, total = 9600, 9600 + 24_000, 9600 + 24_000 + 9600
    x = np.full((2, total), 0.001, np.float32)  # -60 dBFS: below the -50 dB threshold
    x[:, :fall] = 0.5
    x[:, rise:] = 0.5
    gate = Gate(
        -50.0, -80.0, attack_ms=attack_ms, hold_ms=hold_ms, release_ms=release_ms, detector_ms=0.0
    )
    y, _ = run(gate, chunk_audio(x, RATE, [100, fall, fall + 5, rise - 1]), 2)
    g = db(y[0].astype(np.float64) / x[0])
    hold = round(hold_ms * 48)
    assert gate.hold_frames == hold
    # Open through the loud part and for exactly hold_ms after the level falls.
    assert np.all(g[: fall + hold] == 0.0)
    assert g[fall + hold] < 0.0
    # Then closes with the release time constant towards range_db (-80 dB).
    closing = g[fall + hold : rise]
    m = int(np.argmax(closing <= (1 - math.exp(-1)) * -80.0)) + 1
    assert abs(m - release_ms * 48) <= 2
    assert g[rise - 1] == pytest.approx(-80.0, abs=1e-3)
    # Opens with the attack time constant when the level comes back.
    opening = g[rise:]
    m = int(np.argmax(opening >= math.exp(-1) * -80.0)) + 1
    assert abs(m - attack_ms * 48) <= 2
    assert g[-1] == 0.0


def test_downward_expander_curve() -> None:
    x = np.full((1, 48_000), 10 ** (-60 / 20), np.float32)
    y, _ = run(
        Gate(-50.0, -30.0, ratio=2.0, hold_ms=0.0, release_ms=10.0), chunk_audio(x, RATE, []), 1
    )
    assert db(y[0, -1] / x[0, -1]) == pytest.approx(-10.0, abs=1e-4)  # (2 - 1) * (-60 + 50)
    x[:] = 10 ** (-90 / 20)
    y, _ = run(
        Gate(-50.0, -30.0, ratio=2.0, hold_ms=0.0, release_ms=10.0), chunk_audio(x, RATE, []), 1
    )
    assert db(y[0, -1] / x[0, -1]) == pytest.approx(-30.0, abs=1e-4)  # floored at range


def test_detector_release_bridges_zero_crossings() -> None:
    t = np.arange(48_000) / RATE
    sine = (0.1 * np.sin(2 * np.pi * 100 * t)).astype(np.float32)[np.newaxis, :]
    y, _ = run(Gate(-30.0, hold_ms=0.0, detector_ms=10.0), chunk_audio(sine, RATE, []), 1)
    # After the first frames (the sine starts at 0), a steady tone above the threshold
    # never closes the gate, although |x| crosses zero 200 times a second.
    assert y[:, 2400:].tobytes() == sine[:, 2400:].tobytes()


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    channels=st.integers(1, 3),
    ratio=st.sampled_from([math.inf, 1.5, 4.0]),
    hold_ms=st.sampled_from([0.0, 0.1, 5.0]),
    meter=st.sampled_from([None, 0.3, 5.0]),
)
def test_chunk_invariance_bit_identical(
    data: st.DataObject, channels: int, ratio: float, hold_ms: float, meter: float | None
) -> None:
    total = data.draw(st.integers(1, 2500))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    env = np.repeat(rng.choice([1e-4, 1e-2, 0.5], total // 200 + 1), 200)[:total]
    x = (rng.standard_normal((channels, total)) * env).astype(np.float32)

    def make() -> Gate:
        return Gate(-40.0, -60.0, ratio, 0.2, hold_ms, 3.0, 0.5, meter_interval_ms=meter)

    whole = run(make(), chunk_audio(x, RATE, []), channels)
    chunked = run(make(), chunk_audio(x, RATE, data.draw(cut_points(total))), channels)
    assert whole[0].tobytes() == chunked[0].tobytes()
    assert whole[1] == chunked[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold_db": float("nan")},
        {"range_db": 0.0},
        {"range_db": 6.0},
        {"ratio": 0.5},
        {"ratio": 1.0},
        {"ratio": float("nan")},
        {"attack_ms": -1.0},
        {"hold_ms": float("nan")},
        {"release_ms": float("-inf")},
    ],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        Gate(**kwargs)


def test_non_finite_input_names_the_frame() -> None:
    x = np.zeros((2, 2000), np.float32)
    x[0, 1999] = np.nan
    with pytest.raises(ValueError, match="frame 1999"):
        run(Gate(), chunk_audio(x, RATE, [1999]), 2)
