"""Building a graph: nodes, typed edges and build-time validation."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from ._exceptions import GraphError, IncompatibleInputError, ParameterError, StreamMismatchError
from ._items import Event
from ._nodes import Operator, Sink, Source
from ._paths import check_output_paths, node_paths
from ._plan import Edge, Node, NodeEntry, Plan, Role, RunSettings
from ._runtime import EventTap, execute
from ._specs import AudioSpec, EventSpec, StreamSpec, VideoSpec
from ._stats import RunStats

__all__ = ["EventStream", "Graph", "NodeRef", "PortRef"]

ProgressCallback = Callable[[RunStats], None]


@dataclass(frozen=True)
class PortRef:
    """A named port of a node: an output port when upstream, an input port when downstream."""

    node: str
    port: str


@dataclass(frozen=True)
class NodeRef:
    """A node added to a graph; index it with a port name to pick a port."""

    node: str

    def __getitem__(self, port: str) -> PortRef:
        return PortRef(self.node, port)

    @property
    def name(self) -> str:
        """The node's name in the graph."""
        return self.node


def _default_name(obj: object, taken: Mapping[str, object]) -> str:
    base = re.sub(r"(?<!^)(?=[A-Z])", "_", type(obj).__name__).lower()
    if base not in taken:
        return base
    i = 2
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"


def _merge_specs(a: StreamSpec, b: StreamSpec) -> StreamSpec | None:
    """The common spec of two edges into one port, or None if they disagree."""
    if isinstance(a, EventSpec) and isinstance(b, EventSpec):
        if a.kinds is None or b.kinds is None:
            return EventSpec(None)
        return EventSpec(a.kinds | b.kinds)
    return a if a == b else None


def _find_cycle(left: set[str], children: Mapping[str, list[str]]) -> list[str]:
    """One cycle among ``left`` (the nodes a topological sort could not order), as
    ``[a, b, ..., a]``: nodes only downstream of a cycle are left out."""
    on_cycles = set(left)
    pruned = True
    while pruned:  # drop nodes with no child left: they are downstream, not on a cycle
        dead = {n for n in on_cycles if not any(c in on_cycles for c in children[n])}
        on_cycles -= dead
        pruned = bool(dead)
    node = min(on_cycles)
    seen: list[str] = []
    while node not in seen:
        seen.append(node)
        node = min(c for c in children[node] if c in on_cycles)
    return [*seen[seen.index(node) :], node]


