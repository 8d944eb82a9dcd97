"""Parameter checks and time-constant coefficients shared by the dynamics operators."""

from __future__ import annotations

import math

from stream import ParameterError

__all__ = ["check_db", "check_ms", "check_ratio", "coefficient", "frames_of"]


def check_ms(owner: str, name: str, value: float) -> float:
    """A time in milliseconds: finite and >= 0 (0 means instantaneous)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{owner}.{name} must be a number of ms, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ParameterError(f"{owner}.{name} must be a finite time >= 0 ms, got {value} ms")
    return float(value)


def check_db(
    owner: str, name: str, value: float, *, low: float = -200.0, high: float = 200.0
) -> float:
    """A level or gain in dB: finite and within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{owner}.{name} must be a number of dB, got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ParameterError(
            f"{owner}.{name} must be a finite level within [{low:g}, {high:g}] dB, got {value} dB"
        )
    return float(value)


def check_ratio(owner: str, name: str, value: float, *, allow_inf: bool) -> float:
    """A ratio (x:1): >= 1, not NaN; ``inf`` only when ``allow_inf``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{owner}.{name} must be a number (x:1), got {value!r}")
    if math.isnan(value) or value < 1 or (math.isinf(value) and not allow_inf):
        bound = ">= 1 (inf allowed)" if allow_inf else "finite and >= 1"
        raise ParameterError(f"{owner}.{name} must be {bound}, got {value}")
    return float(value)


def coefficient(ms: float, sample_rate: int) -> float:
    """One-pole coefficient for a time constant: ``a = exp(-1 / (ms * 1e-3 * fs))``.

    ``ms = 0`` gives ``a = 0`` (the output follows the input at once). A step through
    ``e[n] = x[n] + a * (e[n-1] - x[n])`` covers 1 - 1/e (63.2 %) of the way in
    ``ms`` milliseconds.
    """
    if ms <= 0:
        return 0.0
    return math.exp(-1.0 / (ms * 1e-3 * sample_rate))


def frames_of(ms: float, sample_rate: int) -> int:
    """A duration in ms as whole frames at ``sample_rate`` Hz (rounded to nearest)."""
    return round(ms * 1e-3 * sample_rate)
