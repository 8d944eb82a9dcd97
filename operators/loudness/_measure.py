"""The BS.1770 measurement state that :class:`LoudnessMeter` and
:class:`LoudnessNormalizer` both carry: K-weighting coefficients, channel weights, the
filter and sub-block state, the loudness histograms, and the kernel's scratch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from stream import AudioSpec, IncompatibleInputError

from ._filters import MIN_RATE, k_weighting, true_peak_phases
from ._kernel import BINS, I_SLOTS, I_SUBLEN, I_TP, SCRATCH, measure, state_size

__all__ = ["Measurement"]


class Measurement:
    """K-weighted power in 100 ms sub-blocks, carried across chunks (see ``_kernel``).

    Attributes after :meth:`configure`: ``rate`` (Hz), ``channels``, ``sublen`` (frames
    per 100 ms sub-block); after :meth:`reset`: ``fst``/``ist`` (float and integer
    state), ``hist`` (the loudness histograms) and ``out`` (powers of the sub-blocks
    closed by the last :meth:`measure`, one row each).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.rate = 0
        self.channels = 0
        self.sublen = 0
        self.coef = k_weighting(48_000)
        self.weights = np.ones(1, np.float64)
        self.phases = true_peak_phases()
        self.scratch = np.empty(SCRATCH, np.float64)
        self.reset(true_peak=False, out_rows=2)

    def configure(self, spec: AudioSpec, weights: Sequence[float]) -> None:
        """Take ``spec``'s rate and channels (at least :data:`MIN_RATE` Hz)."""
        if spec.sample_rate < MIN_RATE:
            raise IncompatibleInputError(
                f"{self.owner} needs at least {MIN_RATE} Hz (its K-weighting shelf is at "
                f"1.7 kHz), got {spec.sample_rate} Hz"
            )
        self.rate = spec.sample_rate
        self.channels = spec.channels
        self.sublen = round(spec.sample_rate / 10)
        self.coef = k_weighting(spec.sample_rate)
        self.weights = np.array(weights, np.float64)

    def reset(self, *, true_peak: bool, out_rows: int) -> None:
        """Start measuring afresh; ``out_rows`` sub-blocks may close in one call."""
        self.fst = np.zeros(state_size(max(1, self.channels)), np.float64)
        self.ist = np.zeros(I_SLOTS, np.int64)
        self.ist[I_SUBLEN] = max(1, self.sublen)
        self.ist[I_TP] = 1 if true_peak else 0
        self.hist = np.zeros((3, BINS), np.float64)
        self.out = np.empty((out_rows, 2), np.float64)

    def measure(self, x: npt.NDArray[np.float32], lo: int, hi: int) -> int:
        """Measure frames ``lo:hi`` of ``x``: the number of sub-blocks closed, or
        ``-1 - frame`` of the first non-finite sample."""
        return measure(
            x, lo, hi, self.coef, self.weights, self.phases, self.fst, self.ist, self.hist,
            self.out, self.scratch,
        )  # fmt: skip
