"""Scale-out benchmarks: ``mediastream batch`` on Ray vs the same inputs one after the
other in one process (stream/batch/).

``batch_ray``
    N generated files (default 8 files of 60 s; ``--seconds`` sets the length,
    ``--quick`` 4 files of 4 s), stereo 48 kHz 16-bit WAV, through a dynamics graph
    file: ``file (4096-frame chunks) -> compressor (meter events every 100 ms) ->
    limiter -> FLAC`` plus the meters as JSON Lines. Variants, alternating within each
    repetition (order rotating):

    * ``seq``: ``run_batch(..., BatchSettings(ray=False))``: every input's graph in
      this process, one after the other (what a loop over ``mediastream run`` does,
      without the process start-ups);
    * ``ray``: ``run_batch(...)`` on a local Ray instance with 2 CPUs started once
      (``ray.init(num_cpus=2, object_store_memory=200 MB)``, not timed; its start-up is
      the ``ray_init_s`` metric): a task per input, 1 CPU each.

    Both write every output and ``summary.json``. Timed: the whole ``run_batch`` call.
    Metrics: ``*_files_per_min``, ``*_xrt`` (media seconds / wall seconds),
    ``*_cpu_cores`` (CPU seconds / wall seconds: of this process for ``seq``; of this
    process and the Ray workers for ``ray``, from /proc), ``speedup`` =
    ``ray_files_per_min / seq_files_per_min`` (same repetition; target >= 1.7 on 2
    cores), ``*_task_overhead_s`` (wall time minus the longest any one worker was
    busy running inputs: scheduling, pickling, the summary), ``decode_xrt`` (decoding
    alone, one file, in this process), ``load_1min`` (the machine's load average before
    the repetition: other work on a 2-core machine takes cores from the Ray variant
    first, so compare speedups measured at low load only).

``batch_ray_diarize``
    4 synthetic conversations (20 turns, about 65 s each; espeak-ng + MBROLA voices)
    through ``file (16 kHz mono) -> diarizer (segmentation-3.0 + CAM++, torch 1 thread)
    -> RTTM``, sequential in this process vs Ray with 2 CPUs: ``ray_local`` (each
    worker loads its own models, once) and ``ray_shared`` (both models in shared actors,
    ``shared_models="all"``; actor statistics: embedding rows per forward pass).
    Speaker linking runs in every variant (its time included). Extra metrics of
    ``ray_shared``: CPU seconds of each model actor (``*_actor_cpu_s``, its process
    from start to the end of the batch, model loading included), embedding rows per
    forward pass and bytes of embedding windows sent to the actor per media second.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness import Options, Prepared, register

# The example graph file the batch tests use too.
DYNAMICS_GRAPH = (Path(__file__).resolve().parents[1] / "examples/dynamics.toml").read_text()

DIARIZE_GRAPH = """\
[params]
input = "talk.wav"

[nodes.media]
type = "file"
path = "${input}"
audio = { sample_rate = 16000, channels = 1, chunk_frames = 32768 }
video = false

[nodes.diarize]
type = "diarizer"
input = "media.audio"
model = "campplus"
threads = 1

[nodes.rttm]
type = "rttm"
input = "diarize"
path = "speakers.rttm"
"""

CPUS = 2
TARGET_SPEEDUP = 1.7


def _start_ray() -> float:
    """A local Ray instance with 2 CPUs for the whole benchmark process; its start-up s."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    t0 = time.perf_counter()
    if not ray.is_initialized():
        ray.init(
            num_cpus=CPUS, include_dashboard=False, object_store_memory=200 * 1024 * 1024,
            log_to_driver=False, logging_level=logging.WARNING,
        )  # fmt: skip
        atexit.register(ray.shutdown)
    return time.perf_counter() - t0


def _cpu_of(pids: set[int]) -> float:
    """User + system CPU seconds of processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _ray_worker_pids() -> set[int]:
    """Ray worker and actor processes on this machine (their titles start "ray::")."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(b"ray::"):
            out.add(int(entry.name))
    return out


def _variant(
    name: str,
    graph: Path,
    inputs: list[Path],
    root: Path,
    settings: Any,
    media_s: float,
    workers: Callable[[], set[int]] | None,
) -> dict[str, float]:
    from mediastream.batch import run_batch

    out = root / name
    shutil.rmtree(out, ignore_errors=True)
    gc.collect()
    pids = {os.getpid()} | (workers() if workers else set())
    cpu0 = _cpu_of(pids)
    t0 = time.perf_counter()
    report = run_batch(graph, inputs, out, settings)
    wall = time.perf_counter() - t0
    pids |= workers() if workers else set()
    cpu = _cpu_of(pids) - cpu0
    if not report.ok:
        raise RuntimeError(f"{name}: {[r.error for r in report.failed]}")
    m = {
        f"{name}_wall_s": wall,
        f"{name}_files_per_min": 60.0 * len(inputs) / wall,
        f"{name}_xrt": media_s / wall,
        f"{name}_cpu_cores": cpu / wall,
    }
    busy: dict[int, float] = {}
    for r in report.results:
        busy[r.pid] = busy.get(r.pid, 0.0) + r.wall_s
    m[f"{name}_task_overhead_s"] = wall - max(busy.values())
    actors = report.summary.get("model_actors", {})
    for actor, stats in actors.items():
        if actor.startswith("embedding") and stats.get("rows_per_call"):
            m[f"{name}_embed_rows_per_call"] = float(stats["rows_per_call"])
            # CAM++ windows: 1.5 s at 16 kHz, float32
            m[f"{name}_embed_bytes_per_media_s"] = stats["rows"] * 24000 * 4 / media_s
        if actor.startswith("segmentation") and stats.get("rows"):  # 5 s buffers
            m[f"{name}_segment_bytes_per_media_s"] = stats["rows"] * 80000 * 4 / media_s
        kind = actor.split(":")[0]
        m[f"{name}_{kind}_actor_cpu_s"] = float(stats.get("cpu_s", 0.0))
    if actors:  # actors are gone before /proc is read again: add their own count
        m[f"{name}_cpu_cores"] = (cpu + sum(s.get("cpu_s", 0.0) for s in actors.values())) / wall
    return m


