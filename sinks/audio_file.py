"""AudioFileSink: encodes the audio that arrives into a file with PyAV (FFmpeg).

The container comes from the file extension (or ``format``), the codec defaults by
extension:

=========  ===============  ===========================================
extension  container        default codec
=========  ===============  ===========================================
``.wav``   wav              ``pcm_s16le`` (``pcm_f32le``: bit-exact float)
``.flac``  flac             ``flac`` (16-bit, lossless)
``.opus``  opus (Ogg)       ``libopus`` (else FFmpeg's ``opus``)
``.ogg``   ogg              ``libopus`` (else FFmpeg's ``opus``)
``.mp3``   mp3              ``libmp3lame``
``.m4a``   ipod (MP4)       ``aac``
``.aac``   adts             ``aac``
``.aiff``  aiff             ``pcm_s16be``
``.mka``   matroska         ``flac``
=========  ===============  ===========================================

Chunks become ``fltp`` frames timed in frames (``pts = start``, ``time_base =
1/sample_rate``) and pass through an ``av.AudioResampler`` that converts them to the
encoder's sample format and cuts them to its frame size (opus 960, aac 1024, mp3
1152, flac 4608 frames), so any chunking gives the same file.  The file's time 0 is
the first chunk received; chunks must be contiguous.

``close()`` flushes the resampler and the encoder and closes the container, also
after an error, so the file is valid (WAV/FLAC header sizes correct) and holds every
chunk written before the failure. After a failed write (a full disk) a WAV or AIFF
is cut after its last whole sample frame and its header sizes rewritten for exactly
what is in the file; a FLAC/MP3/ADTS file is cut after its last whole packet. Only a
regular file is read back or patched, never a device (``/dev/full``) or a pipe.

FFmpeg writes through a Python file (:mod:`sinks._rawfile`): its own file protocol
dropped the errors of buffered writes (a whole FLAC went to ``/dev/full`` without
one). The file is locked (``flock``) before it is truncated, for the whole run.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream
from av.codec import Codec
from av.container import OutputContainer

from stream import (
    AudioChunk,
    AudioSpec,
    EncodeError,
    IncompatibleInputError,
    Item,
    ParameterError,
    Sink,
    StreamSpec,
)
from stream.sources import channel_layout

from ._pcm_repair import repair_pcm_header
from ._rawfile import STDOUT, RawFile

__all__ = ["DEFAULT_CODECS", "AudioFileSink"]

DEFAULT_CODECS: Mapping[str, tuple[str, ...]] = {
    ".wav": ("pcm_s16le",),
    ".flac": ("flac",),
    ".opus": ("libopus", "opus"),
    ".ogg": ("libopus", "opus"),
    ".mp3": ("libmp3lame",),
    ".m4a": ("aac",),
    ".aac": ("aac",),
    ".aif": ("pcm_s16be",),
    ".aiff": ("pcm_s16be",),
    ".mka": ("flac",),
}
"""Codec candidates by file extension; the first one this FFmpeg can encode is used."""

# Lossy encoders get float input when they take it (no 16-bit rounding before coding).
_LOSSY_FORMAT_PREFERENCE = ("fltp", "flt", "s32p", "s32", "s16p", "s16")


def _encoder(name: str) -> Codec | None:
    """``av.codec.Codec(name, "w")`` or None when this FFmpeg has no such encoder."""
    try:
        return Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        return None


def _sample_format(codec: Codec) -> str | None:
    """The encoder sample format to feed: float for lossy codecs, else the first listed."""
    names = [f.name for f in (codec.audio_formats or ())]
    if not names:
        return None
    if codec.lossy:
        for name in _LOSSY_FORMAT_PREFERENCE:
            if name in names:
                return name
    return str(names[0])


@dataclass
class _Output:
    """An open output file: the muxer, its audio stream, the resampler feeding it and
    the locked file it writes to."""

    container: OutputContainer
    stream: AudioStream
    resampler: av.AudioResampler
    file: RawFile


_EMPTY_OK = frozenset({"wav", "flac", "aiff"})  # containers valid with zero samples

# Formats whose muxer must seek back to finish the file (an MP4 index, AIFF sizes that
# readers rely on): they cannot go to a pipe.
_SEEKING_FORMATS = frozenset({"ipod", "mp4", "mov", "aiff", "caf"})

# Writing to the standard output (path "-"): the format when only the codec is given,
# and the extension that names each format (FFmpeg guesses the muxer by it).
_STDOUT_FORMATS: Mapping[str, str] = {
    "flac": "flac",
    "libopus": "ogg",
    "opus": "ogg",
    "libmp3lame": "mp3",
    "aac": "adts",
    "pcm_s16be": "aiff",
}
_FORMAT_EXTENSIONS: Mapping[str, str] = {
    "wav": ".wav",
    "flac": ".flac",
    "ogg": ".ogg",
    "opus": ".opus",
    "mp3": ".mp3",
    "adts": ".aac",
    "aiff": ".aiff",
    "matroska": ".mka",
    "ipod": ".m4a",
}


# Formats that are a plain sequence of codec frames (no index, no trailer): a write
# that failed part way is repaired by cutting the last, partly written frame off.
_FRAMED = frozenset({"flac", "mp3", "adts", "wv"})


def _cut_partial_tail(path: Path) -> None:  # only ever called on a regular file
    """Truncate ``path`` after its last packet that decodes, so that a file whose last
    write was cut short (ENOSPC) reads to its end in every reader."""
    end: int | None = None
    try:
        with av.open(str(path)) as container:
            for packet in container.demux(audio=0):
                if packet.size == 0 or packet.pos is None or packet.pos < 0:
                    continue
                try:
                    packet.decode()
                except av.error.FFmpegError:
                    break
                end = packet.pos + packet.size
    except (OSError, av.error.FFmpegError):
        pass  # what could be read up to there is kept
    with contextlib.suppress(OSError):
        if end is not None and end < path.stat().st_size:
            os.truncate(path, end)


def _to_frame(data: npt.NDArray[np.float32], layout: str) -> av.AudioFrame:
    """An ``av.AudioFrame`` of ``(channels, frames)`` float32 samples.

    Planar (``fltp``) up to 7 channels; interleaved (``flt``) from 8 on, since PyAV
    18.1 cannot build planar frames of 8 or more channels.
    """
    if data.shape[0] >= 8:
        packed = np.ascontiguousarray(data.T).reshape(1, -1)
        return av.AudioFrame.from_ndarray(packed, format="flt", layout=layout)
    return av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp", layout=layout)


class AudioFileSink(Sink):
    """Encodes audio chunks into a file (wav, flac, opus, ogg, mp3, m4a, ...) with PyAV.

    Args:
        path: output file (``str`` or ``os.PathLike``); parent directories are
            created, an existing file is replaced (after it is locked: a second
            writer of the same file fails with an EncodeError naming it). Its
            extension picks the container unless ``format`` is given. ``"-"`` is the
            standard output: the container is ``format``, else the codec's
            (``flac`` -> FLAC, ``libopus`` -> Ogg, ``libmp3lame`` -> MP3, ``aac`` ->
            ADTS), else WAV, written with a streamable header (sizes 0xFFFFFFFF) on
            a pipe and a complete one when the output is redirected to a file.
        codec: FFmpeg encoder name (default: by extension, see the module table;
            ``"pcm_f32le"`` writes bit-exact float WAV, ``"pcm_s24le"`` 24-bit WAV).
        bit_rate: target bit rate in bits per second for lossy codecs (default: the
            encoder's own, e.g. 96 kb/s stereo for libopus, 128 kb/s for aac).
        format: FFmpeg container (muxer) name, e.g. ``"wav"``, ``"ogg"``, ``"mp4"``
            (default: guessed from the extension).

    Attributes:
        frames_written: audio frames (samples per channel) received since ``open()``.
        removed_empty: True when the last run received no audio and the format cannot
            hold zero samples, so no file was left (see :meth:`close`).
        sample_format: the encoder's sample format (``"s16"``, ``"fltp"``, ...).

    Checked when the graph is built: the encoder takes the input's sample rate
    (opus only 8/12/16/24/48 kHz) and channel count. Chunks must follow each other
    without gap or overlap (the file's time 0 is the first chunk's ``start``);
    otherwise ``write`` raises ValueError naming the file and both frame positions.
    A NaN or infinite sample is never encoded: ``write`` raises ValueError naming the
    frame and channel (the file keeps everything before that chunk).
    Encoding or writing failures raise :class:`stream.EncodeError` naming the file.
    After a failed ``write`` the sink is broken: later writes raise the same error
    (nothing is encoded past a failure); ``close()`` still finalises the file.

    Not ``heavy``: encoding runs inline on the event loop. Measured per 1024-frame
    stereo 48 kHz chunk (PyAV 18.1, FFmpeg 8): pcm 19 us, flac 36 us, libopus 144 us,
    aac 365 us, libmp3lame 706 us; a worker-thread hop costs 150-300 us, and moving
    the sink to a thread changed a 30 s transcode by -10 % (lossy, FileSource
    upstream) to +50 % (pcm, everything inline).
    """

    accepts = frozenset({"audio"})

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        codec: str | None = None,
        bit_rate: int | None = None,
        format: str | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ParameterError(
                f"AudioFileSink: path must be a non-empty str or os.PathLike, got {path!r}"
            )
        self.path = Path(path)
        self._stdout = str(path) == STDOUT
        if self._stdout:
            # No extension to go by: the format, else the codec, else WAV.
            format = format or _STDOUT_FORMATS.get(codec or "", "wav")
            self._name = f"stdout{_FORMAT_EXTENSIONS.get(format, '')}"
        else:
            self._name = str(self.path)
        if self.path.is_dir():
            raise ParameterError(f"AudioFileSink: path {str(self.path)!r} is a directory")
        if bit_rate is not None and (
            isinstance(bit_rate, bool) or not isinstance(bit_rate, int) or bit_rate <= 0
        ):
            raise ParameterError(
                "AudioFileSink: bit_rate must be a positive int (bits per second), "
                f"got {bit_rate!r}"
            )
        self.bit_rate = bit_rate
        ext = Path(self._name).suffix.lower()
        if codec is None:
            candidates = DEFAULT_CODECS.get(ext)
            if candidates is None:
                raise ParameterError(
                    f"AudioFileSink: no default codec for extension {ext or '(none)'!r} of "
                    f"{str(self.path)!r}; pass codec= (known: {', '.join(DEFAULT_CODECS)})"
                )
            found = [c for c in candidates if _encoder(c) is not None]
            if not found:
                raise ParameterError(
                    f"AudioFileSink: this FFmpeg has none of the encoders {list(candidates)} "
                    f"for {ext!r}; pass codec="
                )
            codec = found[0]
        enc = _encoder(codec)
        if enc is None:
            raise ParameterError(f"AudioFileSink: codec {codec!r} is not an encoder in this FFmpeg")
        if enc.type != "audio":
            raise ParameterError(f"AudioFileSink: codec {codec!r} is a {enc.type} codec, not audio")
        self.codec: str = codec
        self._codec = enc
        self.sample_format = _sample_format(enc)
        # Muxer and codec/container compatibility: checked in memory, nothing on disk.
        try:
            container = self._open_container(self._memory_target(), format)
        except (av.error.FFmpegError, ValueError) as exc:
            raise ParameterError(
                f"AudioFileSink: cannot write {str(self.path)!r} with format={format!r}: {exc}"
            ) from exc
        try:
            self.format: str = str(container.format.name)
            try:
                container.add_stream(codec)
            except (av.error.FFmpegError, ValueError) as exc:
                raise ParameterError(
                    f"AudioFileSink: codec {codec!r} cannot go in a {self.format!r} container "
                    f"({str(self.path)!r}): {exc}"
                ) from exc
        finally:
            container.close()
        self._format_arg = format
        self.spec: AudioSpec | None = None
        self._layout = "stereo"
        self.frames_written = 0
        self.removed_empty = False
        self._out: _Output | None = None
        self._next: int | None = None  # expected start of the next chunk (frames)
        self._origin = 0  # the first chunk's start: the file's time 0 (frames)
        self._failed: BaseException | None = None

    def _memory_target(self) -> io.BytesIO:
        buf = io.BytesIO()
        buf.name = self._name  # lets FFmpeg guess the muxer from the extension
        return buf

    @staticmethod
    def _open_container(target: str | io.BytesIO | RawFile, format: str | None) -> OutputContainer:
        name = str(getattr(target, "name", target))
        if format == "wav" or (format is None and name.lower().endswith(".wav")):
            # Past 4 GiB (about 6 h of 16-bit stereo at 48 kHz) a RIFF header overflows:
            # RF64 then, plain RIFF below.
            return av.open(target, "w", format=format, container_options={"rf64": "auto"})
        return av.open(target, "w", format=format)

    def _add_stream(self, container: OutputContainer, spec: AudioSpec) -> AudioStream:
        options = {"strict": "experimental"} if self._codec.experimental else None
        stream = container.add_stream(
            self.codec, rate=spec.sample_rate, layout=self._layout, options=options
        )
        if not isinstance(stream, AudioStream):  # pragma: no cover - checked in __init__
            raise ParameterError(f"AudioFileSink: codec {self.codec!r} is not an audio codec")
        cc = stream.codec_context
        if self.sample_format is not None:
            cc.format = self.sample_format
        if self.bit_rate is not None:
            cc.bit_rate = self.bit_rate
        return stream

    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        """Check that the encoder takes the input's sample rate and channel count.

        Raises:
            IncompatibleInputError: not audio, a rate the codec does not list (naming
                the allowed rates), or a channel count/layout the encoder rejects.
        """
        if len(inputs) != 1:
            raise IncompatibleInputError(f"AudioFileSink takes one input, got {len(inputs)}")
        (spec,) = inputs.values()
        if not isinstance(spec, AudioSpec):
            raise IncompatibleInputError(f"AudioFileSink accepts audio, got {spec}")
        rates = self._codec.audio_rates
        if rates and spec.sample_rate not in rates:
            allowed = sorted(rates)
            hint = min((r for r in allowed if r >= spec.sample_rate), default=allowed[-1])
            raise IncompatibleInputError(
                f"AudioFileSink({str(self.path)!r}): codec {self.codec!r} cannot encode "
                f"{spec.sample_rate} Hz; it supports {', '.join(map(str, allowed))} Hz "
                f"(resample upstream, e.g. FileSource(..., audio=AudioFormat(sample_rate={hint})))"
            )
        try:
            layout = channel_layout(spec.channels)
            _to_frame(np.zeros((spec.channels, 1), np.float32), layout)
        except (ValueError, IndexError) as exc:
            raise IncompatibleInputError(
                f"AudioFileSink({str(self.path)!r}): no channel layout for "
                f"{spec.channels} channels: {exc}"
            ) from exc
        self._layout = layout
        # Open the encoder in memory: catches channel counts, bit rates... it rejects.
        container = self._open_container(self._memory_target(), self._format_arg)
        try:
            self._add_stream(container, spec)
            container.start_encoding()
        except (av.error.FFmpegError, ValueError) as exc:
            raw = f", bit_rate={self.bit_rate} b/s" if self.bit_rate is not None else ""
            raise IncompatibleInputError(
                f"AudioFileSink({str(self.path)!r}): codec {self.codec!r}{raw} cannot encode "
                f"{spec} ({layout}) in {self.format!r}: {exc}"
            ) from exc
        finally:
            container.close()
        self.spec = spec

    def open(self) -> None:
        """Create the file, open the encoder and write the header."""
        if self.spec is None:
            raise ValueError("AudioFileSink: configure() must run before open()")
        self.close()  # a previous run's file, if still open
        spec = self.spec
        # Written through a Python file: FFmpeg's own file protocol loses the errors
        # of its buffered writes (a whole FLAC went to /dev/full without one), and the
        # file is locked before it is truncated (one writer per file).
        try:
            if not self._stdout:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            file = RawFile(self.path, "AudioFileSink", self._name)
        except EncodeError:
            raise
        except OSError as exc:
            raise EncodeError(f"AudioFileSink: cannot create {str(self.path)!r}: {exc}") from exc
        if not file.seekable() and self.format in _SEEKING_FORMATS:
            file.close()
            raise EncodeError(
                f"AudioFileSink: cannot write {self.format!r} to {str(self.path)!r}: it is a "
                "pipe (or device) and this format must go back to finish its header; "
                "WAV, FLAC, Ogg, MP3, ADTS or Matroska can be written to a pipe"
            )
        try:
            container = self._open_container(file, self._format_arg)
        except (OSError, av.error.FFmpegError, ValueError) as exc:
            file.close()
            raise EncodeError(f"AudioFileSink: cannot create {str(self.path)!r}: {exc}") from exc
        try:
            stream = self._add_stream(container, spec)
            container.start_encoding()
            cc = stream.codec_context
            variable = bool(cc.codec.capabilities & av.codec.codec.Capabilities.variable_frame_size)
            frame_size = None if variable or cc.frame_size <= 0 else int(cc.frame_size)
            resampler = av.AudioResampler(
                format=cc.format.name,
                layout=self._layout,
                rate=spec.sample_rate,
                frame_size=frame_size,
            )
        except (OSError, av.error.FFmpegError, ValueError) as exc:
            try:
                container.close()
            except (OSError, av.error.FFmpegError, ValueError) as exc2:
                exc.add_note(f"closing it also failed: {exc2}")
            file.close()
            raise EncodeError(
                f"AudioFileSink: cannot start encoding {str(self.path)!r}: {exc}"
            ) from exc
        self._out = _Output(container, stream, resampler, file)
        self._next = None
        self._origin = 0
        self._failed = None
        self.frames_written = 0
        self.removed_empty = False

    def write(self, item: Item) -> None:
        """Encode one chunk; it must start where the previous one ended."""
        if self._failed is not None:
            raise self._failed  # broken since an earlier write: never encode past it
        out = self._out
        if out is None:
            raise ValueError(
                f"AudioFileSink: {str(self.path)!r} is not open "
                "(write before open() or after close())"
            )
        if type(item) is not AudioChunk:
            raise TypeError(f"AudioFileSink takes audio chunks, got {type(item).__name__}")
        spec = self.spec
        assert spec is not None
        try:
            if item.sample_rate != spec.sample_rate or item.channels != spec.channels:
                raise ValueError(
                    f"AudioFileSink({str(self.path)!r}): chunk at frame {item.start} is "
                    f"{item.sample_rate} Hz {item.channels} ch, the file is {spec}"
                )
            if self._next is None:
                self._origin = item.start
            elif item.start != self._next:
                what = "gap" if item.start > self._next else "overlap"
                raise ValueError(
                    f"AudioFileSink({str(self.path)!r}): audio is not contiguous ({what} of "
                    f"{abs(item.start - self._next)} frames): the previous chunk ended at frame "
                    f"{self._next}, this one starts at frame {item.start}"
                )
            if item.frames and not np.isfinite(item.data).all():
                # The earliest bad frame over all channels, then its first bad channel.
                frame = np.flatnonzero(~np.isfinite(item.data).all(axis=0))[0]
                channel = np.flatnonzero(~np.isfinite(item.data[:, frame]))[0]
                raise ValueError(
                    f"AudioFileSink({str(self.path)!r}): non-finite sample (NaN or inf) at "
                    f"frame {item.start + int(frame)}, channel {int(channel)}; the file keeps "
                    f"the audio before frame {item.start}"
                )
            self._next = item.end
            if item.frames:
                self._encode(out, item)
        except Exception as exc:
            self._failed = exc
            raise

    def _encode(self, out: _Output, chunk: AudioChunk) -> None:
        rate = chunk.sample_rate
        frame = _to_frame(chunk.data, self._layout)
        frame.sample_rate = rate
        frame.pts = chunk.start - self._origin
        frame.time_base = Fraction(1, rate)
        try:
            for resampled in out.resampler.resample(frame):
                out.container.mux(out.stream.encode(resampled))
        except (OSError, av.error.FFmpegError) as exc:
            raise EncodeError(
                f"AudioFileSink: encoding {str(self.path)!r} failed at frame {chunk.start}: {exc}"
            ) from exc
        self.frames_written += chunk.frames

    def close(self, error: BaseException | None = None) -> None:
        """Flush the resampler and the encoder, write the trailer and close the file.

        Always leaves a valid file holding every chunk written so far. When no audio
        arrived at all, only WAV, FLAC and AIFF can hold zero samples: other formats
        leave no file (``removed_empty`` is then True). Idempotent.
        When a run failed (``error`` set, or an earlier ``write`` raised), a further
        failure here is attached to that error as a note instead of being raised.
        """
        out, self._out = self._out, None
        if out is None:
            return
        problems: list[BaseException] = []
        try:
            for resampled in out.resampler.resample(None):
                out.container.mux(out.stream.encode(resampled))
            out.container.mux(out.stream.encode(None))
        except Exception as exc:
            problems.append(exc)
        empty_ok = True
        format_name = ""
        try:
            format_name = out.container.format.name
            empty_ok = format_name in _EMPTY_OK
            out.container.close()
        except Exception as exc:
            problems.append(exc)
        broken = bool(problems) or isinstance(self._failed, EncodeError)
        # Only a regular file is read back or patched: reading a device (/dev/full,
        # /dev/zero) back never ends.
        if broken and out.file.regular and not out.file.closed:
            try:
                if format_name in _FRAMED:
                    # Writing failed part way (a full disk): the file may end in a frame.
                    _cut_partial_tail(self.path)
                elif format_name in ("wav", "aiff"):
                    # The muxer's header counts bytes that never reached the disk:
                    # make it describe exactly the whole sample frames in the file.
                    repair_pcm_header(out.file.fileno(), format_name)
            except OSError as exc:
                problems.append(exc)
        try:
            out.file.close()  # releases the lock
        except OSError as exc:
            problems.append(exc)
        if self.frames_written == 0 and not empty_ok and not problems and not self._stdout:
            # No audio arrived: an ogg/mp3/mp4/matroska file without a single packet
            # is not a valid file for most readers. Leave none rather than a broken one.
            self.path.unlink(missing_ok=True)
            self.removed_empty = True
        if not problems:
            return
        message = f"AudioFileSink: finalising {str(self.path)!r} failed: {problems[0]}"
        first = error if error is not None else self._failed
        if first is not None:
            first.add_note(message)
            return
        raise EncodeError(message) from problems[0]
