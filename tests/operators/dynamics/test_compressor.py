"""Compressor: static curve, attack/release timing, link, RMS, sidechain, invariance."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators import Compressor
from operators.dynamics import GainComputer
from stream import AudioChunk, AudioSpec, Event, Item, ParameterError
from tests.chunking import chunk_audio, cut_points

from ._util import RATE, db, run, split


def _gain_db(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return db(np.abs(y.astype(np.float64)) / np.abs(x.astype(np.float64)))


@pytest.mark.parametrize("level_db", [-40.0, -23.0, -21.0, -20.0, -18.0, -10.0, 0.0, 6.0])
def test_settled_gain_follows_the_static_curve(level_db: float) -> None:
    amp = 10 ** (level_db / 20)
    x = np.full((2, 24_000), amp, np.float32)
    comp = Compressor(-20.0, 4.0, 1.0, 10.0, knee_db=6.0, makeup_db=1.5)
    y, _ = run(comp, chunk_audio(x, RATE, []), 2)
    expected = GainComputer(-20.0, 4.0, 6.0, 1.5).gain_db(db(x[0, 0]))
    assert _gain_db(x[:, -1], y[:, -1]) == pytest.approx(np.full(2, expected), abs=1e-5)


@pytest.mark.parametrize(("attack_ms", "release_ms"), [(10.0, 100.0), (2.0, 300.0), (50.0, 20.0)])
def test_onset_follows_attack_and_recovery_follows_release(
    attack_ms: float, release_ms: float
) -> None:
    # Rising step: -40 dBFS (no compression) to 0 dBFS (target -15 dB); falling step
    # back to -40 dBFS once fully compressed. The gain reduction, in dB, covers 63.2 %
    # of the way in attack_ms after the rise and in release_ms after the fall.
    up, down, total = 4800, 4800 + 20 * int(attack_ms * 48) + 4800, None
    total = down + 20 * int(release_ms * 48) + 4800
    x = np.full((1, total), 0.01, np.float32)
    x[:, up:down] = 1.0
    comp = Compressor(-20.0, 4.0, attack_ms, release_ms, knee_db=6.0)
    y, _ = run(comp, chunk_audio(x, RATE, [777, up + 5, down - 1]), 1)
    gr = _gain_db(x, y)[0]
    assert np.all(gr[:up] == 0.0)
    target = -15.0
    onset = gr[up:down]
    m = int(np.argmax(onset <= (1 - math.exp(-1)) * target)) + 1
    assert abs(m - attack_ms * 48) <= 2
    assert onset[-1] == pytest.approx(target, abs=1e-6)
    recovery = gr[down:]
    m = int(np.argmax(recovery >= math.exp(-1) * target)) + 1
    assert abs(m - release_ms * 48) <= 2


def test_rms_detector_reads_the_mean_square() -> None:
    # A full-scale square wave and DC at 1.0 both have RMS 0 dBFS: same settled gain.
    n = 48_000
    square = np.where(np.arange(n) % 2 == 0, 1.0, -1.0).astype(np.float32)[np.newaxis, :]
    y, _ = run(
        Compressor(-20.0, 4.0, knee_db=0.0, detector="rms"), chunk_audio(square, RATE, []), 1
    )
    assert _gain_db(square[:, -1], y[:, -1])[0] == pytest.approx(-15.0, abs=1e-4)
    # A sine at 0 dBFS peak has RMS -3.01 dBFS: less reduction than its peak implies.
    sine = np.sin(2 * np.pi * 440 * np.arange(n) / RATE).astype(np.float32)[np.newaxis, :]
    y, _ = run(
        Compressor(-20.0, 4.0, 1.0, 1000.0, 0.0, detector="rms", rms_ms=50.0),
        chunk_audio(sine, RATE, []),
        1,
    )
    g = _gain_db(sine[:, -2000:], y[:, -2000:])
    assert np.median(g) == pytest.approx(-0.75 * (20 - 3.0103), abs=0.05)


def test_linked_and_unlinked_channels() -> None:
    x = np.zeros((2, 24_000), np.float32)
    x[0] = 1.0  # loud
    x[1] = 0.01  # quiet
    linked, _ = run(Compressor(-20.0, 4.0, 1.0, knee_db=0.0), chunk_audio(x, RATE, []), 2)
    free, _ = run(Compressor(-20.0, 4.0, 1.0, knee_db=0.0, link=False), chunk_audio(x, RATE, []), 2)
    assert _gain_db(x[:, -1], linked[:, -1]) == pytest.approx([-15.0, -15.0], abs=1e-5)
    assert _gain_db(x[:, -1], free[:, -1]) == pytest.approx([-15.0, 0.0], abs=1e-5)
    np.testing.assert_array_equal(free[1], x[1])


def _sidechain_run(
    comp: Compressor, steps: list[tuple[str, AudioChunk]]
) -> tuple[npt.NDArray[np.float32], list[Event[object]]]:
    comp.reset()
    out: list[Item] = []
    for port, chunk in steps:
        out.extend(comp.process_port(port, chunk))
    out.extend(comp.flush())
    return split(out)


def test_sidechain_drives_detection() -> None:
    main = np.full((2, 48_000), 0.05, np.float32)
    key = np.zeros((1, 48_000), np.float32)
    key[0, 12_000:24_000] = 1.0
    comp = Compressor(-20.0, 4.0, 1.0, 10.0, knee_db=0.0, sidechain=True)
    assert comp.input_ports == ("in", "sidechain")
    comp.configure({"in": AudioSpec(RATE, 2), "sidechain": AudioSpec(RATE, 1)})
    steps = [("in", c) for c in chunk_audio(main, RATE, [10_000, 30_000])] + [
        ("sidechain", c) for c in chunk_audio(key, RATE, [20_000])
    ]
    y, _ = _sidechain_run(comp, steps)
    assert y.shape == main.shape
    g = _gain_db(main, y)
    assert np.all(g[:, :12_000] == 0.0)  # main alone is below the threshold
    assert g[0, 23_999] == pytest.approx(-15.0, abs=1e-4)  # ducked by the key
    # The same signal as main and sidechain gives the plain compressor's output.
    comp2 = Compressor(sidechain=True)
    comp2.configure({"in": AudioSpec(RATE, 2), "sidechain": AudioSpec(RATE, 2)})
    loud = main * 20
    y2, _ = _sidechain_run(
        comp2, [("sidechain", AudioChunk(loud, RATE, 0)), ("in", AudioChunk(loud, RATE, 0))]
    )
    plain, _ = run(Compressor(), chunk_audio(loud, RATE, [123]), 2)
    assert y2.tobytes() == plain.tobytes()


@settings(max_examples=40, deadline=None)
@given(data=st.data(), link=st.booleans(), detector=st.sampled_from(["peak", "rms"]))
def test_sidechain_chunk_invariance_any_interleaving(
    data: st.DataObject, link: bool, detector: str
) -> None:
    total = data.draw(st.integers(1, 1500))
    sc_total = data.draw(st.sampled_from([total, max(1, total - 37), total + 50]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    main = rng.uniform(-1, 1, (2, total)).astype(np.float32)
    key = (rng.standard_normal((2 if not link else 1, sc_total)) * 0.5).astype(np.float32)
    meter = data.draw(st.sampled_from([None, 1.0, 7.3]))

    def make() -> Compressor:
        comp = Compressor(
            -24.0,
            3.0,
            0.5,
            20.0,
            detector=detector,
            link=link,
            sidechain=True,
            meter_interval_ms=meter,
        )
        comp.configure({"in": AudioSpec(RATE, 2), "sidechain": AudioSpec(RATE, key.shape[0])})
        return comp

    whole = _sidechain_run(
        make(), [("in", AudioChunk(main, RATE, 0)), ("sidechain", AudioChunk(key, RATE, 0))]
    )
    a = [("in", c) for c in chunk_audio(main, RATE, data.draw(cut_points(total)))]
    b = [("sidechain", c) for c in chunk_audio(key, RATE, data.draw(cut_points(sc_total)))]
    # A random interleaving that keeps each input's own order.
    order = data.draw(st.permutations([0] * len(a) + [1] * len(b)))
    ia, ib = iter(a), iter(b)
    steps = [next(ia) if k == 0 else next(ib) for k in order]
    chunked = _sidechain_run(make(), steps)
    assert whole[0].shape == (2, total)
    assert whole[0].tobytes() == chunked[0].tobytes()
    assert whole[1] == chunked[1]


@settings(max_examples=50, deadline=None)
@given(
    data=st.data(),
    channels=st.integers(1, 3),
    link=st.booleans(),
    detector=st.sampled_from(["peak", "rms"]),
    knee=st.sampled_from([0.0, 6.0]),
    meter=st.sampled_from([None, 0.5, 10.0]),
)
def test_chunk_invariance_bit_identical(
    data: st.DataObject, channels: int, link: bool, detector: str, knee: float, meter: float | None
) -> None:
    total = data.draw(st.integers(1, 2500))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    x = (rng.standard_normal((channels, total)) * rng.uniform(0.01, 2)).astype(np.float32)

    def make() -> Compressor:
        return Compressor(-30.0, 5.0, 0.7, 15.0, knee, 3.0, detector, link, meter_interval_ms=meter)

    whole = run(make(), chunk_audio(x, RATE, []), channels)
    chunked = run(make(), chunk_audio(x, RATE, data.draw(cut_points(total))), channels)
    assert whole[0].tobytes() == chunked[0].tobytes()
    assert whole[1] == chunked[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratio": 0.9},
        {"ratio": float("nan")},
        {"threshold_db": float("nan")},
        {"attack_ms": -1.0},
        {"release_ms": float("nan")},
        {"knee_db": -3.0},
        {"detector": "avg"},
        {"meter_interval_ms": 0.0},
        {"meter_interval_ms": float("nan")},
    ],
)
def test_bad_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        Compressor(**kwargs)  # type: ignore[arg-type]


def test_non_finite_input_names_the_frame() -> None:
    x = np.zeros((1, 3000), np.float32)
    x[0, 2500] = np.nan
    with pytest.raises(ValueError, match="frame 2500"):
        run(Compressor(), chunk_audio(x, RATE, [1000, 2000]), 1)


def test_quiet_stretches_give_the_same_bits_in_any_chunking() -> None:
    # Quiet frames (below the knee) take a shortcut when a whole chunk is quiet and
    # no reduction is left; mixed with loud frames they go through the full passes.
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((2, 6000)) * 0.002).astype(np.float32)
    x[:, 1000:1100] *= 400  # a loud burst, then recovery through quiet frames
    whole, _ = run(Compressor(), chunk_audio(x, RATE, []), 2)
    ones, _ = run(Compressor(), chunk_audio(x, RATE, list(range(1, 6000))), 2)
    mixed, _ = run(Compressor(), chunk_audio(x, RATE, [999, 1001, 1099, 3000]), 2)
    assert whole.tobytes() == ones.tobytes() == mixed.tobytes()
    assert np.abs(whole[:, 1000:1100]).max() < np.abs(x[:, 1000:1100]).max()
    np.testing.assert_array_equal(whole[:, :1000], x[:, :1000])
