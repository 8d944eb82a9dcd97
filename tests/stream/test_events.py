"""graph.events(): every event, on both backends; early stop; errors to the consumer."""

from __future__ import annotations

import anyio
import pytest

from sinks import MemorySink
from stream import (
    ArraySource,
    Event,
    Graph,
    GraphError,
    NodeError,
)
from tests.stream.support import (
    RATE,
    Counter,
    EveryNth,
    FailAt,
    PassThrough,
    RecordingSink,
    counting_audio,
    noise,
)

pytestmark = pytest.mark.anyio


def meter_graph(chunks: int = 200) -> Graph:
    g = Graph(buffer_size=4)
    src = g.add(ArraySource.audio(noise(1, 480 * chunks), RATE, 480), "src")
    g.chain(src, g.add(EveryNth(1, "level"), "meter"))
    g.chain(src, g.add(EveryNth(10, "peak"), "peaks"), g.add(RecordingSink(), "log"))
    g.chain(src, g.add(PassThrough(), "audio"), g.add(RecordingSink(), "out"))
    return g


async def test_events_yields_every_event_of_every_event_producer() -> None:
    g = meter_graph()
    got: list[Event[object]] = []
    async with g.events() as events:
        async for e in events:
            got.append(e)
    levels = [e for e in got if e.kind == "level"]
    peaks = [e for e in got if e.kind == "peak"]
    assert len(got) == 220
    assert [e.payload for e in levels] == list(range(200))  # each producer in order
    assert [e.payload for e in peaks] == list(range(0, 200, 10))
    log = g.node("log")
    assert isinstance(log, MemorySink) and log.events == peaks  # the sink got them too
    assert events.stats is not None and events.stats.finished
    assert g.last_stats is events.stats
    assert events.stats.nodes["<events>"].items_in == 220


async def test_events_of_chosen_nodes_with_plain_async_for() -> None:
    g = meter_graph(50)
    got = [e async for e in g.events("peaks")]
    assert [e.kind for e in got] == ["peak"] * 5


async def test_events_without_an_event_producer() -> None:
    g = Graph()
    g.chain(g.add(ArraySource.audio(noise(1, 100), RATE), "src"), g.add(MemorySink(), "out"))
    with pytest.raises(GraphError, match="no node in the graph produces events"):
        async with g.events():
            pass
    with pytest.raises(GraphError, match="no node named 'x'"):
        g.events("x")


async def test_early_break_stops_the_graph_cleanly() -> None:
    counter = Counter()
    g = Graph(buffer_size=2)
    sink = RecordingSink()
    src = g.add(counting_audio(counter, None), "endless")
    g.chain(src, g.add(EveryNth(1, "level"), "meter"))
    g.chain(src, g.add(PassThrough(), "op"), g.add(sink, "out"))
    got = []
    with anyio.fail_after(10):
        async with g.events(buffer_size=1) as events:
            async for e in events:
                got.append(e)
                if len(got) == 30:
                    break
    assert [e.payload for e in got] == list(range(30))
    assert sink.close_calls == 1 and sink.closed
    n = counter.produced
    await anyio.sleep(0.02)
    assert counter.produced == n  # nothing is left running


async def test_error_reaches_the_consumer_as_node_error() -> None:
    g = Graph()
    sink = RecordingSink()
    src = g.add(ArraySource.audio(noise(1, 480 * 100), RATE, 480), "src")
    g.chain(src, g.add(FailAt(40), "bad"), g.add(EveryNth(1, "level"), "meter"))
    g.chain(src, g.add(sink, "out"))
    got: list[Event[object]] = []
    with anyio.fail_after(10), pytest.raises(NodeError) as info:
        async with g.events() as events:
            async for e in events:
                got.append(e)
    err = info.value
    assert type(err) is NodeError  # not wrapped in an ExceptionGroup
    assert err.node == "bad" and f"frame {40 * 480} at" in err.position
    assert isinstance(err.__cause__, ZeroDivisionError)
    assert [e.payload for e in got] == list(range(len(got)))
    assert len(got) <= 40
    assert sink.close_calls == 1 and sink.error is err


async def test_error_reaches_a_plain_async_for() -> None:
    g = Graph()
    src = g.add(ArraySource.audio(noise(1, 480 * 100), RATE, 480), "src")
    g.chain(src, g.add(EveryNth(1, "level"), "meter"), g.add(FailAt(7), "bad"))
    with anyio.fail_after(10), pytest.raises(NodeError) as info:
        async for _ in g.events("meter"):
            pass
    assert type(info.value) is NodeError and info.value.node == "bad"


async def test_consumer_exception_propagates_unchanged_and_stops_the_graph() -> None:
    counter = Counter()
    g = Graph()
    sink = RecordingSink()
    src = g.add(counting_audio(counter, None), "endless")
    g.chain(src, g.add(EveryNth(1, "level"), "meter"))
    g.chain(src, g.add(sink, "out"))
    with anyio.fail_after(10), pytest.raises(KeyError) as info:
        async with g.events() as events:
            async for e in events:
                if e.payload == 5:
                    raise KeyError("consumer")
    assert info.value.args == ("consumer",)
    assert sink.close_calls == 1


async def test_outer_cancellation_while_consuming_events() -> None:
    counter = Counter()
    g = Graph()
    sink = RecordingSink()
    src = g.add(counting_audio(counter, None), "endless")
    g.chain(src, g.add(EveryNth(1, "level"), "meter"))
    g.chain(src, g.add(sink, "out"))
    n = 0
    # Cancelled from outside once events flow (not after a fixed time: a loaded
    # machine may take longer than any small deadline to deliver the first one).
    with anyio.fail_after(30), anyio.CancelScope() as scope:
        async with g.events() as events:
            async for _ in events:
                n += 1
                if n == 5:
                    scope.cancel()
    assert scope.cancelled_caught and n >= 5
    assert sink.close_calls == 1


def test_events_on_both_backends_from_sync_code() -> None:
    for backend in ("asyncio", "trio"):
        g = meter_graph(30)

        async def collect(graph: Graph = g) -> list[str]:
            async with graph.events() as events:
                return [e.kind async for e in events]

        kinds = anyio.run(collect, backend=backend)
        assert kinds.count("level") == 30 and kinds.count("peak") == 3
