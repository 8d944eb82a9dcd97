"""Running graphs: pass-through, flush order, backpressure, fan-out, heavy nodes, stats."""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import anyio
import numpy as np
import pytest

from sinks import MemorySink
from stream import (
    ArraySource,
    AudioChunk,
    AudioSpec,
    EventSpec,
    Graph,
    Item,
    RunStats,
    VideoFrame,
)
from tests.stream.support import (
    RATE,
    Counter,
    HeavyRecorder,
    HoldUntilFlush,
    PassThrough,
    RecordingSink,
    SlowSink,
    TwoPortSource,
    counting_audio,
    noise,
    tick,
)

pytestmark = pytest.mark.anyio


# -- pass-through ---------------------------------------------------------------------
@pytest.mark.parametrize("chunk_frames", [1, 7, 480, 1024, 4096, 50_000])
async def test_audio_passes_through_bit_identical(chunk_frames: int) -> None:
    x = noise(2, 4801, seed=chunk_frames)
    g = Graph(buffer_size=4)
    sink = MemorySink()
    g.chain(
        g.add(ArraySource.audio(x, RATE, chunk_frames), "src"),
        g.add(PassThrough(), "a"),
        g.add(PassThrough(), "b"),
        g.add(sink, "out"),
    )
    stats = await g.run()
    y = sink.audio()
    assert y.dtype == np.float32 and y.shape == x.shape
    assert y.tobytes() == x.tobytes()
    chunks = sink.chunks
    assert len(chunks) == math.ceil(4801 / chunk_frames)
    assert [c.start for c in chunks] == list(range(0, 4801, chunk_frames))
    assert all(c.sample_rate == RATE for c in chunks)
    assert sink.closed and sink.error is None
    assert stats.finished and stats.nodes["out"].items_in == len(chunks)


async def test_one_dimensional_float64_audio_becomes_mono_float32() -> None:
    x = np.linspace(-1, 1, 1000)
    g = Graph()
    sink = MemorySink()
    g.chain(g.add(ArraySource.audio(x, 8000, 300), "src"), g.add(sink, "out"))
    await g.run()
    assert sink.audio().tobytes() == x.astype(np.float32)[np.newaxis, :].tobytes()


@pytest.mark.parametrize("shape", [(9, 6, 8, 3), (5, 4, 4)], ids=["rgb", "gray"])
async def test_video_passes_through_bit_identical(shape: tuple[int, ...]) -> None:
    frames = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    g = Graph(buffer_size=2)
    sink = MemorySink()
    g.chain(
        g.add(ArraySource.video(frames, Fraction(30000, 1001)), "cam"),
        g.add(PassThrough(), "op"),
        g.add(sink, "out"),
    )
    stats = await g.run()
    got = sink.frames
    assert len(got) == shape[0]
    for i, f in enumerate(got):
        assert isinstance(f, VideoFrame)
        assert (f.index, f.pts, f.time_base) == (i, i, Fraction(1001, 30000))
        assert f.pixel_format == ("rgb24" if len(shape) == 4 else "gray")
        assert f.data.dtype == np.uint8 and np.array_equal(f.data, frames[i])
    assert stats.duration_s == pytest.approx(shape[0] * 1001 / 30000)


async def test_graph_runs_twice_from_a_reusable_source() -> None:
    x = noise(1, 1000)
    g = Graph()
    sink = RecordingSink()
    g.chain(g.add(ArraySource.audio(x, RATE, 128), "src"), g.add(sink, "out"))
    await g.run()
    await g.run()
    assert sink.audio().tobytes() == x.tobytes()  # open() reset the sink
    assert (sink.opened, sink.close_calls) == (2, 2)


# -- end of stream --------------------------------------------------------------------
async def test_flush_runs_in_chain_order_behind_the_data() -> None:
    data = [tick("d", i) for i in range(25)]
    g = Graph(buffer_size=1)
    sink = MemorySink()
    g.chain(
        g.add(ArraySource(data, EventSpec()), "src"),
        g.add(HoldUntilFlush("first"), "first"),
        g.add(PassThrough(), "between"),
        g.add(HoldUntilFlush("second"), "second"),
        g.add(HoldUntilFlush("third"), "third"),
        g.add(sink, "out"),
    )
    await g.run()
    assert sink.items[: len(data)] == data
    markers = sink.items[len(data) :]
    assert [e.payload for e in markers] == ["first", "second", "third"]  # type: ignore[union-attr]
    assert all(e.kind == "marker" for e in markers)  # type: ignore[union-attr]


