"""FileSource: incremental demux and decode of any FFmpeg-readable file or URL (PyAV).

Audio goes through ``av.AudioResampler`` to the rate and channel layout asked for and
is cut into fixed-size chunks; video is scaled and converted by FFmpeg
(``frame.reformat``), never by Python. Nothing is loaded whole: the source decodes
only as far as the graph has consumed (it runs in a worker thread and blocks when its
edges are full).

Timestamps are exact and share one origin, the file's timestamp zero: an audio chunk's
``start`` counts output frames from time 0 (so ``start=48000`` is t = 1 s at 48 kHz),
a video frame carries the decoder's ``pts`` and the stream's ``time_base``. Samples
before time 0 (encoder priming) and before ``start`` are trimmed sample-exactly; audio
is placed by its timestamps (see :mod:`stream.sources._audio_pipe`): frames without
one follow the previous frame, holes are filled with silence once, overlaps are cut,
so what follows damage keeps its true time.

A pipe (``"-"``, the standard input, ``pipe:N``, a FIFO) is opened once: the
container probed in ``__init__`` is the one read, so one run can read it.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from .._exceptions import DecodeError, MediaOpenError, ParameterError
from .._items import Item, VideoFrame, describe_position
from .._nodes import Source
from .._specs import AudioSpec, StreamSpec, VideoSpec
from ._audio_pipe import AudioPipe
from .probe import (
    MediaInfo,
    StreamInfo,
    describe_container,
    is_stream_input,
    is_url,
    open_container,
)

__all__ = ["AudioFormat", "FileSource", "VideoFormat"]

_PIXEL_FORMATS = ("rgb24", "bgr24", "gray")
_INTERPOLATIONS = ("FAST_BILINEAR", "BILINEAR", "BICUBIC", "POINT", "AREA", "LANCZOS")


def _is_int(value: object) -> bool:
    """An integer (Python or NumPy), not a bool or a float with an integer value."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class AudioFormat:
    """What audio a graph asks a file for.

    Attributes:
        sample_rate: output rate in Hz (default: the stream's own rate).
        channels: output channel count (default: the stream's own); mono/stereo
            down- and up-mixing is done by FFmpeg's resampler.
        chunk_frames: frames per chunk (default 1024); the last chunk may be shorter.
    """

    sample_rate: int | None = None
    channels: int | None = None
    chunk_frames: int = 1024

    def __post_init__(self) -> None:
        rate = self.sample_rate
        if rate is not None and not (
            isinstance(rate, int | float | np.number)
            and not isinstance(rate, bool)
            and math.isfinite(rate)
            and rate == int(rate)
            and rate > 0
        ):
            raise ParameterError(
                f"AudioFormat.sample_rate must be a positive int (Hz), got {self.sample_rate}"
            )
        if self.channels is not None and not (_is_int(self.channels) and 1 <= self.channels <= 64):
            raise ParameterError(f"AudioFormat.channels must be an int 1..64, got {self.channels}")
        if not (_is_int(self.chunk_frames) and self.chunk_frames >= 1):
            raise ParameterError(
                f"AudioFormat.chunk_frames must be >= 1 frame, got {self.chunk_frames}"
            )


@dataclass(frozen=True)
class VideoFormat:
    """What video a graph asks a file for.

    Attributes:
        width: output width in pixels (default: the stream's; if only ``height`` is
            given, the width keeps the aspect ratio).
        height: output height in pixels (same rule).
        pixel_format: ``"rgb24"`` (default), ``"bgr24"`` (OpenCV order) or ``"gray"``.
        interpolation: FFmpeg scaler (``"BILINEAR"`` default, ``"AREA"`` for strong
            downscaling, ``"BICUBIC"``, ``"LANCZOS"``, ``"POINT"``, ``"FAST_BILINEAR"``).
    """

    width: int | None = None
    height: int | None = None
    pixel_format: str = "rgb24"
    interpolation: str = "BILINEAR"

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            v = getattr(self, name)
            if v is not None and not (_is_int(v) and 1 <= v <= 16384):
                raise ParameterError(
                    f"VideoFormat.{name} must be an int 1..16384 pixels, got {v!r}"
                )
        if self.pixel_format not in _PIXEL_FORMATS:
            raise ParameterError(
                f"VideoFormat.pixel_format must be one of {_PIXEL_FORMATS}, "
                f"got {self.pixel_format!r}"
            )
        if self.interpolation.upper() not in _INTERPOLATIONS:
            raise ParameterError(
                f"VideoFormat.interpolation must be one of {_INTERPOLATIONS}, "
                f"got {self.interpolation!r}"
            )

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """Output size for a ``width`` x ``height`` stream."""
        w, h = self.width, self.height
        if w is None and h is None:
            return width, height
        if w is None:
            assert h is not None
            return max(1, round(width * h / height)), h
        if h is None:
            return w, max(1, round(height * w / width))
        return w, h


