"""Long runs (issue 7): peak resident memory of whole pipelines, long input vs short.

One benchmark per pipeline, ``long_rss_<pipeline>``. Setup (untimed) generates two
inputs, ``--seconds`` long (default 7200: 2 h) and 1/12 of that (10 min for 2 h), into
a temporary directory (removed at exit); one repetition runs the pipeline on each in a
fresh process (``python -m tests.reliability.peak_rss``, short first) and reads its
peak RSS (VmHWM). Pipelines and inputs:

* ``diarize_vad`` / ``diarize_seg``: ``mediastream diarize`` (FileSource at 16 kHz
  mono -> OnlineDiarizer -> RTTM sink, CAM++ embeddings, torch on one thread), light
  mode (silero-vad) and segmentation mode (segmentation-3.0); input: pyannote's
  ``sample.wav`` (30 s, two speakers) tiled to the length, 16-bit WAV.
* ``align``: ``mediastream align`` into a JSON Lines file; input: the alignment tests'
  generated pair (``tests/operators/video/pairs.py``: 320x180 24 fps background with
  moving content, no cut; fg cut from it, colour graded and noised, starting at bg
  frame 30, 60 frames shorter), written frame by frame (H.264).
* ``dynamics``: FileSource -> dynamics chain -> FLAC; input: ``stream.synth``
  speech-like audio, 8 kHz mono WAV.

Metrics: ``short_peak_rss_mb``, ``long_peak_rss_mb``, ``ratio_long_short`` (target
<= 1.10), ``grown_mb`` (long - short), ``*_wall_s`` (the pipeline run, model loading
included, not the interpreter start), ``*_items`` (output lines / frames, proof that
the run went through) and ``long_x_realtime``. Memory is not timing-sensitive; run it
niced beside other work: ``nice -n 19 python bench/run.py long_rss_diarize_vad
--repeats 1 --warmup 0``.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from harness import Options, Prepared, register

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SECONDS = 7200.0
QUICK_SECONDS = 24.0
SHORT_FRACTION = 12  # the short input is 1/12 of the long one: 10 min for 2 h
TARGET_RATIO = 1.10
FPS = 24  # the generated video pair's frame rate


def _peak_rss(args: list[str]) -> dict[str, float]:
    res = subprocess.run(
        [sys.executable, "-m", "tests.reliability.peak_rss", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"peak_rss {' '.join(args)} failed:\n{res.stderr[-4000:]}")
    result: dict[str, float] = json.loads(res.stdout.strip().splitlines()[-1])
    return result


def _inputs(pipeline: str, directory: Path, seconds: float) -> list[str]:
    """Write one input of ``seconds``; returns the peak_rss arguments that run it."""
    from tests.reliability.peak_rss import write_long_pair, write_speech_wav

    directory.mkdir(parents=True)
    if pipeline.startswith("diarize"):
        wav = directory / "speech.wav"
        write_speech_wav(wav, seconds)
        mode = pipeline.removeprefix("diarize_")
        return ["diarize", str(wav), str(directory / "out.rttm"), "--mode", mode]
    if pipeline == "align":
        fg, bg = write_long_pair(directory, round(seconds * FPS))
        return ["align", str(fg), str(bg), str(directory / "pairs.jsonl")]
    from stream.synth import write_media

    src = directory / "in.wav"
    write_media(src, seconds, video=False, sample_rate=8000, channels=1)
    return ["dynamics", str(src), str(directory / "out.flac")]


def _prepare(pipeline: str) -> Callable[[Options], Prepared]:
    def prepare(options: Options) -> Prepared:
        long_s = options.seconds or (QUICK_SECONDS if options.quick else DEFAULT_SECONDS)
        short_s = long_s / SHORT_FRACTION
        work = Path(tempfile.mkdtemp(prefix=f"long_rss_{pipeline}_"))
        atexit.register(shutil.rmtree, work, ignore_errors=True)
        t0 = time.perf_counter()
        runs = {
            "short": _inputs(pipeline, work / "short", short_s),
            "long": _inputs(pipeline, work / "long", long_s),
        }
        generate_s = time.perf_counter() - t0
        print(f"{pipeline}: inputs written in {generate_s:.0f} s", file=sys.stderr)

        def run() -> dict[str, float]:
            out: dict[str, float] = {}
            for size, args in runs.items():  # short first
                r = _peak_rss(args)
                out[f"{size}_peak_rss_mb"] = r["peak_rss_kb"] / 1024
                out[f"{size}_baseline_rss_mb"] = r["baseline_kb"] / 1024
                out[f"{size}_wall_s"] = r["wall_s"]
                out[f"{size}_items"] = r["items"]
                print(f"{pipeline} {size}: {json.dumps(r)}", file=sys.stderr)
            out["ratio_long_short"] = out["long_peak_rss_mb"] / out["short_peak_rss_mb"]
            out["grown_mb"] = out["long_peak_rss_mb"] - out["short_peak_rss_mb"]
            out["long_x_realtime"] = long_s / out["long_wall_s"]
            return out

        def checks(m: Mapping[str, float]) -> dict[str, bool]:
            ok = m["ratio_long_short"] <= TARGET_RATIO
            return {f"peak RSS long <= {TARGET_RATIO} x short": ok}

        return Prepared(
            run=run,
            params={
                "pipeline": pipeline,
                "long_s": long_s,
                "short_s": short_s,
                "generate_s": generate_s,
                "command": ["python", "-m", "tests.reliability.peak_rss", *runs["long"]],
            },
            checks=checks,
        )

    return prepare


DESCRIPTIONS = {
    "diarize_vad": "peak RSS, long vs 1/12 input: mediastream diarize, light mode (silero+CAM++)",
    "diarize_seg": "peak RSS, long vs 1/12 input: mediastream diarize, segmentation-3.0+CAM++",
    "align": "peak RSS, long vs 1/12 input: mediastream align on a generated 24 fps pair",
    "dynamics": "peak RSS, long vs 1/12 input: FileSource -> dynamics chain -> FLAC",
}

for _name, _description in DESCRIPTIONS.items():
    register(f"long_rss_{_name}", _description)(_prepare(_name))
