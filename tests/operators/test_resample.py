"""Resample (operators/resample.py): chunk invariance bit for bit, the output's length,
timing and accuracy against the exact signal, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.resample import Resample
from stream import AudioChunk, AudioSpec, ParameterError
from tests.chunking import chunk_audio, cut_points

RATES = [(48000, 16000), (44100, 16000), (16000, 48000), (22050, 44100)]


def _join(items: list[object], channels: int = 1) -> np.ndarray:
    chunks = [c for c in items if isinstance(c, AudioChunk)]
    if not chunks:
        return np.zeros((channels, 0), np.float32)
    pos = chunks[0].start
    for c in chunks:  # contiguous, in order
        assert c.start == pos and c.data.dtype == np.float32
        pos += c.frames
    return np.concatenate([c.data for c in chunks], axis=1)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), rates=st.sampled_from(RATES), channels=st.integers(1, 3))
def test_chunk_invariance(data: st.DataObject, rates: tuple[int, int], channels: int) -> None:
    rin, rout = rates
    total = data.draw(st.integers(1, 3 * rin // 10))
    x = np.random.default_rng(total).uniform(-1, 1, (channels, total)).astype(np.float32)
    whole = _join(Resample(rout).run_all(x, rin), channels)
    cut = Resample(rout).run_all(chunk_audio(x, rin, data.draw(cut_points(total))))
    assert np.array_equal(_join(cut, channels), whole)
    assert whole.shape == (channels, round(total * rout / rin))


@pytest.mark.parametrize(("rin", "rout"), RATES)
def test_a_tone_keeps_its_amplitude_and_its_time(rin: int, rout: int) -> None:
    """A 440 Hz tone at -6 dBFS: away from the ends, the output is the same tone sampled
    at the new rate (no delay: frame k at k / rout), within -60 dB."""
    f, seconds = 440.0, 2.0
    t_in = np.arange(int(seconds * rin)) / rin
    x = (0.5 * np.sin(2 * np.pi * f * t_in)).astype(np.float32)[None, :]
    y = _join(Resample(rout).run_all(x, rin, chunk_frames=1000))[0]
    t_out = np.arange(y.shape[0]) / rout
    ideal = 0.5 * np.sin(2 * np.pi * f * t_out)
    mid = slice(rout // 10, -rout // 10)
    assert np.max(np.abs(y[mid] - ideal[mid])) < 0.5e-3


def test_start_time_equal_rates_and_latency() -> None:
    x = np.zeros((1, 4800), np.float32)
    (first, *_rest) = Resample(16000).run_all([AudioChunk(x, 48000, 96000)])
    assert first.start == 32000  # 2 s at either rate
    same = Resample(48000)
    out = same.run_all(x, 48000)
    assert [c.start for c in out] == [0] and np.array_equal(out[0].data, x)
    op = Resample(16000)
    op.configure({"in": AudioSpec(48000, 1)})
    assert 0 < op.latency <= 0.005  # libswresample's look-ahead: about a millisecond


def test_errors_name_the_parameter_or_the_frame() -> None:
    for bad in (0, 999, 16000.0, True, 10**7):
        with pytest.raises(ParameterError, match=r"Resample\.sample_rate"):
            Resample(bad)  # type: ignore[arg-type]
    x = np.zeros((1, 1000), np.float32)
    x[0, 700] = np.nan
    with pytest.raises(ValueError, match="frame 1700 of the input of Resample"):
        Resample(16000).run_all([AudioChunk(np.zeros((1, 1000), np.float32), 48000, 0),
                                 AudioChunk(x, 48000, 1000)])  # fmt: skip
    with pytest.raises(ValueError, match="jumped from frame 1000 to 1500"):
        first = AudioChunk(np.zeros((1, 1000), np.float32), 48000, 0)
        Resample(16000).run_all([first, AudioChunk(np.zeros((1, 10), np.float32), 48000, 1500)])
