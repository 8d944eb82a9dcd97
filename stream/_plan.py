"""What the graph builder hands the executor: a validated plan and the run settings.

:mod:`stream._graph` builds and checks a graph and produces a :class:`Plan`;
:mod:`stream._runtime` runs a plan under :class:`RunSettings`. Both import this
module, neither imports the other's caller, so the executor never sees the builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from ._nodes import Operator, Sink, Source
from ._specs import StreamSpec

__all__ = ["Edge", "Node", "NodeEntry", "Plan", "Role", "RunSettings"]

Role = Literal["source", "operator", "sink"]
Node = Source | Operator | Sink


@dataclass
class NodeEntry:
    """A node and its role."""

    name: str
    obj: Node
    role: Role


@dataclass
class Edge:
    """An edge from ``src``'s output ``src_port`` to ``dst``'s input ``dst_port``.

    ``src_port`` is None until validation picks the upstream port; ``buffer_size`` is
    how many items the edge holds before its producer waits.
    """

    src: str
    src_port: str | None
    dst: str
    dst_port: str
    buffer_size: int


@dataclass
class Plan:
    """A validated graph, ready to run.

    Attributes:
        nodes: every node by name (the graph's, plus internal taps).
        order: node names in topological order.
        edges: the edges, each with its upstream port resolved.
        out_specs: per node, the spec of each output port.
        latency: each node's declared algorithmic latency, seconds.
        path_latency: latency summed along the slowest path to each node, seconds.
        needs_bounds: nodes whose outputs reach an ordered join (they send bounds).
        unordered: nodes whose inputs are merged in arrival order (internal taps).
    """

    nodes: dict[str, NodeEntry]
    order: list[str]
    edges: list[Edge]
    out_specs: dict[str, dict[str, StreamSpec]]
    latency: dict[str, Fraction]
    path_latency: dict[str, Fraction]
    needs_bounds: set[str]
    unordered: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class RunSettings:
    """How a plan runs (checked by :class:`~stream.Graph`, which documents them).

    Attributes:
        buffer_size: items an ordered join holds per input before it waits (the
            graph's default edge buffer; default 16).
        max_skew: how far (media seconds) one input of a join may run ahead of an
            empty one before it too waits; None: no limit (default 10 s).
        max_batch: most queued items handed to a heavy node's worker thread at once
            (default 64).
    """

    buffer_size: int = 16
    max_skew: Fraction | None = Fraction(10)
    max_batch: int = 64
