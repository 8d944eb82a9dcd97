"""Benchmark of the loudness meter (operators/loudness/).

``loudness_vs_pyloudnorm``
    Our ``LoudnessMeter`` (BS.1770-4 / EBU R128: momentary, short-term, integrated,
    loudness range, 4x true peak) on 10 minutes of 48 kHz stereo float32 music-like audio
    (harmonic notes over a noise bed, the level moving every second), fed as 4096-frame
    chunks, against ``pyloudnorm.Meter(48000).integrated_loudness`` on the same samples
    (integrated loudness only; float64 input, as pyloudnorm takes it). Ours with and
    without the true peak (pyloudnorm has none). Variants alternate within every
    repetition (the order rotates); ``gc.collect()`` before each. Metrics: seconds per
    run, ns per sample per channel, ratios pyloudnorm / ours (> 1: ours faster). Accuracy,
    once: the absolute differences of our figures to pyloudnorm's integrated loudness
    (its default filter, and its ``"DeMan"`` filter, whose K-weighting is derived as ours)
    and to FFmpeg's ``ebur128`` filter (through PyAV's filter graph: I, LRA, M and S at the
    end, true peak).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from importlib import metadata

import numpy as np
import numpy.typing as npt
from ffmpeg_ebur128 import ebur128
from harness import Interleaved, Options, Prepared, register

from operators.loudness import LoudnessMeter
from stream import AudioChunk, AudioSpec, Event

SAMPLE_RATE = 48_000
CHANNELS = 2
DEFAULT_SECONDS = 600.0
QUICK_SECONDS = 4.0
CHUNK_FRAMES = 4096
TARGET_SPEEDUP = 20.0
TARGET_LU = 0.1


def _music(seconds: float, seed: int = 0) -> npt.NDArray[np.float32]:
    """Harmonic notes (a new chord every 250 ms) over a noise bed; level moves each second."""
    rng = np.random.default_rng(seed)
    frames = round(seconds * SAMPLE_RATE)
    note = SAMPLE_RATE // 4
    t = np.arange(note) / SAMPLE_RATE
    # A bank of 32 chords, reused in random order (generation stays fast for 10 min).
    bank = np.zeros((32, 2, note))
    for k in range(32):
        for f0 in rng.choice([110, 147, 196, 220, 262, 330, 392, 440], size=3):
            for h in range(1, 6):
                wave = 0.15 / h * np.exp(-t * rng.uniform(2, 8)) * np.sin(2 * np.pi * f0 * h * t)
                pan = rng.uniform(0.3, 1.0)
                bank[k, 0] += pan * wave
                bank[k, 1] += (1.3 - pan) * wave
    order = rng.integers(0, 32, size=frames // note + 1)
    x = np.concatenate(list(bank[order]), axis=1)[:, :frames]
    x += rng.standard_normal((2, frames)) * 0.01
    x *= np.repeat(10 ** (rng.uniform(-12, 0, size=frames // SAMPLE_RATE + 1) / 20), SAMPLE_RATE)[
        :frames
    ]
    return np.ascontiguousarray(x, dtype=np.float32)


def _ours(chunks: list[AudioChunk], true_peak: bool) -> tuple[LoudnessMeter, Callable[[], float]]:
    meter = LoudnessMeter(interval_ms=None, true_peak=true_peak)
    meter.configure({"in": AudioSpec(SAMPLE_RATE, CHANNELS)})

    def timed() -> float:
        meter.reset()
        t0 = time.perf_counter()
        for c in chunks:
            meter.process(c)
        meter.flush()
        return time.perf_counter() - t0

    return meter, timed


def _accuracy(
    x: npt.NDArray[np.float32], chunks: list[AudioChunk], pyln: object
) -> dict[str, float]:
    import pyloudnorm

    meter = LoudnessMeter(interval_ms=None)
    meter.configure({"in": AudioSpec(SAMPLE_RATE, CHANNELS)})
    final = None
    for c in chunks:
        meter.process(c)
    for item in meter.flush():
        if isinstance(item, Event):
            final = item.payload
    s = meter.summary()
    assert final is not None and s.integrated_lufs is not None
    data = x.T.astype(np.float64)
    deman = pyloudnorm.Meter(SAMPLE_RATE, filter_class="DeMan").integrated_loudness(data)
    fitted = pyln.integrated_loudness(data)  # type: ignore[attr-defined]
    ff = ebur128(x, SAMPLE_RATE)
    return {
        "ours_integrated_lufs": s.integrated_lufs,
        "ours_lra_lu": s.loudness_range_lu,
        "ours_true_peak_dbtp": float(s.true_peak_dbtp or -math.inf),
        "diff_integrated_vs_pyloudnorm_lu": abs(s.integrated_lufs - fitted),
        "diff_integrated_vs_pyloudnorm_deman_lu": abs(s.integrated_lufs - deman),
        "diff_integrated_vs_ffmpeg_lu": abs(s.integrated_lufs - ff["I"]),
        "diff_lra_vs_ffmpeg_lu": abs(s.loudness_range_lu - ff["LRA"]),
        "diff_momentary_vs_ffmpeg_lu": abs(float(final.momentary_lufs or 0.0) - ff["M"]),
        "diff_short_term_vs_ffmpeg_lu": abs(float(final.short_term_lufs or 0.0) - ff["S"]),
        "diff_true_peak_vs_ffmpeg_db": abs(float(s.true_peak_dbtp or 0.0) - ff["TP"]),
    }


@register(
    "loudness_vs_pyloudnorm",
    "LoudnessMeter (I, M, S, LRA, true peak) vs pyloudnorm's integrated loudness, 10 min "
    "48 kHz stereo; accuracy vs pyloudnorm and FFmpeg's ebur128",
)
def prepare(options: Options) -> Prepared:
    import pyloudnorm

    seconds = options.seconds or (QUICK_SECONDS if options.quick else DEFAULT_SECONDS)
    seconds = max(seconds, 4.0)  # (a short-term window and a few LRA blocks)
    x = _music(seconds)
    frames = x.shape[1]
    chunks = [
        AudioChunk(np.ascontiguousarray(x[:, i : i + CHUNK_FRAMES]), SAMPLE_RATE, i)
        for i in range(0, frames, CHUNK_FRAMES)
    ]
    data = x.T.astype(np.float64)
    pyln = pyloudnorm.Meter(SAMPLE_RATE)

    def pyloudnorm_run() -> float:
        t0 = time.perf_counter()
        pyln.integrated_loudness(data)
        return time.perf_counter() - t0

    variants: dict[str, Callable[[], float]] = {
        "ours_true_peak": _ours(chunks, True)[1],
        "ours_no_true_peak": _ours(chunks, False)[1],
        "pyloudnorm": pyloudnorm_run,
    }
    names = list(variants)
    for name in names:  # compile / warm every path once, untimed
        variants[name]()
    accuracy = _accuracy(x, chunks, pyln)
    samples = frames * CHANNELS
    timed = Interleaved(variants)

    def run() -> dict[str, float]:
        secs = timed()
        metrics: dict[str, float] = {}
        for name in names:
            metrics[f"{name}_s"] = secs[name]
            metrics[f"{name}_ns"] = secs[name] / samples * 1e9
        metrics["ratio_pyloudnorm_over_ours_true_peak"] = (
            secs["pyloudnorm"] / secs["ours_true_peak"]
        )
        metrics["ratio_pyloudnorm_over_ours_no_true_peak"] = (
            secs["pyloudnorm"] / secs["ours_no_true_peak"]
        )
        metrics |= accuracy
        return metrics

    def checks(medians: Mapping[str, float]) -> dict[str, bool]:
        out = {
            f"{TARGET_SPEEDUP}x faster than pyloudnorm, true peak on": (
                medians["ratio_pyloudnorm_over_ours_true_peak"] >= TARGET_SPEEDUP
            ),
            f"{TARGET_SPEEDUP}x faster than pyloudnorm, true peak off": (
                medians["ratio_pyloudnorm_over_ours_no_true_peak"] >= TARGET_SPEEDUP
            ),
        }
        for key in accuracy:
            if key.startswith("diff_"):
                out[f"{key} <= {TARGET_LU}"] = medians[key] <= TARGET_LU
        return out

    return Prepared(
        run=run,
        params={
            "media_seconds": frames / SAMPLE_RATE,
            "sample_rate": SAMPLE_RATE,
            "channels": CHANNELS,
            "chunk_frames": CHUNK_FRAMES,
            "signal": "music-like: harmonic chords every 250 ms over a -40 dBFS noise bed, "
            "level redrawn every second in -12..0 dB",
            "pyloudnorm": metadata.version("pyloudnorm"),
            "pyloudnorm_input": "float64 (frames, channels), integrated loudness only",
            "ffmpeg_filter": "ebur128=metadata=1:peak=true via av.filter.Graph",
            "unit": "seconds per run; ns per sample per channel",
            "targets": {"speedup_min": TARGET_SPEEDUP, "diff_max_lu_db": TARGET_LU},
        },
        checks=checks,
        profile=lambda: variants["ours_true_peak"](),
    )
