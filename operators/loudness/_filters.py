"""The filters of ITU-R BS.1770-4: K-weighting at any sample rate, 4x true-peak interpolator."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["MIN_RATE", "TP_HISTORY", "TP_TAPS", "k_weighting", "true_peak_phases"]

MIN_RATE = 8000  # Hz: below, the shelf's 1.7 kHz centre nears or passes Nyquist

# Stage 1 (the head's acoustic effect: a high shelf of about +4 dB) and stage 2 (the RLB
# high-pass) as analogue prototypes, bilinear-transformed at the stream's rate: the
# parameterisation of libebur128 (used by FFmpeg's ebur128), which gives the tabulated
# BS.1770 coefficients at 48 kHz.
_SHELF_F0 = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_VB_EXP = 0.4996667741545416
_HP_F0 = 38.13547087602444
_HP_Q = 0.5003270373238773

# True peak: 4x oversampling by a 49-tap windowed-sinc interpolator (12 taps per phase
# for the three new phases; phase 0 is the input sample itself).
TP_TAPS = 12
TP_HISTORY = TP_TAPS  # input samples each channel carries from one chunk to the next
_TP_FACTOR = 4
_TP_KAISER_BETA = 5.0


def k_weighting(sample_rate: int) -> npt.NDArray[np.float64]:
    """``[b0, b1, b2, a1, a2]`` of the shelf, then of the high-pass (``a0 = 1``).

    At 48 kHz: shelf ``b = [1.53512486, -2.69169619, 1.19839281]``,
    ``a = [1, -1.69065929, 0.73248077]``; high-pass ``b = [1, -2, 1]``,
    ``a = [1, -1.99004745, 0.99007225]`` (BS.1770-4, tables 1 and 2).
    """
    k = math.tan(math.pi * _SHELF_F0 / sample_rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_VB_EXP
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * _HP_F0 / sample_rate)
    a0 = 1.0 + k / _HP_Q + k * k
    highpass = [1.0, -2.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HP_Q + k * k) / a0]
    return np.array(shelf + highpass, np.float64)


def true_peak_phases() -> npt.NDArray[np.float32]:
    """``(3, TP_TAPS)`` float32: the taps of phases 1, 2, 3 of the 4x interpolator (which
    runs in float32: 8 lanes per AVX2 vector; its rounding, about 1e-7 relative, is 1e-6
    dB).

    ``h[n] = sinc((n - 24) / 4) * kaiser(49, 5)[n]``; phase ``p`` of output sample ``m``
    is ``sum_k h[4k + p] * x[m - k]``, each phase scaled to unit DC gain. Phase 0
    (``h[24] = 1``, zeros elsewhere) is the input itself, so the true peak is never
    below the sample peak. ``h`` is symmetric about its centre, so phase 2 is symmetric
    and phase 3 is phase 1 reversed, exactly (the kernel folds the taps on it).
    """
    n = np.arange(_TP_FACTOR * TP_TAPS + 1)
    centre = _TP_FACTOR * TP_TAPS // 2
    h = np.sinc((n - centre) / _TP_FACTOR) * np.kaiser(n.size, _TP_KAISER_BETA)
    phases = np.array([h[p : p + _TP_FACTOR * TP_TAPS : _TP_FACTOR] for p in (1, 2, 3)])
    phases /= phases.sum(axis=1, keepdims=True)
    return np.ascontiguousarray(phases, np.float32)
