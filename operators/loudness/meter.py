"""LoudnessMeter: ITU-R BS.1770-4 / EBU R128 loudness of a stream, as events."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from stream import (
    AudioChunk,
    AudioSpec,
    Event,
    EventSpec,
    IncompatibleInputError,
    Item,
    Operator,
    ParameterError,
    StreamSpec,
)

from ._kernel import (
    I_CLOSED,
    I_FILLED,
    I_N_INT,
    I_N_ST,
    gated,
    peak_slice,
    powers_slice,
    ring_energy_index,
    true_peak_tail,
)
from ._measure import Measurement

__all__ = ["LoudnessMeter", "LoudnessReading", "LoudnessSummary", "channel_weights"]

_SURROUND = 1.41  # BS.1770-4 weight of the surround channels (+1.5 dB)


def channel_weights(channels: int) -> tuple[float, ...]:
    """BS.1770-4 channel weights for the usual layouts: 1.0 each (mono to 3.0 and 4+);
    5 channels (L R C Ls Rs): 1.41 for the surrounds; 6 (5.1, L R C LFE Ls Rs): the LFE
    left out (0) and 1.41 for the surrounds."""
    if channels == 5:
        return (1.0, 1.0, 1.0, _SURROUND, _SURROUND)
    if channels == 6:
        return (1.0, 1.0, 1.0, 0.0, _SURROUND, _SURROUND)
    return (1.0,) * channels


def _lufs(power: float) -> float | None:
    return -0.691 + 10.0 * math.log10(power) if power > 0.0 else None


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _dbtp(peak: float) -> float | None:
    return 20.0 * math.log10(peak) if peak > 0.0 else None


@dataclass(frozen=True)
class LoudnessReading:
    """Loudness at the end of an event's stretch (payload of ``"loudness"`` events).

    Attributes:
        momentary_lufs: loudness of the last 400 ms (None before 400 ms of input, or
            for digital silence).
        short_term_lufs: loudness of the last 3 s (None before 3 s, or silence).
        integrated_lufs: gated loudness of everything so far (BS.1770-4: 400 ms blocks
            every 100 ms, -70 LUFS absolute and -10 LU relative gates; None while no
            block passed the gates).
        loudness_range_lu: EBU Tech 3342 loudness range so far (short-term levels
            every 100 ms, -70 LUFS absolute and -20 LU relative gates, 95th minus 10th
            percentile; 0.0 before any).
        true_peak_dbtp: largest 4x-oversampled peak so far over all channels, dBTP
            (None for silence).
        final: True for the event emitted at end of stream (then ``true_peak_dbtp``
            includes the interpolation past the last sample).
    """

    momentary_lufs: float | None
    short_term_lufs: float | None
    integrated_lufs: float | None
    loudness_range_lu: float
    true_peak_dbtp: float | None
    final: bool = False


@dataclass(frozen=True)
class LoudnessSummary:
    """The whole stream's figures (what ``ffmpeg -af ebur128`` prints at the end).

    Attributes:
        integrated_lufs: integrated loudness (None: nothing above the gates).
        integrated_threshold_lufs: its relative gate (None: no block above -70 LUFS).
        loudness_range_lu: loudness range (0.0 when undefined).
        lra_low_lufs, lra_high_lufs: its 10th and 95th percentiles.
        lra_threshold_lufs: its relative gate.
        true_peak_dbtp: largest true peak over the channels.
        true_peak_dbtp_per_channel: per channel (None for a silent channel).
        max_momentary_lufs, max_short_term_lufs: the largest readings.
        seconds: duration metered.
    """

    integrated_lufs: float | None
    integrated_threshold_lufs: float | None
    loudness_range_lu: float
    lra_low_lufs: float | None
    lra_high_lufs: float | None
    lra_threshold_lufs: float | None
    true_peak_dbtp: float | None
    true_peak_dbtp_per_channel: tuple[float | None, ...]
    max_momentary_lufs: float | None
    max_short_term_lufs: float | None
    seconds: float


class LoudnessMeter(Operator):
    """Streaming loudness (ITU-R BS.1770-4, EBU R128 / Tech 3341 / 3342): events.

    Args:
        interval_ms: one ``"loudness"`` event every ``interval_ms`` (rounded to whole
            100 ms steps, >= 100; default 1000), or None: only the final event at end
            of stream.
        true_peak: measure the 4x-oversampled true peak (default True).
        channel_weights: BS.1770 weight of each channel (default
            :func:`channel_weights`).

    K-weighting (shelf + RLB high-pass, coefficients exact for the stream's rate),
    then mean squares over 100 ms sub-blocks tiled from the first input frame
    (``round(rate / 10)`` frames). Momentary = 4 sub-blocks, short-term = 30,
    integrated from the 400 ms blocks and LRA from the short-term levels, both kept
    in 0.01 LU histograms (memory does not grow with the stream; the gates' and
    percentiles' resolution is 0.01 LU). Events: ``kind="loudness"``, ``start``/``end``
    in frames (the stretch since the previous event), payload
    :class:`LoudnessReading`; :meth:`summary` gives the whole stream's figures.
    Chunk invariant (bit-identical). Non-finite samples raise ValueError naming the
    frame. Latency: one interval.
    """

    accepts = frozenset({"audio"})

    def __init__(
        self,
        interval_ms: float | None = 1000.0,
        true_peak: bool = True,
        channel_weights: Sequence[float] | None = None,
    ) -> None:
        if interval_ms is not None:
            if isinstance(interval_ms, bool) or not isinstance(interval_ms, (int, float)):
                raise ParameterError(
                    f"LoudnessMeter.interval_ms must be a number of ms or None, got {interval_ms!r}"
                )
            if not (math.isfinite(interval_ms) and interval_ms >= 100.0):
                raise ParameterError(
                    f"LoudnessMeter.interval_ms must be >= 100 ms (whole 100 ms steps) or "
                    f"None, got {interval_ms} ms"
                )
        if channel_weights is not None:
            weights = tuple(float(w) for w in channel_weights)
            if not weights or not all(math.isfinite(w) and w >= 0 for w in weights):
                raise ParameterError(
                    f"LoudnessMeter.channel_weights must be finite and >= 0, got {weights}"
                )
            self._weights_arg: tuple[float, ...] | None = weights
        else:
            self._weights_arg = None
        self.interval_ms = None if interval_ms is None else float(interval_ms)
        self.true_peak = bool(true_peak)
        self._every = 0 if interval_ms is None else max(1, round(interval_ms / 100.0))
        self._m = Measurement("LoudnessMeter")
        self.reset()

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        if len(inputs) != 1:
            raise IncompatibleInputError(f"LoudnessMeter takes one input, got {len(inputs)}")
        (spec,) = inputs.values()
        if not isinstance(spec, AudioSpec):
            raise IncompatibleInputError(f"LoudnessMeter takes audio, got {spec}")
        weights = self._weights_arg or channel_weights(spec.channels)
        if len(weights) != spec.channels:
            raise IncompatibleInputError(
                f"LoudnessMeter has {len(weights)} channel weights for {spec.channels} channels"
            )
        self._m.configure(spec, weights)
        self.reset()
        return (EventSpec(frozenset({"loudness"})),)

    def reset(self) -> None:
        self._m.reset(true_peak=self.true_peak, out_rows=4)
        self._first: int | None = None
        self._next_in = 0
        self._last_event = 0  # frame where the next event's stretch starts
        self._flushed = False

    @property
    def latency(self) -> Fraction:
        if not self._m.rate:
            return Fraction(0)
        return Fraction(max(1, self._every) * self._m.sublen, self._m.rate)

    # -- reading the state ------------------------------------------------------------
    def _powers(self) -> tuple[float, float, float, float]:
        """Largest momentary and short-term powers so far, then the last ones."""
        max_m, max_s, m, s = self._m.fst[powers_slice(self._m.channels)].tolist()
        return max_m, max_s, m, s

    def _peaks(self) -> npt.NDArray[np.float64]:
        return self._m.fst[peak_slice(self._m.channels)]

    def _ring_energy(self, k: int) -> float:
        return float(self._m.fst[ring_energy_index(self._m.channels, k)])

    def _integrated(self) -> tuple[float, float]:
        gate, value, _, _ = gated(
            self._m.hist, self._ring_energy(0), int(self._m.ist[I_N_INT]), -10.0, 0
        )
        return gate, value

    def _range(self) -> tuple[float, float, float, float]:
        return gated(self._m.hist, self._ring_energy(1), int(self._m.ist[I_N_ST]), -20.0, 2)

    def _reading(self, momentary: float, short: float, final: bool) -> LoudnessReading:
        lra = self._range()[1]
        peaks = self._peaks()
        return LoudnessReading(
            _lufs(momentary),
            _lufs(short),
            _finite(self._integrated()[1]),
            0.0 if math.isnan(lra) else float(lra),
            _dbtp(float(peaks.max())) if self.true_peak else None,
            final,
        )

    def summary(self) -> LoudnessSummary:
        """The figures of everything metered so far (after :meth:`flush`: the stream's)."""
        gate, integrated = self._integrated()
        lra_gate, lra, low, high = self._range()
        peaks = self._peaks()
        tp = self.true_peak
        max_m, max_s, _, _ = self._powers()
        return LoudnessSummary(
            integrated_lufs=_finite(integrated),
            integrated_threshold_lufs=_finite(gate),
            loudness_range_lu=0.0 if math.isnan(lra) else float(lra),
            lra_low_lufs=_finite(low),
            lra_high_lufs=_finite(high),
            lra_threshold_lufs=_finite(lra_gate),
            true_peak_dbtp=_dbtp(float(peaks.max())) if tp else None,
            true_peak_dbtp_per_channel=tuple(_dbtp(float(p)) if tp else None for p in peaks),
            max_momentary_lufs=_lufs(max_m),
            max_short_term_lufs=_lufs(max_s),
            seconds=(self._next_in - (self._first or 0)) / self._m.rate if self._m.rate else 0.0,
        )

    # -- processing -------------------------------------------------------------------
    def process(self, item: Item) -> list[Item]:
        if type(item) is not AudioChunk:
            raise TypeError(f"LoudnessMeter takes audio chunks, got {type(item).__name__}")
        x = item.data
        channels, frames = x.shape
        start = item.start
        if channels != self._m.channels or item.sample_rate != self._m.rate:
            if not self._m.rate:
                raise RuntimeError("LoudnessMeter is not configured: call configure() first")
            raise ValueError(
                f"chunk is {item.sample_rate} Hz {channels} ch, LoudnessMeter is "
                f"configured for {self._m.rate} Hz {self._m.channels} ch"
            )
        if start != self._next_in or self._first is None:
            if self._first is None:
                self._first = self._last_event = start
            else:
                raise ValueError(
                    f"LoudnessMeter input chunk starts at frame {start}, expected "
                    f"{self._next_in} (chunks must follow each other without gap or overlap)"
                )
        self._next_in = start + frames
        if not frames:
            return []
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        ist = self._m.ist
        every = self._every
        if frames >= self._m.sublen * (self._m.out.shape[0] - 2):
            need = frames // self._m.sublen + 2
            self._m.out = np.empty((max(need, 2 * self._m.out.shape[0]), 2), np.float64)
        events: list[Item] = []
        pos = 0
        while pos < frames:
            # Up to the next event's sub-block at most, so that the event reads the
            # state of that moment whatever the chunking.
            hi = frames
            if every:
                left = every - int(ist[I_CLOSED]) % every
                hi = min(frames, pos + left * self._m.sublen - int(ist[I_FILLED]))
            closed = self._m.measure(x, pos, hi)
            if closed < 0:
                raise ValueError(
                    f"non-finite sample (NaN or inf) at frame {start - 1 - closed} of "
                    "the input of LoudnessMeter; sanitise the input before metering"
                )
            pos = hi
            if not (closed and every):
                continue
            total = int(ist[I_CLOSED])
            if total % every == 0 and not ist[I_FILLED]:
                assert self._first is not None
                end = self._first + total * self._m.sublen
                _, _, m, s = self._powers()
                reading = self._reading(m, s, False)
                tb = Fraction(1, self._m.rate)
                events.append(Event("loudness", self._last_event, end, tb, reading))
                self._last_event = end
        return events

    def flush(self) -> list[Item]:
        """The final event (whole-stream figures; true peak past the last sample)."""
        if self._first is None or self._flushed:
            return []
        self._flushed = True
        if self.true_peak:
            true_peak_tail(self._m.channels, self._m.phases, self._m.fst)
        _, _, m, s = self._powers()
        reading = self._reading(m, s, True)
        tb = Fraction(1, self._m.rate)
        return [Event("loudness", self._last_event, self._next_in, tb, reading)]
