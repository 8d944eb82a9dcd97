"""The dynamics chain in a Graph: latency, outputs, meter events, errors."""

from __future__ import annotations

import numpy as np
import pytest

from mediastream.synth import synth_audio
from operators import Compressor, DynamicsReading, Limiter
from operators.dynamics import DynamicsSettings, build_dynamics_chain, dynamics_operators
from sinks import MemorySink
from stream import ArraySource, Graph, NodeError
from tests.chunking import chunk_audio

from ._util import RATE, run


def test_chain_in_a_graph_matches_the_operators_and_declares_latency() -> None:
    x = synth_audio(1.5, RATE, 2) * np.float32(4.0)
    settings = DynamicsSettings(gate_threshold_db=-60.0, meter_interval_ms=50.0)
    g = Graph()
    src = g.add(ArraySource.audio(x, RATE, 256), "src")
    chain = build_dynamics_chain(g, src["audio"], settings)
    audio_sink, event_sink = MemorySink(), MemorySink()
    g.connect(chain.audio, g.add(audio_sink, "out"))
    per_node = {}
    for port in chain.meters:
        per_node[port.node] = MemorySink()
        g.connect(port, g.add(per_node[port.node], f"{port.node}_events"))
    g.connect(chain.meters[-1], g.add(event_sink, "limiter_events_2"))
    assert [n.name for n in chain.nodes] == ["gate", "compressor", "limiter"]
    assert g.latency()["out"] == pytest.approx(0.005)
    stats = g.run_sync()
    assert stats.nodes["limiter"].latency_s == pytest.approx(0.005)
    y = audio_sink.audio()
    assert y.shape == x.shape
    # Same as running the operators one after the other, offline.
    ref = x
    for _, op in dynamics_operators(settings):
        ref, _ = run(op, chunk_audio(ref, RATE, []), 2)
    assert y.tobytes() == ref.tobytes()
    assert float(np.abs(y).max()) <= 10 ** (-1 / 20)
    events = event_sink.events
    assert len(events) == 30 and all(e.kind == "dynamics" for e in events)
    assert isinstance(events[0].payload, DynamicsReading)
    assert events[-1].end == x.shape[1]
    assert per_node["limiter"].events == events
    reductions = [max(e.payload.gain_reduction_db) for e in per_node["compressor"].events]  # type: ignore[attr-defined]
    assert len(reductions) == 30 and max(reductions) > 3.0


def test_non_finite_input_fails_naming_node_and_frame() -> None:
    x = np.zeros((1, 5000), np.float32)
    x[0, 4321] = np.nan
    g = Graph()
    g.chain(
        g.add(ArraySource.audio(x, RATE, 1000), "src"),
        g.add(Compressor(), "comp"),
        g.add(Limiter(), "lim"),
        g.add(MemorySink(), "sink"),
    )
    with pytest.raises(NodeError) as info:
        g.run_sync()
    assert info.value.node == "comp"
    assert "4321" in str(info.value) and "non-finite" in str(info.value)


def test_sidechain_compressor_in_a_graph() -> None:
    main = np.full((2, 48_000), 0.05, np.float32)
    key = np.zeros((1, 48_000), np.float32)
    key[0, 24_000:] = 1.0
    g = Graph()
    comp = g.add(Compressor(-20.0, 4.0, 1.0, 10.0, knee_db=0.0, sidechain=True), "duck")
    g.connect(g.add(ArraySource.audio(main, RATE, 512), "music"), comp["in"])
    g.connect(g.add(ArraySource.audio(key, RATE, 300), "voice"), comp["sidechain"])
    sink = MemorySink()
    g.connect(comp, g.add(sink, "out"))
    g.run_sync()
    y = sink.audio()
    assert y.shape == main.shape
    np.testing.assert_array_equal(y[:, :24_000], main[:, :24_000])
    assert 20 * np.log10(y[0, -1] / 0.05) == pytest.approx(-15.0, abs=1e-4)
