"""CompositeSink: the fg drawn over the bg where the aligner placed it, while it aligns.

A sink in the alignment graph (:func:`mediastream.align.build_align_graph`, the demo):
it takes the aligner's events (``"align_registration"``, then one ``"align_pair"`` per
fg frame, fg order, bg never going back) and writes each output frame as soon as its
pair arrives: the bg frame of the pair, in colour at the bg's full size, with the fg
frame resized into the registered region, in the fg's timing
(:class:`sinks.VideoFileSink` encodes).

**Where the full-size frames come from.** The aligner decodes small grey frames; the
composite needs colour frames at full size. They are not sent through graph edges: a
node's inputs are merged in time order, and the fg's time 0 is somewhere inside the bg
(at bg time ``T``), so a sink fed fg and bg frames through edges would have to hold
``T`` seconds of full-size frames (or stall the join past ``max_skew_s``) before the
bg frame of the first pair is released to it. Instead the alignment's own sources hand
each decoded frame over before shrinking it (:meth:`CompositeSink.attach`, the
sources' ``on_video_frame`` hook), and the sink keeps the newest of each input, up to
``frame_cache_mb`` (a bounded window; older ones are dropped). A pair whose frame is
still in the window is drawn from it, so each file is decoded once.

The pairs come well behind the sources: the aligner confirms the registration over
frames spread in time and decides each pair up to ``max_lag`` frames later (on a 1080p
test pair the bg frame of a pair was 36-99 frames behind the newest bg frame decoded,
and the first pairs came once the whole 5 s fg was decoded). A frame that already left
the window (a large fg start offset, or a small window) is decoded by the sink itself,
from its own PyAV decoder of the file, which only moves forward: so no frame is
decoded more than twice, the cost without the window. :attr:`CompositeSink.frames_decoded`
counts the frames the sink decoded itself. Pairs that arrive faster than the sink
writes them wait in the graph's bounded edge (``Graph(buffer_size=...)``, 16 items by
default); when it is full the aligner waits (backpressure), so memory never grows
with the input.

Nothing here imports PyAV or OpenCV at import time.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream import (
    DecodeError,
    Event,
    EventSpec,
    IncompatibleInputError,
    Item,
    ParameterError,
    Sink,
    StreamSpec,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from mediastream.align import AlignSetup

__all__ = ["CompositeSink", "composite_region"]

DEFAULT_FRAME_CACHE_MB = 512.0

_KINDS = frozenset({"align_registration", "align_pair"})


def composite_region(
    region: tuple[float, float, float, float], bg_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The whole-pixel box ``(x0, y0, x1, y1)`` the fg is drawn into: ``region`` (x, y,
    w, h in full bg pixels) rounded and clipped to the bg.

    Raises:
        ParameterError: the region lies outside the bg.
    """
    bw, bh = bg_size
    x, y, w, h = region
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(bw, round(x + w)), min(bh, round(y + h))
    if x1 <= x0 or y1 <= y0:
        raise ParameterError(f"composite: region {region} lies outside the {bw}x{bh} bg")
    return x0, y0, x1, y1


