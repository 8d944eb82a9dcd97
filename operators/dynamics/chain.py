"""The standard dynamics chain (gate -> compressor -> limiter), shared by the CLI commands."""

from __future__ import annotations

from dataclasses import dataclass, field

from stream import Graph, NodeRef, Operator, ParameterError, PortRef

from .compressor import Compressor
from .gate import Gate
from .limiter import Limiter

__all__ = ["DynamicsChain", "DynamicsSettings", "build_dynamics_chain", "dynamics_operators"]


@dataclass(frozen=True)
class DynamicsSettings:
    """Settings of the chain; units as in :class:`Compressor`, :class:`Limiter`, :class:`Gate`.

    ``gate_threshold_db=None`` (default) leaves the gate out; ``limiter=False`` leaves
    the limiter out. ``target_lufs`` (None: default) puts a
    :class:`~operators.loudness.LoudnessNormalizer` in the limiter's place (steering the
    gain toward that loudness at most ``loudness_slew_db_per_s``, within
    +-``loudness_max_gain_db``, its limiter set by ``ceiling_db``, ``lookahead_ms`` and
    ``limiter_release_ms``; it needs ``limiter=True``). ``meter_interval_ms`` (None: no
    meters) is given to every stage but the normalizer (which has no meter).
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
    target_lufs: float | None = None
    loudness_slew_db_per_s: float = 3.0
    loudness_max_gain_db: float = 20.0


def dynamics_operators(settings: DynamicsSettings) -> list[tuple[str, Operator]]:
    """The chain's operators in order, with node names (``gate``, ``compressor``, then
    ``limiter`` or ``normalizer``)."""
    s = settings
    if s.target_lufs is not None and not s.limiter:
        raise ParameterError(
            "target_lufs needs the limiter (the loudness normalizer ends with one): "
            "leave limiter=True (no --no-limiter with --target-lufs)"
        )
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
    if s.target_lufs is not None:
        from operators.loudness import LoudnessNormalizer  # (it imports this package)

        normalizer = LoudnessNormalizer(
            target_lufs=s.target_lufs,
            max_gain_db=s.loudness_max_gain_db,
            slew_db_per_s=s.loudness_slew_db_per_s,
            ceiling_db=s.ceiling_db,
            lookahead_ms=s.lookahead_ms,
            limiter_release_ms=s.limiter_release_ms,
        )
        ops.append(("normalizer", normalizer))
    elif s.limiter:
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
        nodes: the chain's nodes in order.
        metered: the nodes with an ``"events"`` port (with meters: all but the
            normalizer).
    """

    audio: PortRef
    nodes: list[NodeRef] = field(default_factory=list)
    metered: list[NodeRef] = field(default_factory=list)

    @property
    def meters(self) -> list[PortRef]:
        """The ``"events"`` ports of the chain's metered nodes (only when metering)."""
        return [node["events"] for node in self.metered]


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
    metered: list[NodeRef] = []
    for name, op in dynamics_operators(settings):
        node = graph.add(op, prefix + name)
        graph.connect(prev, node)
        nodes.append(node)
        if settings.meter_interval_ms is not None and name != "normalizer":
            metered.append(node)
        prev = node["audio"]
    assert isinstance(prev, PortRef)
    return DynamicsChain(prev, nodes, metered)
