"""The demo: one graph over an embedded default input (``mediastream demo``).

The input is generated on first run (``demo-input.mp4``: 12 s of speech-like audio
and moving video, written with PyAV by :mod:`stream.synth`) and reused afterwards.
The graph decodes it incrementally and, in one run:

* meters the audio (``LevelMeter``, 100 ms windows) -> ``levels.jsonl`` and ``levels.csv``;
* applies a -6 dB gain -> ``processed.wav``;
* measures brightness and motion of every video frame (``FrameStats``) -> ``frames.jsonl``;
* merges both event streams in exact time order (a fan-in join) -> ``events.jsonl``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._exceptions import MediaOpenError
from ._graph import Graph
from .sources.file import AudioFormat, FileSource, VideoFormat
from .sources.probe import probe
from .synth import write_media

__all__ = ["DEMO_DURATION_S", "build_demo_graph", "ensure_demo_input"]

DEMO_DURATION_S = 12.0


def ensure_demo_input(out_dir: str | os.PathLike[str], duration_s: float = DEMO_DURATION_S) -> Path:
    """The demo input in ``out_dir``, generated if missing, damaged or of another length."""
    path = Path(out_dir) / "demo-input.mp4"
    if path.exists():
        try:
            info = probe(path)
            if info.duration_s is not None and abs(info.duration_s - duration_s) < 0.1:
                return path
        except MediaOpenError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("demo-input.tmp.mp4")
    write_media(tmp, duration_s, width=320, height=180, fps=25, sample_rate=48000, channels=2)
    os.replace(tmp, path)
    return path


def build_demo_graph(input_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Graph:
    """The demo graph reading ``input_path`` and writing into ``out_dir``."""
    from operators import FrameStats, Gain, LevelMeter
    from sinks import AudioFileSink, CsvSink, JsonLinesSink

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = Graph()
    src = g.add(
        FileSource(
            input_path,
            audio=AudioFormat(sample_rate=48000, channels=2, chunk_frames=1024),
            video=VideoFormat(width=160, height=90, pixel_format="rgb24"),
        ),
        "file",
    )
    meter = g.add(LevelMeter(interval_ms=100), "meter")
    gain = g.add(Gain(-6.0), "gain")
    frames = g.add(FrameStats(every=1), "frame_stats")
    g.connect(src["audio"], meter)
    g.connect(src["audio"], gain)
    g.connect(src["video"], frames)
    g.connect(meter, g.add(JsonLinesSink(out / "levels.jsonl"), "levels_jsonl"))
    g.connect(meter, g.add(CsvSink(out / "levels.csv"), "levels_csv"))
    g.connect(frames, g.add(JsonLinesSink(out / "frames.jsonl"), "frames_jsonl"))
    g.connect(gain, g.add(AudioFileSink(out / "processed.wav"), "processed_wav"))
    events = g.add(JsonLinesSink(out / "events.jsonl"), "events_jsonl")
    g.connect(meter, events)
    g.connect(frames, events)
    return g