class Graph:
    """A graph of sources, operators and sinks joined by bounded, typed edges.

    Args:
        buffer_size: items each edge buffers before its producer waits (default 16).
        max_skew_s: how far (media seconds) one input of a join may run ahead of an
            empty one that the join waits for, before it too waits (default 10 s).
            Covers the interleaving of audio and video in one file. When two inputs
            drift further apart than this (a file whose video ends long before its
            audio, a file that is not interleaved), the run stops with a
            :class:`~stream.NodeError` naming the join instead of hanging;
            ``math.inf`` removes the limit (memory then grows with the drift).
        max_batch: most queued items handed to a heavy node's worker thread at once.

    Example::

        g = Graph()
        src = g.add(FileSource("talk.mp4", audio=AudioFormat(48000, 1)), "file")
        meter = g.add(LevelMeter(interval_ms=100), "meter")
        g.connect(src["audio"], meter)
        g.connect(meter, g.add(JsonLinesSink("levels.jsonl"), "jsonl"))
        stats = g.run_sync()
    """

    def __init__(
        self, *, buffer_size: int = 16, max_skew_s: float = 10.0, max_batch: int = 64
    ) -> None:
        if buffer_size < 1:
            raise ParameterError(f"buffer_size must be >= 1 item, got {buffer_size}")
        if not max_skew_s > 0:
            raise ParameterError(f"max_skew_s must be > 0 seconds, got {max_skew_s}")
        if max_batch < 1:
            raise ParameterError(f"max_batch must be >= 1 item, got {max_batch}")
        self.buffer_size = buffer_size
        # None: no limit (math.inf).
        self.max_skew: Fraction | None = None if math.isinf(max_skew_s) else Fraction(max_skew_s)
        self.max_batch = max_batch
        self._nodes: dict[str, NodeEntry] = {}
        self._edges: list[Edge] = []
        self.last_stats: RunStats | None = None

    # -- building ---------------------------------------------------------------------
    def add(self, node: Node, name: str | None = None) -> NodeRef:
        """Add a source, operator or sink; returns a reference used to connect it.

        ``name`` (default: derived from the class) must be unique; errors name nodes
        by it.
        """
        if isinstance(node, Source):
            role: Role = "source"
        elif isinstance(node, Operator):
            role = "operator"
        elif isinstance(node, Sink):
            role = "sink"
        else:
            raise GraphError(f"cannot add {type(node).__name__}: not a Source, Operator or Sink")
        if any(entry.obj is node for entry in self._nodes.values()):
            raise GraphError(f"this {type(node).__name__} object is already in the graph")
        if name is None:
            name = _default_name(node, self._nodes)
        if not name or name in self._nodes:
            raise GraphError(f"node name {name!r} is empty or already used")
        self._nodes[name] = NodeEntry(name, node, role)
        return NodeRef(name)

    def node(self, name: str) -> Node:
        """The object behind a node name."""
        return self._entry(name).obj

    @property
    def node_names(self) -> list[str]:
        """Node names in insertion order."""
        return list(self._nodes)

    def _entry(self, name: str) -> NodeEntry:
        try:
            return self._nodes[name]
        except KeyError:
            raise GraphError(f"no node named {name!r} in this graph") from None

    def connect(
        self,
        upstream: NodeRef | PortRef | str,
        downstream: NodeRef | PortRef | str,
        *,
        buffer_size: int | None = None,
    ) -> None:
        """Connect an output of ``upstream`` to an input of ``downstream``.

        Pick ports with ``node["port"]``; an unnamed upstream port is chosen at
        validation by what the downstream node accepts. Several edges into one input
        port are merged in time order.
        """
        src, src_port = self._split(upstream)
        dst, dst_port = self._split(downstream)
        up, down = self._entry(src), self._entry(dst)
        if up.role == "sink":
            raise GraphError(f"cannot connect from sink {src!r}: sinks have no outputs")
        if down.role == "source":
            raise GraphError(f"cannot connect into source {dst!r}: sources have no inputs")
        if src == dst:
            raise GraphError(f"cannot connect node {src!r} to itself")
        if src_port is not None and up.role == "source":
            ports = list(up.obj.specs())  # type: ignore[union-attr]
            if src_port not in ports:
                raise GraphError(f"source {src!r} has no output {src_port!r} (it has {ports})")
        if down.role == "operator":
            ports_in = down.obj.input_ports  # type: ignore[union-attr]
            if dst_port is None:
                if len(ports_in) != 1:
                    raise GraphError(
                        f"operator {dst!r} has inputs {list(ports_in)}: "
                        f"connect to one of them, e.g. graph[{dst!r}][{ports_in[0]!r}]"
                    )
                dst_port = ports_in[0]
            elif dst_port not in ports_in:
                raise GraphError(f"operator {dst!r} has no input {dst_port!r} ({list(ports_in)})")
        else:
            if dst_port not in (None, "in"):
                raise GraphError(f"sink {dst!r} has one input, 'in'; got {dst_port!r}")
            dst_port = "in"
        size = self.buffer_size if buffer_size is None else buffer_size
        if size < 1:
            raise ParameterError(f"buffer_size must be >= 1 item, got {size}")
        self._edges.append(Edge(src, src_port, dst, dst_port, size))

    def chain(self, *nodes: NodeRef | PortRef | str) -> NodeRef:
        """Connect nodes one after the other; returns the last one."""
        if len(nodes) < 2:
            raise GraphError("chain needs at least two nodes")
        for a, b in itertools.pairwise(nodes):
            self.connect(a, b)
        return NodeRef(self._split(nodes[-1])[0])

    def __getitem__(self, name: str) -> NodeRef:
        self._entry(name)
        return NodeRef(name)

    @staticmethod
    def _split(ref: NodeRef | PortRef | str) -> tuple[str, str | None]:
        if isinstance(ref, PortRef):
            return ref.node, ref.port
        if isinstance(ref, NodeRef):
            return ref.node, None
        if isinstance(ref, str):
            return ref, None
        raise GraphError(f"expected a node reference, got {type(ref).__name__}")

    # -- validation -------------------------------------------------------------------
    @staticmethod
    def _topological_order(nodes: Mapping[str, NodeEntry], edges: list[Edge]) -> list[str]:
        indegree = {name: 0 for name in nodes}
        children: dict[str, list[str]] = {name: [] for name in nodes}
        for e in edges:
            indegree[e.dst] += 1
            children[e.src].append(e.dst)
        ready = [n for n, d in indegree.items() if d == 0]
        order: list[str] = []
        while ready:
            n = ready.pop(0)
            order.append(n)
            for c in children[n]:
                indegree[c] -= 1
                if indegree[c] == 0:
                    ready.append(c)
        if len(order) != len(nodes):
            cycle = _find_cycle({n for n, d in indegree.items() if d > 0}, children)
            raise GraphError(f"the graph has a cycle: {' -> '.join(repr(n) for n in cycle)}")
        return order

    def validate(self, extra_sinks: Mapping[str, tuple[Sink, list[str]]] | None = None) -> Plan:
        """Check the whole graph before anything runs and return the run plan.

        Checks names, cycles, unconnected inputs, ambiguous ports and, node by node in
        topological order, that every node accepts what its upstream produces
        (sample rate, channels, frame type). Errors name both nodes.

        ``extra_sinks`` (internal) adds sinks fed by the named nodes' event outputs.
        """
        if not self._nodes:
            raise GraphError("the graph is empty")
        nodes = dict(self._nodes)
        edges = [Edge(e.src, e.src_port, e.dst, e.dst_port, e.buffer_size) for e in self._edges]
        unordered: set[str] = set()
        for tap_name, (tap, tapped) in (extra_sinks or {}).items():
            nodes[tap_name] = NodeEntry(tap_name, tap, "sink")
            unordered.add(tap_name)
            for f in tapped:
                edges.append(Edge(f, "events", tap_name, "in", self.buffer_size))
        order = self._topological_order(nodes, edges)
        # Before anything opens a file: no output may be an input or another output.
        check_output_paths(*node_paths([(n, e.role, e.obj) for n, e in nodes.items()]))

        incoming: dict[str, list[Edge]] = {n: [] for n in nodes}
        outgoing: dict[str, list[Edge]] = {n: [] for n in nodes}
        for e in edges:
            incoming[e.dst].append(e)
            outgoing[e.src].append(e)

        out_specs: dict[str, dict[str, StreamSpec]] = {}
        latency: dict[str, Fraction] = {}
        path_latency: dict[str, Fraction] = {}
        for name in order:
            entry = nodes[name]
            obj = entry.obj
            if entry.role == "source":
                if not outgoing[name]:
                    raise GraphError(f"source {name!r} is not connected to anything")
                out_specs[name] = dict(obj.specs())  # type: ignore[union-attr]
                latency[name] = Fraction(0)
                path_latency[name] = Fraction(0)
                continue
            if not incoming[name]:
                raise GraphError(f"{entry.role} {name!r} has no input connected")
            by_port: dict[str, StreamSpec] = {}
            feeders: dict[str, list[str]] = {}
            accepts = obj.accepts  # type: ignore[union-attr]
            for e in incoming[name]:
                e.src_port = self._resolve_port(e, out_specs[e.src], accepts, nodes)
                spec = out_specs[e.src][e.src_port]
                if e.dst_port in by_port:
                    merged = _merge_specs(by_port[e.dst_port], spec)
                    if merged is None:
                        other = feeders[e.dst_port][0]
                        raise StreamMismatchError(
                            f"{e.src!r} and {other!r} both feed {name!r} input "
                            f"{e.dst_port!r} but disagree: {spec} vs {by_port[e.dst_port]}"
                        )
                    by_port[e.dst_port] = merged
                else:
                    by_port[e.dst_port] = spec
                feeders.setdefault(e.dst_port, []).append(e.src)
            if entry.role == "operator":
                op: Operator = obj  # type: ignore[assignment]
                missing = [p for p in op.input_ports if p not in by_port]
                if missing:
                    raise GraphError(f"operator {name!r} input(s) {missing} are not connected")
                try:
                    outs = op.configure(by_port)
                except IncompatibleInputError as exc:
                    port = exc.port or next(iter(by_port))
                    ups = " and ".join(repr(u) for u in feeders.get(port, [])) or "its upstream"
                    raise StreamMismatchError(f"{ups} -> {name!r} (input {port!r}): {exc}") from exc
                specs: dict[str, StreamSpec] = {}
                for s in outs:
                    if not isinstance(s, (AudioSpec, VideoSpec, EventSpec)):
                        raise GraphError(
                            f"operator {name!r}: configure() returned {s!r}, not a stream spec"
                        )
                    if s.kind in specs:
                        raise GraphError(f"operator {name!r} declares two {s.kind} outputs")
                    specs[s.kind] = s
                out_specs[name] = specs
                latency[name] = Fraction(op.latency)
            else:
                sink: Sink = obj  # type: ignore[assignment]
                try:
                    sink.configure(by_port)
                except IncompatibleInputError as exc:
                    ups = " and ".join(repr(u) for u in feeders.get("in", []))
                    raise StreamMismatchError(f"{ups} -> {name!r}: {exc}") from exc
                out_specs[name] = {}
                latency[name] = Fraction(0)
            path_latency[name] = latency[name] + max(path_latency[e.src] for e in incoming[name])

        # Nodes whose outputs reach an ordered join must send timestamp bounds.
        joins = {n for n in nodes if len(incoming[n]) > 1 and n not in unordered}
        needs_bounds: set[str] = set()
        for name in reversed(order):
            if any(e.dst in joins or e.dst in needs_bounds for e in outgoing[name]):
                needs_bounds.add(name)
        return Plan(
            nodes=nodes,
            order=order,
            edges=edges,
            out_specs=out_specs,
            latency=latency,
            path_latency=path_latency,
            needs_bounds=needs_bounds,
            unordered=unordered,
        )

    @staticmethod
    def _resolve_port(
        e: Edge,
        ports: Mapping[str, StreamSpec],
        accepts: frozenset[str],
        nodes: Mapping[str, NodeEntry],
    ) -> str:
        if e.src_port is not None:
            if e.src_port not in ports:
                raise GraphError(
                    f"{e.src!r} has no output {e.src_port!r}; its outputs are {list(ports)}"
                )
            return e.src_port
        candidates = [p for p, s in ports.items() if s.kind in accepts]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            have = ", ".join(f"{p} ({s})" for p, s in ports.items()) or "none"
            raise StreamMismatchError(
                f"{e.src!r} -> {e.dst!r}: {e.dst!r} accepts {'/'.join(sorted(accepts))} "
                f"but {e.src!r} outputs {have}"
            )
        raise GraphError(
            f"{e.src!r} -> {e.dst!r} is ambiguous: {e.src!r} has outputs {candidates}; "
            f"connect a port explicitly, e.g. graph[{e.src!r}][{candidates[0]!r}]"
        )

    def latency(self) -> dict[str, float]:
        """Declared latency (seconds) summed along the slowest path to each node."""
        plan = self.validate()
        return {n: float(v) for n, v in plan.path_latency.items()}

    # -- running ----------------------------------------------------------------------
    def _settings(self) -> RunSettings:
        """The run settings as they stand now: ``buffer_size``, ``max_skew``, ``max_batch``."""
        return RunSettings(self.buffer_size, self.max_skew, self.max_batch)

    async def run(
        self, *, progress: ProgressCallback | None = None, progress_interval: float = 0.25
    ) -> RunStats:
        """Run the graph to the end of every source; returns the run's statistics.

        ``progress`` is called every ``progress_interval`` seconds with a snapshot.
        An exception in any node cancels the graph; sinks still close (leaving valid
        files) and a :class:`~stream.NodeError` naming the node and stream time is
        raised, with the original exception as ``__cause__``.
        """
        plan = self.validate()
        stats = await execute(
            plan, self._settings(), progress=progress, progress_interval=progress_interval
        )
        self.last_stats = stats
        return stats

    def run_sync(
        self,
        *,
        backend: Literal["asyncio", "trio"] = "asyncio",
        progress: ProgressCallback | None = None,
        progress_interval: float = 0.25,
    ) -> RunStats:
        """Run the graph from synchronous code (``anyio.run``); see :meth:`run`.

        ``backend`` is ``"asyncio"`` (default) or ``"trio"``. Ctrl-C raises a plain
        :class:`KeyboardInterrupt` on both, after every sink has closed.
        """

        async def main() -> RunStats:
            return await self.run(progress=progress, progress_interval=progress_interval)

        options: dict[str, Any] = {}
        if backend == "trio":
            # Deliver Ctrl-C at a checkpoint, never inside a C call such as a decoder.
            options["restrict_keyboard_interrupt_to_checkpoints"] = True
        try:
            return anyio.run(main, backend=backend, backend_options=options)
        except BaseExceptionGroup as group:
            interrupted, _ = group.split(KeyboardInterrupt)
            if interrupted is not None:
                raise KeyboardInterrupt from group
            raise

    def events(
        self,
        *nodes: NodeRef | str,
        buffer_size: int = 64,
        progress: ProgressCallback | None = None,
        progress_interval: float = 0.25,
    ) -> EventStream:
        """Run the graph and iterate over events as they are produced.

        ``nodes`` picks the nodes whose event outputs are yielded (default: every
        operator or source with an event output). Events arrive in arrival order.

        Use ``async with graph.events() as events: async for e in events: ...`` when
        you may stop early; a plain ``async for e in graph.events()`` also works.
        """
        names = [self._split(n)[0] for n in nodes]
        for n in names:
            self._entry(n)
        return EventStream(self, names, buffer_size, progress, progress_interval)


