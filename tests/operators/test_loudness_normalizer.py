"""LoudnessNormalizer: reaches the target, bounded slew, holds through pauses, ceiling,
chunk invariance."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.loudness import LoudnessMeter, LoudnessNormalizer
from stream import AudioChunk, AudioSpec, Item, ParameterError
from tests.chunking import chunk_audio, cut_points

RATE = 48_000


def _run(
    op: LoudnessNormalizer, x: npt.NDArray[np.float32], cuts: list[int], rate: int = RATE
) -> npt.NDArray[np.float32]:
    op.configure({"in": AudioSpec(rate, x.shape[0])})
    out: list[Item] = []
    for chunk in chunk_audio(x, rate, cuts):
        out.extend(op.process(chunk))
    out.extend(op.flush())
    chunks = [c for c in out if isinstance(c, AudioChunk)]
    assert all(b.start == a.end for a, b in itertools.pairwise(chunks))
    return np.concatenate([c.data for c in chunks], axis=1)


def _loudness(x: npt.NDArray[np.float32]) -> float:
    m = LoudnessMeter(interval_ms=None, true_peak=False)
    m.configure({"in": AudioSpec(RATE, x.shape[0])})
    m.process(AudioChunk(np.ascontiguousarray(x), RATE, 0))
    m.flush()
    value = m.summary().integrated_lufs
    assert value is not None
    return value


def _noise(seconds: float, dbfs_rms: float, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, round(seconds * RATE))) * 10 ** (dbfs_rms / 20)
    return x.astype(np.float32)


@pytest.mark.parametrize(("level", "target"), [(-35.0, -23.0), (-12.0, -23.0), (-30.0, -16.0)])
def test_output_reaches_the_target(level: float, target: float) -> None:
    x = _noise(20.0, level)
    norm = LoudnessNormalizer(target_lufs=target, slew_db_per_s=6.0)
    y = _run(norm, x, [10_000, 300_001])
    assert y.shape == x.shape
    # After the ramp (a few seconds at 6 dB/s), the last 8 s sit at the target.
    assert _loudness(y[:, -8 * RATE :]) == pytest.approx(target, abs=0.3)
    assert float(np.abs(y).max()) <= 10 ** (-1 / 20)


def test_gain_slew_is_bounded() -> None:
    # A 1 kHz tone 20 dB under the target: the gain rises at no more than 2 dB/s.
    t = np.arange(6 * RATE) / RATE
    tone = (10 ** (-43 / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    x = np.stack([tone, tone])
    norm = LoudnessNormalizer(target_lufs=-23.0, slew_db_per_s=2.0, lookahead_ms=0.0)
    y = _run(norm, x, [4800])
    # Gain per 10 ms window (peak out / peak in): rises, never faster than 2 dB/s.
    w = RATE // 100
    gain_db = 20 * np.log10(
        np.abs(y[0]).reshape(-1, w).max(axis=1) / np.abs(x[0]).reshape(-1, w).max(axis=1)
    )
    steps = np.diff(gain_db)
    assert steps.max() <= 2.0 * 0.01 * 1.05 + 1e-6
    assert gain_db[0] == pytest.approx(0.0, abs=0.05)  # nothing measured yet: unity
    assert 9.0 < gain_db[-1] < 12.5  # 5.6 s at 2 dB/s after the first 400 ms


def test_pauses_hold_the_gain() -> None:
    speech = _noise(6.0, -30.0)
    pause = np.zeros((2, 3 * RATE), np.float32)
    x = np.concatenate([speech, pause, speech], axis=1)
    norm = LoudnessNormalizer(target_lufs=-23.0, slew_db_per_s=20.0)
    norm.configure({"in": AudioSpec(RATE, 2)})
    gains, wanted = [], []
    for chunk in chunk_audio(x, RATE, list(range(4800, x.shape[1], 4800))):
        norm.process(chunk)
        gains.append(norm.gain_db)
        wanted.append(norm.wanted_gain_db)
    # Settled on the noise, the gain stays put through the pause (from 500 ms into it:
    # the 400 ms momentary window has left the noise), not pulled up.
    settled = -23.0 - _loudness(speech)
    assert abs(settled) > 0.5
    assert gains[59] == pytest.approx(settled, abs=0.3)
    during = gains[65:90] + wanted[65:90]  # 10 chunks per second
    assert max(during) - min(during) < 1e-9
    assert during[0] == pytest.approx(settled, abs=1.0)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), channels=st.integers(1, 2))
def test_chunk_invariant_bit_for_bit(data: st.DataObject, channels: int) -> None:
    rate = 8000
    total = data.draw(st.integers(1, rate * 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    levels = np.repeat(10 ** (rng.uniform(-50, 0, size=total // 400 + 1) / 20), 400)[:total]
    x = (rng.standard_normal((channels, total)) * levels).astype(np.float32)

    def make() -> LoudnessNormalizer:
        return LoudnessNormalizer(target_lufs=-20.0, slew_db_per_s=40.0)

    whole = _run(make(), x, [], rate)
    cut = _run(make(), x, data.draw(cut_points(total)), rate)
    assert cut.tobytes() == whole.tobytes()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_lufs": 3.0},
        {"slew_db_per_s": 0.0},
        {"max_gain_db": float("nan")},
        {"ceiling_db": 2.0},
    ],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        LoudnessNormalizer(**kwargs)


def test_latency_is_the_limiters_and_errors() -> None:
    norm = LoudnessNormalizer(lookahead_ms=5.0)
    norm.configure({"in": AudioSpec(RATE, 2)})
    assert norm.latency * RATE == 240
    x = np.zeros((2, 1000), np.float32)
    x[0, 777] = np.inf
    with pytest.raises(ValueError, match="frame 777"):
        norm.process(AudioChunk(x, RATE, 0))
