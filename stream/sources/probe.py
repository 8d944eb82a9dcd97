"""Probing media files: streams, durations, rates (``mediastream info``)."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .._exceptions import MediaOpenError

__all__ = [
    "MediaInfo",
    "StreamInfo",
    "channel_layout",
    "describe_container",
    "is_stream_input",
    "is_url",
    "open_container",
    "probe",
]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")
# FFmpeg's default layouts (av_channel_layout_default) for 1 to 8 channels.
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def channel_layout(channels: int) -> str:
    """A channel layout name for ``channels`` channels (FFmpeg's name for an
    unordered layout beyond 8 channels)."""
    return _LAYOUTS.get(channels, f"{channels} channels")


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a media file.

    ``index`` is the stream's index among streams of its kind (``kind_index``) and in
    the container (``index``); durations are seconds; rates are Hz or frames/s.
    """

    index: int
    kind: str
    kind_index: int
    codec: str
    duration_s: float | None
    time_base: Fraction | None
    start_s: float | None
    bit_rate: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    layout: str | None = None
    sample_format: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: Fraction | None = None
    frames: int | None = None
    pixel_format: str | None = None
    language: str | None = None

    def describe(self) -> str:
        """One line for humans."""
        dur = f"{self.duration_s:.3f} s" if self.duration_s is not None else "duration unknown"
        if self.codec == "unknown":
            what = "codec not decodable by this FFmpeg build"
        elif self.kind == "audio":
            what = (
                f"{self.sample_rate} Hz, {self.channels} ch ({self.layout}), {self.sample_format}"
            )
        elif self.kind == "video":
            fps = f"{float(self.frame_rate):.3f} fps" if self.frame_rate else "fps unknown"
            frames = f", {self.frames} frames" if self.frames else ""
            what = f"{self.width}x{self.height} {self.pixel_format}, {fps}{frames}"
        else:
            what = ""
        rate = f", {self.bit_rate // 1000} kb/s" if self.bit_rate else ""
        return f"#{self.index} {self.kind}:{self.kind_index} {self.codec}: {what}{rate}, {dur}"


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds: container format, duration (s), streams."""

    path: str
    format: str
    duration_s: float | None
    bit_rate: int | None
    size_bytes: int | None
    streams: list[StreamInfo] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[StreamInfo]:
        """Streams of one kind (``"audio"``, ``"video"``, ``"subtitle"``, ...)."""
        return [s for s in self.streams if s.kind == kind]

    def describe(self) -> str:
        """Several lines for humans."""
        dur = f"{self.duration_s:.3f} s" if self.duration_s is not None else "unknown duration"
        size = f", {self.size_bytes / 1e6:.2f} MB" if self.size_bytes is not None else ""
        lines = [f"{self.path}: {self.format}, {dur}{size}"]
        lines += ["  " + s.describe() for s in self.streams]
        return "\n".join(lines)


def is_url(target: str) -> bool:
    """True for ``scheme:...`` targets FFmpeg opens by protocol (http:, rtsp:, file:...)."""
    return bool(_URL.match(target)) and not os.path.exists(target)


STDIN = "-"
"""The path that means the standard input (FFmpeg's ``pipe:0``)."""


def _ffmpeg_target(target: str) -> str:
    """What FFmpeg opens for ``target``: ``"-"`` is the standard input."""
    return "pipe:0" if target == STDIN else target


def is_stream_input(target: str) -> bool:
    """True for an input that can be read only once, from its start: the standard
    input (``"-"``, ``pipe:N``), a named pipe (FIFO), a character device, a socket.
    Such an input is opened once: probing it and reading it use the same container."""
    if target == STDIN or target.startswith("pipe:"):
        return True
    if is_url(target):
        return False
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def open_container(
    path: str | os.PathLike[str],
    options: dict[str, str] | None = None,
    timeout: float | None = None,
) -> Any:
    """Open ``path`` with PyAV for reading, turning failures into MediaOpenError."""
    import av

    target = os.fspath(path)
    if target != STDIN and not is_url(target):
        if not os.path.exists(target):
            raise MediaOpenError(f"cannot open {target!r}: no such file")
        if os.path.isdir(target):
            raise MediaOpenError(f"cannot open {target!r}: it is a directory")
        if os.path.isfile(target) and os.path.getsize(target) == 0:
            raise MediaOpenError(f"cannot open {target!r}: the file is empty (0 bytes)")
    try:
        return av.open(_ffmpeg_target(target), mode="r", options=options or {}, timeout=timeout)
    except av.ExitError as exc:
        if timeout is None:
            raise MediaOpenError(f"cannot open {target!r}: {exc.strerror or exc}") from exc
        raise MediaOpenError(
            f"cannot open {target!r}: no answer from the network for {timeout:g} s (timeout)"
        ) from exc
    except av.FFmpegError as exc:
        raise MediaOpenError(f"cannot open {target!r}: {exc.strerror or exc}") from exc
    except (OSError, ValueError) as exc:
        raise MediaOpenError(f"cannot open {target!r}: {exc}") from exc


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def probe(
    path: str | os.PathLike[str],
    options: dict[str, str] | None = None,
    timeout: float | None = None,
) -> MediaInfo:
    """Read the container header of ``path`` (a file, URL, or ``"-"``: the standard
    input) and describe its streams."""
    target = os.fspath(path)
    container = open_container(target, options, timeout)
    try:
        return describe_container(container, target)
    finally:
        container.close()


def describe_container(container: Any, target: str) -> MediaInfo:
    """Describe the streams of ``container``, open for reading on ``target``; reads
    nothing more from it (an input read once, a pipe, goes on being read from it)."""
    import av

    streams: list[StreamInfo] = []
    counters: dict[str, int] = {}
    for s in container.streams:
        kind = s.type
        k = counters.get(kind, 0)
        counters[kind] = k + 1
        tb = Fraction(s.time_base) if s.time_base is not None else None
        cc = s.codec_context
        common: dict[str, Any] = {
            "index": s.index,
            "kind": kind,
            "kind_index": k,
            "codec": cc.name if cc is not None else "unknown",
            "duration_s": _seconds(s.duration, tb),
            "time_base": tb,
            "start_s": _seconds(s.start_time, tb),
            "bit_rate": cc.bit_rate or None if cc is not None else None,
            "language": s.metadata.get("language"),
        }
        if cc is None and kind in ("audio", "video"):
            # FFmpeg demuxes the stream but has no decoder for its codec.
            streams.append(StreamInfo(**{**common, "codec": "unknown"}))
        elif kind == "audio":
            streams.append(
                StreamInfo(
                    **common,
                    sample_rate=cc.sample_rate,
                    channels=cc.channels,
                    layout=cc.layout.name if cc.layout is not None else None,
                    sample_format=cc.format.name if cc.format is not None else None,
                )
            )
        elif kind == "video":
            rate = s.average_rate or s.guessed_rate or s.base_rate
            streams.append(
                StreamInfo(
                    **common,
                    width=cc.width,
                    height=cc.height,
                    frame_rate=Fraction(rate) if rate else None,
                    frames=s.frames or None,
                    pixel_format=cc.format.name if cc.format is not None else None,
                )
            )
        else:
            streams.append(StreamInfo(**common))
    duration = container.duration / av.time_base if container.duration is not None else None
    if duration is None:
        known = [s.duration_s for s in streams if s.duration_s is not None]
        duration = max(known) if known else None
    size = os.path.getsize(target) if os.path.isfile(target) else None
    return MediaInfo(
        path=target,
        format=container.format.name,
        duration_s=duration,
        bit_rate=container.bit_rate or None,
        size_bytes=size,
        streams=streams,
    )
