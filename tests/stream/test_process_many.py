"""``Operator.process_many``: the default equals ``process`` item by item, and the
runtime hands a heavy single-input operator that overrides it every queued item in
one call (light and multi-input operators keep the per-item path)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream import AudioChunk, EventSpec, Graph, Item, NodeError, Operator, StreamSpec
from tests.chunking import chunk_audio, cut_points

from .support import RATE, Counter, RecordingSink, counting_audio, noise

pytestmark = pytest.mark.anyio


class Difference(Operator):
    """y[n] = x[n] - x[n-1] per channel, carrying the previous frame across chunks."""

    accepts = frozenset({"audio"})

    def reset(self) -> None:
        self.prev: np.ndarray | None = None

    def process(self, item: Item) -> list[Item]:
        assert isinstance(item, AudioChunk)
        x = item.data
        prev = np.zeros((x.shape[0], 1), np.float32) if self.prev is None else self.prev
        self.prev = x[:, -1:].copy()
        y = np.diff(np.concatenate([prev, x], axis=1), axis=1)
        return [AudioChunk(y.astype(np.float32), item.sample_rate, item.start)]


class HeavyBatcher(Operator):
    """Heavy pass-through that overrides ``process_many`` and records every call.

    The first call waits on ``gate`` so that the input queues up behind it. ``fail_at``
    (a frame) makes the call whose batch holds that chunk raise.
    """

    heavy = True

    def __init__(self, gate: threading.Event | None = None, fail_at: int | None = None) -> None:
        self.gate = gate
        self.fail_at = fail_at
        self.batches: list[list[int]] = []
        self.singles = 0

    def process(self, item: Item) -> list[Item]:
        self.singles += 1
        return list(self.process_many([item]))

    def process_many(self, items: Sequence[Item]) -> list[Item]:
        if self.gate is not None and not self.batches:
            assert self.gate.wait(10), "gate never opened"
        starts = [i.start for i in items if isinstance(i, AudioChunk)]
        self.batches.append(starts)
        if self.fail_at is not None and self.fail_at in starts:
            raise ZeroDivisionError(f"bad chunk at frame {self.fail_at}")
        return list(items)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_default_process_many_equals_process_item_by_item(data: st.DataObject) -> None:
    x = noise(2, 600, seed=3)
    chunks = chunk_audio(x, RATE, data.draw(cut_points(x.shape[1])))
    groups = data.draw(cut_points(len(chunks), max_cuts=10))
    one, many = Difference(), Difference()
    one.reset()
    many.reset()
    expected = [o for c in chunks for o in one.process(c)]
    got: list[Item] = []
    for a, b in zip([0, *groups], [*groups, len(chunks)], strict=True):
        got.extend(many.process_many(chunks[a:b]))
    assert [c.start for c in got] == [c.start for c in expected]  # type: ignore[union-attr]
    np.testing.assert_array_equal(
        np.concatenate([c.data for c in got], axis=1),  # type: ignore[union-attr]
        np.concatenate([c.data for c in expected], axis=1),  # type: ignore[union-attr]
    )


async def test_a_heavy_operator_gets_its_backlog_in_one_process_many_call() -> None:
    gate = threading.Event()
    counter = Counter()

    def opened(produced: int) -> None:
        if produced >= 40:
            gate.set()

    op = HeavyBatcher(gate)
    g = Graph(buffer_size=32, max_batch=16)
    sink = RecordingSink()
    g.chain(
        g.add(counting_audio(counter, 200, on_produce=opened), "src"),
        g.add(op, "heavy"),
        g.add(sink, "out"),
    )
    await g.run()
    sizes = [len(b) for b in op.batches]
    assert op.singles == 0  # the runtime never called process()
    assert max(sizes) == 16  # capped by max_batch, and the backlog was handed over
    assert sum(sizes) == 200 and len(sizes) < 200
    assert [s for b in op.batches for s in b] == [i * 64 for i in range(200)]  # in order
    assert [c.start for c in sink.items] == [i * 64 for i in range(200)]  # type: ignore[union-attr]


async def test_light_and_multi_input_operators_keep_the_per_item_path() -> None:
    class Light(HeavyBatcher):
        heavy = False

    class TwoPorts(HeavyBatcher):
        input_ports = ("a", "b")

        def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
            return (EventSpec(),)

        def process_port(self, port: str, item: Item) -> list[Item]:
            self.singles += 1
            return []

    light = Light()
    g = Graph()
    g.chain(g.add(counting_audio(Counter(), 50), "src"), g.add(light, "op"), g.add(RecordingSink()))
    await g.run()
    assert light.singles == 50 and all(len(b) == 1 for b in light.batches)

    two = TwoPorts()
    g = Graph()
    node = g.add(two, "op")
    g.connect(g.add(counting_audio(Counter(), 50), "a"), node["a"])
    g.connect(g.add(counting_audio(Counter(), 50), "b"), node["b"])
    g.connect(node, g.add(RecordingSink(), "out"))
    await g.run()
    assert two.singles == 100 and two.batches == []


async def test_a_failing_batch_is_named_in_the_error() -> None:
    gate = threading.Event()

    def opened(produced: int) -> None:
        if produced >= 30:
            gate.set()

    op = HeavyBatcher(gate, fail_at=20 * 64)
    g = Graph(buffer_size=32)
    g.chain(
        g.add(counting_audio(Counter(), 100, on_produce=opened), "src"),
        g.add(op, "heavy"),
        g.add(RecordingSink(), "out"),
    )
    with pytest.raises(NodeError) as info:
        await g.run()
    batch = op.batches[-1]
    assert info.value.node == "heavy" and len(batch) > 1
    assert f"a batch of {len(batch)} items from" in info.value.position
    assert f"(frame {batch[0]} at {RATE} Hz)" in info.value.position
    assert f"(frame {batch[-1]} at {RATE} Hz)" in info.value.position
    assert isinstance(info.value.__cause__, ZeroDivisionError)
