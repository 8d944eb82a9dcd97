"""Command-line options of the dynamics chain, shared by ``dynamics`` and ``live``."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from operators.dynamics import DynamicsSettings

__all__ = ["add_dynamics_options", "dynamics_settings"]


def add_dynamics_options(p: argparse.ArgumentParser) -> None:
    """Add the compressor, limiter and gate options (dB, dBFS, ms) to ``p``."""
    g = p.add_argument_group("compressor")
    g.add_argument("--threshold-db", type=float, default=-20.0, help="threshold (default -20)")
    g.add_argument("--ratio", type=float, default=4.0, help="ratio x:1, >= 1 (default 4)")
    g.add_argument("--attack-ms", type=float, default=10.0, help="attack (default 10)")
    g.add_argument("--release-ms", type=float, default=100.0, help="release (default 100)")
    g.add_argument("--knee-db", type=float, default=6.0, help="soft knee width (default 6)")
    g.add_argument("--makeup-db", type=float, default=0.0, help="makeup gain (default 0)")
    g.add_argument("--detector", choices=("peak", "rms"), default="peak", help="(default peak)")
    g.add_argument("--unlinked", action="store_true", help="compress each channel on its own")
    g = p.add_argument_group("limiter")
    g.add_argument("--ceiling-db", type=float, default=-1.0, help="ceiling dBFS (default -1)")
    g.add_argument("--lookahead-ms", type=float, default=5.0, help="lookahead (default 5)")
    g.add_argument(
        "--limiter-release-ms", type=float, default=50.0, help="limiter release (default 50)"
    )
    g.add_argument("--no-limiter", action="store_true", help="leave the limiter out")
    g = p.add_argument_group("gate (only with --gate-threshold-db)")
    g.add_argument(
        "--gate-threshold-db", type=float, default=None, help="add a gate with this threshold"
    )
    g.add_argument("--gate-range-db", type=float, default=-80.0, help="attenuation (default -80)")
    g.add_argument(
        "--gate-ratio", type=float, default=math.inf, help="inf: gate, finite: expander (inf)"
    )
    g.add_argument("--gate-attack-ms", type=float, default=1.0, help="opening (default 1)")
    g.add_argument("--gate-hold-ms", type=float, default=20.0, help="hold (default 20)")
    g.add_argument("--gate-release-ms", type=float, default=100.0, help="closing (default 100)")


def dynamics_settings(
    args: argparse.Namespace, meter_interval_ms: float | None
) -> DynamicsSettings:
    """The chain's settings from options added by :func:`add_dynamics_options`.

    Raises ParameterError (exit 2) for values the operators refuse.
    """
    from operators.dynamics import DynamicsSettings

    return DynamicsSettings(
        threshold_db=args.threshold_db,
        ratio=args.ratio,
        attack_ms=args.attack_ms,
        release_ms=args.release_ms,
        knee_db=args.knee_db,
        makeup_db=args.makeup_db,
        detector=args.detector,
        link=not args.unlinked,
        limiter=not args.no_limiter,
        ceiling_db=args.ceiling_db,
        lookahead_ms=args.lookahead_ms,
        limiter_release_ms=args.limiter_release_ms,
        gate_threshold_db=args.gate_threshold_db,
        gate_range_db=args.gate_range_db,
        gate_ratio=args.gate_ratio,
        gate_attack_ms=args.gate_attack_ms,
        gate_hold_ms=args.gate_hold_ms,
        gate_release_ms=args.gate_release_ms,
        meter_interval_ms=meter_interval_ms,
    )
