"""CompositeSink: the fg drawn over the bg where the aligner placed it, while it aligns.

A sink in the alignment graph (:func:`mediastream.align.build_align_graph`, the demo):
it takes the aligner's events (``"align_registration"``, then one ``"align_pair"`` per
fg frame, fg order, bg never going back) and writes each output frame as soon as its
pair arrives: the bg frame of the pair, in colour at the bg's full size, with the fg
frame resized into the registered region, in the fg's timing
(:class:`sinks.VideoFileSink` encodes).

**Why the sink decodes the colour frames itself.** The aligner decodes small grey
frames; the composite needs colour frames at full size, so each file is decoded a
second time (as a second :class:`stream.FileSource` would). Those colour frames are
not sent through graph edges: a node's inputs are merged in time order, and the fg's
time 0 is somewhere inside the bg (at bg time ``T``), so a sink fed fg and bg frames
through edges would have to hold ``T`` seconds of full-size frames (or stall the join
past ``max_skew_s``) before the bg frame of the first pair is released to it. Pulled
here, in pair order, from one PyAV decoder per file (both only ever move forward),
nothing waits: the sink holds one decoded fg frame and one bg frame, whatever ``T``.
Pairs that arrive faster than the sink writes them wait in the graph's bounded edge
(``Graph(buffer_size=...)``, 16 items by default); when it is full the aligner waits
(backpressure), so memory never grows with the input.

Nothing here imports PyAV or OpenCV at import time.
"""

from __future__ import annotations

import contextlib
import os
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


class CompositeSink(Sink):
    """Writes the fg overlaid on the bg to ``path``, one frame per ``"align_pair"`` event.

    Args:
        setup: the alignment's :class:`~mediastream.align.AlignSetup` (the two files,
            the bg's full size, the working-size ``factor`` the registration is in).
        path: output video; the container comes from the extension.
        codec: encoder (default ``"libx264"``); ``pixel_format`` and ``crf`` as
            :class:`sinks.VideoFileSink` takes them (defaults ``"yuv420p"``, 20).

    The output has the bg's size and the fg's timing: frame ``k`` is fg frame ``k``'s
    pair, with fg frame ``k``'s pts and time base, at the fg's average frame rate. The
    region comes from the ``"align_registration"`` event (working pixels, scaled by
    ``1 / setup.factor``); an ``"align_pair"`` before it is an error (VideoAlign emits
    the registration first). Other event kinds are ignored. When no pair arrives, no
    file is written (:attr:`frames_written` stays 0).

    Memory: one decoded fg frame and one bg frame (module docs).
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
    ) -> None:
        from sinks import VideoFileSink

        self.setup = setup
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

        self.close()
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

    def _next(self, frames: Iterator[Any] | None, role: str, index: int) -> Any:
        if frames is None:
            raise ValueError("CompositeSink: write before open() or after close()")
        try:
            return next(frames)
        except StopIteration:
            path = self.setup.fg_path if role == "fg" else self.setup.bg_path
            raise DecodeError(f"CompositeSink: the {role} {path!r} has no frame {index}") from None

    def _draw(self, fi: int, bj: int) -> None:
        import cv2
        import numpy as np

        from stream import VideoFrame

        if self.box is None:
            raise ValueError(
                "CompositeSink: an align_pair event arrived before the align_registration "
                "event (the region to draw the fg in)"
            )
        while self._fg_index < fi:
            self._fg_frame = self._next(self._fg_frames, "fg", self._fg_index + 1)
            self._fg_index += 1
        while self._bg_index < bj:
            self._bg_img = self._next(self._bg_frames, "bg", self._bg_index + 1).to_ndarray(
                format="rgb24"
            )
            self._bg_index += 1
        assert self._bg_img is not None and self._out is not None
        x0, y0, x1, y1 = self.box
        img = self._bg_img.copy()
        fg_img = self._fg_frame.to_ndarray(format="rgb24")
        img[y0:y1, x0:x1] = cv2.resize(fg_img, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        pts = self._fg_frame.pts if self._fg_frame.pts is not None else fi
        self._out.write(VideoFrame(np.ascontiguousarray(img), fi, pts, self._time_base))
        self.frames_written += 1

    def _close_inputs(self) -> None:
        containers, self._containers = self._containers, []
        self._fg_frames = self._bg_frames = None
        self._fg_frame = self._bg_img = None
        for c in containers:
            with contextlib.suppress(Exception):  # a decoder failing to close loses nothing
                c.close()

    def close(self, error: BaseException | None = None) -> None:
        """Finish the video (valid, with every frame written; none when no pair came) and
        close the inputs; idempotent."""
        out, self._out = self._out, None
        try:
            if out is not None:
                out.close(error)
        finally:
            self._close_inputs()
