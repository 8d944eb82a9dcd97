"""Run one pipeline in a fresh process and report its peak resident memory.

``python -m tests.reliability.peak_rss dynamics IN OUT [--slow-ms MS]`` runs
FileSource -> dynamics chain -> AudioFileSink (each write delayed by ``--slow-ms`` to
make the sink the bottleneck); ``python -m tests.reliability.peak_rss align FG BG
PAIRS`` runs the alignment graph into a JSON Lines file; ``python -m
tests.reliability.peak_rss diarize IN OUT.rttm [--mode seg|vad] [--model NAME]
[--chunk-frames N]`` runs the ``mediastream diarize`` graph (FileSource at 16 kHz mono,
N-frame chunks, default 32768 as the CLI -> OnlineDiarizer -> RTTM sink;
segmentation-3.0 + CAM++, or the light mode: silero-vad + CAM++), torch on one thread.
It prints one JSON object:
``{"peak_rss_kb": VmHWM, "baseline_kb": VmHWM before the run, "items": ...}``.
VmHWM is the kernel's high-water mark of the resident set (``/proc/self/status``).

The speech writer (:func:`write_speech_wav`) streams: a 2 h input costs the generator
no more memory than a 10 s one (the 2 h video pairs are written by
``bench/long_rss.py``, which repeats an encoded clip).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import wave
from pathlib import Path

from stream import AudioFormat, FileSource, Graph, Item

MODES = {"seg": "segmentation", "vad": "vad"}


def vm_hwm_kb() -> int:
    """Peak resident set size of this process so far, KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


# -- inputs --------------------------------------------------------------------------------


def write_speech_wav(path: str | os.PathLike[str], seconds: float) -> int:
    """pyannote's ``sample.wav`` (30 s, two speakers, 16 kHz mono) tiled to ``seconds``,
    written as 16-bit PCM WAV one 30 s copy at a time; returns the frame count."""
    from tests.operators.speaker.support import RATE, sample_dir

    with wave.open(str(sample_dir() / "sample.wav")) as w:
        pcm = w.readframes(w.getnframes())
    unit = len(pcm) // 2
    total = round(seconds * RATE)
    with wave.open(os.fspath(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for k in range(0, total, unit):
            out.writeframes(pcm[: 2 * min(unit, total - k)])
    return total


# -- pipelines -----------------------------------------------------------------------------


def run_dynamics(src: str, out: str, slow_ms: float) -> int:
    from operators.dynamics import DynamicsSettings, build_dynamics_chain
    from sinks import AudioFileSink

    class SlowSink(AudioFileSink):
        def write(self, item: Item) -> None:
            if slow_ms:
                time.sleep(slow_ms / 1e3)
            super().write(item)

    g = Graph()
    file = g.add(FileSource(src, video=False, audio=AudioFormat(chunk_frames=1024)), "file")
    chain = build_dynamics_chain(g, file["audio"], DynamicsSettings())
    sink = SlowSink(out)
    g.connect(chain.audio, g.add(sink, "out"))
    g.run_sync()
    return sink.frames_written


def run_align(fg: str, bg: str, pairs: str) -> int:
    from mediastream.align import align_setup, build_align_graph

    graph = build_align_graph(align_setup(fg, bg), pairs_path=pairs)
    graph.run_sync()
    with open(pairs) as f:
        return sum(1 for _ in f)


def run_diarize(src: str, rttm: str, mode: str, model: str, chunk_frames: int) -> int:
    """``mediastream diarize SRC --rttm RTTM --mode MODE --model MODEL --threads 1
    --chunk-frames CHUNK_FRAMES``."""
    from mediastream.diarize import DiarizeSettings, build_diarize_graph

    settings = DiarizeSettings(
        mode=MODES[mode], model=model, threads=1, chunk_frames=chunk_frames
    )
    graph, _ = build_diarize_graph(src, settings, rttm=rttm)
    graph.run_sync()
    with open(rttm) as f:
        return sum(1 for _ in f)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pipeline", choices=["dynamics", "align", "diarize"])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--slow-ms", type=float, default=0.0)
    parser.add_argument("--mode", choices=sorted(MODES), default="seg")
    parser.add_argument("--model", default="campplus")
    parser.add_argument("--chunk-frames", type=int, default=32768)
    args = parser.parse_args()
    # Load what any run loads (Numba kernels, PyAV, OpenCV) before taking the baseline.
    import av  # noqa: F401

    import operators.dynamics
    import operators.video  # noqa: F401

    baseline = vm_hwm_kb()
    start = time.perf_counter()
    if args.pipeline == "dynamics":
        items = run_dynamics(args.paths[0], args.paths[1], args.slow_ms)
    elif args.pipeline == "align":
        items = run_align(*args.paths[:3])
    else:
        items = run_diarize(
            args.paths[0], args.paths[1], args.mode, args.model, args.chunk_frames
        )
    wall = time.perf_counter() - start
    print(
        json.dumps(
            {"peak_rss_kb": vm_hwm_kb(), "baseline_kb": baseline, "items": items, "wall_s": wall}
        )
    )


if __name__ == "__main__":
    main()
