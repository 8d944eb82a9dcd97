"""EnvelopeFollower: peak or RMS envelope of each channel, with attack and release."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from numba import njit

from stream import AudioChunk, Item, ParameterError, StreamSpec

from ._base import DynamicsOperator
from ._fastmath import first_non_finite
from ._params import check_ms, coefficient

__all__ = ["EnvelopeFollower", "follow"]

_chunk = AudioChunk._trusted  # outputs: arrays the operator allocated, validated times
_empty = np.empty
_F32 = np.float32


@njit(cache=True, nogil=True, error_model="numpy")
def follow(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    state: npt.NDArray[np.float64],
    attack: float,
    release: float,
    rms: bool,
) -> int:
    """The envelope of every channel of ``x`` into ``y`` (float32), state in float64.

    ``v = |x|`` (peak) or ``x**2`` (RMS: the mean square is followed and ``y`` gets
    its square root). ``e[n] = v[n] + c * (e[n-1] - v[n])`` with ``c = attack`` when
    ``v[n] > e[n-1]`` and ``release`` otherwise, evaluated as
    ``c * e[n-1] + (1 - c) * v[n]`` (both candidates are computed and one is kept,
    which shortens the dependency chain from one frame to the next); channels go
    two at a time so that their two chains overlap. ``state[c]`` holds ``e`` between
    calls. ``x`` must be C-contiguous. Returns the index of the first frame with a
    non-finite sample (then nothing is processed) or -1.
    """
    bad = first_non_finite(x)
    if bad >= 0:
        return bad
    channels, frames = x.shape
    one_a = 1.0 - attack
    one_r = 1.0 - release
    c = 0
    while c < channels:
        pair = c + 1 < channels
        d = c + 1 if pair else c
        e0 = state[c]
        e1 = state[d]
        for n in range(frames):
            v0 = np.float64(x[c, n])
            v1 = np.float64(x[d, n])
            v0 = v0 * v0 if rms else abs(v0)
            v1 = v1 * v1 if rms else abs(v1)
            u0 = attack * e0 + one_a * v0
            w0 = release * e0 + one_r * v0
            u1 = attack * e1 + one_a * v1
            w1 = release * e1 + one_r * v1
            e0 = u0 if v0 > e0 else w0
            e1 = u1 if v1 > e1 else w1
            y[c, n] = math.sqrt(e0) if rms else e0
            y[d, n] = math.sqrt(e1) if rms else e1
        state[c] = e0
        state[d] = e1
        c += 2
    return -1


@njit(cache=True, nogil=True, error_model="numpy")
def _follow_packed(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.float32], ps: npt.NDArray[np.float64]
) -> int:
    """:func:`follow` with its parameters and state in one array (``ps`` = attack,
    release, RMS flag, then the state per channel): three arguments for Numba to
    dispatch per chunk instead of six."""
    return follow(x, y, ps[3:], ps[0], ps[1], ps[2] != 0.0)


class EnvelopeFollower(DynamicsOperator):
    """The envelope of each channel: audio in, envelope audio out (same channels).

    Per channel, ``v[n] = |x[n]|`` (``mode="peak"``) or ``x[n]**2`` (``mode="rms"``),
    and the one-pole follower

        ``e[n] = v[n] + c * (e[n-1] - v[n])``, ``c = a_att`` if ``v[n] > e[n-1]``
        else ``a_rel``, with ``a = exp(-1 / (t_ms * 1e-3 * fs))``

    (``t_ms = 0`` gives ``a = 0``: instantaneous). After a step the envelope covers
    63.2 % (1 - 1/e) of the way in ``attack_ms`` (rising) or ``release_ms``
    (falling). In RMS mode the output is ``sqrt(e)`` (the mean square is followed).

    Args:
        attack_ms: attack time constant in ms (default 10), >= 0.
        release_ms: release time constant in ms (default 100), >= 0.
        mode: ``"peak"`` (default) or ``"rms"``.
        meter_interval_ms: None (default) or the window of ``"dynamics"`` meter
            events in ms (input/output peaks; gain reduction reads 0).

    Output float32, state float64 carried between chunks (chunk invariant,
    bit-identical). Zero latency. Non-finite input raises ValueError naming the frame.
    """

    def __init__(
        self,
        attack_ms: float = 10.0,
        release_ms: float = 100.0,
        mode: str = "peak",
        meter_interval_ms: float | None = None,
    ) -> None:
        self.attack_ms = check_ms("EnvelopeFollower", "attack_ms", attack_ms)
        self.release_ms = check_ms("EnvelopeFollower", "release_ms", release_ms)
        if mode not in ("peak", "rms"):
            raise ParameterError(f"EnvelopeFollower.mode must be 'peak' or 'rms', got {mode!r}")
        self.mode = mode
        self._rms = mode == "rms"
        super().__init__(meter_interval_ms)
        self._attack = 0.0
        self._release = 0.0
        self._ones = np.ones((1, 0), np.float64)
        self.reset()

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        specs = super().configure(inputs)
        self._attack = coefficient(self.attack_ms, self._rate)
        self._release = coefficient(self.release_ms, self._rate)
        self.reset()
        return specs

    def reset(self) -> None:
        # Parameters, then the state (see _follow_packed); ``_state`` is its state view.
        self._ps = np.zeros(3 + max(1, self._channels), np.float64)
        self._ps[:3] = (self._attack, self._release, 1.0 if self._rms else 0.0)
        self._state = self._ps[3:]
        self._reset_common()

    def process(self, item: Item) -> list[Item]:
        if type(item) is AudioChunk and item.sample_rate == self._rate and self._meter is None:
            # The common case (no meter), with as little Python as possible; the same
            # checks as below.
            x = item.data
            shape = x.shape
            if shape[0] == self._channels and x.flags.c_contiguous:
                expected = self._next_in
                if expected is not None and item.start != expected:
                    raise self._gap(item.start)
                self._next_in = item.start + shape[1]
                y = _empty(shape, _F32)
                bad = _follow_packed(x, y, self._ps)
                if bad < 0:
                    return [_chunk(y, self._rate, item.start)]
                raise self._non_finite(item.start + bad)
        chunk = self._check(item)
        self._follow(chunk)
        x = chunk.data
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        y = np.empty(x.shape, np.float32)
        bad = follow(x, y, self._state, self._attack, self._release, self._rms)
        if bad >= 0:
            raise self._non_finite(chunk.start + bad)
        if self._meter is None:
            return [_chunk(y, self._rate, chunk.start)]
        if self._ones.shape[1] < x.shape[1]:
            self._ones = np.ones((1, x.shape[1]), np.float64)
        return self._emit(x, y, self._ones[:, : x.shape[1]], chunk.start)

    def flush(self) -> list[Item]:
        return self._meter_flush()
