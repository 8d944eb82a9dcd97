"""Small real nodes used by the runtime tests (no mocks).

Operators, sources and sinks here are ordinary subclasses of the public base classes,
each doing one observable thing: pass items through, hold them until ``flush()``, fail
at a given item, count what they produce, record threads...
"""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from sinks import MemorySink
from stream import (
    ArraySource,
    AudioChunk,
    AudioSpec,
    Event,
    EventSpec,
    IncompatibleInputError,
    Item,
    Operator,
    Source,
    StreamSpec,
)

RATE = 48_000


def noise(channels: int, frames: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """Deterministic float32 audio in [-1, 1), shaped ``(channels, frames)``."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(channels, frames)).astype(np.float32)


def tick(kind: str, start: int, end: int | None = None, payload: Any = None) -> Event[Any]:
    """An event timed in frames at :data:`RATE`."""
    return Event.from_frames(kind, start, start if end is None else end, RATE, payload)


# -- sources ---------------------------------------------------------------------------
class Counter:
    """Counts items a generator has produced (read from the event loop thread)."""

    def __init__(self) -> None:
        self.produced = 0


def counting_audio(
    counter: Counter,
    chunks: int | None,
    frames: int = 64,
    channels: int = 1,
    on_produce: Callable[[int], None] | None = None,
) -> ArraySource:
    """A generator-based audio source of ``chunks`` chunks (``None``: endless)."""

    def gen() -> Iterator[Item]:
        block = np.zeros((channels, frames), np.float32)
        for i in itertools.count() if chunks is None else range(chunks):
            counter.produced += 1
            if on_produce is not None:
                on_produce(counter.produced)
            block_i = block.copy()
            block_i[:, 0] = (i % 1000) / 1000.0
            yield AudioChunk(block_i, RATE, i * frames)

    return ArraySource(gen, AudioSpec(RATE, channels))


class TwoPortSource(Source):
    """Audio and events from one source, the events lagging ``lag`` chunks behind.

    Like a demuxer's interleaving: audio chunk ``i`` starts at ``i * frames``; event
    ``i`` covers the same chunk (end = start of chunk ``i``, so both sort at the same
    time) but is read only after chunk ``i + lag``.
    """

    blocking = False

    def __init__(self, chunks: int, lag: int, frames: int = 480) -> None:
        self.chunks = chunks
        self.lag = lag
        self.frames = frames
        self.opened: list[str] | None = None
        self.closed = 0
        self._it: Iterator[tuple[str, Item]] | None = None

    def specs(self) -> Mapping[str, StreamSpec]:
        return {"audio": AudioSpec(RATE, 1), "events": EventSpec(frozenset({"chunk"}))}

    def open(self, ports: Collection[str]) -> None:
        self.opened = sorted(ports)
        self._it = self._gen()

    def _gen(self) -> Iterator[tuple[str, Item]]:
        f = self.frames
        for i in range(self.chunks + self.lag):
            if i < self.chunks:
                yield "audio", AudioChunk(np.full((1, f), i, np.float32), RATE, i * f)
            j = i - self.lag
            if j >= 0:
                yield "events", tick("chunk", j * f, j * f, j)

    def read(self, max_items: int) -> list[tuple[str, Item]]:
        assert self._it is not None
        return list(itertools.islice(self._it, max_items))

    def close(self) -> None:
        self.closed += 1


class FailingSource(Source):
    """Audio chunks that fail to read at chunk ``fail_at`` (``read`` raises)."""

    blocking = False

    def __init__(self, fail_at: int, frames: int = 100) -> None:
        self.fail_at = fail_at
        self.frames = frames
        self.next = 0
        self.closed = 0

    def specs(self) -> Mapping[str, StreamSpec]:
        return {"audio": AudioSpec(RATE, 1)}

    def read(self, max_items: int) -> list[tuple[str, Item]]:
        out: list[tuple[str, Item]] = []
        for _ in range(max_items):
            if self.next == self.fail_at:
                if out:
                    return out  # deliver what was read, fail on the next read
                raise OSError(f"device unplugged before chunk {self.next}")
            block = np.zeros((1, self.frames), np.float32)
            chunk = AudioChunk(block, RATE, self.next * self.frames)
            out.append(("audio", chunk))
            self.next += 1
        return out

    def close(self) -> None:
        self.closed += 1


# -- operators -------------------------------------------------------------------------
class PassThrough(Operator):
    """Passes every item on unchanged; declares ``latency`` seconds."""

    def __init__(self, latency: Fraction = Fraction(0)) -> None:
        self._latency = Fraction(latency)
        self.seen = 0

    @property
    def latency(self) -> Fraction:
        return self._latency

    def process(self, item: Item) -> list[Item]:
        self.seen += 1
        return [item]


class RequireMono48k(Operator):
    """Accepts only mono audio at 48 kHz."""

    accepts = frozenset({"audio"})

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        (spec,) = inputs.values()
        if not isinstance(spec, AudioSpec) or spec.sample_rate != RATE or spec.channels != 1:
            raise IncompatibleInputError(f"RequireMono48k needs mono 48000 Hz audio, got {spec}")
        return (spec,)

    def process(self, item: Item) -> list[Item]:
        return [item]


class HoldUntilFlush(Operator):
    """Holds every item it receives; ``flush()`` releases them, then a marker event."""

    accepts = frozenset({"events"})

    def __init__(self, name: str) -> None:
        self.name = name
        self.held: list[Item] = []

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        return (EventSpec(),)

    def reset(self) -> None:
        self.held = []

    def process(self, item: Item) -> list[Item]:
        self.held.append(item)
        return []

    def flush(self) -> list[Item]:
        out, self.held = self.held, []
        end = max((i.end for i in out if isinstance(i, Event)), default=0)
        return [*out, tick("marker", end, end, self.name)]


class FailAt(Operator):
    """Passes items through; raises at the item with index ``index`` (0-based)."""

    def __init__(self, index: int | None = None, *, in_flush: bool = False) -> None:
        self.index = index
        self.in_flush = in_flush
        self.count = 0

    def process(self, item: Item) -> list[Item]:
        if self.count == self.index:
            raise ZeroDivisionError(f"bad item {self.count}")
        self.count += 1
        return [item]

    def flush(self) -> list[Item]:
        if self.in_flush:
            raise RuntimeError("cannot finish")
        return []


class EveryNth(Operator):
    """Audio in, one ``tick`` event per chunk whose index is a multiple of ``n``."""

    accepts = frozenset({"audio"})

    def __init__(self, n: int, kind: str) -> None:
        self.n = n
        self.kind = kind
        self.i = 0

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        super().configure(inputs)
        return (EventSpec(frozenset({self.kind})),)

    def reset(self) -> None:
        self.i = 0

    def process(self, item: Item) -> list[Item]:
        assert isinstance(item, AudioChunk)
        i, self.i = self.i, self.i + 1
        if i % self.n:
            return []
        return [Event.from_frames(self.kind, item.start, item.end, item.sample_rate, i)]


class TwoInputs(Operator):
    """Inputs ``a`` and ``b``; records ``(port, item)`` in arrival order, emits events."""

    input_ports = ("a", "b")

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, Item]] = []

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        return (EventSpec(),)

    def process(self, item: Item) -> list[Item]:  # pragma: no cover - ports are used
        raise AssertionError("process_port must be called")

    def process_port(self, port: str, item: Item) -> list[Item]:
        self.arrivals.append((port, item))
        return []


_hop: contextvars.ContextVar[int | None] = contextvars.ContextVar("hop", default=None)


class HeavyRecorder(Operator):
    """A heavy pass-through that records the thread and the worker call of every item.

    Every ``anyio.to_thread.run_sync`` call runs in its own copy of the caller's
    context, so a context variable set inside ``process`` identifies the call: items
    processed in the same thread hop share a hop number.

    ``gate`` (optional) is waited on by the first ``process`` call, so the input can
    queue up behind it.
    """

    heavy = True

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.threads: list[threading.Thread] = []
        self.hops: list[int] = []
        self.flush_thread: threading.Thread | None = None
        self._next_hop = itertools.count()

    def process(self, item: Item) -> list[Item]:
        if self.gate is not None and not self.hops:
            assert self.gate.wait(10), "gate never opened"
        hop = _hop.get()
        if hop is None:
            hop = next(self._next_hop)
            _hop.set(hop)
        self.hops.append(hop)
        self.threads.append(threading.current_thread())
        assert isinstance(item, AudioChunk)
        return [AudioChunk(item.data.copy(), item.sample_rate, item.start)]

    def flush(self) -> list[Item]:
        self.flush_thread = threading.current_thread()
        return []


# -- sinks -----------------------------------------------------------------------------
class RecordingSink(MemorySink):
    """A MemorySink that counts close() calls."""

    def __init__(self) -> None:
        super().__init__()
        self.close_calls = 0
        self.opened = 0

    def open(self) -> None:
        super().open()
        self.opened += 1

    def close(self, error: BaseException | None = None) -> None:
        self.close_calls += 1
        super().close(error)


class EventOnlySink(RecordingSink):
    accepts = frozenset({"events"})


class SlowSink(RecordingSink):
    """Sleeps ``delay`` seconds per write; records how far the producer ran ahead."""

    def __init__(self, counter: Counter, delay: float) -> None:
        super().__init__()
        self.counter = counter
        self.delay = delay
        self.ahead: list[int] = []

    def write(self, item: Item) -> None:
        # Produced but not yet consumed, counting this item as not yet consumed.
        self.ahead.append(self.counter.produced - len(self.items))
        time.sleep(self.delay)
        super().write(item)


class FailingSink(RecordingSink):
    """Raises in ``write`` at item ``write_at`` (0-based), or in ``close``."""

    def __init__(self, write_at: int | None = None, *, in_close: bool = False) -> None:
        super().__init__()
        self.write_at = write_at
        self.in_close = in_close
        self.attempts = 0

    def write(self, item: Item) -> None:
        n, self.attempts = self.attempts, self.attempts + 1
        if n == self.write_at:
            raise PermissionError("disk full")
        super().write(item)

    def close(self, error: BaseException | None = None) -> None:
        super().close(error)
        if self.in_close:
            raise OSError("cannot finalise")


@dataclass(frozen=True)
class Reading:
    """A small typed payload for events."""

    level_db: float
    label: str
    ratio: Fraction


__all__ = [
    "RATE",
    "Counter",
    "EventOnlySink",
    "EveryNth",
    "FailAt",
    "FailingSink",
    "FailingSource",
    "HeavyRecorder",
    "HoldUntilFlush",
    "PassThrough",
    "Reading",
    "RecordingSink",
    "RequireMono48k",
    "SlowSink",
    "TwoInputs",
    "TwoPortSource",
    "counting_audio",
    "noise",
    "tick",
]