_MAX_FAILED_READS = 100  # on_error="skip": unreadable packets in a row before giving up
# Containers whose header states each stream's exact length (sample tables, data chunk
# size, FLAC STREAMINFO): a stream that ends well before it was truncated. Other
# formats (MP3, Ogg, MPEG-TS...) estimate their duration and are not checked.
_EXACT_LENGTH_FORMATS = frozenset(["wav", "w64", "aiff", "flac", "mov,mp4,m4a,3gp,3g2,mj2", "caf"])
_TRUNCATION_SLACK_S = 0.25  # plus 1 % of the declared length
# Containers whose header states the length of every stream (a WAV's data size,
# FLAC's STREAMINFO, Matroska's Duration, written from the latest timestamp): a
# timestamp well past it is damage, not a later frame. Not MP4: its declared duration
# comes from sample durations that muxers fill in loosely for variable frame rates.
_DECLARED_LENGTH_FORMATS = frozenset(["wav", "w64", "aiff", "flac", "caf", "matroska,webm"])
# Containers whose audio timestamps never have a hole: one is damage (lost packets).
_GAPLESS_FORMATS = frozenset(["wav", "w64", "aiff", "flac", "caf"])


class _VideoPipe:
    """Convert, trim and limit one video stream."""

    def __init__(
        self,
        port: str,
        fmt: VideoFormat,
        size: tuple[int, int],
        time_base: Fraction,
        frame_rate: Fraction | None,
        start: Fraction,
        stop: Fraction | None,
        *,
        where: str = "video stream",
        limit: Fraction | None = None,
        on_error: str = "raise",
        tap: Callable[[str, int, Any], None] | None = None,
    ) -> None:
        self.port = port
        self.tap = tap
        self.where = where
        self.limit = limit  # frames later than this (s) lie past the declared end
        self.on_error = on_error
        self.damage: list[str] = []
        self.failure: str | None = None
        self.fmt = fmt
        self.width, self.height = size
        self.time_base = time_base
        self.start = start
        self.stop = stop
        self.index: int | None = None
        self.frame_rate = frame_rate
        self.last_pts: int | None = None
        self.last_end_pts: int | None = None  # where the last frame kept stops showing
        self.pts_step = max(1, round(1 / (frame_rate * time_base))) if frame_rate else 1
        self.frames_in = 0  # decoded frames seen, before trimming to start/duration
        self.done = False

    def end_s(self) -> Fraction | None:
        """The time of the last frame decoded, in seconds."""
        return None if self.last_pts is None else self.last_pts * self.time_base

    def shown_until_s(self) -> Fraction | None:
        """The time the last frame decoded stops showing (its pts plus its duration,
        or one frame at the stream's rate when the duration is unknown), in seconds."""
        return None if self.last_end_pts is None else self.last_end_pts * self.time_base

    def feed(self, frame: Any) -> list[VideoFrame]:
        if self.done or frame is None:
            return []
        self.frames_in += 1
        pts = frame.pts
        if pts is not None and self.limit is not None and pts * self.time_base > self.limit:
            # A damaged timestamp (a Matroska cluster's time flipped): keeping it would
            # invent a timeline far longer than the file.
            what = f"a frame at t={float(pts * self.time_base):.3f} s, past the declared end"
            if self.on_error == "raise":
                self.failure = f"{self.where} is damaged: {what}"
                self.done = True
            elif not self.damage:
                self.damage.append(f"{self.where} is damaged: {what} (dropped)")
            return []
        if pts is None:
            pts = (self.last_pts + self.pts_step) if self.last_pts is not None else 0
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1  # keep presentation order strictly increasing
        t = pts * self.time_base
        if t < self.start:
            return []
        if self.stop is not None and t >= self.stop:
            self.done = True
            return []
        self.last_pts = pts
        self.last_end_pts = pts + (getattr(frame, "duration", None) or self.pts_step)
        if self.index is None:
            # Frame numbers count from the stream's time zero at its average rate.
            self.index = round(t * self.frame_rate) if self.frame_rate and self.start > 0 else 0
        else:
            self.index += 1
        if self.tap is not None:
            self.tap(self.port, self.index, frame)
        out = frame.reformat(
            width=self.width,
            height=self.height,
            format=self.fmt.pixel_format,
            interpolation=self.fmt.interpolation.upper(),
            threads=1,
        )
        data = out.to_ndarray()
        return [VideoFrame(data, self.index, int(pts), self.time_base, self.fmt.pixel_format)]


