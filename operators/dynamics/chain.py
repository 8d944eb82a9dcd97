"""The standard dynamics chain (gate -> compressor -> limiter), shared by the CLI commands."""

from __future__ import annotations

from dataclasses import dataclass, field

from stream import Graph, NodeRef, Operator, PortRef

from .compressor import Compressor
from .gate import Gate
from .limiter import Limiter

__all__ = ["DynamicsChain", "DynamicsSettings", "build_dynamics_chain", "dynamics_operators"]


@dataclass(frozen=True)
class DynamicsSettings:
    """Settings of the chain; units as in :class:`Compressor`, :class:`Limiter`, :class:`Gate`.

    ``gate_threshold_db=None`` (default) leaves the gate out; ``limiter=False`` leaves
    the limiter out. ``meter_interval_ms`` (None: no meters) is given to every stage.
    Operators validate the values when built (``stream.ParameterError``).
    """

    threshold_db: float = -20.0
    ratio: float = 4.0
    attack_ms: float = 10.0
    release_ms: float = 100.0
    knee_db: float = 6.0
    makeup_db: float = 0.0
    detector: str = "peak"
    link: bool = True
    limiter: bool = True
    ceiling_db: float = -1.0
    lookahead_ms: float = 5.0
    limiter_release_ms: float = 50.0
    gate_threshold_db: float | None = None
    gate_range_db: float = -80.0
    gate_ratio: float = float("inf")
    gate_attack_ms: float = 1.0
    gate_hold_ms: float = 20.0
    gate_release_ms: float = 100.0
    meter_interval_ms: float | None = None


def dynamics_operators(settings: DynamicsSettings) -> list[tuple[str, Operator]]:
    """The chain's operators in order, with node names (``gate``, ``compressor``, ``limiter``)."""
    s = settings
    ops: list[tuple[str, Operator]] = []
    if s.gate_threshold_db is not None:
        gate = Gate(
            threshold_db=s.gate_threshold_db,
            range_db=s.gate_range_db,
            ratio=s.gate_ratio,
            attack_ms=s.gate_attack_ms,
            hold_ms=s.gate_hold_ms,
            release_ms=s.gate_release_ms,
            meter_interval_ms=s.meter_interval_ms,
        )
        ops.append(("gate", gate))
    compressor = Compressor(
        threshold_db=s.threshold_db,
        ratio=s.ratio,
        attack_ms=s.attack_ms,
        release_ms=s.release_ms,
        knee_db=s.knee_db,
        makeup_db=s.makeup_db,
        detector=s.detector,
        link=s.link,
        meter_interval_ms=s.meter_interval_ms,
    )
    ops.append(("compressor", compressor))
    if s.limiter:
        limiter = Limiter(
            ceiling_db=s.ceiling_db,
            lookahead_ms=s.lookahead_ms,
            release_ms=s.limiter_release_ms,
            meter_interval_ms=s.meter_interval_ms,
        )
        ops.append(("limiter", limiter))
    return ops


@dataclass
class DynamicsChain:
    """What :func:`build_dynamics_chain` added to a graph.

    Attributes:
        audio: the chain's audio output port (connect the audio sink to it).
        nodes: the chain's nodes in order; with meters each has an ``"events"`` port.
    """

    audio: PortRef
    nodes: list[NodeRef] = field(default_factory=list)

    @property
    def meters(self) -> list[PortRef]:
        """The ``"events"`` ports of the chain's nodes (only when metering)."""
        return [node["events"] for node in self.nodes]


def build_dynamics_chain(
    graph: Graph,
    upstream: NodeRef | PortRef,
    settings: DynamicsSettings,
    *,
    prefix: str = "",
) -> DynamicsChain:
    """Add the chain's operators to ``graph`` after ``upstream`` (an audio output).

    Node names are ``prefix + "gate"``/``"compressor"``/``"limiter"``. Returns the
    chain's audio output and nodes.
    """
    prev: NodeRef | PortRef = upstream
    nodes: list[NodeRef] = []
    for name, op in dynamics_operators(settings):
        node = graph.add(op, prefix + name)
        graph.connect(prev, node)
        nodes.append(node)
        prev = node["audio"]
    assert isinstance(prev, PortRef)
    return DynamicsChain(prev, nodes)
