"""Synthetic media: deterministic audio and moving video written with PyAV.

Used by the demo (its embedded default input) and by the tests, which need real
media files. Audio is speech-like: voiced bursts (a harmonic stack with a gliding
pitch and a syllable envelope) separated by pauses, over a faint noise floor, so
levels move. Video is moving content: a drifting gradient, a square on a Lissajous
path and a bar whose length encodes the frame number, so no two frames are alike.
Everything is generated block by block (vectorised NumPy), so long files cost no
more memory than short ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from stream import MediaInfo, ParameterError, channel_layout, probe

__all__ = ["audio_blocks", "synth_audio", "synth_frame", "write_media"]

_DEFAULT_CODECS = {
    ".mp4": ("libx264", "aac"),
    ".m4a": (None, "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "flac"),
    ".webm": ("libvpx", "libopus"),
    ".avi": ("mpeg4", "pcm_s16le"),
    ".wav": (None, "pcm_s16le"),
    ".flac": (None, "flac"),
    ".ogg": (None, "libopus"),
    ".opus": (None, "libopus"),
    ".mp3": (None, "libmp3lame"),
}


def _burst_plan(total_s: float, seed: int) -> npt.NDArray[np.float64]:
    """Rows of (start_s, length_s, f0_hz, glide, amplitude) for the voiced bursts."""
    rng = np.random.default_rng(seed)
    rows = []
    t = 0.15
    while t < total_s:
        length = rng.uniform(0.12, 0.6)
        rows.append(
            (t, length, rng.uniform(95, 260), rng.uniform(-0.25, 0.25), rng.uniform(0.15, 0.7))
        )
        t += length + rng.uniform(0.05, 0.9)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def audio_blocks(
    duration_s: float,
    sample_rate: int = 48000,
    channels: int = 2,
    *,
    block_frames: int = 48000,
    seed: int = 0,
) -> Iterator[npt.NDArray[np.float32]]:
    """Speech-like audio as float32 ``(channels, n)`` blocks of ``block_frames`` frames.

    Deterministic for a given ``seed``; peak level stays below -1 dBFS.
    """
    if not duration_s > 0:
        raise ParameterError(f"duration_s must be > 0 seconds, got {duration_s}")
    total = round(duration_s * sample_rate)
    plan = _burst_plan(duration_s, seed)
    starts, lengths, f0s, glides, amps = plan.T
    noise_rng = np.random.default_rng(seed + 1)
    harmonics = np.arange(1, 9, dtype=np.float64)
    weights = 1.0 / harmonics
    weights /= weights.sum()
    pan = np.linspace(0.8, 1.0, channels)[:, np.newaxis]
    for b0 in range(0, total, block_frames):
        n = min(block_frames, total - b0)
        t = (b0 + np.arange(n)) / sample_rate
        out = np.zeros(n, dtype=np.float64)
        # Bursts overlapping this block (vectorised over samples, a loop over bursts).
        active = np.nonzero((starts < t[-1] + 1e-9) & (starts + lengths > t[0]))[0]
        for k in active:
            local = t - starts[k]
            mask = (local >= 0) & (local < lengths[k])
            if not mask.any():
                continue
            u = local[mask] / lengths[k]
            envelope = np.sin(np.pi * u) ** 2 * amps[k]
            # Phase of a linearly gliding pitch: f(t) = f0 * (1 + glide * u).
            phase = 2 * np.pi * f0s[k] * (local[mask] + glides[k] * local[mask] * u / 2)
            out[mask] += envelope * (np.sin(np.outer(phase, harmonics)) @ weights)
        out += noise_rng.normal(0.0, 0.002, n)
        block = (pan * out[np.newaxis, :]).astype(np.float32)
        yield np.clip(block, -0.89, 0.89)


def synth_audio(
    duration_s: float, sample_rate: int = 48000, channels: int = 2, *, seed: int = 0
) -> npt.NDArray[np.float32]:
    """The whole of :func:`audio_blocks` as one ``(channels, frames)`` array."""
    return np.concatenate(list(audio_blocks(duration_s, sample_rate, channels, seed=seed)), axis=1)


def synth_frame(
    index: int, width: int = 320, height: int = 180, fps: float = 25.0
) -> npt.NDArray[np.uint8]:
    """Frame ``index`` of the moving test pattern: uint8 ``(height, width, 3)`` RGB."""
    t = index / fps
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, np.newaxis]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[np.newaxis, :]
    r = 0.5 + 0.5 * np.sin(2 * np.pi * (x + 0.13 * t))
    g = 0.5 + 0.5 * np.sin(2 * np.pi * (y * 1.5 - 0.07 * t))
    b = 0.5 + 0.5 * np.sin(2 * np.pi * (x + y + 0.05 * t))
    img = np.stack(np.broadcast_arrays(r, g, b), axis=-1) * 160.0 + 20.0
    # A bright square on a Lissajous path.
    side = max(4, min(width, height) // 5)
    cx = int((0.5 + 0.4 * np.sin(2 * np.pi * 0.31 * t)) * (width - side))
    cy = int((0.5 + 0.4 * np.sin(2 * np.pi * 0.47 * t + 1.0)) * (height - side))
    img[cy : cy + side, cx : cx + side, :] = (250.0, 240.0, 60.0)
    # A bar whose length encodes the frame number (unique per frame for 1000 frames).
    bar = int((index % 1000) / 1000 * width)
    img[height - max(2, height // 30) :, :bar, :] = 255.0
    return img.astype(np.uint8)


def write_media(
    path: str | os.PathLike[str],
    duration_s: float = 5.0,
    *,
    audio: bool = True,
    video: bool = True,
    sample_rate: int = 48000,
    channels: int = 2,
    width: int = 320,
    height: int = 180,
    fps: int | Fraction = 25,
    audio_codec: str | None = None,
    video_codec: str | None = None,
    seed: int = 0,
    audio_data: npt.NDArray[np.float32] | None = None,
    frames: Callable[[int], npt.NDArray[np.uint8]] | None = None,
) -> MediaInfo:
    """Write a synthetic media file with PyAV and return its probed description.

    The container comes from the extension (``.mp4``: H.264 + AAC, ``.mkv``: H.264 +
    FLAC, ``.webm``: VP8 + Opus, ``.wav``: 16-bit PCM, ``.flac``, ``.ogg``/``.opus``,
    ``.mp3``, ``.avi``: MPEG-4 + PCM); codecs can be overridden.

    ``audio_data`` (float32 ``(channels, frames)`` at ``sample_rate``) replaces the
    speech-like audio (``channels`` is taken from it); ``frames`` (frame index ->
    uint8 ``(height, width, 3)`` RGB) replaces the moving test pattern.
    """
    import av

    target = os.fspath(path)
    ext = os.path.splitext(target)[1].lower()
    if ext not in _DEFAULT_CODECS:
        raise ParameterError(
            f"write_media: unsupported extension {ext!r} ({sorted(_DEFAULT_CODECS)})"
        )
    default_v, default_a = _DEFAULT_CODECS[ext]
    if video and default_v is None and video_codec is None:
        raise ParameterError(f"write_media: {ext} holds no video; pass video=False")
    if not duration_s > 0:
        raise ParameterError(f"write_media: duration_s must be > 0 seconds, got {duration_s}")
    if audio_data is not None:
        if audio_data.ndim != 2 or not 1 <= audio_data.shape[0] <= 8:
            raise ParameterError(
                f"write_media: audio_data must be (channels, frames), got {audio_data.shape}"
            )
        channels = audio_data.shape[0]
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    container = av.open(target, mode="w")
    try:
        vstream: Any = None
        astream: Any = None
        if video:
            vcodec = video_codec or default_v
            assert vcodec is not None  # checked above
            vstream = container.add_stream(vcodec, rate=Fraction(fps))
            vstream.width, vstream.height = width, height
            vstream.pix_fmt = "yuv420p"
            if vstream.codec_context.name in ("libx264", "h264"):
                vstream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
        if audio:
            astream = container.add_stream(
                audio_codec or default_a, rate=sample_rate, layout=channel_layout(channels)
            )
        # Interleave by time: audio in 0.1 s blocks, video frame by frame.
        n_frames = round(duration_s * float(fps)) if video else 0
        step = sample_rate // 10
        blocks: Iterator[npt.NDArray[np.float32]]
        if not audio:
            blocks = iter(())
        elif audio_data is not None:
            data = np.ascontiguousarray(audio_data, dtype=np.float32)
            blocks = (data[:, i : i + step] for i in range(0, data.shape[1], step))
        else:
            blocks = audio_blocks(duration_s, sample_rate, channels, block_frames=step, seed=seed)
        draw = frames if frames is not None else (
            lambda i: synth_frame(i, width, height, float(fps))
        )
        resampler = None
        if astream is not None:
            ctx = astream.codec_context
            resampler = av.AudioResampler(
                format=ctx.format.name,
                layout=ctx.layout.name,
                rate=sample_rate,
                frame_size=ctx.frame_size or None,
            )
        a_pos = 0
        f = 0
        pending_block = next(blocks, None)
        while f < n_frames or pending_block is not None:
            a_time = a_pos / sample_rate
            v_time = f / float(fps)
            if pending_block is not None and (f >= n_frames or a_time <= v_time):
                assert astream is not None and resampler is not None
                frame = av.AudioFrame.from_ndarray(
                    pending_block, format="fltp", layout=channel_layout(channels)
                )
                frame.sample_rate = sample_rate
                frame.pts = a_pos
                frame.time_base = Fraction(1, sample_rate)
                a_pos += pending_block.shape[1]
                for out in resampler.resample(frame):
                    container.mux(astream.encode(out))
                pending_block = next(blocks, None)
            else:
                assert vstream is not None
                vf = av.VideoFrame.from_ndarray(draw(f), format="rgb24")
                vf.pts = f
                vf.time_base = 1 / Fraction(fps)
                container.mux(vstream.encode(vf))
                f += 1
        if astream is not None and resampler is not None:
            for out in resampler.resample(None):
                container.mux(astream.encode(out))
            container.mux(astream.encode(None))
        if vstream is not None:
            container.mux(vstream.encode(None))
    finally:
        container.close()
    return probe(target)