class FileSource(Source):
    """Reads audio and video from a file or URL, incrementally.

    Args:
        path: file path or any URL FFmpeg reads (http, rtsp, ...); ``"-"`` (or
            ``"pipe:0"``) is the standard input. A pipe, FIFO or device is opened
            once and can be read by one run only (``start`` then decodes up to it
            instead of seeking).
        audio: ``True`` (default) reads the audio stream(s) as they are, an
            :class:`AudioFormat` converts them (and requires audio), ``False`` ignores
            audio.
        video: ``True`` (default) reads video as RGB at its own size, a
            :class:`VideoFormat` converts it (and requires video), ``False`` ignores it.
        audio_streams: which audio streams (index among audio streams; default the
            first). Ports are ``"audio"`` for one stream, ``"audio:<i>"`` for several.
        video_streams: the same for video (``"video"``, ``"video:<i>"``).
        start: start offset in seconds (default 0); timestamps stay on the file's
            timeline (the first chunk at ``start=10`` has ``start = 10 * rate``).
        duration: read at most this many seconds from ``start`` (default: to the end).
        options: FFmpeg demuxer/protocol options (e.g. ``{"rtsp_transport": "tcp"}``).
        timeout: URLs only: seconds to wait for the network (opening, then each read)
            before failing with :class:`~stream.DecodeError` (default 30 s), so a
            stalled server cannot hang a run or Ctrl-C for longer; ``None`` waits
            as long as FFmpeg does. Ignored for local files.
        on_error: ``"raise"`` (default) stops with :class:`~stream.DecodeError` naming
            the file, stream and position at the first undecodable packet (results up to
            there are kept by the graph), or, after delivering everything, when a
            stream ends more than 0.25 s + 1 % before the length the header states
            (a truncated WAV/AIFF/FLAC/MP4/CAF), or at damage that would shift the
            timeline (audio frames without timestamps, overlapping audio, a hole in
            a WAV/FLAC/AIFF, a timestamp past a WAV/FLAC/Matroska file's declared
            end), naming the time; ``"skip"`` drops bad packets, counts them in
            ``skipped_packets``, keeps the timeline across damage (each damaged
            stretch is listed in ``damage`` and warned about with a
            ``RuntimeWarning`` naming its time) and ends quietly where a truncated
            file ends.
        on_video_frame: called with ``(port, index, frame)`` for every video frame
            the source emits, before its conversion: ``frame`` is the decoder's
            ``av.VideoFrame`` (native size and pixel format), ``index`` the emitted
            :class:`~stream.VideoFrame`'s index. It runs in the decoding thread and
            must be quick; a consumer that needs the full-size frame (e.g.
            :class:`mediastream.composite.CompositeSink`) keeps it instead of decoding
            the file a second time. Default ``None``.

    Only the ports that are connected in the graph are decoded.
    """

    blocking = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        audio: AudioFormat | bool = True,
        video: VideoFormat | bool = True,
        audio_streams: Collection[int] | None = None,
        video_streams: Collection[int] | None = None,
        start: float = 0.0,
        duration: float | None = None,
        options: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
        on_error: Literal["raise", "skip"] = "raise",
        on_video_frame: Callable[[str, int, Any], None] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.on_video_frame = on_video_frame
        if not (start >= 0 and math.isfinite(start)):
            raise ParameterError(f"FileSource.start must be finite and >= 0 seconds, got {start}")
        if duration is not None and not (duration > 0 and math.isfinite(duration)):
            raise ParameterError(
                f"FileSource.duration must be finite and > 0 seconds, got {duration}"
            )
        if on_error not in ("raise", "skip"):
            raise ParameterError(f"FileSource.on_error must be 'raise' or 'skip', got {on_error!r}")
        self.start = Fraction(start).limit_denominator(10**9)
        self.stop = (
            None if duration is None else self.start + Fraction(duration).limit_denominator(10**9)
        )
        self.options = dict(options or {})
        if timeout is not None and not timeout > 0:
            raise ParameterError(f"FileSource.timeout must be > 0 seconds or None, got {timeout}")
        # A pipe (stdin "-", pipe:N, a FIFO) can be read once: the container opened to
        # probe it is the one read; opened a second time, it read the bytes left over
        # as another file (or waited forever on a FIFO).
        self.once = is_stream_input(self.path)
        self.timeout = timeout if is_url(self.path) and not self.once else None
        self.on_error = on_error
        self.skipped_packets = 0
        self.damage: list[str] = []
        self._error: Exception | None = None
        self._probed: Any = open_container(self.path, self.options, self.timeout)
        try:
            self.info: MediaInfo = describe_container(self._probed, self.path)
        except BaseException:
            self._drop_probed()
            raise
        if not self.once:
            self._drop_probed()  # a file or URL is opened again to be read
        try:
            self._set_up(audio, video, audio_streams, video_streams, start)
        except BaseException:
            self._drop_probed()
            raise

    def _drop_probed(self) -> None:
        container, self._probed = self._probed, None
        if container is not None:
            container.close()

    def __del__(self) -> None:
        # A pipe's container kept open for the first run and never read.
        with contextlib.suppress(Exception):  # at interpreter exit anything may be gone
            self._drop_probed()

    def _set_up(
        self,
        audio: AudioFormat | bool,
        video: VideoFormat | bool,
        audio_streams: Collection[int] | None,
        video_streams: Collection[int] | None,
        start: float,
    ) -> None:
        if self.start > 0 and self.info.duration_s is not None:
            starts = [s.start_s for s in self.info.streams if s.start_s is not None]
            end = min(starts, default=0.0) + self.info.duration_s
            if float(self.start) >= end:
                raise ParameterError(
                    f"FileSource.start={start} s is at or past the end of {self.path!r} "
                    f"({end:.3f} s)"
                )
        self._audio = self._select("audio", audio, audio_streams, AudioFormat)
        self._video = self._select("video", video, video_streams, VideoFormat)
        if not self._audio and not self._video:
            kinds = ", ".join(
                sorted(
                    {
                        f"{s.kind} with a codec this FFmpeg build cannot decode"
                        if s.codec == "unknown" and s.kind in ("audio", "video")
                        else s.kind
                        for s in self.info.streams
                    }
                )
            )
            kinds = kinds or "no streams"
            raise MediaOpenError(f"{self.path!r} has no audio or video stream to read ({kinds})")
        self._specs: dict[str, StreamSpec] = {}
        for port, (info, afmt) in self._audio.items():
            assert isinstance(afmt, AudioFormat)
            rate = afmt.sample_rate or info.sample_rate
            channels = afmt.channels or info.channels
            if afmt.channels and afmt.channels > 8 and afmt.channels != info.channels:
                raise ParameterError(
                    f"AudioFormat.channels={afmt.channels}: FFmpeg remixes only to layouts "
                    f"of 1 to 8 channels; {self.path!r} audio stream {info.kind_index} has "
                    f"{info.channels} (channels=None keeps them)"
                )
            if not rate or not channels:
                raise MediaOpenError(
                    f"{self.path!r}: audio stream {info.kind_index} has no sample rate/channels"
                )
            self._specs[port] = AudioSpec(int(rate), int(channels))
        for port, (info, vfmt) in self._video.items():
            assert isinstance(vfmt, VideoFormat)
            if not info.width or not info.height:
                raise MediaOpenError(
                    f"{self.path!r}: video stream {info.kind_index} has no frame size"
                )
            w, h = vfmt.size_for(info.width, info.height)
            self._specs[port] = VideoSpec(w, h, vfmt.pixel_format, info.frame_rate, info.time_base)
        self._container: Any = None
        self._gen: Iterator[tuple[str, Item]] | None = None
        self._position = "start of stream"

    def _select(
        self, kind: str, fmt: Any, indices: Collection[int] | None, default_fmt: type
    ) -> dict[str, tuple[StreamInfo, Any]]:
        streams = self.info.of_kind(kind)
        if fmt is False:
            if indices:
                raise ParameterError(f"FileSource: {kind}_streams given but {kind}=False")
            return {}
        required = fmt is not True or indices is not None
        if not streams:
            if required:
                raise MediaOpenError(f"{self.path!r} has no {kind} stream")
            return {}
        chosen = list(indices) if indices is not None else [0]
        for i in chosen:
            if not 0 <= i < len(streams):
                raise MediaOpenError(
                    f"{self.path!r} has {len(streams)} {kind} stream(s); "
                    f"{kind} stream {i} does not exist"
                )
            if streams[i].codec == "unknown":
                if not required:
                    return {}  # not asked for explicitly: read the other kind
                raise MediaOpenError(
                    f"{self.path!r}: {kind} stream {i} uses a codec this FFmpeg build cannot decode"
                )
        f = default_fmt() if fmt is True else fmt
        if len(chosen) == 1:
            return {kind: (streams[chosen[0]], f)}
        return {f"{kind}:{i}": (streams[i], f) for i in chosen}

    # -- Source interface ---------------------------------------------------------------
    def specs(self) -> Mapping[str, StreamSpec]:
        return dict(self._specs)

    @property
    def duration(self) -> Fraction | None:
        total = self.info.duration_s
        if total is None:
            return None if self.stop is None else self.stop - self.start
        end = Fraction(total).limit_denominator(10**9)
        if self.stop is not None:
            end = min(end, self.stop)
        return max(Fraction(0), end - self.start)

    def open(self, ports: Collection[str]) -> None:
        self.close()
        self._error = None
        wanted = set(ports) if ports else set(self._specs)
        self.skipped_packets = 0
        self.damage = []
        if self.once:
            if self._probed is None:
                raise MediaOpenError(
                    f"cannot read {self.path!r} again: it is a pipe (or device), which can "
                    "be read only once"
                )
            self._container, self._probed = self._probed, None
        else:
            self._container = open_container(self.path, self.options, self.timeout)
        self._gen = self._decode(wanted)
        self._position = "start of stream"

    def read(self, max_items: int) -> list[tuple[str, Item]]:
        if self._error is not None:
            # Items decoded before the failure went out with the last read; now fail.
            exc, self._error = self._error, None
            raise exc
        if self._gen is None:
            self.open(self._specs)
        assert self._gen is not None
        out: list[tuple[str, Item]] = []
        try:
            for pair in self._gen:
                out.append(pair)
                if len(out) >= max_items:
                    break
        except Exception as exc:
            if not out:
                raise
            self._error = exc  # deliver what was decoded first; raise on the next read
        return out

    def close(self) -> None:
        gen, self._gen = self._gen, None
        if gen is not None:
            gen.close()  # type: ignore[attr-defined]
        container, self._container = self._container, None
        if container is not None:
            container.close()

    def __iter__(self) -> Iterator[tuple[str, Item]]:
        """Read everything outside a graph: ``for port, item in FileSource(...)``."""
        self.open(self._specs)
        try:
            while batch := self.read(64):
                yield from batch
        finally:
            self.close()

    # -- decoding -----------------------------------------------------------------------
    def _decode(self, wanted: set[str]) -> Iterator[tuple[str, Item]]:
        import av

        container = self._container
        limit = self._declared_end()
        pipes: dict[int, Any] = {}  # container stream index -> pipe
        for port, (info, afmt) in self._audio.items():
            if port in wanted:
                spec = self._specs[port]
                assert isinstance(spec, AudioSpec)
                pipes[info.index] = AudioPipe(
                    port,
                    spec.sample_rate,
                    spec.channels,
                    afmt.chunk_frames,
                    self.start,
                    self.stop,
                    info.layout,
                    where=f"{self.path!r}: audio stream {info.kind_index}",
                    strict=self.info.format in _GAPLESS_FORMATS,
                    limit=limit,
                    on_error=self.on_error,
                )
        for port, (info, vfmt) in self._video.items():
            if port in wanted:
                vspec = self._specs[port]
                assert isinstance(vspec, VideoSpec) and info.time_base is not None
                pipes[info.index] = _VideoPipe(
                    port,
                    vfmt,
                    (vspec.width, vspec.height),
                    info.time_base,
                    info.frame_rate,
                    self.start,
                    self.stop,
                    where=f"{self.path!r}: video stream {info.kind_index}",
                    limit=limit,
                    on_error=self.on_error,
                    tap=self.on_video_frame,
                )
        if not pipes:
            return
        streams = [container.streams[i] for i in pipes]
        for s in streams:
            if s.type == "video":
                s.codec_context.thread_type = "AUTO"
        if self.start > 0 and not self.once:  # a pipe cannot seek: decode up to start
            try:
                container.seek(int(self.start * av.time_base), backward=True, any_frame=False)
            except av.FFmpegError as exc:
                raise DecodeError(
                    f"{self.path!r}: cannot seek to {float(self.start):.3f} s: {exc}"
                ) from exc

        packets = container.demux(streams)
        failed_reads = 0  # in a row: a demuxer that cannot get past a spot
        while True:
            try:
                packet = next(packets)
                failed_reads = 0
            except StopIteration:
                break
            except av.FFmpegError as exc:
                if (
                    self.on_error == "skip"
                    and not isinstance(exc, av.EOFError)
                    and failed_reads < _MAX_FAILED_READS
                ):
                    self.skipped_packets += 1
                    failed_reads += 1
                    # The generator ended with the error; the demuxer goes on from here.
                    packets = container.demux(streams)
                    continue
                if isinstance(exc, av.ExitError) and self.timeout is not None:
                    raise DecodeError(
                        f"{self.path!r}: no data from the network for {self.timeout:g} s "
                        f"(timeout) after {self._position}"
                    ) from exc
                raise DecodeError(
                    f"{self.path!r}: reading failed after {self._position}: {exc}"
                ) from exc
            pipe = pipes.get(packet.stream.index)
            if pipe is None or pipe.done:
                if all(p.done for p in pipes.values()):
                    break
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                if self.on_error == "skip":
                    self.skipped_packets += 1
                    continue
                kind = packet.stream.type
                raise DecodeError(
                    f"{self.path!r}: cannot decode {kind} stream {packet.stream.index} "
                    f"after {self._position}: {exc}"
                ) from exc
            for frame in frames:
                for item in pipe.feed(frame):
                    self._position = describe_position(item)
                    yield pipe.port, item
            self._report_damage(pipe)
            if all(p.done for p in pipes.values()):
                break
        for pipe in pipes.values():
            if isinstance(pipe, AudioPipe):
                for item in pipe.feed(None):
                    self._position = describe_position(item)
                    yield pipe.port, item
        self._check_complete(pipes)

    def _declared_end(self) -> Fraction | None:
        """The latest time a timestamp may have in a file that declares its length
        (the declared end plus the truncation check's slack), else None."""
        if self.once or self.info.format not in _DECLARED_LENGTH_FORMATS:
            return None
        if self.info.duration_s is None:
            return None
        starts = [s.start_s for s in self.info.streams if s.start_s is not None]
        end = Fraction(min(starts, default=0.0) + self.info.duration_s).limit_denominator(10**6)
        return end + Fraction(_TRUNCATION_SLACK_S).limit_denominator(100) + end / 100

    def _report_damage(self, pipe: AudioPipe | _VideoPipe) -> None:
        """Raise the damage that ended ``pipe`` (on_error="raise"), or warn about what
        it read past (on_error="skip") and list it in ``damage``."""
        if pipe.failure is not None:
            raise DecodeError(
                f"{pipe.failure}; everything before was delivered (on_error='skip' reads "
                "on, keeping the timeline)"
            )
        while pipe.damage:
            message = pipe.damage.pop(0)
            self.damage.append(message)
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def _check_complete(self, pipes: Mapping[int, AudioPipe | _VideoPipe]) -> None:
        """Fail when a stream ended well before the length its header states (a
        truncated file): everything decoded up to there has been delivered. Audio is
        checked by time, video by frame count and time."""
        if self.on_error == "skip" or self.info.format not in _EXACT_LENGTH_FORMATS:
            return
        by_index = {s.index: s for s in self.info.streams}
        # FFmpeg clamps a WAV's length to the bytes present: read what the header says.
        wav_s = _wav_declared_s(self.path) if self.info.format == "wav" and not self.once else None
        for index, pipe in pipes.items():
            info = by_index[index]
            if isinstance(pipe, _VideoPipe):
                # Frame durations vary (a slide shown for 10 s): count frames instead,
                # against the container's sample table, when the whole stream was read.
                if (
                    not pipe.done
                    and info.frames
                    and self.start == 0
                    and self.stop is None
                    and info.frames - pipe.frames_in > 1 + info.frames // 100
                    and not self._video_reaches_end(info, pipe)
                ):
                    raise DecodeError(
                        f"{self.path!r}: video stream {info.kind_index} ends after frame "
                        f"{pipe.frames_in} (t={float(pipe.end_s() or 0):.3f} s) but the file "
                        f"declares {info.frames} frames: truncated or damaged (everything "
                        "before was delivered)"
                    )
                continue
            length = wav_s if wav_s is not None else info.duration_s
            if pipe.done or length is None:
                continue
            declared = Fraction(length).limit_denominator(10**9)
            declared += Fraction(info.start_s or 0).limit_denominator(10**9)
            expected = declared if self.stop is None else min(declared, self.stop)
            ended = pipe.end_s() if pipe.end_s() is not None else self.start
            assert ended is not None
            if expected - ended > _TRUNCATION_SLACK_S + declared / 100:
                raise DecodeError(
                    f"{self.path!r}: {info.kind} stream {info.kind_index} ends at "
                    f"t={float(ended):.3f} s but the file declares {float(declared):.3f} s: "
                    "truncated or damaged (everything before was delivered)"
                )

    @staticmethod
    def _video_reaches_end(info: StreamInfo, pipe: _VideoPipe) -> bool:
        """Whether the last video frame decoded shows until the stream's declared end
        (start + duration, with the audio check's slack).  An MP4 edit list makes FFmpeg
        drop the frames before the presentation start (files cut with ``ffmpeg -ss X
        -c copy``, phone recordings) while the declared frame count still includes
        them: a short count is truncation only when the frames also stop early."""
        shown = pipe.shown_until_s()
        if info.duration_s is None or shown is None:
            return False
        declared = Fraction(info.duration_s).limit_denominator(10**9)
        declared += Fraction(info.start_s or 0).limit_denominator(10**9)
        return declared - shown <= _TRUNCATION_SLACK_S + declared / 100


def _wav_declared_s(path: str) -> float | None:
    """The length in seconds a local RIFF/WAVE file's header declares (its ``data``
    chunk size over its byte rate), or None when unknown (URL, RF64, streamed WAV)."""
    import struct

    if is_url(path):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        tag = head[pos : pos + 4]
        (size,) = struct.unpack("<I", head[pos + 4 : pos + 8])
        if tag == b"fmt " and pos + 20 <= len(head):
            (byte_rate,) = struct.unpack("<I", head[pos + 16 : pos + 20])
        elif tag == b"data":
            if not byte_rate or size in (0, 0xFFFFFFFF):
                return None
            return float(size) / float(byte_rate)
        pos += 8 + size + (size & 1)
    return None
