"""Benchmarks of the dynamics operators (operators/dynamics/).

``dynamics_vs_pedalboard``
    Our ``Compressor`` and ``Limiter`` against ``pedalboard.Compressor`` and
    ``pedalboard.Limiter`` (JUCE's), on the same 60 s of 48 kHz stereo float32 audio:
    Gaussian noise bursts whose level changes every 0.1 s (uniform in -40..+6 dB around
    0.3 RMS, so that both stages work all the time, never resting on a quiet stretch),
    whole buffer and in 256- and 512-frame streaming (pedalboard:
    ``process(chunk, reset=False)``; ours: ``process(AudioChunk)`` per chunk, then
    ``flush()``). Also our ``EnvelopeFollower`` alone, and our compressor's Numba
    kernel called per 512-frame chunk without the operator around it (what the
    per-chunk Python costs). Variants alternate within every repetition (the order
    rotates); ``gc.collect()`` before each. Metric: nanoseconds per sample per channel,
    ``T / (frames * channels)``; ratios are pedalboard / ours (> 1: ours faster).

``live_chain_overhead``
    The live chain ``Compressor -> Limiter`` (both with 50 ms meters) through the
    runtime, 256-frame blocks from an ``ArraySource`` into a counting sink, each
    meter's events into its own counting sink (``runtime_*``) or both into one sink,
    which makes the runtime join them in time order (``runtime_*_joined_meters``):
    CPU time (``time.process_time``, all threads) per block as a
    percentage of the block's duration (256 / 48000 s). For comparison: the same two
    operators' ``process()`` called directly per block (no runtime), and their bare
    kernels on preallocated arrays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
from harness import Interleaved, Options, Prepared, register

from operators import Compressor, EnvelopeFollower, Limiter
from operators.dynamics.compressor import _compress_plain
from operators.dynamics.limiter import _limit
from stream import ArraySource, AudioChunk, AudioSpec, Graph, Item, Operator, Sink

SAMPLE_RATE = 48_000
CHANNELS = 2
DEFAULT_SECONDS = 60.0
QUICK_SECONDS = 0.5
STREAM_FRAMES = 512
STREAM_SIZES = (256, 512)
LIVE_BLOCK = 256
BURST_S = 0.1
BURST_DB = (-40.0, 6.0)
BURST_RMS = 0.3
TARGET_COMPRESSOR_RATIO = 3.0
TARGET_LIMITER_RATIO = 1.5
TARGET_ENVELOPE_NS = 2.5
TARGET_ENVELOPE_256_OVER_WHOLE = 3.0
TARGET_LIVE_PERCENT = 1.0

COMPRESSOR = {"threshold_db": -20.0, "ratio": 4.0, "attack_ms": 10.0, "release_ms": 100.0}
LIMITER = {"ceiling_db": -1.0, "release_ms": 50.0}


def _signal(seconds: float, seed: int = 0) -> npt.NDArray[np.float32]:
    """Noise bursts: Gaussian noise, its level redrawn every ``BURST_S`` seconds."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * SAMPLE_RATE)
    step = round(BURST_S * SAMPLE_RATE)
    levels = 10 ** (rng.uniform(*BURST_DB, size=frames // step + 1) / 20) * BURST_RMS
    x = rng.standard_normal((CHANNELS, frames)) * np.repeat(levels, step)[:frames]
    return np.ascontiguousarray(x, dtype=np.float32)


def _chunks(x: npt.NDArray[np.float32], frames: int) -> list[AudioChunk]:
    return [
        AudioChunk(np.ascontiguousarray(x[:, i : i + frames]), SAMPLE_RATE, i)
        for i in range(0, x.shape[1], frames)
    ]


def _ours(op: Operator, chunks: list[AudioChunk]) -> Callable[[], float]:
    op.configure({"in": AudioSpec(SAMPLE_RATE, CHANNELS)})

    def timed() -> float:
        op.reset()
        t0 = time.perf_counter()
        for c in chunks:
            op.process(c)
        op.flush()
        return time.perf_counter() - t0

    return timed


def _pedalboard(plugin: Any, pieces: list[npt.NDArray[np.float32]]) -> Callable[[], float]:
    def timed() -> float:
        plugin.reset()
        t0 = time.perf_counter()
        if len(pieces) == 1:
            plugin.process(pieces[0], SAMPLE_RATE)
        else:
            for p in pieces:
                plugin.process(p, SAMPLE_RATE, reset=False)
        return time.perf_counter() - t0

    return timed


def _compressor_kernel(chunks: list[AudioChunk]) -> Callable[[], float]:
    """Our compressor's kernel per chunk on preallocated outputs (no operator around it)."""
    comp = Compressor(**COMPRESSOR)  # type: ignore[arg-type]
    comp.configure({"in": AudioSpec(SAMPLE_RATE, CHANNELS)})
    outs = [np.empty_like(c.data) for c in chunks]

    def timed() -> float:
        comp.reset()
        work, ps = comp._work, comp._ps
        t0 = time.perf_counter()
        for c, y in zip(chunks, outs, strict=True):
            _compress_plain(c.data, y, work, ps)
        return time.perf_counter() - t0

    return timed


@register(
    "dynamics_vs_pedalboard",
    "Compressor/Limiter vs pedalboard's, 60 s 48 kHz stereo noise bursts, whole buffer and "
    "256/512-frame streaming; envelope follower alone; ns per sample per channel",
)
def prepare_vs_pedalboard(options: Options) -> Prepared:
    import pedalboard

    seconds = options.seconds or (QUICK_SECONDS if options.quick else DEFAULT_SECONDS)
    x = _signal(seconds)
    frames = x.shape[1]
    whole = _chunks(x, frames)
    streams = {size: _chunks(x, size) for size in STREAM_SIZES}
    streamed = streams[STREAM_FRAMES]
    pb_comp = pedalboard.Compressor(
        threshold_db=COMPRESSOR["threshold_db"],
        ratio=COMPRESSOR["ratio"],
        attack_ms=COMPRESSOR["attack_ms"],
        release_ms=COMPRESSOR["release_ms"],
    )
    pb_lim = pedalboard.Limiter(
        threshold_db=LIMITER["ceiling_db"], release_ms=LIMITER["release_ms"]
    )
    variants: dict[str, Callable[[], float]] = {
        "pedalboard_compressor_whole": _pedalboard(pb_comp, [x]),
        "ours_compressor_whole": _ours(Compressor(**COMPRESSOR), whole),  # type: ignore[arg-type]
        "ours_compressor_kernel_512": _compressor_kernel(streamed),
        "pedalboard_limiter_whole": _pedalboard(pb_lim, [x]),
        "ours_limiter_whole": _ours(Limiter(**LIMITER), whole),  # type: ignore[arg-type]
        "ours_envelope_whole": _ours(EnvelopeFollower(10.0, 100.0), whole),
    }
    for size, chunks in streams.items():
        pieces = [c.data for c in chunks]
        variants |= {
            f"pedalboard_compressor_{size}": _pedalboard(pb_comp, pieces),
            f"ours_compressor_{size}": _ours(Compressor(**COMPRESSOR), chunks),  # type: ignore[arg-type]
            f"pedalboard_limiter_{size}": _pedalboard(pb_lim, pieces),
            f"ours_limiter_{size}": _ours(Limiter(**LIMITER), chunks),  # type: ignore[arg-type]
            f"ours_envelope_{size}": _ours(EnvelopeFollower(10.0, 100.0), chunks),
        }
    names = list(variants)
    for name in names:  # compile / warm every path once, untimed
        variants[name]()
    samples = frames * CHANNELS
    timed = Interleaved(variants)

    def run() -> dict[str, float]:
        ns = {name: secs / samples * 1e9 for name, secs in timed().items()}
        metrics = {f"{name}_ns": ns[name] for name in names}
        for stage in ("compressor", "limiter"):
            for mode in ("whole", *map(str, STREAM_SIZES)):
                metrics[f"ratio_{stage}_{mode}_pedalboard_over_ours"] = (
                    ns[f"pedalboard_{stage}_{mode}"] / ns[f"ours_{stage}_{mode}"]
                )
        metrics["ratio_compressor_512_pedalboard_over_our_kernel"] = (
            ns["pedalboard_compressor_512"] / ns["ours_compressor_kernel_512"]
        )
        metrics["ratio_envelope_256_over_whole"] = (
            ns["ours_envelope_256"] / ns["ours_envelope_whole"]
        )
        return metrics

    def checks(medians: Mapping[str, float]) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for size in STREAM_SIZES:
            out[f"compressor {size}-frame streaming >= {TARGET_COMPRESSOR_RATIO}x pedalboard"] = (
                medians[f"ratio_compressor_{size}_pedalboard_over_ours"] >= TARGET_COMPRESSOR_RATIO
            )
            out[f"limiter {size}-frame streaming >= {TARGET_LIMITER_RATIO}x pedalboard"] = (
                medians[f"ratio_limiter_{size}_pedalboard_over_ours"] >= TARGET_LIMITER_RATIO
            )
        out[f"envelope whole buffer <= {TARGET_ENVELOPE_NS} ns/sample/channel"] = (
            medians["ours_envelope_whole_ns"] <= TARGET_ENVELOPE_NS
        )
        out[f"envelope 256-frame <= {TARGET_ENVELOPE_256_OVER_WHOLE}x its whole-buffer cost"] = (
            medians["ratio_envelope_256_over_whole"] <= TARGET_ENVELOPE_256_OVER_WHOLE
        )
        return out

    return Prepared(
        run=run,
        params={
            "media_seconds": frames / SAMPLE_RATE,
            "sample_rate": SAMPLE_RATE,
            "channels": CHANNELS,
            "stream_frames": list(STREAM_SIZES),
            "signal": f"Gaussian noise bursts, level redrawn every {BURST_S} s, uniform in "
            f"{BURST_DB[0]:g}..{BURST_DB[1]:+g} dB around {BURST_RMS} RMS",
            "compressor": COMPRESSOR | {"knee_db": 6.0, "pedalboard_knee": "none (hard)"},
            "limiter": LIMITER
            | {"lookahead_ms": 5.0, "pedalboard": "threshold_db=-1, release_ms=50"},
            "pedalboard": metadata.version("pedalboard"),
            "unit": "ns per sample per channel",
            "targets": {
                "compressor_256_512_ratio_min": TARGET_COMPRESSOR_RATIO,
                "limiter_256_512_ratio_min": TARGET_LIMITER_RATIO,
                "envelope_whole_ns_max": TARGET_ENVELOPE_NS,
                "envelope_256_over_whole_max": TARGET_ENVELOPE_256_OVER_WHOLE,
            },
        },
        checks=checks,
        profile=lambda: variants["ours_compressor_512"](),
    )


class _CountingSink(Sink):
    """Counts the items and audio frames it receives and keeps nothing."""

    def __init__(self) -> None:
        self.count = 0
        self.frames = 0

    def open(self) -> None:
        self.count = 0
        self.frames = 0

    def write(self, item: Item) -> None:
        self.count += 1
        if type(item) is AudioChunk:
            self.frames += item.frames


def _live_graph(chunks: list[AudioChunk], joined: bool) -> tuple[Graph, _CountingSink]:
    """Source -> compressor -> limiter -> sink; each meter into its own counting sink,
    or (``joined``) both meters into one sink (a time-ordered join)."""
    g = Graph()
    src = g.add(ArraySource(chunks, AudioSpec(SAMPLE_RATE, CHANNELS)), "src")
    comp = g.add(Compressor(**COMPRESSOR, meter_interval_ms=50.0), "compressor")  # type: ignore[arg-type]
    lim = g.add(Limiter(**LIMITER, meter_interval_ms=50.0), "limiter")  # type: ignore[arg-type]
    sink = _CountingSink()
    g.connect(src, comp)
    g.connect(comp["audio"], lim)
    g.connect(lim["audio"], g.add(sink, "out"))
    if joined:
        meters = g.add(_CountingSink(), "meters")
        g.connect(comp["events"], meters)
        g.connect(lim["events"], meters)
    else:
        g.connect(comp["events"], g.add(_CountingSink(), "compressor_meter"))
        g.connect(lim["events"], g.add(_CountingSink(), "limiter_meter"))
    return g, sink


@register(
    "live_chain_overhead",
    "CPU time per 256-frame block of Compressor -> Limiter (with meters) through the "
    "runtime, as % of the block duration; vs direct process() calls and bare kernels",
)
def prepare_live(options: Options) -> Prepared:
    seconds = options.seconds or (QUICK_SECONDS if options.quick else DEFAULT_SECONDS)
    x = _signal(seconds)
    chunks = _chunks(x, LIVE_BLOCK)
    n = len(chunks)
    block_s = LIVE_BLOCK / SAMPLE_RATE
    graphs = {joined: _live_graph(chunks, joined) for joined in (False, True)}

    comp = Compressor(**COMPRESSOR, meter_interval_ms=50.0)  # type: ignore[arg-type]
    lim = Limiter(**LIMITER, meter_interval_ms=50.0)  # type: ignore[arg-type]
    comp.configure({"in": AudioSpec(SAMPLE_RATE, CHANNELS)})
    lim.configure({"in": AudioSpec(SAMPLE_RATE, CHANNELS)})
    k_comp = Compressor(**COMPRESSOR)  # type: ignore[arg-type]
    k_lim = Limiter(**LIMITER)  # type: ignore[arg-type]
    k_comp.configure({"in": AudioSpec(SAMPLE_RATE, CHANNELS)})
    k_lim.configure({"in": AudioSpec(SAMPLE_RATE, CHANNELS)})
    y1 = np.empty((CHANNELS, LIVE_BLOCK), np.float32)
    y2 = np.empty((CHANNELS, LIVE_BLOCK), np.float32)
    xin = np.empty((CHANNELS, LIVE_BLOCK), np.float32)

    def through_runtime(backend: str, joined: bool) -> float:
        graph, sink = graphs[joined]
        t0 = time.process_time()
        anyio.run(graph.run, backend=backend)
        cpu = time.process_time() - t0
        if sink.frames != x.shape[1]:
            raise RuntimeError(f"runtime variant delivered {sink.frames} of {x.shape[1]} frames")
        return cpu

    def direct() -> float:
        comp.reset()
        lim.reset()
        t0 = time.process_time()
        for c in chunks:
            for item in comp.process(c):
                if type(item) is AudioChunk:
                    lim.process(item)
        comp.flush()
        lim.flush()
        return time.process_time() - t0

    def kernels() -> float:
        k_comp.reset()
        k_lim.reset()
        cw, cps = k_comp._work, k_comp._ps
        no_gains = np.empty((1, 0), np.float64)
        t0 = time.process_time()
        for c in chunks:
            if c.frames != LIVE_BLOCK:
                continue
            _compress_plain(c.data, y1, cw, cps)
            _limit(y1, y2, xin, no_gains, k_lim._xbuf, k_lim._work, k_lim._ist, k_lim._fst)
        return time.process_time() - t0

    variants: dict[str, Callable[[], float]] = {"direct": direct, "kernels": kernels}
    for backend in options.backends:
        variants[f"runtime_{backend}"] = lambda b=backend: through_runtime(b, False)  # type: ignore[misc]
        variants[f"runtime_{backend}_joined_meters"] = (
            lambda b=backend: through_runtime(b, True)  # type: ignore[misc]
        )
    names = list(variants)
    for name in names:
        variants[name]()
    timed = Interleaved(variants)

    def run() -> dict[str, float]:
        cpu = timed()
        metrics: dict[str, float] = {}
        for name in names:
            per_block = cpu[name] / n
            metrics[f"{name}_us_per_block"] = per_block * 1e6
            metrics[f"{name}_percent_of_block"] = per_block / block_s * 100.0
        return metrics

    def checks(medians: Mapping[str, float]) -> dict[str, bool]:
        return {
            f"runtime_{b} < {TARGET_LIVE_PERCENT}% of the block": (
                medians[f"runtime_{b}_percent_of_block"] < TARGET_LIVE_PERCENT
            )
            for b in options.backends
        }

    return Prepared(
        run=run,
        params={
            "blocks": n,
            "block_frames": LIVE_BLOCK,
            "block_us": block_s * 1e6,
            "media_seconds": x.shape[1] / SAMPLE_RATE,
            "sample_rate": SAMPLE_RATE,
            "channels": CHANNELS,
            "chain": "Compressor -> Limiter, meter_interval_ms=50 on both; runtime_*: each "
            "meter into its own sink; runtime_*_joined_meters: both meters into one sink",
            "compressor": COMPRESSOR,
            "limiter": LIMITER,
            "backends": list(options.backends),
            "clock": "time.process_time (CPU time of all threads)",
            "targets": {"runtime_percent_of_block_max": TARGET_LIVE_PERCENT},
        },
        checks=checks,
        profile=lambda: through_runtime(options.backends[0], True),
    )
