"""VideoFileSink: encodes the video frames that arrive into a file with PyAV (FFmpeg).

Frames keep their own timing: each frame's ``pts`` and ``time_base`` become the
encoded frame's, and the encoder counts in that time base (not in 1/frame_rate), so
a variable-frame-rate stream or one with dropped or repeated timestamps keeps them
frame for frame, in MP4 as in Matroska (the alignment composite is written in the
foreground's timing this way). The container
comes from the extension (``.mp4``, ``.mkv``, ``.mov``, ``.avi``...), the codec
defaults to H.264 (``libx264``, ``yuv420p``, which needs even sizes).

``close()`` flushes the encoder and closes the container, also after an error, so the
file is valid and holds every frame written before the failure; when no frame
arrived, no file is left behind. ``open()`` starts a new run (one sink can serve
several runs). Encoding and muxing failures raise :class:`stream.EncodeError` naming
the file.

On a full disk the write that meets ENOSPC fails, naming the file; muxers write in
blocks (a Matroska cluster, an MP4 fragment), so that can be some frames after the
last one that fits. What reached the disk stays readable where the container allows:
Matroska (``.mkv``) keeps every whole cluster and reads cleanly; a fragmented MP4
(``options={"movflags": "frag_keyframe+empty_moov"}``) plays up to the cut fragment,
where a strict reader stops with an error; a plain MP4/MOV needs its index, written
at the end, and is unreadable without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from stream import (
    EncodeError,
    IncompatibleInputError,
    Item,
    ParameterError,
    Sink,
    StreamSpec,
    VideoFrame,
    VideoSpec,
)

from ._rawfile import RawFile

__all__ = ["VideoFileSink"]

_FORMATS = {"rgb24": "rgb24", "bgr24": "bgr24", "gray": "gray"}
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError)


class VideoFileSink(Sink):
    """Writes video frames to ``path``.

    Args:
        path: output file; the container comes from the extension. It is locked
            (``flock``) before it is truncated, when the first frame arrives: a
            second writer of the same file fails with an EncodeError naming it.
        frame_rate: nominal frames per second written in the header (default: the
            input spec's, else 25). Frames keep their own timestamps.
        codec: encoder name (default ``"libx264"``).
        pixel_format: encoder pixel format (default ``"yuv420p"``); must be one the
            codec can encode.
        crf: constant rate factor for x264/x265 (default 20; lower is better quality).
        options: container (muxer) options, as ``ffmpeg`` takes them after ``-f``: e.g.
            ``{"movflags": "frag_keyframe+empty_moov"}`` writes a fragmented MP4, which
            stays readable up to its last whole fragment if the run is cut short (a
            full disk, a crash). Default: none.

    Raises:
        ParameterError: a bad frame rate, crf, codec, pixel format or options.
    """

    accepts = frozenset({"video"})
    heavy = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        frame_rate: float | Fraction | None = None,
        codec: str = "libx264",
        pixel_format: str = "yuv420p",
        crf: int = 20,
        options: Mapping[str, str] | None = None,
    ) -> None:
        if frame_rate is not None and not 0 < frame_rate <= 1000:
            raise ParameterError(
                f"VideoFileSink.frame_rate must be in (0, 1000] fps, got {frame_rate}"
            )
        if not 0 <= crf <= 51:
            raise ParameterError(f"VideoFileSink.crf must be 0..51, got {crf}")
        try:
            encoder = av.Codec(codec, "w")
        except (av.error.FFmpegError, ValueError):
            raise ParameterError(f"VideoFileSink.codec: FFmpeg cannot encode {codec!r}") from None
        try:
            av.VideoFormat(pixel_format)
        except (TypeError, ValueError):
            raise ParameterError(
                f"VideoFileSink.pixel_format: {pixel_format!r} is not a pixel format"
            ) from None
        supported = [f.name for f in (encoder.video_formats or ())]
        if supported and pixel_format not in supported:
            raise ParameterError(
                f"VideoFileSink.pixel_format: {codec!r} cannot encode {pixel_format!r}; "
                f"it takes {', '.join(supported)}"
            )
        if options is not None and (
            not isinstance(options, Mapping)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in options.items())
        ):
            raise ParameterError(
                f"VideoFileSink.options must map option names to str values, got {options!r}"
            )
        self.options: dict[str, str] = dict(options or {})
        self.path = Path(path)
        self.frame_rate = frame_rate
        self.codec = codec
        self.pixel_format = pixel_format
        self.crf = crf
        self._spec: VideoSpec | None = None
        self._container: Any = None
        self._file: RawFile | None = None
        self._stream: Any = None
        self._last_pts: int | None = None
        self.frames_written = 0

    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        (spec,) = inputs.values()
        if not isinstance(spec, VideoSpec):
            raise IncompatibleInputError(f"VideoFileSink takes video, got {spec}")
        if spec.pixel_format not in _FORMATS:
            raise IncompatibleInputError(
                f"VideoFileSink takes rgb24/bgr24/gray frames, got {spec.pixel_format}"
            )
        if self.pixel_format.startswith("yuv420") and (spec.width % 2 or spec.height % 2):
            raise IncompatibleInputError(
                f"VideoFileSink: {self.pixel_format} needs even sizes, got "
                f"{spec.width}x{spec.height}; ask the source for an even size"
            )
        self._spec = spec

    def open(self) -> None:
        """Start a run: finish a previous run's file if still open, reset the counters."""
        self.close()
        self._stream = None
        self._last_pts = None
        self.frames_written = 0

    def _start(self, frame: VideoFrame) -> None:
        spec = self._spec
        rate = self.frame_rate or (spec.frame_rate if spec else None) or 25
        # FFmpeg writes through a Python file: a failed write (ENOSPC) raises in Python.
        # Written by FFmpeg's own file protocol, the fragments of a fragmented MP4 that
        # did not fit were lost without any error.
        try:
            # Locked before it is truncated: a second writer fails, naming the file.
            file = RawFile(self.path, "VideoFileSink")
        except EncodeError:
            raise
        except OSError as exc:
            raise EncodeError(f"VideoFileSink: cannot create {self.path}: {exc}") from exc
        try:
            container = av.open(file, mode="w", container_options=self.options)
        except _AV_ERRORS as exc:
            file.close()
            self.path.unlink(missing_ok=True)
            raise EncodeError(f"VideoFileSink: cannot create {self.path}: {exc}") from exc
        self._file = file
        try:
            rate_q = Fraction(rate).limit_denominator(1001000)
            stream: Any = container.add_stream(self.codec, rate=rate_q)
            stream.width, stream.height = frame.width, frame.height
            stream.pix_fmt = self.pixel_format
            # The encoder counts in the frames' own time base: in 1/rate, frames of a
            # variable-rate input closer than 1/rate collapse onto one pts, and the MP4
            # muxer then refuses the non-increasing timestamps ("Invalid argument").
            stream.codec_context.time_base = frame.time_base
            stream.time_base = frame.time_base
            if self.codec in ("libx264", "libx265"):
                stream.codec_context.options = {"preset": "veryfast", "crf": str(self.crf)}
        except _AV_ERRORS as exc:
            self._abandon(container, exc)
            raise EncodeError(
                f"VideoFileSink: cannot set up {self.codec} in {self.path}: {exc}"
            ) from exc
        self._container, self._stream = container, stream

    def _abandon(self, container: Any, exc: BaseException) -> None:
        """Close ``container`` after a failure before any frame went in; remove its file."""
        try:
            container.close()
        except _AV_ERRORS as exc2:
            exc.add_note(f"closing {self.path} also failed: {exc2}")
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc2:
                exc.add_note(f"closing {self.path} also failed: {exc2}")
        self.path.unlink(missing_ok=True)

    def write(self, item: Item) -> None:
        if type(item) is not VideoFrame:
            raise TypeError(f"VideoFileSink takes video frames, got {type(item).__name__}")
        if self._container is None:
            self._start(item)
        if (item.width, item.height) != (self._stream.width, self._stream.height):
            raise EncodeError(
                f"VideoFileSink: frame {item.index} is {item.width}x{item.height}, the file "
                f"is {self._stream.width}x{self._stream.height}"
            )
        if self._last_pts is not None and item.pts <= self._last_pts:
            raise EncodeError(
                f"VideoFileSink: frame {item.index} pts {item.pts} does not follow {self._last_pts}"
            )
        frame = av.VideoFrame.from_ndarray(item.data, format=_FORMATS[item.pixel_format])
        frame.pts = item.pts
        frame.time_base = item.time_base
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except _AV_ERRORS as exc:
            if not self.frames_written:  # the encoder never took a frame: no file
                container, self._container = self._container, None
                self._abandon(container, exc)
            raise EncodeError(
                f"VideoFileSink: encoding frame {item.index} (pts {item.pts}) into "
                f"{self.path} failed: {exc}"
            ) from exc
        self._last_pts = item.pts
        self.frames_written += 1

    def close(self, error: BaseException | None = None) -> None:
        """Flush the encoder and close the file (also after ``error``).

        After a failure (``error`` set) a further failure here (the disk is still
        full) is attached to ``error`` as a note instead of raised, so the first error
        stays the one reported.
        """
        container, self._container = self._container, None
        if container is None:
            return
        problems: list[EncodeError] = []
        try:
            for packet in self._stream.encode():
                container.mux(packet)
        except _AV_ERRORS as exc:
            problems.append(EncodeError(f"VideoFileSink: finishing {self.path} failed: {exc}"))
            problems[-1].__cause__ = exc
        file, self._file = self._file, None
        for step in (container.close, file.close if file is not None else None):
            if step is None:
                continue
            try:
                step()
            except _AV_ERRORS as exc:
                problems.append(EncodeError(f"VideoFileSink: closing {self.path} failed: {exc}"))
                problems[-1].__cause__ = exc
        if not problems:
            return
        if error is not None:
            for problem in problems:
                error.add_note(str(problem))
            return
        for problem in problems[1:]:
            problems[0].add_note(str(problem))
        raise problems[0]
