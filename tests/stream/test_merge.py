"""Fan-in: joins release items in exact time order, deterministically, without stalling."""

from __future__ import annotations

from fractions import Fraction

import anyio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinks import MemorySink
from stream import (
    ArraySource,
    AudioChunk,
    AudioSpec,
    Event,
    EventSpec,
    Graph,
    Item,
    NodeError,
    item_time,
)
from tests.stream.support import (
    RATE,
    EveryNth,
    PassThrough,
    TwoInputs,
    TwoPortSource,
    noise,
    tick,
)

pytestmark = pytest.mark.anyio


def chunks_at(starts: list[int], frames: int, value: float) -> list[Item]:
    return [AudioChunk(np.full((1, frames), value, np.float32), RATE, s) for s in starts]


async def test_two_audio_sources_interleave_in_time_order() -> None:
    # a: [0,100) [200,300) ...; b: [100,200) [300,400) ...
    a = chunks_at(list(range(0, 20_000, 200)), 100, 1.0)
    b = chunks_at(list(range(100, 20_000, 200)), 100, 2.0)
    g = Graph(buffer_size=2)
    sink = MemorySink()
    out = g.add(sink, "mix")
    g.connect(g.add(ArraySource(a, AudioSpec(RATE, 1)), "a"), out)
    g.connect(g.add(ArraySource(b, AudioSpec(RATE, 1)), "b"), out)
    with anyio.fail_after(10):
        await g.run()
    assert [c.start for c in sink.chunks] == list(range(0, 20_000, 100))
    assert sink.audio()[0].tolist() == ([1.0] * 100 + [2.0] * 100) * 100


async def test_event_sources_merge_exactly_with_ties_by_connection_order() -> None:
    # Times in thirds and quarters of a second: exact Fraction comparison matters.
    a = [Event("a", 0, n, Fraction(1, 3), n) for n in range(0, 30)]
    b = [Event("b", 0, n, Fraction(1, 4), n) for n in range(0, 40)]
    expected = sorted([*a, *b], key=lambda e: (item_time(e), e.kind))  # "a" connected first
    for first, second, tie_kind in ((a, b, "a"), (b, a, "b")):
        g = Graph(buffer_size=3)
        sink = MemorySink()
        out = g.add(sink, "out")
        g.connect(g.add(ArraySource(first, EventSpec()), "first"), out)
        g.connect(g.add(ArraySource(second, EventSpec()), "second"), out)
        with anyio.fail_after(10):
            await g.run()
        got = sink.events
        assert [item_time(e) for e in got] == [item_time(e) for e in expected]
        assert len(got) == 70
        ties = [e.kind for e in got if e.end_time in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)]
        # At every whole second both emit an event; the first-connected one goes first.
        assert ties == [tie_kind, "b" if tie_kind == "a" else "a"] * 10


