"""Benchmark of online speaker diarization (operators/speaker/).

``diarize_streaming_vs_offline``
    The same models streaming and offline, side by side in one process, on pyannote's
    ``sample.wav`` (30 s, 2 speakers) repeated to ``--seconds`` (default 120 s; the
    reference RTTM is repeated with it):

    * ``seg_campplus_stream``: ``OnlineDiarizer`` (segmentation-3.0 on 5 s buffers
      every 0.5 s, CAM++ embeddings on 1.5 s windows every 0.75 s, incremental
      clustering), fed 4096-frame chunks through ``process()``, then ``flush()``.
    * ``seg_campplus_offline``: the same models over the whole array at once:
      pyannote ``Inference`` sliding windows (5 s, step 0.5 s) for segmentation, the
      same embedding windows batched, agglomerative clustering of all local-speaker
      embeddings (``operators.speaker.offline.diarize_offline``).
    * ``seg_campplus_stream_2s``: the same, fed 32768-frame (~2 s) chunks: each
      ``process()`` call then batches ~4 buffers and ~3 windows per forward pass
      (results identical up to float noise; what a file source with large chunks gets).
    * ``vad_ge2e_stream``: the light mode (silero-vad + 2 s windows every 1 s +
      incremental clustering) with GE2E.

    Metrics per variant: ``*_xrt`` (media seconds / wall seconds) and ``*_der05`` /
    ``*_der0`` (DER, overlap scored, collar 0.5 s / 0 s). ``ratio_stream_offline`` =
    streaming x real time / offline x real time for segmentation + CAM++ (same
    repetition), ``ratio_stream_2s_offline`` the same with 2 s chunks. torch runs one
    intra-op thread (``TORCH_THREADS``) for every variant.
    Variants alternate within each repetition (order rotating), ``gc.collect()`` first.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from harness import Options, Prepared, register

DEFAULT_SECONDS = 120.0
QUICK_SECONDS = 8.0
CHUNK = 4096
BIG_CHUNK = 32768  # about 2 s: several buffers and windows per process() call, batched
TORCH_THREADS = 1
TARGET_RATIO = 0.9  # streaming within 10 % of offline throughput
TARGET_SEG_XRT = 10.0  # segmentation + CAM++ >= 10x real time on 2 CPU cores
TARGET_LIGHT_XRT = 50.0


@register(
    "diarize_streaming_vs_offline",
    "online diarization (segmentation+CAM++, light VAD modes) vs the same models offline",
)
def prepare(options: Options) -> Prepared:
    import torch

    from operators.speaker import OnlineDiarizer
    from operators.speaker.offline import diarize_offline
    from stream import AudioChunk
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
    def cut(frames: int) -> list[AudioChunk]:
        return [
            AudioChunk(np.ascontiguousarray(audio[None, k : k + frames]), RATE, k)
            for k in range(0, audio.size, frames)
        ]

    chunks, big_chunks = cut(CHUNK), cut(BIG_CHUNK)
    # One torch thread: on a 2-core machine shared with other work, two OpenMP threads
    # per op made batch-1 convolutions 5-10x slower (spin-waits on a busy core).
    for model in (campplus, ge2e, segmentation, silero):
        model()  # loads with threads=1
    torch.set_num_threads(TORCH_THREADS)
    threads = torch.get_num_threads()

    def stream(make: Callable[[], Any], pieces: list[Any] = chunks) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            op = make()
            out: list[Any] = []
            for c in pieces:
                out += op.process(c)
            return out + list(op.flush())

        return run

    variants: dict[str, Callable[[], list[Any]]] = {
        "seg_campplus_stream": stream(
            lambda: OnlineDiarizer(campplus(), segmentation=segmentation())
        ),
        "seg_campplus_stream_2s": stream(
            lambda: OnlineDiarizer(campplus(), segmentation=segmentation()), big_chunks
        ),
        "seg_campplus_offline": lambda: diarize_offline(
            OnlineDiarizer(campplus(), segmentation=segmentation()), audio
        ),
        "vad_ge2e_stream": stream(lambda: OnlineDiarizer(ge2e(), mode="vad", vad=silero())),
    }
    order = list(variants)
    rotation = [0]

    def run() -> dict[str, float]:
        names = order[rotation[0] % len(order) :] + order[: rotation[0] % len(order)]
        rotation[0] += 1
        out: dict[str, float] = {}
        for name in names:
            gc.collect()
            t0 = time.perf_counter()
            events = variants[name]()
            wall = time.perf_counter() - t0
            out[f"{name}_xrt"] = seconds / wall
            out[f"{name}_der05"] = der(ref, events, 0.5)
            out[f"{name}_der0"] = der(ref, events, 0.0)
        offline = out["seg_campplus_offline_xrt"]
        out["ratio_stream_offline"] = out["seg_campplus_stream_xrt"] / offline
        out["ratio_stream_2s_offline"] = out["seg_campplus_stream_2s_xrt"] / offline
        return out

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        return {
            f"ratio_stream_offline >= {TARGET_RATIO}": m["ratio_stream_offline"] >= TARGET_RATIO,
            f"seg_campplus_stream_xrt >= {TARGET_SEG_XRT}": m["seg_campplus_stream_xrt"]
            >= TARGET_SEG_XRT,
            f"vad_ge2e_stream_xrt >= {TARGET_LIGHT_XRT}": m["vad_ge2e_stream_xrt"]
            >= TARGET_LIGHT_XRT,
            "seg_campplus_stream_der05 <= offline + 0.03": m["seg_campplus_stream_der05"]
            <= m["seg_campplus_offline_der05"] + 0.03,
        }

    return Prepared(
        run=run,
        params={
            "seconds": seconds,
            "input": "pyannote sample.wav repeated",
            "chunk_frames": CHUNK,
            "torch_threads": threads,
            "variants": order,
        },
        checks=checks,
        profile=variants["seg_campplus_stream"],
    )
