"""GainComputer: the static curve of a compressor (threshold, ratio, soft knee, makeup)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from ._params import check_db, check_ratio

__all__ = ["GainComputer", "static_reduction_db"]


@njit(cache=True, nogil=True)
def static_reduction_db(
    level_db: float, threshold_db: float, slope: float, knee_db: float
) -> float:
    """Gain change in dB (<= 0) of the static curve at ``level_db``, without makeup.

    ``slope = 1/ratio - 1``. With ``W = knee_db`` and ``d = level_db - threshold_db``:
    ``0`` for ``2d < -W``; ``slope * (d + W/2)**2 / (2W)`` for ``|2d| <= W`` (the
    quadratic knee); ``slope * d`` for ``2d > W``. Continuous, with a continuous
    first derivative, at both knee edges.
    """
    d = level_db - threshold_db
    if knee_db <= 0.0:
        return slope * d if d > 0.0 else 0.0
    if 2.0 * d < -knee_db:
        return 0.0
    if 2.0 * d > knee_db:
        return slope * d
    k = d + 0.5 * knee_db
    return slope * k * k / (2.0 * knee_db)


@dataclass(frozen=True)
class GainComputer:
    """The static input/output curve of a downward compressor, in dB.

    Args:
        threshold_db: level where compression starts (knee centre), dBFS (default -20).
        ratio: input dB above threshold per output dB (>= 1; ``inf`` is a limiter
            curve; default 4).
        knee_db: width of the soft knee in dB, centred on the threshold (default 6;
            0 is a hard knee). Inside it the gain follows the standard quadratic
            ``(1/R - 1) * (x - T + W/2)**2 / (2W)``, continuous at both edges.
        makeup_db: gain added after compression, dB (default 0).

    ``output_db(x) = x + gain_db(x)``; ``gain_db`` = reduction + makeup. Vectorised
    over NumPy arrays of levels (dBFS).
    """

    threshold_db: float = -20.0
    ratio: float = 4.0
    knee_db: float = 6.0
    makeup_db: float = 0.0

    def __post_init__(self) -> None:
        check_db("GainComputer", "threshold_db", self.threshold_db)
        check_ratio("GainComputer", "ratio", self.ratio, allow_inf=True)
        check_db("GainComputer", "knee_db", self.knee_db, low=0.0, high=100.0)
        check_db("GainComputer", "makeup_db", self.makeup_db, low=-60.0, high=60.0)

    @property
    def slope(self) -> float:
        """``1/ratio - 1``: dB of gain change per dB above the threshold (<= 0)."""
        return 1.0 / self.ratio - 1.0

    def reduction_db(self, level_db: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Gain reduction in dB (<= 0), without makeup, at each input level (dBFS)."""
        x = np.asarray(level_db, np.float64)
        d = x - self.threshold_db
        w = self.knee_db
        slope = self.slope
        out = np.where(2.0 * d > w, slope * d, 0.0)
        if w > 0:
            inside = np.abs(2.0 * d) <= w
            k = d + 0.5 * w
            out = np.where(inside, slope * k * k / (2.0 * w), out)
        return out

    def gain_db(self, level_db: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Gain in dB (reduction + makeup) at each input level (dBFS)."""
        return self.reduction_db(level_db) + self.makeup_db

    def output_db(self, level_db: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Output level in dB for each input level (dBFS): the static curve."""
        return np.asarray(level_db, np.float64) + self.gain_db(level_db)