async def test_flush_output_of_upstream_is_processed_downstream() -> None:
    # "first" releases everything at the end; "second" counts what it processed.
    g = Graph()
    counter = PassThrough()
    sink = MemorySink()
    g.chain(
        g.add(ArraySource([tick("d", i) for i in range(5)], EventSpec()), "src"),
        g.add(HoldUntilFlush("first"), "first"),
        g.add(counter, "count"),
        g.add(sink, "out"),
    )
    await g.run()
    assert counter.seen == 6  # 5 data + the marker, all after first's flush
    assert len(sink.items) == 6


# -- backpressure ---------------------------------------------------------------------
@pytest.mark.parametrize("buffer_size", [1, 4])
async def test_backpressure_bounds_items_in_flight(buffer_size: int) -> None:
    counter = Counter()
    g = Graph(buffer_size=buffer_size)
    sink = SlowSink(counter, delay=0.0002)
    src = g.add(counting_audio(counter, 2000, frames=16), "src")
    a, b = g.add(PassThrough(), "a"), g.add(PassThrough(), "b")
    out = g.add(sink, "out")
    g.connect(src, a)
    g.connect(a, b, buffer_size=2 * buffer_size)
    g.connect(b, out)
    await g.run()
    assert len(sink.items) == counter.produced == 2000
    buffers = buffer_size + 2 * buffer_size + buffer_size
    source_batch = 16
    holders = 3  # a and b each hold one item while blocked sending; the sink its current one
    limit = buffers + source_batch + holders
    assert max(sink.ahead) <= limit
    # The producer did run ahead as far as the buffers let it: the bound is tight.
    assert max(sink.ahead) >= buffers + 1


