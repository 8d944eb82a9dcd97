"""Command-line options of the dynamics chain, shared by ``dynamics`` and ``live``."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from stream import ParameterError

if TYPE_CHECKING:
    from operators.dynamics import DynamicsSettings

__all__ = ["add_dynamics_options", "dynamics_settings"]


def add_dynamics_options(p: argparse.ArgumentParser) -> None:
    """Add the compressor, limiter, gate and loudness options (dB, dBFS, LUFS, ms) to ``p``."""
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
    # The other gate options default to None so that giving one without
    # --gate-threshold-db is an error rather than silently ignored; their defaults are
    # _GATE_DEFAULTS.
    g.add_argument("--gate-range-db", type=float, default=None, help="attenuation (default -80)")
    g.add_argument(
        "--gate-ratio", type=float, default=None, help="inf: gate, finite: expander (inf)"
    )
    g.add_argument("--gate-attack-ms", type=float, default=None, help="opening (default 1)")
    g.add_argument("--gate-hold-ms", type=float, default=None, help="hold (default 20)")
    g.add_argument("--gate-release-ms", type=float, default=None, help="closing (default 100)")
    g = p.add_argument_group("loudness normalizer (replaces the limiter stage; ends with one)")
    g.add_argument(
        "--target-lufs",
        type=float,
        default=None,
        help="steer the gain toward this loudness, LUFS (e.g. -23 EBU R128, -16 streaming)",
    )
    g.add_argument(
        "--loudness-slew-db-per-s",
        type=float,
        default=None,
        help="most the normalizer's gain moves per second, dB (default 3)",
    )
    g.add_argument(
        "--loudness-max-gain-db",
        type=float,
        default=None,
        help="most the normalizer boosts or cuts, dB (default 20)",
    )


# Defaults of the gate options (see add_dynamics_options).
_GATE_DEFAULTS = {
    "gate_range_db": -80.0,
    "gate_ratio": math.inf,
    "gate_attack_ms": 1.0,
    "gate_hold_ms": 20.0,
    "gate_release_ms": 100.0,
}


_LOUDNESS_DEFAULTS = {"loudness_slew_db_per_s": 3.0, "loudness_max_gain_db": 20.0}


def _loudness_values(args: argparse.Namespace) -> dict[str, float]:
    """The normalizer options' values (defaults filled in); ParameterError when one is
    given without ``--target-lufs``, or ``--target-lufs`` with ``--no-limiter``."""
    target = getattr(args, "target_lufs", None)
    given = [k for k in _LOUDNESS_DEFAULTS if getattr(args, k, None) is not None]
    if given and target is None:
        options = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ParameterError(
            f"{options} given without --target-lufs: the loudness normalizer is only "
            "added with --target-lufs, so these options would be ignored"
        )
    if target is not None and args.no_limiter:
        raise ParameterError(
            "--target-lufs with --no-limiter: the loudness normalizer ends with the limiter "
            "(set by --ceiling-db, --lookahead-ms, --limiter-release-ms)"
        )
    return {
        k: default if getattr(args, k, None) is None else float(getattr(args, k))
        for k, default in _LOUDNESS_DEFAULTS.items()
    }


def _gate_values(args: argparse.Namespace) -> dict[str, float]:
    """The gate options' values (defaults filled in); ParameterError when one is given
    without ``--gate-threshold-db`` (it would have no effect)."""
    given = [k for k in _GATE_DEFAULTS if getattr(args, k, None) is not None]
    if given and args.gate_threshold_db is None:
        options = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ParameterError(
            f"{options} given without --gate-threshold-db: the gate is only added with "
            "--gate-threshold-db, so these options would be ignored"
        )
    return {
        k: default if getattr(args, k, None) is None else float(getattr(args, k))
        for k, default in _GATE_DEFAULTS.items()
    }


def dynamics_settings(
    args: argparse.Namespace, meter_interval_ms: float | None
) -> DynamicsSettings:
    """The chain's settings from options added by :func:`add_dynamics_options`.

    Raises ParameterError (exit 2) for values the operators refuse, for a gate option
    (``--gate-range-db``, ...) given without ``--gate-threshold-db``, and for a
    normalizer option without ``--target-lufs`` (or it with ``--no-limiter``).
    """
    from operators.dynamics import DynamicsSettings

    gate = _gate_values(args)
    loudness = _loudness_values(args)
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
        gate_range_db=gate["gate_range_db"],
        gate_ratio=gate["gate_ratio"],
        gate_attack_ms=gate["gate_attack_ms"],
        gate_hold_ms=gate["gate_hold_ms"],
        gate_release_ms=gate["gate_release_ms"],
        meter_interval_ms=meter_interval_ms,
        target_lufs=getattr(args, "target_lufs", None),
        loudness_slew_db_per_s=loudness["loudness_slew_db_per_s"],
        loudness_max_gain_db=loudness["loudness_max_gain_db"],
    )
