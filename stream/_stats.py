"""Run statistics: per node and for the whole graph."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["NodeStats", "RunStats"]


@dataclass
class NodeStats:
    """What one node did during a run.

    Times are wall-clock seconds measured on this machine; ``media_s`` is stream
    time covered (seconds of audio/video the node has seen).

    Attributes:
        name: the node's name in the graph.
        role: ``"source"``, ``"operator"`` or ``"sink"``.
        kind: the node's class name.
        items_in: data items consumed (control items not counted).
        items_out: data items produced.
        process_s: time spent inside ``read``/``process``/``write`` (includes the
            worker-thread hop for heavy nodes).
        wait_in_s: time spent waiting for input: the upstream is slower than this node,
            or (nodes run inline share one event loop) other inline nodes held the loop.
        wait_out_s: time spent blocked on full output buffers (backpressure).
        queue_depth: items waiting in this node's input buffers at the last sample.
        max_queue_depth: largest input backlog seen (sampled every 50 ms, and by the
            node each time it wakes up on new input).
        media_s: media time covered so far, seconds.
        latency_s: declared algorithmic latency of this node, seconds.
        path_latency_s: latency summed along the slowest path from a source to the
            output of this node, seconds.
        wall_s: seconds from the start of the run until the node finished (or now).
    """

    name: str
    role: str
    kind: str
    items_in: int = 0
    items_out: int = 0
    process_s: float = 0.0
    wait_in_s: float = 0.0
    wait_out_s: float = 0.0
    queue_depth: int = 0
    max_queue_depth: int = 0
    media_s: float = 0.0
    latency_s: float = 0.0
    path_latency_s: float = 0.0
    wall_s: float = 0.0
    finished: bool = False

    @property
    def realtime_factor(self) -> float:
        """Media seconds per wall second since the run started (x real time)."""
        return self.media_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def process_us_per_item(self) -> float:
        """Mean processing time per consumed (or, for sources, produced) item, in us."""
        n = self.items_in if self.role != "source" else self.items_out
        return 1e6 * self.process_s / n if n else 0.0


@dataclass
class RunStats:
    """Statistics of one graph run (or a snapshot of one in progress).

    Attributes:
        nodes: per-node statistics by name, in topological order.
        wall_s: seconds since the run started.
        media_s: media time read by the sources so far, seconds (the furthest source).
        duration_s: total media duration when the sources know it, else None.
        latency_s: declared algorithmic latency of the slowest path, seconds.
        finished: the run has ended.
    """

    nodes: dict[str, NodeStats] = field(default_factory=dict)
    wall_s: float = 0.0
    media_s: float = 0.0
    duration_s: float | None = None
    latency_s: float = 0.0
    finished: bool = False

    @property
    def realtime_factor(self) -> float:
        """Media seconds processed per wall second (x real time) for the whole graph."""
        return self.media_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def fraction_done(self) -> float | None:
        """Share of the input read so far, 0..1, when the duration is known."""
        if not self.duration_s:
            return None
        return min(1.0, self.media_s / self.duration_s)

    def table(self) -> str:
        """A plain-text table, one row per node."""
        header = (
            f"{'node':<18} {'role':<8} {'in':>7} {'out':>7} {'proc s':>8} {'us/item':>8} "
            f"{'wait in':>8} {'wait out':>8} {'maxq':>5} {'media s':>8} {'x rt':>8} {'lat ms':>7}"
        )
        lines = [header, "-" * len(header)]
        for s in self.nodes.values():
            lines.append(
                f"{s.name[:18]:<18} {s.role:<8} {s.items_in:>7} {s.items_out:>7} "
                f"{s.process_s:>8.3f} {s.process_us_per_item:>8.1f} {s.wait_in_s:>8.3f} "
                f"{s.wait_out_s:>8.3f} {s.max_queue_depth:>5} {s.media_s:>8.2f} "
                f"{s.realtime_factor:>8.1f} {1000 * s.path_latency_s:>7.1f}"
            )
        lines.append(
            f"total: {self.media_s:.2f} s of media in {self.wall_s:.2f} s "
            f"({self.realtime_factor:.1f}x real time), declared latency "
            f"{1000 * self.latency_s:.1f} ms"
        )
        return "\n".join(lines)
