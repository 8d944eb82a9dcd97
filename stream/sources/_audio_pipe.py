"""AudioPipe: the audio half of FileSource. Resamples, trims, limits and re-chunks one
decoded audio stream, and keeps it on the file's true timeline.

Every decoded frame is placed by its timestamp.  A frame without one (a damaged
FLAC or MP3 frame that the parser recovered) follows the previous frame; a hole in
the timestamps (packets lost) is filled with silence, once; a frame that overlaps what
was already placed (recovered frames that took the place of lost ones) loses its
overlapping start.  So audio after damage keeps its true time: a 10 s FLAC with a
damaged stretch decodes to 10 s, not to 10 s plus the recovered frames.

In a format whose timestamps never have a hole or an overlap (WAV, FLAC, AIFF:
``strict``), a frame without a timestamp, a hole, an overlap, or a timestamp past
the declared end is damage: it ends the stream there with ``failure`` set
(``on_error="raise"``, after everything before it was delivered) or is listed in
``damage`` (``on_error="skip"``, once per damaged stretch). Elsewhere (MP3, MPEG-TS,
Ogg, MP4...) holes are filled and untimed frames placed as before, an overlap is
cut and listed in ``damage`` in both modes, and a backward jump of more than
0.5 s is a new origin of the timestamps (recordings joined), not an overlap: the
audio goes on where it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from .._items import AudioChunk
from .probe import channel_layout

__all__ = ["MAX_JITTER_S", "AudioPipe"]

MAX_JITTER_S = Fraction(1, 50)  # holes or overlaps in audio timestamps above this count
_JUMP_S = Fraction(1, 2)  # a backward step longer than this (and than the audio placed
# by guess) is a jump of the timestamps, not an overlap (formats that are not strict)


def _trim_front(frame: Any, samples: int) -> Any:
    """``frame`` without its first ``samples`` samples (None when nothing is left)."""
    import av

    if samples >= frame.samples:
        return None
    arr = frame.to_ndarray()
    if frame.format.is_planar:
        arr = arr[:, samples:]
    else:
        arr = arr[:, samples * len(frame.layout.channels) :]
    out = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(arr), format=frame.format.name, layout=frame.layout.name
    )
    out.sample_rate = frame.sample_rate
    return out


class AudioPipe:
    """Resample, trim, limit and re-chunk one audio stream (see the module).

    Args:
        where: how messages name the stream (``"'a.flac': audio stream 0"``).
        strict: the container's timestamps have no holes (WAV, FLAC, AIFF...): a hole
            is damage, not a pause.
        limit: the latest timestamp (s) the file's declared length allows (None:
            unknown); a frame past it is damage.
        on_error: ``"raise"`` stops at the first damage (``failure``), ``"skip"``
            reads on and lists it in ``damage``.
    """

    def __init__(
        self,
        port: str,
        rate: int,
        channels: int,
        chunk: int,
        start: Fraction,
        stop: Fraction | None,
        source_layout: str | None = None,
        *,
        where: str = "audio stream",
        strict: bool = False,
        limit: Fraction | None = None,
        on_error: str = "raise",
    ) -> None:
        import av

        self.port = port
        self.rate = rate
        self.channels = channels
        self.chunk = chunk
        self.where = where
        self.strict = strict
        self.limit = limit  # timestamps past this (s) lie past the declared end
        self.on_error = on_error
        # Keep the stream's own layout when the channel count does not change, so a
        # 3.0 or 4.0 file is not remixed into the default 3- or 4-channel layout.
        layout = channel_layout(channels)
        if source_layout:
            try:
                if len(av.AudioLayout(source_layout).channels) == channels:
                    layout = source_layout
            except (ValueError, av.FFmpegError):
                pass
        # PyAV 18.1 crashes converting planar frames of 8 or more channels to NumPy:
        # take those interleaved ("flt") and transpose.
        self.packed = channels >= 8
        self.layout = layout
        self.resampler = self._resampler()
        # What the resampler was set up for (format, layout, rate of the input): PyAV's
        # resampler passes every later frame through untouched when the first one
        # needed no conversion, so a stream that changes (a damaged MP3 frame header
        # saying stereo in a mono file) gets a new resampler.
        self.input_key: tuple[str, str, int] | None = None
        self.first = math.ceil(start * rate) if start > 0 else 0  # first frame to emit
        self.stop = None if stop is None else math.ceil(stop * rate)  # one past the last
        self.pos: int | None = None  # output frame index of the next resampled sample
        self.next_in: Fraction | None = None  # where the next decoded frame should start, s
        self.timed = False  # a decoded frame had a timestamp
        self.guessed = Fraction(0)  # audio placed without timestamps since the last one, s
        self.filled_s = 0.0  # silence inserted for holes in the stream, seconds
        self.emitted = self.first  # index of the next frame to emit
        self.pending: list[npt.NDArray[np.float32]] = []
        self.pending_frames = 0
        self.done = False
        self.damage: list[str] = []  # damage read past (on_error="skip"), one line each
        self.failure: str | None = None  # the damage that ended the stream ("raise")
        self._in_damage = False  # in a damaged stretch already reported

    def _resampler(self) -> Any:
        import av

        return av.AudioResampler(
            format="flt" if self.packed else "fltp", layout=self.layout, rate=self.rate
        )

    def _new_resampler(self) -> list[AudioChunk]:
        """Flush the resampler (what it holds goes out) and start a new one."""
        import av

        out: list[AudioChunk] = []
        try:
            arrays = list(self._frames_in(None))
        except (ValueError, av.FFmpegError):
            arrays = []  # it cannot flush: its last few ms are lost
        for arr in arrays:
            out.extend(self._push(arr))
        self.resampler = self._resampler()
        return out

    def end_s(self) -> Fraction | None:
        """Where the decoded stream ended, in seconds on the file's timeline."""
        return None if self.pos is None else Fraction(self.pos, self.rate)

    def _damaged(self, at: Fraction, what: str, fatal: bool = True) -> bool:
        """Note damage at ``at`` seconds; True when the stream must end here (``fatal``
        damage with on_error="raise"; other damage is only reported)."""
        message = f"{self.where} is damaged at t={float(at):.3f} s: {what}"
        if fatal and self.on_error == "raise":
            self.failure = message
            self.done = True
            return True
        if not self._in_damage:  # one report per damaged stretch
            self.damage.append(message)
        self._in_damage = True
        return False

    def _silence(self, like: Any, seconds: Fraction) -> list[AudioChunk]:
        import av

        n = round(seconds * like.sample_rate)
        silence = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=n)
        silence.sample_rate = like.sample_rate
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        self.filled_s += float(seconds)
        out: list[AudioChunk] = []
        for arr in self._frames_in(silence):
            out.extend(self._push(arr))
        return out

    def _frames_in(self, frame: Any) -> Iterator[npt.NDArray[np.float32]]:
        for out in self.resampler.resample(frame):
            arr = cast(npt.NDArray[np.float32], out.to_ndarray())
            if self.packed:  # (1, frames * channels) interleaved -> (channels, frames)
                arr = arr.reshape(-1, self.channels).T
            yield arr

    def _place(self, frame: Any, out: list[AudioChunk]) -> Any:
        """Put ``frame`` on the timeline: the frame to resample (None: drop it); the
        silence that fills a hole before it goes to ``out``."""
        at: Fraction | None = None
        if frame.pts is not None and frame.time_base is not None:
            at = frame.pts * Fraction(frame.time_base)  # seconds
        clean = at is not None and (self.next_in is None or abs(at - self.next_in) <= MAX_JITTER_S)
        if clean:
            self._in_damage = False
        if at is not None and self.limit is not None and at > self.limit:
            # A damaged timestamp: keeping it would fill the hole up to it with silence
            # and invent a timeline longer than the file.
            self._damaged(at, "a timestamp past the end the file declares (dropped)")
            return None
        if at is None and self.timed and self.next_in is not None:
            # A frame without a timestamp in a timed stream: recovered after damage
            # (a container that times every frame), or one the demuxer left untimed.
            if self.strict and self._damaged(self.next_in, "audio frames without timestamps"):
                return None
            at = self.next_in
            self.guessed += Fraction(frame.samples, frame.sample_rate or self.rate)
        elif at is not None:
            self.timed = True
        if self.pos is None:
            self.pos = 0 if at is None else round(at * self.rate)
        elif at is not None and self.next_in is not None:
            gap = at - self.next_in
            if gap > MAX_JITTER_S:
                if self.strict and self._damaged(
                    self.next_in, f"{float(gap):.3f} s of audio missing"
                ):
                    return None
                # Packets lost (on_error="skip") or a hole in the stream: fill it
                # with silence so that what follows keeps its true time.
                out.extend(self._silence(frame, gap))
            elif gap < -MAX_JITTER_S and not self.strict and -gap > self.guessed + _JUMP_S:
                # Timestamps jump back (recordings joined, an MPEG-TS splice): not
                # damage but a new origin; the audio goes on where it is, as before.
                at = self.next_in
            elif gap < -MAX_JITTER_S:
                # It starts inside audio already placed (recovered frames placed by
                # guess, a damaged timestamp): keep only what is new.
                overlap = f"{float(-gap):.3f} s of audio overlap what came before"
                if self._damaged(at, overlap, fatal=self.strict):
                    return None
                frame = _trim_front(frame, round(-gap * frame.sample_rate))
                if frame is None:
                    return None
                at = self.next_in
        if at is not None and frame.sample_rate:
            self.next_in = at + Fraction(frame.samples, frame.sample_rate)
        if clean:
            self.guessed = Fraction(0)
        return frame

    def feed(self, frame: Any) -> list[AudioChunk]:
        """Take one decoded frame (None flushes the resampler)."""
        import av

        if self.done:
            return []
        out: list[AudioChunk] = []
        if frame is None:
            try:
                arrays = list(self._frames_in(None))
            except (ValueError, av.FFmpegError):
                arrays = []  # a resampler that cannot flush: its last few ms are lost
            for arr in arrays:
                out.extend(self._push(arr))
            return out + self._drain(final=True)
        try:
            self._feed(frame, out)
        except (ValueError, av.FFmpegError) as exc:
            # A frame FFmpeg cannot convert (a damaged header: no channels, a
            # nonsensical layout or rate): damage; the next frame gets a new resampler.
            self.resampler = self._resampler()
            self.input_key = None
            at = self.next_in if self.next_in is not None else Fraction(self.pos or 0, self.rate)
            what = (
                f"an audio frame FFmpeg cannot convert ({frame.samples} samples, "
                f"{frame.layout.name}, {frame.sample_rate} Hz: {exc})"
            )
            self._damaged(at, what)
        if self.failure is not None:
            out.extend(self._drain(final=True))  # what came before, then stop
        return out

    def _feed(self, frame: Any, out: list[AudioChunk]) -> None:
        key = (frame.format.name, frame.layout.name, int(frame.sample_rate))
        if self.input_key is not None and key != self.input_key:
            out.extend(self._new_resampler())
        self.input_key = key
        frame = self._place(frame, out)
        if frame is None or self.failure is not None:
            return
        try:
            arrays = list(self._frames_in(frame))
        except ValueError:  # "Frame does not match AudioResampler setup."
            out.extend(self._new_resampler())
            arrays = list(self._frames_in(frame))
        for arr in arrays:
            out.extend(self._push(arr))

    def _push(self, arr: npt.NDArray[np.float32]) -> list[AudioChunk]:
        n = arr.shape[1]
        pos = self.pos or 0
        self.pos = pos + n
        lo = max(0, self.emitted - pos)  # trim samples before the start / already emitted
        hi = n if self.stop is None else min(n, self.stop - pos)
        if hi > lo:
            if self.pending_frames == 0 and pos + lo > self.emitted:
                # A gap before the first kept sample (stream starts after ``start``).
                self.emitted = pos + lo
            self.pending.append(arr[:, lo:hi])
            self.pending_frames += hi - lo
        if self.stop is not None and self.pos >= self.stop:
            self.done = True
            return self._drain(final=True)
        return self._drain(final=False)

    def _drain(self, final: bool) -> list[AudioChunk]:
        out: list[AudioChunk] = []
        if self.pending_frames < self.chunk and not (final and self.pending_frames):
            return out
        buf = self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending, axis=1)
        total = buf.shape[1]
        full = total - total % self.chunk
        for i in range(0, full, self.chunk):
            out.append(
                AudioChunk(
                    np.ascontiguousarray(buf[:, i : i + self.chunk]), self.rate, self.emitted
                )
            )
            self.emitted += self.chunk
        rest = buf[:, full:]
        if final and rest.shape[1]:
            out.append(AudioChunk(np.ascontiguousarray(rest), self.rate, self.emitted))
            self.emitted += rest.shape[1]
            rest = rest[:, :0]
        self.pending = [rest] if rest.shape[1] else []
        self.pending_frames = rest.shape[1]
        return out
