"""Executing a validated graph on anyio.

One task per node; edges are bounded memory object streams, so a slow consumer
stops its producer (backpressure by construction). Light nodes run inline on the
event loop; heavy ones run in a worker thread, handed every queued item at once so
that the thread hop (150-300 us) is paid per batch, never per item.

Fast path: an item is passed with ``send_nowait``/``receive_nowait`` and the task
only awaits when a buffer is full or empty (plus a checkpoint every
``_CHECKPOINT_EVERY`` items for fairness and cancellation).

Bounds (for joins downstream) are sent lazily: a node keeps the latest one it could
send and sends it just before it waits (for input or for room in an output), at each
checkpoint and after each heavy batch, so no join waits on a bound its producer has
not sent while that producer waits too; one Bound per batch instead of one per item.

Failure: the first exception in any node is recorded as a :class:`NodeError` (node
name and stream position), the whole graph is cancelled, every sink writes what it
had already received and closes with that error, and the error is raised to the
caller. A sink that failed itself gets nothing more before its close. Errors that only
follow from the first (a send into an edge whose consumer was cancelled) are not
errors. Cancelled from outside, every sink closes with the cancellation as its error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from fractions import Fraction
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
from anyio import CancelScope, WouldBlock
from anyio.streams.memory import MemoryObjectSendStream

from ._exceptions import GraphError, NodeError
from ._items import (
    EOS,
    AudioChunk,
    Bound,
    Event,
    Item,
    VideoFrame,
    describe_position,
    item_end_time,
    item_time,
)
from ._merge import MergeInput, Merger
from ._nodes import Operator, Sink, Source
from ._plan import Plan, RunSettings
from ._stats import NodeStats, RunStats

__all__ = ["EventTap", "execute"]

_CHECKPOINT_EVERY = 64
_SOURCE_BATCH = 16
_SAMPLE_EVERY_S = 0.05
_STALL_AFTER_S = 1.0  # nothing moved and nothing worked for this long: a deadlock
_KIND_TYPES: dict[str, type] = {"audio": AudioChunk, "video": VideoFrame, "events": Event}

SendList = list[MemoryObjectSendStream[object]]


class EventTap(Sink):
    """Internal sink behind ``graph.events()``: forwards events to the consumer."""

    accepts = frozenset({"events"})

    def __init__(self, send: MemoryObjectSendStream[Any]) -> None:
        self.send = send

    def write(self, item: Item) -> None:  # pragma: no cover - awrite is used
        raise RuntimeError("EventTap is written asynchronously")

    async def awrite(self, item: Item) -> None:
        await self.send.send(item)


class _Context:
    """Shared state of one run: the first error and the scope to cancel."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.scope: CancelScope | None = None
        # Work outside the graph's queues in progress (worker threads, reads, the
        # events() consumer), and how many such waits have begun: stall detection.
        self.busy = 0
        self.busy_epoch = 0

    async def work(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Await ``fn(*args)``, counted as work in progress (not a wait on a queue)."""
        self.busy += 1
        self.busy_epoch += 1
        try:
            return await fn(*args)
        finally:
            self.busy -= 1

    def fail(self, exc: BaseException) -> BaseException:
        """Record ``exc`` unless an error was recorded first; cancel the graph.

        Returns the error the run will raise (the first one).
        """
        if self.error is None:
            self.error = exc
        if self.scope is not None:
            self.scope.cancel()
        return self.error


def _first_error(exc: BaseException) -> Exception | None:
    """The first ordinary exception in ``exc`` (unwrapping exception groups), if any."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_error(inner)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, Exception) else None


def _position(item: object) -> tuple[str, float | None]:
    if isinstance(item, (AudioChunk, VideoFrame, Event)):
        return describe_position(item), float(item_time(item))
    return describe_position(item), None


class _Runner:
    """Runs one node."""

    def __init__(
        self,
        name: str,
        obj: Any,
        stats: NodeStats,
        ctx: _Context,
        inputs: list[MergeInput],
        outputs: dict[str, SendList],
        *,
        ordered: bool,
        needs_bounds: bool,
        capacity: int,
        max_skew: Fraction,
        max_batch: int,
    ) -> None:
        self.name = name
        self.obj = obj
        self.stats = stats
        self.ctx = ctx
        self.inputs = inputs
        self.outputs = outputs
        self.needs_bounds = needs_bounds
        self.max_batch = max_batch
        self.current: object = None  # item being handled, for error positions
        self.last: object = None  # last data item seen, for media time
        self.closing = False  # in the node's close(), for error positions
        self.started = 0.0
        self.ended = 0.0
        self._since_checkpoint = 0
        self._merger_args = (ordered, capacity, max_skew)
        self.merger: Merger | None = None
        self._bounds_sent: dict[str, Fraction] = {}
        # Bounds are sent lazily (see _emit): the last consumed item (or Bound) whose
        # bounds are not sent yet, the outputs being emitted and where, and whether a
        # flush of bounds is under way.
        self._pending: object = None
        self._step_outs: Sequence[Item] = ()
        self._step_i = 0
        self._flushing = False
        # type -> list of send streams; a declared port with no consumer maps to [].
        self.route: dict[type, SendList] = {}
        for port, sends in outputs.items():
            kind_type = _KIND_TYPES.get(port)
            if kind_type is not None:
                self.route[kind_type] = sends

    # -- queue depth ------------------------------------------------------------------
    def queue_depth(self) -> int:
        depth = 0
        for inp in self.inputs:
            depth += inp.recv.statistics().current_buffer_used + len(inp.buf)
        return depth

    # -- input ------------------------------------------------------------------------
    def _sample_depth(self) -> None:
        # Nodes that run inline hold the event loop while they drain their input, so the
        # sampler task sees it empty; the node samples its backlog itself each time it
        # wakes up on new input (the moment the upstream has just refilled it).
        depth = self.queue_depth()
        stats = self.stats
        stats.queue_depth = depth
        if depth > stats.max_queue_depth:
            stats.max_queue_depth = depth

    async def _next(self) -> tuple[str, object]:
        if self.merger is not None:
            got = self.merger.get_nowait()
            if got is not None:
                return got
            if self._pending is not None:
                await self._flush_bounds()  # about to wait: promise what is known
            t0 = time.perf_counter()
            result = await self.merger.get()
            self.stats.wait_in_s += time.perf_counter() - t0
            self._since_checkpoint = 0
            self._sample_depth()
            return result
        inp = self.inputs[0]
        try:
            return inp.port, inp.recv.receive_nowait()
        except WouldBlock:
            if self._pending is not None:
                await self._flush_bounds()  # about to wait: promise what is known
            t0 = time.perf_counter()
            try:
                item = await inp.recv.receive()
            except anyio.EndOfStream:
                item = await self._upstream_closed()
            self.stats.wait_in_s += time.perf_counter() - t0
            self._since_checkpoint = 0
            self._sample_depth()
            return inp.port, item
        except anyio.EndOfStream:
            return inp.port, await self._upstream_closed()

    async def _upstream_closed(self) -> object:
        """The upstream closed its edge without sending EOS: it failed or was cancelled.

        The graph is being cancelled; let that land here rather than flushing.
        """
        await anyio.lowlevel.checkpoint()
        if self.ctx.error is not None or anyio.current_effective_deadline() == -math.inf:
            await anyio.sleep_forever()  # pragma: no cover - cancellation lands first
        raise RuntimeError(f"an upstream of {self.name!r} closed its edge without end of stream")

    def _next_nowait(self) -> tuple[str, object] | None:
        """The next item if one is queued, for batching heavy nodes."""
        if self.merger is not None:
            return self.merger.get_nowait()
        inp = self.inputs[0]
        try:
            return inp.port, inp.recv.receive_nowait()
        except (WouldBlock, anyio.EndOfStream):
            return None

    # -- output -----------------------------------------------------------------------
    async def _send(self, sends: SendList, item: object) -> None:
        for s in sends:
            try:
                s.send_nowait(item)
            except WouldBlock:
                if self._pending is not None and not self._flushing:
                    await self._flush_bounds(s)  # about to wait: promise what is known
                t0 = time.perf_counter()
                await s.send(item)
                self.stats.wait_out_s += time.perf_counter() - t0
                self._since_checkpoint = 0

    async def _emit(self, outs: Sequence[Item], after: object) -> None:
        """Send ``outs``, the outputs of consuming ``after`` (an item or a Bound; None
        at the end of the stream).

        The bounds that consuming ``after`` allows are not sent right away: they wait
        in ``_pending`` (only the latest counts) until this node is about to wait for
        input or for room in an output, or has run ``_CHECKPOINT_EVERY`` items without
        a checkpoint: a join downstream gets every bound it could be waiting for
        before this node waits, one Bound per flush instead of one per item.
        """
        route = self.route
        if not self.needs_bounds:
            for o in outs:
                sends = route.get(type(o))
                if sends is None:
                    sends = self._route_slow(o)
                if sends:
                    await self._send(sends, o)
            self.stats.items_out += len(outs)
            return
        if outs:
            self._step_outs = outs  # for a flush while emitting (see _flush_bounds)
            for i, o in enumerate(outs):
                sends = route.get(type(o))
                if sends is None:
                    sends = self._route_slow(o)
                if sends:
                    self._step_i = i
                    await self._send(sends, o)
            self._step_outs = ()
        self.stats.items_out += len(outs)
        if after is not None:
            self._pending = after

    def _route_slow(self, o: object) -> SendList:
        for kind_type, sends in self.route.items():
            if isinstance(o, kind_type):
                return sends
        declared = ", ".join(self.outputs) or "none"
        raise TypeError(f"produced a {type(o).__name__} but its declared outputs are: {declared}")

    async def _flush_bounds(self, blocked: object = None) -> None:
        """Send the bounds deferred by :meth:`_emit`, each where it advanced.

        Between items: ``op.bound`` of the last consumed item's time, as if sent right
        after it. While emitting (a send to ``blocked`` found its edge full): the
        state is already past the item being emitted, so each output's bound is also
        capped by the times of that item's outputs not sent yet on it (``blocked``
        gets none: its next item follows).
        """
        pending = self._pending
        if pending is None or self._flushing:
            return
        outs = self._step_outs
        unsent = outs[self._step_i :] if outs else ()
        step = self.current if unsent else pending
        if type(step) is Bound:
            frontier = step.time
        elif isinstance(step, (AudioChunk, VideoFrame, Event)):
            frontier = item_time(step)
        else:  # pragma: no cover - emitting happens while consuming an item
            return
        self._pending = None
        self._flushing = True
        try:
            op: Operator | None = self.obj if isinstance(self.obj, Operator) else None
            bound = op.bound(frontier) if op is not None else frontier
            for port, sends in self.outputs.items():
                if not sends:
                    continue
                b = bound
                for o in unsent:
                    if (self.route.get(type(o)) or self._route_slow(o)) is sends:
                        t = item_time(o)
                        if t < b:
                            b = t
                last = self._bounds_sent.get(port)
                if last is None or b > last:
                    self._bounds_sent[port] = b
                    msg = Bound(b)
                    await self._send([s for s in sends if s is not blocked], msg)
        finally:
            self._flushing = False

    async def _finish_outputs(self) -> None:
        for sends in self.outputs.values():
            for s in sends:
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await s.send(EOS)
                s.close()

    async def _maybe_checkpoint(self) -> None:
        self._since_checkpoint += 1
        if self._since_checkpoint >= _CHECKPOINT_EVERY:
            self._since_checkpoint = 0
            if self._pending is not None:
                await self._flush_bounds()
            await anyio.lowlevel.checkpoint()

    # -- failures ---------------------------------------------------------------------
    def _where(self) -> tuple[str, float | None]:
        """Where in the stream this node is, for an error message: position and seconds."""
        if self.closing:
            return f"close, after {describe_position(self.current)}", None
        position, t = _position(self.current)
        if self.current is EOS and self.last is not None:
            position = f"end of stream (after {describe_position(self.last)})"
        return position, t

    def _fail(self, exc: Exception) -> BaseException:
        """Record that this node failed with ``exc`` (first error wins) and cancel the graph.

        Returns the error the run will raise.
        """
        if isinstance(exc, NodeError):
            return self.ctx.fail(exc)
        position, t = self._where()
        return self.ctx.fail(NodeError(self.name, position, exc, t))  # exc is its __cause__

    def media_end(self) -> Fraction | None:
        """The furthest media time this node has seen, seconds."""
        if self.last is None:
            return None
        return item_end_time(self.last)  # type: ignore[arg-type]

    # -- running ----------------------------------------------------------------------
    async def run(self) -> None:
        self.started = time.perf_counter()
        try:
            if len(self.inputs) > 1:
                ordered, capacity, max_skew = self._merger_args
                self.merger = Merger(
                    self.name, self.inputs, ordered=ordered, capacity=capacity, max_skew=max_skew
                )
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._merger_readers)
                    await self._main()
            else:
                await self._main()
        except BaseException as raised:
            exc = _first_error(raised)
            if exc is None:
                raise  # cancellation, KeyboardInterrupt...
            if isinstance(exc, (anyio.BrokenResourceError, anyio.ClosedResourceError)) and (
                self.ctx.error is not None or anyio.current_effective_deadline() == -math.inf
            ):
                # A consumer closed its edge because it failed (already recorded) or was
                # cancelled: this node is being cancelled too, it did not fail.
                await anyio.sleep_forever()
            self._fail(exc)  # a no-op if this node already recorded it
        finally:
            for inp in self.inputs:
                inp.recv.close()
            for sends in self.outputs.values():
                for s in sends:
                    s.close()
            self.ended = time.perf_counter()
            self.stats.finished = True

    async def _merger_readers(self) -> None:
        assert self.merger is not None
        try:
            await self.merger.run_readers()
        except BaseException as raised:
            # Record it before the cancellation reaches this node's main task, so that
            # a sink closing there is told about the error.
            exc = _first_error(raised)
            if exc is not None:
                self._fail(exc)
            raise

    async def _main(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class _SourceRunner(_Runner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading = False  # in open() or read(), for error positions
        self.latest: dict[str, object] = {}  # last item per port, for media time

    def _where(self) -> tuple[str, float | None]:
        if self.reading and not self.closing:
            # read() failed: the position is just after the last item delivered.
            if self.last is None:
                return describe_position(None), None
            end = self.media_end()
            return (
                f"the read after {describe_position(self.last)}",
                None if end is None else float(end),
            )
        return super()._where()

    def media_end(self) -> Fraction | None:
        # Ports interleave (a demuxer's video lags its audio): the furthest of them.
        ends = [item_end_time(item) for item in self.latest.values()]  # type: ignore[arg-type]
        return max(ends) if ends else None

    async def _main(self) -> None:
        source: Source = self.obj
        stats = self.stats
        ports = [p for p, sends in self.outputs.items() if sends]
        latest = self.latest
        failure: BaseException | None = None
        try:
            self.reading = True
            if source.blocking:
                await self.ctx.work(anyio.to_thread.run_sync, source.open, ports)
            else:
                source.open(ports)
            while True:
                self.reading = True
                t0 = time.perf_counter()
                batch = await self.ctx.work(source.aread, _SOURCE_BATCH)
                stats.process_s += time.perf_counter() - t0
                self.reading = False
                if not batch:
                    break
                for port, item in batch:
                    self.current = item
                    latest[port] = item
                    sends = self.outputs.get(port)
                    if sends:
                        await self._send(sends, item)
                    stats.items_out += 1
                self.last = batch[-1][1]
                await self._maybe_checkpoint()
            self.current = EOS
            await self._finish_outputs()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self.closing = True
            try:
                source.close()
            except Exception as exc:
                if failure is None:
                    raise  # the run was fine until close(): that is the error
                # Keep the first error; do not let this one replace it.
                first = _first_error(failure) or self.ctx.error
                if first is not None:
                    first.add_note(f"{self.name}: close() also failed: {exc!r}")
            self.closing = False


class _OperatorRunner(_Runner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A heavy single-input operator that overrides process_many gets each batch in
        # one call; the items of the batch it is processing, for error positions.
        op: Operator = self.obj
        self.many = (
            op.heavy
            and len(op.input_ports) == 1
            and type(op).process_many is not Operator.process_many
        )
        self.batch: list[Any] = []

    def _where(self) -> tuple[str, float | None]:
        position, t = super()._where()
        if len(self.batch) > 1 and self.current is self.batch[0] and not self.closing:
            last = describe_position(self.batch[-1])
            position = f"a batch of {len(self.batch)} items from {position} to {last}"
        return position, t

    async def _main(self) -> None:
        op: Operator = self.obj
        stats = self.stats
        multi = len(op.input_ports) > 1
        process = op.process
        process_port = op.process_port
        op.reset()
        while True:
            port, item = await self._next()
            if op.heavy and item is not EOS and type(item) is not Bound:
                pending = await self._run_heavy_batch((port, item), multi)
                if pending is None:
                    continue
                port, item = pending
            if item is EOS:
                await self._flush_bounds()  # before flush() changes what bound() says
                await self._flush()
                return
            if type(item) is Bound:
                if self.needs_bounds:
                    self._pending = item  # forwarded lazily, like any bound (see _emit)
                continue
            self.current = item
            t0 = time.perf_counter()
            outs = process_port(port, item) if multi else process(item)  # type: ignore[arg-type]
            stats.process_s += time.perf_counter() - t0
            stats.items_in += 1
            self.last = item
            if outs or self.needs_bounds:
                await self._emit(outs, item)
            await self._maybe_checkpoint()

    async def _flush(self) -> None:
        op: Operator = self.obj
        self.current = EOS
        t0 = time.perf_counter()
        outs = await self.ctx.work(anyio.to_thread.run_sync, op.flush) if op.heavy else op.flush()
        self.stats.process_s += time.perf_counter() - t0
        await self._emit(outs, None)
        await self._finish_outputs()

    async def _run_heavy_batch(
        self, first: tuple[str, object], multi: bool
    ) -> tuple[str, object] | None:
        """Process ``first`` and every data item queued behind it in one thread hop
        (in one ``process_many`` call when the operator overrides it).

        Returns the control item (EOS or a bound) that ended the batch, if any.
        """
        batch: list[tuple[str, Any]] = [first]
        pending: tuple[str, object] | None = None
        while len(batch) < self.max_batch:
            nxt = self._next_nowait()
            if nxt is None:
                break
            if nxt[1] is EOS or type(nxt[1]) is Bound:
                pending = nxt
                break
            batch.append(nxt)
        t0 = time.perf_counter()
        outs = await self.ctx.work(anyio.to_thread.run_sync, self._process_batch, batch, multi)
        self.stats.process_s += time.perf_counter() - t0
        self.stats.items_in += len(batch)
        self.last = batch[-1][1]
        await self._emit(outs, self.last)
        await self._flush_bounds()  # once per batch, right away (heavy: slow batches)
        return pending

    def _process_batch(self, batch: list[tuple[str, Any]], multi: bool) -> list[Item]:
        op: Operator = self.obj
        if self.many:
            items = [item for _, item in batch]
            self.batch = items
            self.current = items[0]  # an error names the batch (see _where)
            result = list(op.process_many(items))
            self.batch = []
            self.current = items[-1]
            return result
        outs: list[Item] = []
        for port, item in batch:
            self.current = item
            outs.extend(op.process_port(port, item) if multi else op.process(item))
        return outs


class _SinkRunner(_Runner):
    async def _main(self) -> None:
        sink: Sink = self.obj
        stats = self.stats
        awrite = getattr(sink, "awrite", None)
        raised: BaseException | None = None
        try:
            if sink.heavy:
                await self.ctx.work(anyio.to_thread.run_sync, sink.open)
            else:
                sink.open()
            ended = False
            while not ended:
                _, item = await self._next()
                if item is EOS:
                    break
                if type(item) is Bound:
                    continue
                t0 = time.perf_counter()
                if awrite is not None:
                    self.current = item
                    await self.ctx.work(awrite, item)
                    written = 1
                elif sink.heavy:
                    batch: list[Any] = [item]
                    while len(batch) < self.max_batch:
                        nxt = self._next_nowait()
                        if nxt is None:
                            break
                        if nxt[1] is EOS:
                            ended = True
                            break
                        if type(nxt[1]) is not Bound:
                            batch.append(nxt[1])
                    await self.ctx.work(anyio.to_thread.run_sync, self._write_batch, batch)
                    item = batch[-1]
                    written = len(batch)
                else:
                    self.current = item
                    sink.write(item)  # type: ignore[arg-type]
                    written = 1
                stats.process_s += time.perf_counter() - t0
                stats.items_in += written
                self.last = item
                await self._maybe_checkpoint()
            self.current = EOS
        except BaseException as exc:
            raised = exc
            raise
        finally:
            self._close(sink, raised, awrite is not None)

    def _write_batch(self, batch: list[Item]) -> None:
        sink: Sink = self.obj
        for item in batch:
            self.current = item
            sink.write(item)

    def _close(self, sink: Sink, raised: BaseException | None, is_tap: bool) -> None:
        """Save what already arrived (unless this sink itself failed), then close.

        ``close(error)`` gets the error the run raises: this sink's own failure, another
        node's, or the cancellation that stopped the graph; ``None`` after a clean run.
        """
        own = _first_error(raised) if raised is not None else None
        error: BaseException | None
        if own is not None:
            # This sink failed (open/write): record it now, so that close() is told,
            # and write nothing more into it.
            error = self._fail(own)
        else:
            error = self.ctx.error or raised
            if raised is not None and not is_tap:
                try:
                    for item in self._drain():
                        self.current = item
                        sink.write(item)
                        self.stats.items_in += 1
                        self.last = item
                except Exception as exc:  # the sink is broken too; report the first error
                    error = self._fail(exc)
        self.closing = True
        try:
            sink.close(error)
        except Exception as exc:
            self._fail(exc)
        self.closing = False

    def _drain(self) -> list[Item]:
        """Items that reached this sink but were not written yet, in merge order."""
        buffered = self.merger.drain_by_input() if self.merger is not None else None
        keyed: list[tuple[Fraction, int, Item]] = []
        for i, inp in enumerate(self.inputs):
            items: list[Item] = list(buffered[i]) if buffered is not None else []
            while True:
                try:
                    item = inp.recv.receive_nowait()
                except (WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
                if item is EOS:
                    break
                if type(item) is not Bound:
                    items.append(item)  # type: ignore[arg-type]
            if len(self.inputs) == 1:
                return items
            keyed.extend((item_time(item), i, item) for item in items)
        keyed.sort(key=lambda k: (k[0], k[1]))  # stable: each input keeps its order
        return [item for _, _, item in keyed]


def _snapshot(runners: dict[str, _Runner], plan: Plan, t_start: float, finished: bool) -> RunStats:
    now = time.perf_counter()
    nodes: dict[str, NodeStats] = {}
    media = 0.0
    duration: float | None = 0.0
    for name in plan.order:
        r = runners[name]
        s = r.stats
        end = r.media_end()
        if end is not None:
            s.media_s = float(end)
        if r.started:
            s.wall_s = (r.ended or now) - t_start
        nodes[name] = dataclasses.replace(s)  # a snapshot: later progress does not change it
        if s.role == "source":
            media = max(media, s.media_s)
            d = r.obj.duration
            duration = None if d is None or duration is None else max(duration, float(d))
    latency = max(
        (float(plan.path_latency[n]) for n in plan.order if plan.nodes[n].role == "sink"),
        default=0.0,
    )
    return RunStats(
        nodes=nodes,
        wall_s=now - t_start,
        media_s=media,
        duration_s=duration or None,
        latency_s=latency,
        finished=finished,
    )


def _join_skew(plan: Plan, name: str, max_skew: Fraction | None) -> Fraction | None:
    """The skew a join of ``name``'s inputs must allow: ``max_skew`` plus the spread of
    their path latencies. An input that declares a latency sends its results (and
    bounds) that much later than the others; the join must hold that much of them."""
    if max_skew is None:
        return None
    ups = [plan.path_latency[e.src] for e in plan.edges if e.dst == name]
    if len(ups) < 2:
        return max_skew
    return max_skew + max(ups) - min(ups)


class _StallWatch:
    """Turns a deadlocked graph into an error instead of a hang.

    A run is deadlocked when nothing has moved through any edge and no node has been
    working (in a worker thread, a source read, the events() consumer) for
    ``_STALL_AFTER_S``: every task then waits on a queue that only another waiting
    task could fill or empty. The one way a valid graph gets there is a join whose
    inputs drift apart by more than ``max_skew_s``; the error names that join.
    """

    def __init__(self, runners: dict[str, _Runner], ctx: _Context) -> None:
        self.runners = runners
        self.ctx = ctx
        self.last: tuple[int, int] | None = None
        self.since = 0.0

    def _progress(self) -> int:
        total = 0
        for r in self.runners.values():
            total += r.stats.items_in + r.stats.items_out
            if r.merger is not None:
                total += r.merger.received
        return total

    def check(self) -> None:
        ctx = self.ctx
        if ctx.error is not None:
            return
        now = time.perf_counter()
        state = (self._progress(), ctx.busy_epoch)
        if ctx.busy or state != self.last:
            self.last, self.since = state, now
            return
        if now - self.since < _STALL_AFTER_S:
            return
        for name, r in self.runners.items():
            if r.merger is not None:
                found = r.merger.describe_stall()
                if found is not None:
                    msg, t = found
                    position = "a join" if t is None else f"t={t:.6f} s"
                    ctx.fail(NodeError(name, position, GraphError(msg), t))
                    return
        waiting = ", ".join(n for n, r in self.runners.items() if not r.stats.finished)
        ctx.fail(
            NodeError(
                "<graph>",
                "a stall",
                GraphError(
                    f"graph stalled for {_STALL_AFTER_S:g} s: every node waits on a queue "
                    f"({waiting})"
                ),
            )
        )


async def execute(
    plan: Plan,
    settings: RunSettings,
    *,
    progress: Callable[[RunStats], None] | None = None,
    progress_interval: float = 0.25,
) -> RunStats:
    """Run ``plan`` to completion under ``settings`` and return its statistics.

    ``progress`` (default None) is called every ``progress_interval`` seconds (default
    0.25 s) with a snapshot, and once more with the result. See the module docs.
    """
    ctx = _Context()
    inputs: dict[str, list[MergeInput]] = {n: [] for n in plan.order}
    outputs: dict[str, dict[str, SendList]] = {
        n: {port: [] for port in plan.out_specs.get(n, {})} for n in plan.order
    }
    for e in plan.edges:
        assert e.src_port is not None
        send, recv = anyio.create_memory_object_stream[object](e.buffer_size)
        outputs[e.src][e.src_port].append(send)
        inputs[e.dst].append(MergeInput(e.dst_port, e.src, recv))

    runners: dict[str, _Runner] = {}
    for name in plan.order:
        entry = plan.nodes[name]
        stats = NodeStats(
            name=name,
            role=entry.role,
            kind=type(entry.obj).__name__,
            latency_s=float(plan.latency[name]),
            path_latency_s=float(plan.path_latency[name]),
        )
        cls = {"source": _SourceRunner, "operator": _OperatorRunner, "sink": _SinkRunner}[
            entry.role
        ]
        runners[name] = cls(
            name,
            entry.obj,
            stats,
            ctx,
            inputs[name],
            outputs[name],
            ordered=name not in plan.unordered,
            needs_bounds=name in plan.needs_bounds,
            capacity=settings.buffer_size,
            max_skew=_join_skew(plan, name, settings.max_skew),
            max_batch=settings.max_batch,
        )

    t_start = time.perf_counter()

    stall = _StallWatch(runners, ctx)

    async def sampler() -> None:
        next_progress = 0.0
        while True:
            stall.check()
            for r in runners.values():
                if r.inputs and not r.stats.finished:
                    depth = r.queue_depth()
                    r.stats.queue_depth = depth
                    if depth > r.stats.max_queue_depth:
                        r.stats.max_queue_depth = depth
            if progress is not None and time.perf_counter() >= next_progress:
                next_progress = time.perf_counter() + progress_interval
                try:
                    progress(_snapshot(runners, plan, t_start, False))
                except Exception as exc:
                    ctx.fail(NodeError("<progress callback>", "progress report", exc))
            await anyio.sleep(_SAMPLE_EVERY_S)

    async with anyio.create_task_group() as outer:
        outer.start_soon(sampler)
        async with anyio.create_task_group() as tg:
            ctx.scope = tg.cancel_scope
            for r in runners.values():
                tg.start_soon(r.run, name=f"mediastream node {r.name}")
        outer.cancel_scope.cancel()

    result = _snapshot(runners, plan, t_start, True)
    if progress is not None and ctx.error is None:
        try:
            progress(result)
        except Exception as exc:
            ctx.fail(NodeError("<progress callback>", "progress report", exc))
    if ctx.error is not None:
        raise ctx.error
    return result
