"""LevelMeter: exact levels, windows that span chunks, chunk invariance."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediastream.synth import synth_audio
from operators import LevelMeter, LevelReading
from sinks import MemorySink
from stream import (
    ArraySource,
    AudioSpec,
    EventSpec,
    Graph,
    NodeError,
    ParameterError,
    StreamMismatchError,
)
from tests.chunking import chunk_audio, cut_points

RATE = 48000


def test_levels_of_known_signals() -> None:
    # 100 ms windows at 48 kHz = 4800 frames. Window 0: full-scale square wave
    # (peak 0 dBFS, RMS 0 dBFS); window 1: sine at 0.5 (peak -6.02, RMS -9.03);
    # window 2: silence (floor).
    n = 4800
    square = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    sine = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(n) / RATE)
    x = np.concatenate([square, sine, np.zeros(n)]).astype(np.float32)[np.newaxis, :]
    events = LevelMeter(interval_ms=100).run_all(x, RATE)
    assert [(e.start, e.end) for e in events] == [(0, 4800), (4800, 9600), (9600, 14400)]
    r0, r1, r2 = (e.payload for e in events)
    assert isinstance(r0, LevelReading)
    assert r0.peak_dbfs[0] == 0.0 and abs(r0.rms_dbfs[0]) < 1e-9
    assert r1.peak_dbfs[0] == pytest.approx(20 * math.log10(0.5), abs=1e-3)
    assert r1.rms_dbfs[0] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=1e-3)
    assert r2.peak_dbfs == (-120.0,) and r2.rms_dbfs == (-120.0,)
    assert all(e.kind == "level" and e.time_base == Fraction(1, RATE) for e in events)


def test_partial_last_window_is_flushed_with_its_true_length() -> None:
    x = np.full((2, 10_000), 0.25, np.float32)
    events = LevelMeter(interval_ms=100).run_all(x, RATE, chunk_frames=999)
    assert [(e.start, e.end) for e in events] == [(0, 4800), (4800, 9600), (9600, 10_000)]
    last = events[-1].payload
    assert last.rms_dbfs == pytest.approx((20 * math.log10(0.25),) * 2, abs=1e-6)


def test_windows_start_at_the_first_chunk() -> None:
    meter = LevelMeter(interval_ms=10)
    x = np.ones((1, 960), np.float32)
    meter.configure({"in": AudioSpec(RATE, 1)})
    chunks = chunk_audio(x, RATE, [100, 500], start=48_000)
    events = [e for c in chunks for e in meter.process(c)] + meter.flush()
    assert [(e.start, e.end) for e in events] == [(48_000, 48_480), (48_480, 48_960)]


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(), channels=st.integers(1, 3), interval_ms=st.sampled_from([0.5, 3.0, 10.0, 21.3])
)
def test_chunk_invariance_bit_identical(
    data: st.DataObject, channels: int, interval_ms: float
) -> None:
    total = data.draw(st.integers(1, 3000))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    x = rng.uniform(-1, 1, (channels, total)).astype(np.float32)
    whole = LevelMeter(interval_ms).run_all(x, RATE)
    cuts = data.draw(cut_points(total))
    meter = LevelMeter(interval_ms)
    chunked = meter.run_all(chunk_audio(x, RATE, cuts))
    assert chunked == whole  # Event equality: kind, start, end, time_base, exact floats


def test_runs_in_a_graph_and_reports_latency() -> None:
    x = synth_audio(2.0, RATE, 2)
    g = Graph()
    src = g.add(ArraySource.audio(x, RATE, 256), "src")
    meter = g.add(LevelMeter(interval_ms=50), "meter")
    sink = MemorySink()
    g.chain(src, meter, g.add(sink, "sink"))
    stats = g.run_sync()
    assert len(sink.events) == 40
    assert sink.events == LevelMeter(50).run_all(x, RATE)
    assert stats.nodes["meter"].latency_s == pytest.approx(0.05)
    assert g.latency()["sink"] == pytest.approx(0.05)


def test_nan_is_rejected_naming_the_frame() -> None:
    x = np.zeros((1, 5000), np.float32)
    x[0, 4321] = np.nan
    g = Graph()
    g.chain(
        g.add(ArraySource.audio(x, RATE, 1000), "src"),
        g.add(LevelMeter(), "meter"),
        g.add(MemorySink(), "sink"),
    )
    with pytest.raises(NodeError) as info:
        g.run_sync()
    assert info.value.node == "meter"
    assert "4321" in str(info.value) and "non-finite" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval_ms": 0},
        {"interval_ms": -5},
        {"interval_ms": float("nan")},
        {"floor_db": 3.0},
        {"floor_db": float("-inf")},
    ],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ParameterError):
        LevelMeter(**kwargs)


def test_rejects_non_audio_input_at_build_time() -> None:
    g = Graph()
    src = g.add(ArraySource([], EventSpec()), "events")
    g.chain(src, g.add(LevelMeter(), "meter"), g.add(MemorySink(), "sink"))
    with pytest.raises(StreamMismatchError, match="'events' -> 'meter'"):
        g.validate()