def _decode_xrt(path: Path) -> float:
    from stream import AudioFormat, FileSource

    src = FileSource(path, audio=AudioFormat(chunk_frames=4096), video=False)
    t0 = time.perf_counter()
    src.open(["audio"])
    frames = 0
    try:
        while batch := src.read(64):
            frames += sum(item.data.shape[1] for _, item in batch)
    finally:
        src.close()
    return frames / 48000 / (time.perf_counter() - t0)


def _rotate(names: list[str], k: int) -> list[str]:
    k %= len(names)
    return names[k:] + names[:k]


@register(
    "batch_ray",
    "files per minute: N generated files through a dynamics graph, sequential vs Ray (2 CPUs)",
)
def prepare(options: Options) -> Prepared:
    from mediastream.batch import BatchSettings
    from mediastream.synth import write_media

    n, seconds = (4, 4.0) if options.quick else (8, options.seconds or 60.0)
    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    atexit.register(shutil.rmtree, root, True)
    inputs = [root / f"take{i:02d}.wav" for i in range(n)]
    for i, path in enumerate(inputs):
        write_media(path, seconds, video=False, seed=i)
    graph = root / "dynamics.toml"
    graph.write_text(DYNAMICS_GRAPH)
    init_s = _start_ray()
    media_s = n * seconds
    variants = {
        "seq": (BatchSettings(ray=False), None),
        "ray": (BatchSettings(), _ray_worker_pids),
    }
    count = [0]

    def run() -> dict[str, float]:
        out: dict[str, float] = {"ray_init_s": init_s, "load_1min": os.getloadavg()[0]}
        for name in _rotate(list(variants), count[0]):
            settings, workers = variants[name]
            out.update(_variant(name, graph, inputs, root, settings, media_s, workers))
        count[0] += 1
        out["speedup"] = out["ray_files_per_min"] / out["seq_files_per_min"]
        out["decode_xrt"] = _decode_xrt(inputs[0])
        return out

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        return {f"speedup >= {TARGET_SPEEDUP} on {CPUS} CPUs": m["speedup"] >= TARGET_SPEEDUP}

    return Prepared(
        run=run,
        params={
            "files": n,
            "seconds_per_file": seconds,
            "format": "WAV, 48 kHz stereo 16-bit (mediastream.synth.write_media)",
            "graph": DYNAMICS_GRAPH,
            "ray_cpus": CPUS,
            "object_store_mb": 200,
        },
        checks=checks,
    )


@register(
    "batch_ray_diarize",
    "files per minute: synthetic conversations through a diarization graph, sequential vs "
    "Ray (2 CPUs) with per-worker models or shared model actors",
)
def prepare_diarize(options: Options) -> Prepared:
    import wave

    import numpy as np

    from mediastream.batch import BatchSettings
    from tests.operators.speaker import synth_speech

    if not synth_speech.available():
        raise RuntimeError(
            "espeak-ng and the MBROLA voices are not installed (make speech-synth-packages)"
        )
    n, turns = (2, 4) if options.quick else (4, 20)
    root = Path(tempfile.mkdtemp(prefix="bench-batch-diarize-"))
    atexit.register(shutil.rmtree, root, True)
    inputs, media_s = [], 0.0
    for i in range(n):
        conv = synth_speech.conversation(turns, seed=40 + i)
        path = root / f"conv{i}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.clip(conv.audio, -1, 1) * 32767).astype(np.int16).tobytes())
        inputs.append(path)
        media_s += conv.audio.size / 16000
    graph = root / "diarize.toml"
    graph.write_text(DIARIZE_GRAPH)
    init_s = _start_ray()
    variants = {
        "seq": (BatchSettings(ray=False), None),
        "ray_local": (BatchSettings(), _ray_worker_pids),
        "ray_shared": (BatchSettings(shared_models="all"), _ray_worker_pids),
    }
    count = [0]

    def run() -> dict[str, float]:
        out: dict[str, float] = {"ray_init_s": init_s, "load_1min": os.getloadavg()[0]}
        for name in _rotate(list(variants), count[0]):
            settings, workers = variants[name]
            out.update(_variant(name, graph, inputs, root, settings, media_s, workers))
        count[0] += 1
        out["speedup_local"] = out["ray_local_files_per_min"] / out["seq_files_per_min"]
        out["speedup_shared"] = out["ray_shared_files_per_min"] / out["seq_files_per_min"]
        return out

    return Prepared(
        run=run,
        params={
            "files": n,
            "turns_per_file": turns,
            "media_s": round(media_s, 1),
            "graph": DIARIZE_GRAPH,
            "ray_cpus": CPUS,
            "note": "ray_shared starts its two model actors in every repetition (model "
            "loading included in its time); ray_local workers keep their models between "
            "repetitions",
        },
    )