class _FrameWindow:
    """The newest decoded frames a source handed over, by frame index, at most
    ``budget`` bytes of them; filled from the decoding thread, read from the sink's."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._frames: deque[tuple[int, Any, int]] = deque()
        self._bytes = 0
        self.peak = 0  # the most bytes held at once
        self._lock = threading.Lock()

    def put(self, port: str, index: int, frame: Any) -> None:
        """Keep ``frame`` (``FileSource``'s ``on_video_frame`` hook)."""
        size = sum(p.buffer_size for p in frame.planes)
        if size > self.budget:
            return
        with self._lock:
            self._frames.append((index, frame, size))
            self._bytes += size
            while self._bytes > self.budget:
                self._bytes -= self._frames.popleft()[2]
            self.peak = max(self.peak, self._bytes)

    def take(self, index: int) -> Any:
        """Frame ``index`` if it is in the window, else ``None``; frames before it are
        dropped (pairs never go back)."""
        with self._lock:
            frames = self._frames
            while frames and frames[0][0] < index:
                self._bytes -= frames.popleft()[2]
            if frames and frames[0][0] == index:
                return frames[0][1]
            return None

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._bytes = 0


class CompositeSink(Sink):
    """Writes the fg overlaid on the bg to ``path``, one frame per ``"align_pair"`` event.

    Args:
        setup: the alignment's :class:`~mediastream.align.AlignSetup` (the two files,
            the bg's full size, the working-size ``factor`` the registration is in).
        path: output video; the container comes from the extension.
        codec: encoder (default ``"libx264"``); ``pixel_format`` and ``crf`` as
            :class:`sinks.VideoFileSink` takes them (defaults ``"yuv420p"``, 20).
        frame_cache_mb: megabytes (10**6 bytes) of decoded frames kept per input
            from the alignment's sources once :meth:`attach` connects them (default
            512: 165 frames of a 1080p bg in 4:2:0, 3.1 MB each); 0 keeps none, so
            the sink decodes both files itself.

    The output has the bg's size and the fg's timing: frame ``k`` is fg frame ``k``'s
    pair, with fg frame ``k``'s pts and time base, at the fg's average frame rate. The
    region comes from the ``"align_registration"`` event (working pixels, scaled by
    ``1 / setup.factor``); an ``"align_pair"`` before it is an error (VideoAlign emits
    the registration first). Other event kinds are ignored. When no pair arrives, no
    file is written (:attr:`frames_written` stays 0).

    Memory: up to ``frame_cache_mb`` of decoded frames per attached input, plus one fg
    and one bg frame (module docs).
    """

    accepts = frozenset({"events"})
    heavy = True

    def __init__(
        self,
        setup: AlignSetup,
        path: str | os.PathLike[str],
        *,
        codec: str = "libx264",
        pixel_format: str = "yuv420p",
        crf: int = 20,
        frame_cache_mb: float = DEFAULT_FRAME_CACHE_MB,
    ) -> None:
        import math

        from sinks import VideoFileSink

        finite = isinstance(frame_cache_mb, int | float) and math.isfinite(frame_cache_mb)
        if not (finite and frame_cache_mb >= 0):
            raise ParameterError(
                f"CompositeSink.frame_cache_mb must be a finite number >= 0 (MB), got "
                f"{frame_cache_mb!r}"
            )
        self.setup = setup
        self.frame_cache_mb = float(frame_cache_mb)
        budget = round(frame_cache_mb * 1e6)
        self._windows = {"fg": _FrameWindow(budget), "bg": _FrameWindow(budget)}
        self._attached = {"fg": False, "bg": False}
        self.path = Path(path)
        self.codec, self.pixel_format, self.crf = codec, pixel_format, crf
        VideoFileSink(self.path, codec=codec, pixel_format=pixel_format, crf=crf)  # validates
        self._out: VideoFileSink | None = None
        self._containers: list[Any] = []
        self._reset()

    def _reset(self) -> None:
        self.box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 in bg pixels
        self.frames_written = 0
        self._fg_frames: Iterator[Any] | None = None
        self._bg_frames: Iterator[Any] | None = None
        self._fg_index = -1
        self._bg_index = -1
        self._fg_frame: Any = None
        self._bg_img: npt.NDArray[np.uint8] | None = None
        self._time_base = Fraction(1, 90000)
        # Where the sink's own decoders stand (the last frame each decoded).
        self._own = {"fg": -1, "bg": -1}
        self.frames_decoded = 0
        self._last_peak_mb = 0.0
        # (The windows are not cleared here: open() runs while the sources may already
        # be decoding. close() clears them, at the end of each run.)

    @property
    def cache_peak_mb(self) -> float:
        """The most decoded frames the two windows held in the last run, in MB (each
        window's largest, summed)."""
        now = sum(w.peak for w in self._windows.values()) / 1e6
        return max(now, self._last_peak_mb)

    def attach(self, fg: Any, bg: Any) -> None:
        """Take the decoded frames of the alignment's fg and bg sources
        (:class:`stream.FileSource`, through their ``on_video_frame`` hook) instead of
        decoding both files again; call before the run. A source with a hook already
        set is left alone (its frames are decoded again here)."""
        for role, source in (("fg", fg), ("bg", bg)):
            if getattr(source, "on_video_frame", False) is None and self.frame_cache_mb > 0:
                source.on_video_frame = self._windows[role].put
                self._attached[role] = True

    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        """Accept events that may carry the aligner's pairs."""
        for spec in inputs.values():
            if not isinstance(spec, EventSpec):
                raise IncompatibleInputError(
                    f"CompositeSink takes the aligner's events, got {spec}"
                )
            if spec.kinds is not None and not spec.kinds >= _KINDS:
                raise IncompatibleInputError(
                    f"CompositeSink needs align_registration and align_pair events, its "
                    f"input carries {spec}"
                )

    def open(self) -> None:
        """Open both files for decoding and the encoder (started at the first pair)."""
        import av

        from sinks import VideoFileSink
        from stream import MediaOpenError, VideoSpec

        self._finish()  # (not close(): the sources may already have handed frames over)
        self._reset()
        try:
            fgc = av.open(self.setup.fg_path)
            self._containers.append(fgc)
            bgc = av.open(self.setup.bg_path)
            self._containers.append(bgc)
        except (av.error.FFmpegError, OSError) as exc:
            self._close_inputs()
            raise MediaOpenError(f"CompositeSink: cannot open {exc}") from exc
        fgs, bgs = fgc.streams.video[0], bgc.streams.video[0]
        rate = Fraction(fgs.average_rate or fgs.guessed_rate or 25)
        self._time_base = Fraction(fgs.time_base or Fraction(1, 90000))
        self._fg_frames = fgc.decode(fgs)
        self._bg_frames = bgc.decode(bgs)
        out = VideoFileSink(
            self.path,
            frame_rate=rate,
            codec=self.codec,
            pixel_format=self.pixel_format,
            crf=self.crf,
        )
        bw, bh = self.setup.bg_size
        out.configure({"in": VideoSpec(bw, bh, "rgb24", rate, self._time_base)})
        out.open()
        self._out = out

    def write(self, item: Item) -> None:
        """Take the registration, or draw and write the frame of one pair."""
        if not isinstance(item, Event):
            raise TypeError(f"CompositeSink takes events, got {type(item).__name__}")
        if item.kind == "align_registration":
            p = item.payload
            f = 1.0 / self.setup.factor
            self.box = composite_region(
                (p.x * f, p.y * f, p.width * f, p.height * f), self.setup.bg_size
            )
        elif item.kind == "align_pair":
            self._draw(item.payload.fg_index, item.payload.bg_index)

    def _frame(self, role: str, index: int) -> Any:
        """Decoded frame ``index`` of the fg or bg: from the source's window when it is
        still there, else from the sink's own decoder (forward only)."""
        frames = self._fg_frames if role == "fg" else self._bg_frames
        if frames is None:
            raise ValueError("CompositeSink: write before open() or after close()")
        if self._attached[role]:
            frame = self._windows[role].take(index)
            if frame is not None:
                return frame
        frame = None
        while self._own[role] < index:
            try:
                frame = next(frames)
            except StopIteration:
                path = self.setup.fg_path if role == "fg" else self.setup.bg_path
                raise DecodeError(
                    f"CompositeSink: the {role} {path!r} has no frame {self._own[role] + 1}"
                ) from None
            self._own[role] += 1
            self.frames_decoded += 1
        assert frame is not None  # (the pairs' indices only grow)
        return frame

    def _draw(self, fi: int, bj: int) -> None:
        import cv2

        from stream import VideoFrame

        if self.box is None:
            raise ValueError(
                "CompositeSink: an align_pair event arrived before the align_registration "
                "event (the region to draw the fg in)"
            )
        if self._fg_index < fi:
            self._fg_frame = self._frame("fg", fi)
            self._fg_index = fi
        if self._bg_index < bj:
            # Only the bg frame the pair shows is converted to RGB.
            self._bg_img = self._frame("bg", bj).to_ndarray(format="rgb24")
            self._bg_index = bj
        assert self._bg_img is not None and self._out is not None
        x0, y0, x1, y1 = self.box
        # Drawn in place: every pair overwrites the whole box and nothing else, and the
        # encoder copies the frame before write() returns, so the bg image outside the
        # box stays the bg frame's for the next pair that shows it.
        img = self._bg_img
        fg_img = self._fg_frame.to_ndarray(format="rgb24")
        img[y0:y1, x0:x1] = cv2.resize(fg_img, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        pts = self._fg_frame.pts if self._fg_frame.pts is not None else fi
        self._out.write(VideoFrame(img, fi, pts, self._time_base))
        self.frames_written += 1

    def _close_inputs(self) -> None:
        containers, self._containers = self._containers, []
        self._fg_frames = self._bg_frames = None
        self._fg_frame = self._bg_img = None
        for c in containers:
            with contextlib.suppress(Exception):  # a decoder failing to close loses nothing
                c.close()

    def _finish(self, error: BaseException | None = None) -> None:
        out, self._out = self._out, None
        try:
            if out is not None:
                out.close(error)
        finally:
            self._close_inputs()

    def close(self, error: BaseException | None = None) -> None:
        """Finish the video (valid, with every frame written; none when no pair came),
        close the inputs and empty the frame windows; idempotent."""
        try:
            self._finish(error)
        finally:
            self._last_peak_mb = self.cache_peak_mb
            for window in self._windows.values():
                window.clear()
                window.peak = 0