@pytest.mark.parametrize("b", [3, 15, 20])
async def test_stalled_sink_stops_the_source_exactly(b: int) -> None:
    counter = Counter()
    gate = threading.Event()

    class StuckSink(RecordingSink):
        heavy = True  # write runs in a worker thread: the event loop stays free

        def write(self, item: Item) -> None:
            assert gate.wait(10)
            super().write(item)

    g = Graph(buffer_size=b, max_batch=1)
    sink = StuckSink()
    g.chain(
        g.add(counting_audio(counter, 500), "src"),
        g.add(PassThrough(), "a"),
        g.add(PassThrough(), "b"),
        g.add(sink, "out"),
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(g.run)
        try:
            with anyio.fail_after(10):
                seen, stable = -1, 0
                while stable < 50:  # the source has stopped producing (100 ms without change)
                    await anyio.sleep(0.002)
                    stable = stable + 1 if counter.produced == seen else 0
                    seen = counter.produced
            # Placed downstream of the source: 1 in the (stuck) sink, b in each of the 3
            # edges, 1 held by each operator blocked on a full edge. The source reads
            # batches of 16 and reads the next one only once the last is all placed.
            placed = 1 + 3 * b + 2
            assert counter.produced == 16 * (placed // 16 + 1)
        finally:
            gate.set()
    assert len(sink.items) == 500


# -- fan-out --------------------------------------------------------------------------
async def test_fan_out_to_two_sinks_with_different_buffers() -> None:
    x = noise(1, 20_000)
    g = Graph()
    fast, slow = MemorySink(), SlowSink(Counter(), delay=0.0001)
    src = g.add(ArraySource.audio(x, RATE, 100), "src")
    g.connect(src, g.add(fast, "fast"), buffer_size=1)
    g.connect(src, g.add(PassThrough(), "op"), buffer_size=64)
    g.connect(g["op"], g.add(slow, "slow"), buffer_size=3)
    await g.run()
    assert fast.audio().tobytes() == x.tobytes()
    assert slow.audio().tobytes() == x.tobytes()
    # Broadcast shares items: both sinks got the very same chunk objects.
    assert all(a is b for a, b in zip(fast.items, slow.items, strict=True))


async def test_unconsumed_source_port_is_not_opened() -> None:
    src = TwoPortSource(10, 2)
    g = Graph()
    sink = MemorySink()
    g.connect(g.add(src, "demux")["audio"], g.add(sink, "out"))
    await g.run()
    assert src.opened == ["audio"] and src.closed == 1
    assert len(sink.chunks) == 10


# -- heavy nodes ----------------------------------------------------------------------
async def test_heavy_operator_runs_in_worker_threads_in_batches() -> None:
    loop_thread = threading.current_thread()
    gate = threading.Event()
    counter = Counter()

    def opened(produced: int) -> None:
        if produced >= 20:
            gate.set()

    src = counting_audio(counter, 300, frames=32, channels=2, on_produce=opened)
    heavy = HeavyRecorder(gate)
    g = Graph(buffer_size=16)
    sink = MemorySink()
    g.chain(g.add(src, "src"), g.add(heavy, "heavy"), g.add(sink, "out"))
    await g.run()

    assert heavy.threads and all(t is not loop_thread for t in heavy.threads)
    assert heavy.flush_thread is not None and heavy.flush_thread is not loop_thread
    assert len(heavy.hops) == 300
    sizes = [heavy.hops.count(h) for h in sorted(set(heavy.hops))]
    assert heavy.hops == sorted(heavy.hops)  # each hop is one contiguous run of items
    assert max(sizes) > 1  # queued items are handed over together
    assert max(sizes) <= g.max_batch
    assert len(sizes) < 300
    # Still in order and bit-identical.
    assert [c.start for c in sink.chunks] == [i * 32 for i in range(300)]
    for i, c in enumerate(sink.chunks):
        assert c.data.shape == (2, 32)
        assert c.data[0, 0] == np.float32((i % 1000) / 1000.0)
        assert not c.data[:, 1:].any()


async def test_heavy_operator_batches_are_capped_by_max_batch() -> None:
    gate = threading.Event()
    counter = Counter()

    def opened(produced: int) -> None:
        if produced >= 64:
            gate.set()

    heavy = HeavyRecorder(gate)
    g = Graph(buffer_size=64, max_batch=5)
    sink = MemorySink()
    g.chain(
        g.add(counting_audio(counter, 200, on_produce=opened), "src"),
        g.add(heavy, "heavy"),
        g.add(sink, "out"),
    )
    await g.run()
    sizes = [heavy.hops.count(h) for h in sorted(set(heavy.hops))]
    assert max(sizes) == 5
    assert [c.start for c in sink.chunks] == [i * 64 for i in range(200)]


async def test_heavy_sink_writes_in_worker_threads_in_order() -> None:
    loop_thread = threading.current_thread()

    class HeavySink(RecordingSink):
        heavy = True

        def __init__(self) -> None:
            super().__init__()
            self.threads: list[threading.Thread] = []

        def write(self, item: Item) -> None:
            self.threads.append(threading.current_thread())
            super().write(item)

    x = noise(1, 30_000)
    sink = HeavySink()
    g = Graph()
    g.chain(g.add(ArraySource.audio(x, RATE, 100), "src"), g.add(sink, "out"))
    await g.run()
    assert sink.audio().tobytes() == x.tobytes()
    assert all(t is not loop_thread for t in sink.threads)
    assert sink.close_calls == 1 and sink.error is None


# -- stats ----------------------------------------------------------------------------
async def test_progress_snapshots_do_not_change_afterwards() -> None:
    counter = Counter()
    g = Graph()
    g.chain(g.add(counting_audio(counter, 400), "src"), g.add(SlowSink(counter, 0.001), "out"))
    snaps: list[RunStats] = []
    final = await g.run(progress=snaps.append, progress_interval=0.05)
    seen = [s.nodes["out"].items_in for s in snaps]
    assert len(seen) >= 3 and seen == sorted(seen) and seen[0] < 400
    assert snaps[0].nodes["out"] is not final.nodes["out"]
    assert final.nodes["out"].items_in == 400


async def test_backlog_of_an_inline_sink_is_seen() -> None:
    # An inline sink holds the event loop while it drains its input, so the 50 ms
    # sampler alone sees the queue empty; the node samples it as it wakes up.
    counter = Counter()
    g = Graph(buffer_size=16)
    g.chain(g.add(counting_audio(counter, 200), "src"), g.add(SlowSink(counter, 0.002), "out"))
    stats = await g.run()
    assert stats.nodes["out"].max_queue_depth >= 15
    assert stats.nodes["src"].wait_out_s > 0.5 * stats.wall_s


async def test_stats_counts_media_time_and_path_latency() -> None:
    x = noise(1, 72_000)  # exactly 1.5 s
    g = Graph()
    snapshots: list[RunStats] = []
    g.chain(
        g.add(ArraySource.audio(x, RATE, 480), "src"),
        g.add(PassThrough(Fraction(1, 100)), "look"),
        g.add(PassThrough(), "plain"),
        g.add(PassThrough(Fraction(1, 200)), "window"),
        g.add(MemorySink(), "out"),
    )
    stats = await g.run(progress=snapshots.append, progress_interval=0.0)
    n = 72_000 // 480
    assert stats.finished and g.last_stats is stats
    assert stats.nodes["src"].items_out == n
    for name in ("look", "plain", "window"):
        assert (stats.nodes[name].items_in, stats.nodes[name].items_out) == (n, n)
    assert stats.nodes["out"].items_in == n
    assert stats.media_s == 1.5
    assert stats.duration_s == 1.5 and stats.fraction_done == 1.0
    assert stats.nodes["out"].media_s == 1.5
    assert stats.nodes["look"].latency_s == pytest.approx(0.01)
    assert stats.nodes["plain"].path_latency_s == pytest.approx(0.01)
    assert stats.nodes["window"].path_latency_s == pytest.approx(0.015)
    assert stats.latency_s == pytest.approx(0.015)
    assert list(stats.nodes) == ["src", "look", "plain", "window", "out"]
    assert all(s.finished and s.wall_s >= 0 for s in stats.nodes.values())
    assert snapshots and snapshots[-1].finished and snapshots[-1].media_s == 1.5
    table = stats.table()
    lines = table.splitlines()
    assert len(lines) == 2 + 5 + 1
    for name in stats.nodes:
        assert any(line.startswith(name) for line in lines)
    assert "1.50 s of media" in lines[-1] and "15.0 ms" in lines[-1]


async def test_media_time_of_a_multi_port_source_is_its_furthest_item() -> None:
    # The last item read is an event lagging the audio: media time is still the audio's end.
    g = Graph()
    src = g.add(TwoPortSource(50, 5, frames=480), "demux")
    g.connect(src["audio"], g.add(MemorySink(), "a"))
    g.connect(src["events"], g.add(MemorySink(), "e"))
    stats = await g.run()
    assert stats.nodes["demux"].items_out == 100
    assert stats.media_s == pytest.approx(50 * 480 / RATE)


async def test_stats_of_a_source_without_duration() -> None:
    counter = Counter()
    g = Graph()
    g.chain(g.add(counting_audio(counter, 10), "src"), g.add(MemorySink(), "out"))
    stats = await g.run()
    assert stats.duration_s is None and stats.fraction_done is None
    assert stats.media_s == pytest.approx(10 * 64 / RATE)
    assert isinstance(stats.table(), str)


def test_run_sync_on_both_backends() -> None:
    for backend in ("asyncio", "trio"):
        x = noise(1, 1000)
        g = Graph()
        sink = MemorySink()
        g.chain(g.add(ArraySource.audio(x, RATE, 100), "src"), g.add(sink, "out"))
        stats = g.run_sync(backend=backend)
        assert stats.finished and sink.audio().tobytes() == x.tobytes()


async def test_array_source_checks_items_against_its_spec() -> None:
    chunks = [
        AudioChunk(np.zeros((1, 10), np.float32), RATE, 0),
        AudioChunk(np.zeros((1, 10), np.float32), 44100, 10),
    ]
    g = Graph()
    sink = MemorySink()
    g.chain(g.add(ArraySource(chunks, AudioSpec(RATE, 1)), "src"), g.add(sink, "out"))
    from stream import NodeError

    with pytest.raises(NodeError, match="chunk at frame 10 is 44100 Hz") as info:
        await g.run()
    assert info.value.node == "src"


async def test_array_source_checks_video_frames_against_its_spec() -> None:
    from stream import NodeError, VideoSpec

    frames = [
        VideoFrame(np.zeros((4, 6, 3), np.uint8), 0, 0, Fraction(1, 25)),
        VideoFrame(np.zeros((4, 8, 3), np.uint8), 1, 1, Fraction(1, 25)),
    ]
    g = Graph()
    sink = MemorySink()
    src = ArraySource(frames, VideoSpec(6, 4, "rgb24", Fraction(25), Fraction(1, 25)))
    g.chain(g.add(src, "cam"), g.add(sink, "out"))
    with pytest.raises(NodeError, match="video frame 1 is 8x4 rgb24") as info:
        await g.run()
    assert info.value.node == "cam"
    assert len(sink.frames) == 0  # both frames come in one read, which failed


async def test_blocking_source_reads_in_worker_threads() -> None:
    from collections.abc import Collection, Mapping

    from stream import Source, StreamSpec

    loop_thread = threading.current_thread()

    class Blocking(Source):
        blocking = True

        def __init__(self) -> None:
            self.threads: list[threading.Thread] = []
            self.next = 0
            self.closed = 0

        def specs(self) -> Mapping[str, StreamSpec]:
            return {"audio": AudioSpec(RATE, 1)}

        def open(self, ports: Collection[str]) -> None:
            self.threads.append(threading.current_thread())

        def read(self, max_items: int) -> list[tuple[str, Item]]:
            self.threads.append(threading.current_thread())
            n = min(max_items, 100 - self.next)
            out: list[tuple[str, Item]] = [
                ("audio", AudioChunk(np.full((1, 10), i, np.float32), RATE, 10 * i))
                for i in range(self.next, self.next + n)
            ]
            self.next += n
            return out

        def close(self) -> None:
            self.closed += 1

    src = Blocking()
    g = Graph()
    sink = MemorySink()
    g.chain(g.add(src, "dev"), g.add(sink, "out"))
    await g.run()
    assert [c.start for c in sink.chunks] == list(range(0, 1000, 10))
    assert len(src.threads) == 1 + 7 + 1  # open, 100 items in reads of 16, the empty read
    assert all(t is not loop_thread for t in src.threads)
    assert src.closed == 1
