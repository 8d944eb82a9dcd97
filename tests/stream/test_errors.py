"""Failures and cancellation: one NodeError naming node and position; sinks always close."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Mapping

import anyio
import numpy as np
import pytest

from sinks import MemorySink
from stream import (
    ArraySource,
    AudioSpec,
    Graph,
    IncompatibleInputError,
    Item,
    MediaStreamError,
    NodeError,
    Operator,
    RunStats,
    Source,
    StreamSpec,
)
from tests.stream.support import (
    RATE,
    Counter,
    FailAt,
    FailingSink,
    FailingSource,
    HeavyRecorder,
    PassThrough,
    RecordingSink,
    counting_audio,
    noise,
)

pytestmark = pytest.mark.anyio

FRAMES = 100


def audio(chunks: int = 60) -> ArraySource:
    return ArraySource.audio(noise(1, FRAMES * chunks), RATE, FRAMES)


def starts(sink: MemorySink) -> list[int]:
    return [c.start for c in sink.chunks]


def assert_closed_with(sink: RecordingSink, error: BaseException) -> None:
    assert sink.closed and sink.close_calls == 1
    assert sink.error is error


# -- operator failures ----------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 17, 45])
async def test_operator_failure_names_node_and_position(n: int) -> None:
    g = Graph(buffer_size=2)
    sink, other = RecordingSink(), RecordingSink()
    src = g.add(audio(), "src")
    g.chain(src, g.add(PassThrough(), "pre"), g.add(FailAt(n), "bad"), g.add(sink, "out"))
    g.connect(src, g.add(other, "tap"))
    with pytest.raises(NodeError) as info:
        await g.run()
    err = info.value
    assert type(err) is NodeError  # never an ExceptionGroup
    assert err.node == "bad"
    position = f"t={n * FRAMES / RATE:.6f} s (frame {n * FRAMES} at {RATE} Hz)"
    assert err.position == position
    assert f"node 'bad' failed at {position}: ZeroDivisionError: bad item {n}" == str(err)
    assert err.time == pytest.approx(n * FRAMES / RATE)
    assert isinstance(err.__cause__, ZeroDivisionError) and err.cause is err.__cause__
    # Every item the failing node emitted reached the sink, nothing after it.
    assert starts(sink) == [i * FRAMES for i in range(n)]
    assert_closed_with(sink, err)
    assert_closed_with(other, err)
    assert starts(other) == [i * FRAMES for i in range(len(other.items))]
    assert g.last_stats is None


async def test_heavy_operator_failure_names_the_failing_item() -> None:
    class HeavyFail(FailAt):
        heavy = True

    g = Graph(buffer_size=8)
    sink = RecordingSink()
    g.chain(g.add(audio(), "src"), g.add(HeavyFail(30), "heavy"), g.add(sink, "out"))
    with pytest.raises(NodeError) as info:
        await g.run()
    assert info.value.node == "heavy"
    assert f"frame {30 * FRAMES} at" in str(info.value)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert starts(sink) == [i * FRAMES for i in range(len(sink.items))]
    assert len(sink.items) <= 30
    assert_closed_with(sink, info.value)


async def test_failure_in_flush_is_at_end_of_stream() -> None:
    g = Graph()
    sink = RecordingSink()
    g.chain(g.add(audio(10), "src"), g.add(FailAt(in_flush=True), "tail"), g.add(sink, "out"))
    with pytest.raises(NodeError) as info:
        await g.run()
    err = info.value
    assert err.node == "tail"
    assert err.position.startswith("end of stream")
    assert f"frame {9 * FRAMES} at {RATE} Hz" in err.position  # the last item it saw
    assert "RuntimeError: cannot finish" in str(err)
    assert isinstance(err.__cause__, RuntimeError)
    assert starts(sink) == [i * FRAMES for i in range(10)]  # all data went through
    assert_closed_with(sink, err)


async def test_two_failing_branches_raise_one_node_error() -> None:
    g = Graph()
    src = g.add(audio(), "src")
    g.chain(src, g.add(FailAt(5), "one"), g.add(RecordingSink(), "a"))
    g.chain(src, g.add(FailAt(5), "two"), g.add(RecordingSink(), "b"))
    with pytest.raises(NodeError) as info:
        await g.run()
    assert type(info.value) is NodeError
    assert info.value.node in ("one", "two")


# -- source failures ------------------------------------------------------------------
@pytest.mark.parametrize("fail_at", [0, 7, 40])
async def test_source_read_failure(fail_at: int) -> None:
    source = FailingSource(fail_at, FRAMES)
    g = Graph(buffer_size=4)
    sink = RecordingSink()
    g.chain(g.add(source, "mic"), g.add(PassThrough(), "op"), g.add(sink, "out"))
    with pytest.raises(NodeError) as info:
        await g.run()
    err = info.value
    assert err.node == "mic"
    assert isinstance(err.__cause__, OSError)
    assert f"before chunk {fail_at}" in str(err)
    if fail_at:
        # Where it failed: right after the last chunk it delivered.
        assert f"frame {(fail_at - 1) * FRAMES} at {RATE} Hz" in err.position
        assert err.time == pytest.approx(fail_at * FRAMES / RATE)
    else:
        assert err.position == "start of stream"
    assert source.closed == 1
    assert starts(sink) == [i * FRAMES for i in range(len(sink.items))]
    assert len(sink.items) <= fail_at
    assert_closed_with(sink, err)


async def test_source_read_failure_reaches_a_direct_sink_completely() -> None:
    g = Graph(buffer_size=4)
    sink = RecordingSink()
    g.chain(g.add(FailingSource(33, FRAMES), "mic"), g.add(sink, "out"))
    with pytest.raises(NodeError):
        await g.run()
    assert starts(sink) == [i * FRAMES for i in range(33)]


async def test_source_close_failure_does_not_hide_the_read_error() -> None:
    class BadClose(FailingSource):
        def close(self) -> None:
            super().close()
            raise RuntimeError("close failed too")

    g = Graph()
    sink = RecordingSink()
    g.chain(g.add(BadClose(3, FRAMES), "mic"), g.add(sink, "out"))
    with pytest.raises(NodeError) as info:
        await g.run()
    assert isinstance(info.value.__cause__, OSError)
    assert "device unplugged" in str(info.value)


async def test_source_close_failure_after_a_good_run() -> None:
    class BadClose(FailingSource):
        def close(self) -> None:
            super().close()
            raise RuntimeError("close failed")

    g = Graph()
    sink = RecordingSink()
    g.chain(g.add(BadClose(10**9, FRAMES), "mic"), g.add(FailAt(20), "stop"), g.add(sink, "out"))
    with pytest.raises(NodeError) as info:
        await g.run()
    assert info.value.node == "stop"  # the first failure, not the close after it


async def test_source_open_failure() -> None:
    class NoDevice(Source):
        blocking = True

        def specs(self) -> Mapping[str, StreamSpec]:
            return {"audio": AudioSpec(RATE, 1)}

        def open(self, ports: object) -> None:
            raise FileNotFoundError("no such device")

        def read(self, max_items: int) -> list[tuple[str, Item]]:
            raise AssertionError("not opened")

    g = Graph()
    sink = RecordingSink()
    g.chain(g.add(NoDevice(), "dev"), g.add(sink, "out"))
    with pytest.raises(NodeError, match="no such device") as info:
        await g.run()
    assert info.value.node == "dev" and info.value.position == "start of stream"
    assert sink.items == [] and sink.close_calls == 1


# -- sink failures --------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 5, 31])
async def test_sink_write_failure(n: int) -> None:
    g = Graph(buffer_size=4)
    sink, other = FailingSink(write_at=n), RecordingSink()
    src = g.add(audio(), "src")
    g.chain(src, g.add(PassThrough(), "op"), g.add(sink, "file"))
    g.connect(src, g.add(other, "mem"))
    with pytest.raises(NodeError) as info:
        await g.run()
    err = info.value
    assert type(err) is NodeError
    assert err.node == "file"
    assert err.position == f"t={n * FRAMES / RATE:.6f} s (frame {n * FRAMES} at {RATE} Hz)"
    assert isinstance(err.__cause__, PermissionError)
    # The broken sink got nothing more after the failing write.
    assert sink.attempts == n + 1
    assert starts(sink) == [i * FRAMES for i in range(n)]
    assert_closed_with(sink, err)
    assert_closed_with(other, err)
    assert starts(other) == [i * FRAMES for i in range(len(other.items))]


async def test_heavy_sink_write_failure() -> None:
    class HeavyFailingSink(FailingSink):
        heavy = True

    g = Graph(buffer_size=8)
    sink = HeavyFailingSink(write_at=12)
    g.chain(g.add(audio(), "src"), g.add(sink, "file"))
    with pytest.raises(NodeError) as info:
        await g.run()
    assert info.value.node == "file"
    assert f"frame {12 * FRAMES} at" in info.value.position
    assert sink.attempts == 13
    assert starts(sink) == [i * FRAMES for i in range(12)]
    assert_closed_with(sink, info.value)


async def test_sink_close_failure() -> None:
    g = Graph()
    sink, other = FailingSink(in_close=True), RecordingSink()
    src = g.add(audio(10), "src")
    g.connect(src, g.add(sink, "file"))
    g.connect(src, g.add(other, "mem"))
    with pytest.raises(NodeError) as info:
        await g.run()
    err = info.value
    assert err.node == "file"
    assert "close" in err.position and "end of stream" in err.position
    assert isinstance(err.__cause__, OSError) and "cannot finalise" in str(err)
    assert sink.close_calls == 1 and sink.error is None  # the run itself had succeeded
    assert len(sink.items) == 10 and len(other.items) == 10
    assert other.close_calls == 1


async def test_sink_close_failure_after_another_failure_keeps_the_first() -> None:
    g = Graph()
    sink = FailingSink(in_close=True)
    g.chain(g.add(audio(), "src"), g.add(FailAt(3), "bad"), g.add(sink, "file"))
    with pytest.raises(NodeError) as info:
        await g.run()
    assert info.value.node == "bad"
    assert sink.error is info.value


async def test_progress_callback_failure() -> None:
    def progress(stats: RunStats) -> None:
        raise ValueError("display broke")

    g = Graph()
    sink = RecordingSink()
    g.chain(g.add(audio(), "src"), g.add(sink, "out"))
    with pytest.raises(NodeError, match="display broke") as info:
        await g.run(progress=progress, progress_interval=0)
    assert info.value.node == "<progress callback>"
    assert isinstance(info.value.__cause__, ValueError)
    assert sink.close_calls == 1


def test_errors_pickle_with_their_details() -> None:
    cause = ZeroDivisionError("bad item 3")
    err = NodeError("meter", "t=1.000000 s (frame 48000 at 48000 Hz)", cause, 1.0)
    assert err.__cause__ is cause
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is NodeError and str(back) == str(err)
    assert (back.node, back.position, back.time) == ("meter", err.position, 1.0)
    assert isinstance(back.cause, ZeroDivisionError) and back.__cause__ is back.cause
    inc = pickle.loads(pickle.dumps(IncompatibleInputError("needs mono", port="b")))
    assert (str(inc), inc.port) == ("needs mono", "b")


def test_node_error_is_a_media_stream_error_and_run_sync_raises_it() -> None:
    assert issubclass(NodeError, MediaStreamError)
    for backend in ("asyncio", "trio"):
        g = Graph()
        g.chain(g.add(audio(), "src"), g.add(FailAt(2), "bad"), g.add(RecordingSink(), "out"))
        with pytest.raises(NodeError) as info:
            g.run_sync(backend=backend)
        assert type(info.value) is NodeError and info.value.node == "bad"


# -- cancellation ---------------------------------------------------------------------
async def test_cancelling_from_outside_closes_every_sink_and_stops_everything() -> None:
    counter = Counter()
    heavy = HeavyRecorder()
    g = Graph(buffer_size=4)
    sinks = [RecordingSink(), RecordingSink(), RecordingSink()]
    src = g.add(counting_audio(counter, None), "endless")
    g.chain(src, g.add(PassThrough(), "op"), g.add(sinks[0], "a"))
    g.chain(src, g.add(heavy, "heavy"), g.add(sinks[1], "b"))
    g.connect(src, g.add(sinks[2], "c"), buffer_size=1)
    # Cancelled from outside once data flows (a fixed short deadline could pass before
    # anything moved on a loaded machine).
    with anyio.fail_after(30), anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(g.run)
            while counter.produced < 200 or len(heavy.hops) < 2:
                await anyio.sleep(0.005)
            scope.cancel()
    assert scope.cancelled_caught
    assert counter.produced > 0
    for sink in sinks:
        assert sink.closed and sink.close_calls == 1
        assert sink.error is not None  # told that the output is incomplete
        assert isinstance(sink.error, anyio.get_cancelled_exc_class())
        assert [c.start for c in sink.chunks] == [i * 64 for i in range(len(sink.items))]
    produced, processed = counter.produced, len(heavy.hops)
    workers = threading.active_count()
    await anyio.sleep(0.05)
    assert (counter.produced, len(heavy.hops)) == (produced, processed)
    assert threading.active_count() <= workers
    assert g.last_stats is None


async def test_cancel_scope_from_another_task() -> None:
    counter = Counter()
    g = Graph()
    sink = RecordingSink()
    g.chain(g.add(counting_audio(counter, None), "endless"), g.add(sink, "out"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(g.run)
        with anyio.fail_after(5):
            while len(sink.items) < 100:
                await anyio.sleep(0.001)
        tg.cancel_scope.cancel()
    assert sink.close_calls == 1
    n = counter.produced
    await anyio.sleep(0.02)
    assert counter.produced == n


async def test_graph_runs_again_after_a_failure() -> None:
    op = FailAt(10)
    g = Graph()
    sink = RecordingSink()
    g.chain(g.add(audio(20), "src"), g.add(op, "op"), g.add(sink, "out"))
    with pytest.raises(NodeError):
        await g.run()
    op.index = None
    await g.run()
    assert len(sink.items) == 20 and sink.error is None


class _Unsorted(Operator):
    def process(self, item: Item) -> list[Item]:
        return [item, np.zeros(3)]  # type: ignore[list-item]


async def test_operator_emitting_a_non_item_fails_clearly() -> None:
    g = Graph()
    sink = RecordingSink()
    g.chain(g.add(audio(), "src"), g.add(_Unsorted(), "odd"), g.add(sink, "out"))
    with pytest.raises(NodeError, match="produced a ndarray") as info:
        await g.run()
    assert info.value.node == "odd"
