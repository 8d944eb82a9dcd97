"""Benchmark of online speaker diarization (operators/speaker/).

``diarize_streaming_vs_offline``
    The same models streaming and offline, side by side in one process, on pyannote's
    ``sample.wav`` (30 s, 2 speakers) repeated to ``--seconds`` (default 120 s; the
    reference RTTM is repeated with it), written once as a 16-bit WAV to a temporary
    directory:

    * ``seg_campplus_graph``: what ``mediastream diarize`` runs: a ``stream.Graph``
      ``FileSource(wav, 16 kHz mono, chunk_frames=32768)`` (the CLI's default chunk)
      -> ``OnlineDiarizer`` (segmentation-3.0 on 5 s buffers every 0.5 s, CAM++
      embeddings on 1.5 s windows every 0.75 s, incremental clustering) -> a
      ``MemorySink``, run with ``run_sync()``. The diarizer is a heavy node: it gets
      every chunk queued behind it in one ``process_many`` call, so the buffers and
      windows of a backlog run as batched forward passes. Timed: building the graph
      and ``run_sync()`` (decoding included).
    * ``seg_campplus_stream``: the same diarizer fed 4096-frame chunks directly through
      ``process()``, then ``flush()``: the live case, where every buffer and window is
      a batch of one (a microphone gives no backlog).
    * ``seg_campplus_offline``: the same models over the whole array at once:
      pyannote ``Inference`` sliding windows (5 s, step 0.5 s) for segmentation, every
      embedding window batched, agglomerative clustering of all local-speaker
      embeddings (``operators.speaker.offline.diarize_offline(clustering=
      "agglomerative")``, independent of the streaming clustering).
    * ``seg_campplus_graph_torch`` / ``seg_campplus_stream_torch``: the first two with
      ``engine="torch"`` (CAM++ and segmentation-3.0 as torch modules; the others run
      them under ONNX Runtime, the default on CPU); ``ratio_graph_onnx_torch`` and
      ``ratio_stream_onnx_torch`` are the x-real-time ratios of the default engine over
      torch (same repetition).
    * ``vad_ge2e_graph`` / ``vad_ge2e_stream``: the light mode (silero-vad + 2 s GE2E
      windows every 1 s + incremental clustering), through the graph as above, and
      fed 4096-frame chunks through ``process()``.

    Metrics per variant: ``*_xrt`` (media seconds / wall seconds), ``*_cpu_xrt``
    (media seconds / CPU seconds of the whole process, every thread: less sensitive to
    other work on the machine than wall time) and ``*_der05`` / ``*_der0`` (DER,
    overlap scored, collar 0.5 s / 0 s). ``ratio_graph_offline`` =
    ``seg_campplus_graph_xrt / seg_campplus_offline_xrt`` (same repetition),
    ``ratio_stream_offline`` the same for the 4096-frame live reference.
    ``*_graph_max_queue``: the most chunks that waited in the diarizer's input queue
    (the backlog that ``process_many`` batches). Every model runs one intra-op thread
    (the environment variable ``DIARIZE_BENCH_THREADS`` sets another count for torch;
    the ONNX Runtime sessions keep one; ``mediastream diarize`` leaves both runtimes'
    default, one thread per core).
    Variants alternate within each repetition (order rotating), ``gc.collect()`` first.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
import wave
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from harness import Options, Prepared, register

DEFAULT_SECONDS = 120.0
QUICK_SECONDS = 8.0
CHUNK = 4096  # the live reference: every buffer and window a batch of one
TORCH_THREADS = int(os.environ.get("DIARIZE_BENCH_THREADS", "1"))
TARGET_RATIO = 0.9  # streaming within 10 % of offline throughput
TARGET_SEG_XRT = 10.0  # segmentation + CAM++ >= 10x real time on 2 CPU cores
TARGET_LIGHT_XRT = 50.0


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


@register(
    "diarize_streaming_vs_offline",
    "online diarization (segmentation+CAM++, light VAD modes) vs the same models offline",
)
def prepare(options: Options) -> Prepared:
    import torch

    from mediastream.diarize import DiarizeSettings
    from operators.speaker import OnlineDiarizer
    from operators.speaker.offline import diarize_offline
    from sinks import MemorySink
    from stream import AudioChunk, AudioFormat, FileSource, Graph
    from tests.operators.speaker.support import (
        RATE,
        campplus,
        der,
        ge2e,
        sample_audio,
        sample_reference,
        segmentation,
        silero,
    )

    seconds = options.seconds or (QUICK_SECONDS if options.quick else DEFAULT_SECONDS)
    base = sample_audio()
    reps = int(np.ceil(seconds * RATE / base.size))
    audio = np.tile(base, reps)[: int(seconds * RATE)]
    ref0 = sample_reference()
    from pyannote.core import Annotation, Segment

    ref = Annotation()
    for i in range(reps):
        for seg, _, label in ref0.itertracks(yield_label=True):
            s, e = seg.start + 30.0 * i, min(seg.end + 30.0 * i, seconds)
            if s < e:
                ref[Segment(s, e)] = label
    # sample.wav is 16-bit PCM: the WAV holds exactly the samples of `audio`.
    tmp = tempfile.TemporaryDirectory(prefix="bench_diarize_")
    wav = Path(tmp.name) / "sample_repeated.wav"
    _write_wav(wav, audio, RATE)
    graph_chunk = DiarizeSettings().chunk_frames
    chunks = [
        AudioChunk(np.ascontiguousarray(audio[None, k : k + CHUNK]), RATE, k)
        for k in range(0, audio.size, CHUNK)
    ]
    # One torch thread by default: on a 2-core machine shared with other work, two
    # OpenMP threads per op made batch-1 convolutions 5-10x slower (spin-waits on a
    # busy core).
    for model in (campplus, ge2e, segmentation, silero):
        model()  # loads with threads=1
    campplus("torch"), segmentation("torch")
    torch.set_num_threads(TORCH_THREADS)
    threads = torch.get_num_threads()
    queues: dict[str, int] = {}

    def seg_op() -> Any:
        return OnlineDiarizer(campplus(), segmentation=segmentation())

    def seg_op_torch() -> Any:
        return OnlineDiarizer(campplus("torch"), segmentation=segmentation("torch"))

    def vad_op() -> Any:
        return OnlineDiarizer(ge2e(), mode="vad", vad=silero())

    def stream(make: Callable[[], Any]) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            op = make()
            out: list[Any] = []
            for c in chunks:
                out += op.process(c)
            return out + list(op.flush())

        return run

    def graph(name: str, make: Callable[[], Any]) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            g = Graph()
            path = Path(tmp.name) / wav.name  # holds `tmp`: removed when the bench is done
            source = FileSource(path, audio=AudioFormat(RATE, 1, graph_chunk), video=False)
            sink = MemorySink()
            g.chain(g.add(source, "file"), g.add(make(), "diarize"), g.add(sink, "sink"))
            stats = g.run_sync()
            queues[name] = stats.nodes["diarize"].max_queue_depth
            return list(sink.events)

        return run

    variants: dict[str, Callable[[], list[Any]]] = {
        "seg_campplus_graph": graph("seg_campplus_graph", seg_op),
        "seg_campplus_stream": stream(seg_op),
        "seg_campplus_offline": lambda: diarize_offline(
            seg_op(), audio, clustering="agglomerative"
        ),
        "seg_campplus_graph_torch": graph("seg_campplus_graph_torch", seg_op_torch),
        "seg_campplus_stream_torch": stream(seg_op_torch),
        "vad_ge2e_graph": graph("vad_ge2e_graph", vad_op),
        "vad_ge2e_stream": stream(vad_op),
    }
    order = list(variants)
    rotation = [0]

    def run() -> dict[str, float]:
        names = order[rotation[0] % len(order) :] + order[: rotation[0] % len(order)]
        rotation[0] += 1
        out: dict[str, float] = {}
        for name in names:
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            events = variants[name]()
            wall = time.perf_counter() - t0
            out[f"{name}_xrt"] = seconds / wall
            out[f"{name}_cpu_xrt"] = seconds / (time.process_time() - c0)
            out[f"{name}_der05"] = der(ref, events, 0.5)
            out[f"{name}_der0"] = der(ref, events, 0.0)
            if name in queues:
                out[f"{name}_max_queue"] = float(queues[name])
        offline = out["seg_campplus_offline_xrt"]
        out["ratio_graph_offline"] = out["seg_campplus_graph_xrt"] / offline
        out["ratio_stream_offline"] = out["seg_campplus_stream_xrt"] / offline
        for kind in ("graph", "stream"):  # the default engine (ONNX Runtime) over torch
            out[f"ratio_{kind}_onnx_torch"] = (
                out[f"seg_campplus_{kind}_xrt"] / out[f"seg_campplus_{kind}_torch_xrt"]
            )
        return out

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        return {
            f"ratio_graph_offline >= {TARGET_RATIO}": m["ratio_graph_offline"] >= TARGET_RATIO,
            f"seg_campplus_graph_xrt >= {TARGET_SEG_XRT}": m["seg_campplus_graph_xrt"]
            >= TARGET_SEG_XRT,
            f"vad_ge2e_graph_xrt >= {TARGET_LIGHT_XRT}": m["vad_ge2e_graph_xrt"]
            >= TARGET_LIGHT_XRT,
            "seg_campplus_graph_der05 <= offline + 0.03": m["seg_campplus_graph_der05"]
            <= m["seg_campplus_offline_der05"] + 0.03,
        }

    return Prepared(
        run=run,
        params={
            "seconds": seconds,
            "input": "pyannote sample.wav repeated, as a 16-bit WAV",
            "graph_chunk_frames": graph_chunk,
            "stream_chunk_frames": CHUNK,
            "torch_threads": threads,
            "variants": order,
        },
        checks=checks,
        profile=variants["seg_campplus_graph"],
    )
