"""Fan-in: merging several input edges of one node.

Ordered merges (the default for operators and sinks) release items in time order:
an item at time t leaves only when every other input has either an item at or after
t buffered, a :class:`~stream.Bound` at or after t, or has ended.  Ties go to the
input that was connected first, so the result is deterministic.

Each input is read by its own reader task into a small buffer.  A reader stops
reading (backpressure) when its buffer holds ``capacity`` items, unless the merge is
waiting on another, empty input: then it keeps reading, up to ``max_skew`` seconds of
media, so that two edges fed by one source (audio and video of one file, interleaved
by the demuxer) cannot deadlock each other.  This is GStreamer multiqueue's rule with a
limit in media time, so memory stays bounded.

Unordered merges release items in arrival order (used by ``graph.events()``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream

from ._exceptions import NodeError
from ._items import EOS, Bound, Item, describe_position, item_time

__all__ = ["Merger", "MergeInput"]

_CHECKPOINT_EVERY = 64  # items a reader takes without waiting before it yields anyway


@dataclass(eq=False)
class MergeInput:
    """One input edge of a merging node."""

    port: str
    upstream: str
    recv: MemoryObjectReceiveStream[object]
    buf: deque[tuple[Fraction, Item]] = field(default_factory=deque)
    bound: Fraction | None = None
    ended: bool = False


class Merger:
    """Merges several input edges of node ``node`` (see module docs)."""

    def __init__(
        self,
        node: str,
        inputs: list[MergeInput],
        *,
        ordered: bool,
        capacity: int,
        max_skew: Fraction | None,
    ) -> None:
        self.node = node
        self.inputs = inputs
        self.ordered = ordered
        self.capacity = max(1, capacity)
        self.max_skew = max_skew
        self._changed = anyio.Event()
        self._readers_waiting = 0
        self.received = 0  # items, bounds and EOS taken from the edges (stall detection)
        self._getter_waiting = False
        self._frontier: Fraction | None = None
        self._arrivals: deque[tuple[str, Item]] = deque()  # unordered mode

    # -- notification ---------------------------------------------------------------
    def _notify(self) -> None:
        event = self._changed
        self._changed = anyio.Event()
        event.set()

    # -- readers ----------------------------------------------------------------------
    async def run_readers(self) -> None:
        """Run one reader task per input until every input has ended."""
        async with anyio.create_task_group() as tg:
            for inp in self.inputs:
                tg.start_soon(self._reader, inp)

    async def _reader(self, inp: MergeInput) -> None:
        recv = inp.recv
        since_checkpoint = 0
        while True:
            if since_checkpoint >= _CHECKPOINT_EVERY:
                since_checkpoint = 0
                await anyio.lowlevel.checkpoint()  # fairness, cancellation
            try:
                # What is queued is taken without a trip through the event loop
                # (``receive()`` always yields first: one loop iteration per item).
                try:
                    item = recv.receive_nowait()
                    since_checkpoint += 1
                except anyio.WouldBlock:
                    since_checkpoint = 0
                    item = await recv.receive()
                self.received += 1
            except anyio.EndOfStream:
                # Closed without end of stream: the upstream failed or was cancelled, and
                # so is this node; do not mistake it for the end of that input.
                await anyio.lowlevel.checkpoint()
                if anyio.current_effective_deadline() == -math.inf:
                    await anyio.sleep_forever()  # pragma: no cover - cancellation lands first
                raise RuntimeError(
                    f"{inp.upstream!r} closed its edge to {self.node!r} without end of stream"
                ) from None
            if item is EOS:
                inp.ended = True
                self._notify()
                return
            if type(item) is Bound:
                if inp.bound is None or item.time > inp.bound:
                    inp.bound = item.time
                    # Only the getter can use a bound (a reader waits while others are
                    # empty and behind; a bound never makes that wait shorter).
                    if self._getter_waiting:
                        self._notify()
                continue
            data: Item = item  # type: ignore[assignment]
            t = item_time(data)
            if self.ordered:
                if inp.bound is not None and t < inp.bound:
                    raise NodeError(
                        inp.upstream,
                        describe_position(data),
                        ValueError(
                            f"items on edge {inp.upstream!r} -> {self.node!r} went back in time "
                            f"({float(t):.6f} s after {float(inp.bound):.6f} s); "
                            "joins need non-decreasing timestamps"
                        ),
                        float(t),
                    )
                inp.buf.append((t, data))
                inp.bound = t
            else:
                self._arrivals.append((inp.port, data))
            if self._getter_waiting:
                self._notify()
            while self._must_wait(inp):
                event = self._changed
                self._readers_waiting += 1
                try:
                    await event.wait()
                finally:
                    self._readers_waiting -= 1

    def _must_wait(self, inp: MergeInput) -> bool:
        if not self.ordered:
            return len(self._arrivals) >= self.capacity * len(self.inputs)
        if len(inp.buf) < self.capacity:
            return False
        head = inp.buf[0][0]
        if self._at_max_skew(inp):
            return True
        # Keep reading while the merge waits on another input that has nothing buffered.
        for other in self.inputs:
            if other is inp or other.ended or other.buf:
                continue
            if other.bound is None or other.bound <= head:
                return False
        return True

    def _at_max_skew(self, inp: MergeInput) -> bool:
        return (
            self.max_skew is not None
            and bool(inp.buf)
            and inp.buf[-1][0] - inp.buf[0][0] >= self.max_skew
        )

    def describe_stall(self) -> tuple[str, float | None] | None:
        """Why this join cannot move, if an input waits at ``max_skew``: message, time."""
        # A reader whose buffer spans max_skew is waiting (see _must_wait).
        ahead = [inp for inp in self.inputs if self._at_max_skew(inp)]
        if not ahead or self.max_skew is None:
            return None
        empty = [inp for inp in self.inputs if not inp.ended and not inp.buf]
        first = ahead[0]
        head = float(first.buf[0][0])
        span = float(first.buf[-1][0] - first.buf[0][0])
        waiting_for = ", ".join(repr(inp.upstream) for inp in empty) or "another input"
        msg = (
            f"join stalled: its input from {first.upstream!r} is {span:.3f} s ahead "
            f"(allowed {float(self.max_skew):g} s: max_skew_s plus the spread of the inputs' "
            "latencies) "
            f"while {waiting_for} has sent nothing for t >= {head:.3f} s. "
            "Inputs fed by one source drifted apart: e.g. a file whose streams have "
            "different lengths or are not interleaved. Pass a larger Graph(max_skew_s=...) "
            "(math.inf: no limit, memory grows with the drift) or split the graph."
        )
        return msg, head

    # -- getter -----------------------------------------------------------------------
    def _try_release(self) -> tuple[str, Item | Bound] | None:
        if not self.ordered:
            if self._arrivals:
                return self._arrivals.popleft()
            return None
        best: MergeInput | None = None
        best_i = -1
        best_t = Fraction(0)
        for i, inp in enumerate(self.inputs):
            if inp.buf:
                t = inp.buf[0][0]
                if best is None or t < best_t:
                    best, best_i, best_t = inp, i, t
        if best is not None:
            for j, other in enumerate(self.inputs):
                if other is best or other.buf or other.ended:
                    continue
                b = other.bound
                if b is None or b < best_t or (b == best_t and j < best_i):
                    break  # must wait for that input
            else:
                _, item = best.buf.popleft()
                self._frontier = best_t
                return best.port, item
        # Nothing releasable: report how far every input has promised to be.
        frontier: Fraction | None = None
        for inp in self.inputs:
            if inp.ended:
                continue
            b = inp.buf[0][0] if inp.buf else inp.bound
            if b is None:
                return None
            if frontier is None or b < frontier:
                frontier = b
        if frontier is not None and (self._frontier is None or frontier > self._frontier):
            self._frontier = frontier
            return "", Bound(frontier)
        return None

    def _finished(self) -> bool:
        if self._arrivals:
            return False
        return all(inp.ended and not inp.buf for inp in self.inputs)

    def get_nowait(self) -> tuple[str, Item | Bound] | None:
        """The next releasable item, or None if none can leave without waiting."""
        released = self._try_release()
        if released is not None and self._readers_waiting:
            self._notify()
        return released

    async def get(self) -> tuple[str, object]:
        """The next item in merge order; ``EOS`` once every input has ended."""
        while True:
            event = self._changed
            released = self.get_nowait()
            if released is not None:
                return released
            if self._finished():
                return "", EOS
            self._getter_waiting = True
            try:
                await event.wait()
            finally:
                self._getter_waiting = False

    def drain_by_input(self) -> list[list[Item]]:
        """Everything buffered, per input in arrival order (to save results after a failure).

        An unordered merge keeps one arrival queue: it is returned with the first input.
        """
        out: list[list[Item]] = []
        for inp in self.inputs:
            out.append([item for _, item in inp.buf])
            inp.buf.clear()
        if self._arrivals and out:
            out[0][:0] = [item for _, item in self._arrivals]
            self._arrivals.clear()
        return out
