"""Event streams and PNG checks shared by the picture tests (mediastream.plot, PlotSink, CLI).

The events come from real graphs: a Gate -> Compressor -> Limiter chain metering
synthetic speech, VideoAlign with band costs on a generated clip pair, and speaker
turns of a small conversation (with its reference RTTM).
"""

from __future__ import annotations

import functools
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from mediastream.synth import synth_audio
from operators.dynamics import Compressor, Gate, Limiter
from operators.speaker import SpeakerTurn
from operators.video import VideoAlign
from sinks import MemorySink
from stream import ArraySource, Event, EventSpec, Graph, VideoSpec

from .operators.video.pairs import PairSpec, generate, video_frames

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (start s, end s, label): the reference conversation and a diarizer-like hypothesis
# (one speaker split in two, boundaries off by 0.1-0.3 s, one overlap).
REFERENCE = [(0.0, 4.0, "alice"), (4.2, 7.0, "bob"), (6.5, 9.0, "carol"),
             (9.5, 14.0, "alice"), (14.0, 20.0, "bob")]  # fmt: skip
HYPOTHESIS = [(0.1, 3.8, "spk0"), (4.3, 6.9, "spk1"), (7.0, 9.0, "spk2"),
              (9.6, 12.0, "spk0"), (12.0, 14.2, "spk3"), (14.1, 19.8, "spk1")]  # fmt: skip


def write_rttm(path: Path, turns: list[tuple[float, float, str]] = REFERENCE) -> Path:
    path.write_text(
        "".join(
            f"SPEAKER rec 1 {s:.3f} {e - s:.3f} <NA> <NA> {label} <NA> <NA>\n"
            for s, e, label in turns
        )
    )
    return path


def turn_events() -> list[Event[SpeakerTurn]]:
    """The hypothesis as ``speaker_turn`` events (16 kHz frames)."""
    tb = Fraction(1, 16000)
    return [
        Event("speaker_turn", round(s * 16000), round(e * 16000), tb, SpeakerTurn(label, 0.9))
        for s, e, label in HYPOTHESIS
    ]


def dynamics_graph(sinks: list[Any], seconds: float = 8.0, nan_at_s: float | None = None) -> Graph:
    """synthetic speech -> Gate -> Compressor -> Limiter, every meter into ``sinks``.

    ``nan_at_s`` puts a NaN sample there: the Gate fails on it (a real processing error).
    """
    audio = synth_audio(seconds, 48000, 2) * np.float32(1.6)
    if nan_at_s is not None:
        audio[0, round(nan_at_s * 48000)] = np.nan
    g = Graph()
    src = g.add(ArraySource.audio(audio, 48000, 1024), "src")
    gate = g.add(Gate(threshold_db=-45, meter_interval_ms=50), "gate")
    comp = g.add(Compressor(threshold_db=-24, ratio=4, meter_interval_ms=50), "comp")
    lim = g.add(Limiter(ceiling_db=-9, meter_interval_ms=50), "lim")
    g.connect(src, gate)
    g.connect(gate["audio"], comp)
    g.connect(comp["audio"], lim)
    g.connect(lim["audio"], g.add(MemorySink(), "audio_out"))
    for k, sink in enumerate(sinks):
        ref = g.add(sink, f"sink{k}")
        for node in (gate, comp, lim):
            g.connect(node["events"], ref)
    return g


def align_graph(sinks: list[Any], max_lag: int = 90) -> Graph:
    """A generated fg/bg pair (30 fps fg of a 24 fps bg, drops, duplicates, a cut) ->
    VideoAlign(band_costs=True) -> ``sinks``."""
    fg, bg = align_frames()
    g = Graph()
    f = g.add(ArraySource(fg, VideoSpec(fg[0].width, fg[0].height, "gray", Fraction(30))), "fg")
    b = g.add(ArraySource(bg, VideoSpec(bg[0].width, bg[0].height, "gray", Fraction(24))), "bg")
    align = g.add(VideoAlign(band_costs=True, max_lag=max_lag), "align")
    g.connect(f, align["fg"])
    g.connect(b, align["bg"])
    for k, sink in enumerate(sinks):
        g.connect(align, g.add(sink, f"sink{k}"))
    return g


@functools.cache
def align_frames() -> tuple[list[Any], list[Any]]:
    spec = PairSpec(fg_fps=30, fg_frames=60, bg_frames=110, drops=(20, 21), dups=(40,))
    fg_img, bg_img, _ = generate(spec)
    return video_frames(fg_img, spec.fg_fps), video_frames(bg_img, spec.bg_fps)


@functools.cache
def dynamics_dicts() -> tuple[dict[str, Any], ...]:
    mem = MemorySink()
    dynamics_graph([mem]).run_sync()
    return tuple(e.to_dict() for e in mem.items if isinstance(e, Event))


@functools.cache
def align_dicts(max_lag: int = 90) -> tuple[dict[str, Any], ...]:
    mem = MemorySink()
    align_graph([mem], max_lag).run_sync()
    return tuple(e.to_dict() for e in mem.items if isinstance(e, Event))


def turn_source() -> ArraySource:
    return ArraySource(turn_events(), EventSpec(frozenset({"speaker_turn"})))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk; asserts the PNG signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    w, h = struct.unpack(">II", head[16:24])
    return int(w), int(h)


def check_png(path: Path, width: int = 1600, height: int = 900) -> np.ndarray[Any, Any]:
    """A valid PNG of exactly ``width`` x ``height`` that is not one flat colour;
    returns its RGB pixels (floats 0..1)."""
    from matplotlib.image import imread

    assert png_size(path) == (width, height)
    pixels = imread(path)[:, :, :3]
    assert pixels.shape == (height, width, 3)
    assert float(pixels.var()) > 0.005, f"{path} is nearly one flat colour"
    rgb = (pixels * 255).astype(np.uint32).reshape(-1, 3)
    colours = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
    assert len(colours) > 50, f"{path} has only {len(colours)} colours"
    return pixels