class EventStream:
    """Async iterator over a running graph's events; also an async context manager."""

    def __init__(
        self,
        graph: Graph,
        nodes: list[str],
        buffer_size: int,
        progress: ProgressCallback | None,
        progress_interval: float,
    ) -> None:
        self._graph = graph
        self._nodes = nodes
        self._buffer_size = buffer_size
        self._progress = progress
        self._progress_interval = progress_interval
        self._tg: TaskGroup | None = None
        self._recv: Any = None
        self._error: BaseException | None = None
        self.stats: RunStats | None = None

    def _feeders(self) -> list[str]:
        if self._nodes:
            return self._nodes
        plan = self._graph.validate()
        return [
            n
            for n in plan.order
            if plan.nodes[n].role != "sink" and "events" in plan.out_specs.get(n, {})
        ]

    async def __aenter__(self) -> EventStream:
        feeders = self._feeders()
        if not feeders:
            raise GraphError("no node in the graph produces events")
        send, recv = anyio.create_memory_object_stream[Event[Any]](self._buffer_size)
        self._recv = recv
        tap = EventTap(send)
        plan = self._graph.validate({"<events>": (tap, feeders)})

        async def runner() -> None:
            try:
                self.stats = await execute(
                    plan,
                    self._graph._settings(),
                    progress=self._progress,
                    progress_interval=self._progress_interval,
                )
                self._graph.last_stats = self.stats
            except Exception as exc:  # handed to the consumer, not an ExceptionGroup
                self._error = exc
            finally:
                send.close()

        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(runner)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()  # a consumer that stops early stops the graph
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # The runner hands its error over instead of raising it, so a group here
            # only wraps the consumer's own exception (a NodeError from _iterate, a
            # break-out error, a cancellation): let that one propagate unwrapped.
            if exc is not None and all(e is exc for e in group.exceptions):
                return False
            raise
        finally:
            self._recv.close()

    def __aiter__(self) -> AsyncIterator[Event[Any]]:
        if self._tg is not None:
            return self._iterate()
        return self._run_and_iterate()

    async def _iterate(self) -> AsyncIterator[Event[Any]]:
        while True:
            try:
                event = await self._recv.receive()
            except anyio.EndOfStream:
                break
            yield event
        if self._error is not None:
            raise self._error

    async def _run_and_iterate(self) -> AsyncIterator[Event[Any]]:
        async with self:
            async for event in self._iterate():
                yield event