async def test_merge_is_deterministic_across_runs_and_buffer_sizes() -> None:
    a = [tick("a", 10 * (i // 3)) for i in range(90)]  # bursts of equal times
    b = [tick("b", 10 * (i // 2)) for i in range(60)]
    results = []
    for size in (1, 2, 7, 64):
        g = Graph(buffer_size=size)
        sink = MemorySink()
        out = g.add(sink, "out")
        g.connect(g.add(ArraySource(a, EventSpec()), "a"), out, buffer_size=size)
        g.connect(g.add(ArraySource(b, EventSpec()), "b"), out, buffer_size=1 + size // 2)
        with anyio.fail_after(10):
            await g.run()
        results.append([(e.kind, e.end) for e in sink.events])
    assert all(r == results[0] for r in results)
    expected = sorted([(e.kind, e.end) for e in a + b], key=lambda x: (x[1], x[0]))
    assert results[0] == expected


async def test_multi_input_operator_gets_ports_merged_in_time_order() -> None:
    a = chunks_at(list(range(0, 4800, 480)), 480, 1.0)  # every 10 ms
    b = [tick("b", s) for s in range(0, 4800, 960)]  # every 20 ms, tying with a
    op = TwoInputs()
    g = Graph(buffer_size=1)
    join = g.add(op, "join")
    g.connect(g.add(ArraySource(a, AudioSpec(RATE, 1)), "audio"), join["a"])
    g.connect(g.add(ArraySource(b, EventSpec()), "events"), join["b"])
    with anyio.fail_after(10):
        await g.run()
    got = [(port, item_time(item)) for port, item in op.arrivals]
    assert len(got) == 15
    assert [t for _, t in got] == sorted(t for _, t in got)
    # Ties: port a was connected first, so its chunk precedes b's event at equal times.
    assert got[:4] == [
        ("a", Fraction(0)),
        ("b", Fraction(0)),
        ("a", Fraction(1, 100)),
        ("a", Fraction(2, 100)),
    ]
    assert all(isinstance(i, AudioChunk) for p, i in op.arrivals if p == "a")
    assert all(isinstance(i, Event) for p, i in op.arrivals if p == "b")


async def test_sparse_producer_joined_with_dense_does_not_stall() -> None:
    # The sparse branch emits an event every 50 chunks (0.5 s). Without timestamp bounds
    # the join would wait on it, the dense branch would hit max_skew (0.2 s) and fill,
    # the shared source would block on it, and nothing would move again.
    x = noise(1, 480 * 2000)
    g = Graph(buffer_size=4, max_skew_s=0.2)
    sink = MemorySink()
    src = g.add(ArraySource.audio(x, RATE, 480), "src")
    out = g.add(sink, "out")
    g.chain(src, g.add(EveryNth(1, "dense"), "dense"), out)
    g.chain(src, g.add(EveryNth(50, "sparse"), "sparse"), out)
    with anyio.fail_after(15):
        await g.run()
    events = sink.events
    assert sum(e.kind == "dense" for e in events) == 2000
    assert sum(e.kind == "sparse" for e in events) == 40
    ends = [e.end_time for e in events]
    assert ends == sorted(ends)
    # Equal end times: "dense" was connected first.
    i = next(k for k, e in enumerate(events) if e.kind == "sparse")
    assert events[i - 1].kind == "dense" and events[i - 1].end == events[i].end


async def test_sparse_events_into_a_multi_input_operator_with_a_latency() -> None:
    x = noise(1, 480 * 600)
    op = TwoInputs()
    g = Graph(buffer_size=2, max_skew_s=0.1)
    src = g.add(ArraySource.audio(x, RATE, 480), "src")
    join = g.add(op, "join")
    g.chain(src, g.add(PassThrough(Fraction(1, 50)), "delay"), join["a"])
    g.chain(src, g.add(EveryNth(50, "sparse"), "sparse"), join["b"])
    with anyio.fail_after(15):
        await g.run()
    times = [item_time(i) for _, i in op.arrivals]
    assert len(times) == 600 + 12
    assert times == sorted(times)


async def test_two_edges_from_one_interleaving_source_do_not_deadlock() -> None:
    # 200 audio chunks (2 s) arrive before the first event of the same time: the join
    # must read ahead on the audio edge (up to max_skew_s) instead of deadlocking.
    g = Graph(buffer_size=4, max_skew_s=3.0)
    sink = MemorySink()
    src = g.add(TwoPortSource(400, lag=200, frames=480), "demux")
    out = g.add(sink, "out")
    g.chain(src["audio"], g.add(EveryNth(1, "level"), "meter"), out)
    g.connect(src["events"], out)
    with anyio.fail_after(10):
        await g.run()
    kinds = [e.kind for e in sink.events]
    assert kinds.count("level") == 400 and kinds.count("chunk") == 400
    times = [item_time(i) for i in sink.items]
    assert times == sorted(times)
    # Ties (level i ends where chunk event i + 1 ends): the meter was connected first.
    assert kinds[:5] == ["chunk", "level", "chunk", "level", "chunk"]


async def test_interleaving_source_into_a_two_port_operator() -> None:
    op = TwoInputs()
    g = Graph(buffer_size=1)  # default max_skew_s (10 s) covers 2 s of interleaving
    src = g.add(TwoPortSource(300, lag=200, frames=480), "demux")
    join = g.add(op, "join")
    g.connect(src["events"], join["b"])
    g.connect(src["audio"], join["a"])
    with anyio.fail_after(10):
        await g.run()
    assert len(op.arrivals) == 600
    assert [item_time(i) for _, i in op.arrivals] == sorted(item_time(i) for _, i in op.arrivals)
    # Here the events edge was connected first: it wins ties.
    assert [p for p, _ in op.arrivals[:4]] == ["b", "a", "b", "a"]


async def test_input_going_back_in_time_fails_naming_the_edge() -> None:
    a = [tick("a", 10), tick("a", 5)]
    b = [tick("b", 100)]
    g = Graph()
    sink = MemorySink()
    out = g.add(sink, "out")
    g.connect(g.add(ArraySource(a, EventSpec()), "a"), out)
    g.connect(g.add(ArraySource(b, EventSpec()), "b"), out)
    with anyio.fail_after(10), pytest.raises(NodeError, match="went back in time") as info:
        await g.run()
    assert info.value.node == "a"
    assert "'a' -> 'out'" in str(info.value)
    assert sink.closed and sink.error is info.value


@settings(max_examples=30, deadline=None)
@given(
    streams=st.lists(st.lists(st.integers(0, 40), max_size=30).map(sorted), min_size=2, max_size=4),
    buffer_size=st.integers(1, 5),
    backend=st.sampled_from(["asyncio", "trio"]),
)
def test_any_join_equals_a_stable_sort_by_time_then_connection(
    streams: list[list[int]], buffer_size: int, backend: str
) -> None:
    g = Graph(buffer_size=buffer_size, max_skew_s=1.0)
    sink = MemorySink()
    out = g.add(sink, "out")
    for i, ends in enumerate(streams):
        events = [Event(f"s{i}", 0, end, Fraction(1, 10), k) for k, end in enumerate(ends)]
        g.connect(g.add(ArraySource(events, EventSpec()), f"s{i}"), out)

    async def main() -> None:
        with anyio.fail_after(10):
            await g.run()

    anyio.run(main, backend=backend)
    expected = sorted(
        ((end, i, k) for i, ends in enumerate(streams) for k, end in enumerate(ends)),
        key=lambda x: (x[0], x[1]),
    )
    assert [(e.end, int(e.kind[1:]), e.payload) for e in sink.events] == expected


async def test_join_allows_for_an_input_whose_latency_exceeds_max_skew() -> None:
    # A 15 s meter window delays its events (and bounds) by 15 s: the join must hold
    # 15 s of the 100 ms meter's events, more than max_skew_s, without stalling.
    from operators import LevelMeter

    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 48000 * 40)).astype(np.float32)
    g = Graph(max_skew_s=2.0)
    src = g.add(ArraySource.audio(x, 48000, 1024), "src")
    fast, slow = g.add(LevelMeter(100), "fast"), g.add(LevelMeter(15000), "slow")
    out = MemorySink()
    g.connect(src, fast)
    g.connect(src, slow)
    g.connect(fast, g.add(out, "out"))
    g.connect(slow, "out")
    await g.run()
    assert len(out.events) == 400 + 3
    ends = [e.end_time for e in out.events]
    assert ends == sorted(ends)


class _SlowAudioSink(MemorySink):
    """Keeps audio, slowly (in a worker thread): its edge is full most of the time."""

    heavy = True

    def write(self, item: Item) -> None:
        import time

        time.sleep(0.002)
        super().write(item)


async def test_bounds_reach_a_join_while_a_producer_waits_on_a_full_output() -> None:
    # Bounds are sent lazily, when a node is about to wait. Here the compressor's audio
    # edge to a slow sink is full most of the time, so it waits there while its meter
    # events and a level meter's events meet in one join: that join must keep getting
    # the compressor's bounds (no stall), and release everything in exact time order.
    from operators import Compressor, LevelMeter

    rng = np.random.default_rng(7)
    x = (rng.standard_normal((2, RATE * 2)) * 0.3).astype(np.float32)
    g = Graph(buffer_size=1)
    src = g.add(ArraySource.audio(x, RATE, 256), "src")
    comp = g.add(Compressor(threshold_db=-30, meter_interval_ms=10), "comp")
    meter = g.add(LevelMeter(interval_ms=10), "meter")
    slow = _SlowAudioSink()
    joined = MemorySink()
    g.connect(src, comp)
    g.connect(src, meter)
    g.connect(comp["audio"], g.add(slow, "slow"), buffer_size=1)
    out = g.add(joined, "joined")
    g.connect(comp["events"], out)
    g.connect(meter, out)
    with anyio.fail_after(60):
        await g.run()
    events = joined.events
    times = [(e.start_s, e.kind) for e in events]
    # Ties (same window start) go to the earlier connection: the compressor's meter.
    assert times == sorted(times, key=lambda t: (t[0], t[1] != "dynamics"))
    assert [e for e in events if e.kind == "level"] == LevelMeter(10).run_all(x, RATE)
    offline = Compressor(threshold_db=-30, meter_interval_ms=10).run_all(x, RATE)
    assert [e for e in events if e.kind == "dynamics"] == [
        o for o in offline if isinstance(o, Event)
    ]
    offline_audio = np.concatenate([o.data for o in offline if isinstance(o, AudioChunk)], 1)
    assert np.array_equal(slow.audio(), offline_audio)  # every frame, bit for bit
