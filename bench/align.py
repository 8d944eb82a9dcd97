"""Benchmark ``align``: video alignment against decode-only, dtaidistance and librosa.

Input (generated once per run with PyAV, not timed): a moving synthetic background
(textured pan/zoom, three moving discs, a hard cut), 1920x1080 at 24 fps for 8 s by
default (``--quick``: 320x180, 3 s), and a foreground cut from it: the region
(480, 270, 960, 540) scaled by 0.75, colour graded, noised, re-timed to 30 fps,
starting 1.5 s into the bg and lasting 5 s (``--quick``: 1.2 s), with two dropped
and one duplicated frame. H.264 for both. ``--seconds S`` sets the bg length.

Variants, alternated within every repetition:

``decode``
    the limit: the same two ``FileSource`` s (grey, shrunk in FFmpeg to the working
    size) as the aligner, each into a sink that only counts. Timed: ``graph.run()``.
``align``
    the full pipeline of ``mediastream align`` (:func:`mediastream.align.build_align_graph`:
    registration, fingerprints, windowed online DTW) into a memory sink. Timed the same.

DTW cost per cell (same process, after the runs above):

``kernel``
    our Numba band recurrence (:func:`operators.video.offline_dtw.dtw_on_band`, steps
    0..3, 4 predecessors per cell) on a cost band of ``N`` rows by ``2 * 8 + 1`` cells.
``dtaidistance``
    ``dtw.warping_paths_fast(s1, s2, window=8, compact=True)`` on two series of ``N``
    values: the same ``N * 17`` cells (3 predecessors per cell; it computes its squared
    differences inside, ours are precomputed).
``online``
    :class:`~operators.video.OnlineSubsequenceDTW` on the pair's real fingerprints,
    everything included (cost products, finality checks), per band cell; with
    ``pattern=False`` (constant step weights, librosa's model) for the identity check.
``librosa``
    ``librosa.sequence.dtw(C=C, subseq=True, step_sizes_sigma=[[1, 0]..[1, 3]],
    weights_add=...)`` on the full ``n_fg x n_bg`` cost matrix: the exact offline
    reference. ``librosa_identical`` is 1 when its path equals our online pairs.

Also: ``hamming_numba_ns_per_pair`` and ``hamming_numpy_ns_per_pair`` (chunked
``np.bitwise_count``) on 2000 x 20000 random 64-bit hashes.
"""

from __future__ import annotations

import gc
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from harness import Options, Prepared, register

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:  # for the pair generator shared with the tests
    sys.path.insert(0, str(_ROOT))

from mediastream.align import AlignSetup, align_setup, build_align_graph  # noqa: E402
from operators.video import OnlineSubsequenceDTW, hamming_matrix  # noqa: E402
from operators.video.fingerprint import FrameFingerprinter  # noqa: E402
from operators.video.offline_dtw import dtw_on_band, step_weights  # noqa: E402
from sinks import MemorySink  # noqa: E402
from stream import Graph, Item, Sink  # noqa: E402
from stream.sources.file import FileSource, VideoFormat  # noqa: E402
from tests.operators.video.pairs import PairSpec, write_pair  # noqa: E402

BAND = 8
KERNEL_ROWS = 200_000
TARGET_THROUGHPUT = 0.9


class CountingSink(Sink):
    """Counts what it receives."""

    def __init__(self) -> None:
        self.count = 0

    def open(self) -> None:
        self.count = 0

    def write(self, item: Item) -> None:
        self.count += 1


def _spec(quick: bool, seconds: float | None) -> PairSpec:
    if quick:
        bg_s = seconds or 3.0
        return PairSpec(bg_frames=round(24 * bg_s), start=24, fg_fps=30, fg_frames=36,
                        drops=(10, 20), dups=(30,), cut_at=50)  # fmt: skip
    bg_s = seconds or 8.0
    return PairSpec(
        bg_size=(1920, 1080), bg_fps=24, bg_frames=round(24 * bg_s), start=36, fg_fps=30,
        fg_frames=min(150, round(30 * (bg_s - 1.5)) - 2), crop=(480, 270, 960, 540),
        scale=0.75, drops=(40, 80), dups=(100,), cut_at=round(24 * bg_s * 0.6),
    )  # fmt: skip


def _decode_graph(setup: AlignSetup) -> tuple[Graph, CountingSink, CountingSink]:
    g = Graph()
    sinks = (CountingSink(), CountingSink())
    for role, path, size, sink in (
        ("fg", setup.fg_path, setup.work_fg, sinks[0]),
        ("bg", setup.bg_path, setup.work_bg, sinks[1]),
    ):
        fmt = VideoFormat(*size, pixel_format="gray", interpolation="AREA")
        src = g.add(FileSource(path, audio=False, video=fmt), role)
        g.connect(src["video"], g.add(sink, f"{role}_count"))
    return g, *sinks


def _align_graph(setup: AlignSetup) -> tuple[Graph, MemorySink]:
    g = build_align_graph(setup)
    sink = MemorySink()
    g.connect("align", g.add(sink, "memory"))
    return g, sink


def _thumbs(path: str, size: tuple[int, int], region: tuple[int, int, int, int] | None) -> Any:
    import av

    fp = FrameFingerprinter()
    out = []
    with av.open(path) as c:
        for frame in c.decode(c.streams.video[0]):
            gray = frame.reformat(width=size[0], height=size[1], format="gray",
                                  interpolation="AREA").to_ndarray()  # fmt: skip
            if region is not None:
                x, y, w, h = region
                gray = gray[y : y + h, x : x + w]
            out.append(fp.thumb(gray))
    return np.array(out)


def _hamming_numpy(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> Any:
    out = np.empty((a.shape[0], b.shape[0]), np.uint16)
    for i in range(0, a.shape[0], 64):
        out[i : i + 64] = np.bitwise_count(a[i : i + 64, None] ^ b[None, :])
    return out


@register("align", "video alignment vs decode-only; DTW per cell vs dtaidistance; librosa path")
def prepare(options: Options) -> Prepared:
    import librosa
    from dtaidistance import dtw as dtai

    tmp = Path(tempfile.mkdtemp(prefix="bench-align-"))
    spec = _spec(options.quick, options.seconds)
    fg_path, bg_path, truth = write_pair(tmp, spec)
    setup = align_setup(fg_path, bg_path)
    fg_seconds = len(truth) / spec.fg_fps
    slope = spec.bg_fps / spec.fg_fps

    # Fingerprints of the real pair for the online and librosa checks (registration
    # from one untimed alignment run).
    g, mem = _align_graph(setup)
    g.run_sync()
    reg = next(e.payload for e in mem.items if getattr(e, "kind", "") == "align_registration")
    region = (round(reg.x), round(reg.y), round(reg.width), round(reg.height))
    fg_t = _thumbs(str(fg_path), setup.work_fg, None)
    bg_t = _thumbs(str(bg_path), setup.work_bg, region)
    cost = 1.0 - fg_t.astype(np.float64) @ bg_t.T.astype(np.float64)
    steps = np.array([[1, 0], [1, 1], [1, 2], [1, 3]])
    weights = step_weights(slope, 3, 0.01)

    rng = np.random.default_rng(0)
    rows = 2_000 if options.quick else KERNEL_ROWS
    s1 = np.cumsum(rng.normal(size=rows))
    s2 = s1 + rng.normal(scale=0.1, size=rows)
    width = 2 * BAND + 1
    los = np.maximum(0, np.arange(rows) - BAND)
    cols = los[:, None] + np.arange(width)[None, :]
    band_cost = np.where(cols < rows, (s1[:, None] - s2[np.minimum(cols, rows - 1)]) ** 2, np.inf)
    dtw_on_band(band_cost[:10], los[:10])  # compile outside the timing
    ha = rng.integers(0, 2**63, 2000 if not options.quick else 200, dtype=np.uint64)
    hb = rng.integers(0, 2**63, 20000 if not options.quick else 2000, dtype=np.uint64)
    hamming_matrix(ha[:2], hb[:2])

    def timed_graph(kind: str) -> tuple[float, Any]:
        if kind == "decode":
            graph, *counts = _decode_graph(setup)
        else:
            graph, sink = _align_graph(setup)
        gc.collect()
        t0 = time.perf_counter()
        graph.run_sync()
        elapsed = time.perf_counter() - t0
        return elapsed, (counts if kind == "decode" else sink)

    rep = [0]

    def run() -> dict[str, float]:
        order = ["decode", "align"] if rep[0] % 2 == 0 else ["align", "decode"]
        rep[0] += 1
        times: dict[str, float] = {}
        sink: Any = None
        for kind in order:
            times[kind], got = timed_graph(kind)
            if kind == "align":
                sink = got
        pairs = [e.payload for e in sink.items if e.kind == "align_pair"]
        pred = np.array([p.bg_index for p in pairs])
        err = np.abs(pred - truth) if len(pred) == len(truth) else np.array([math.inf])

        t0 = time.perf_counter()
        dtw_on_band(band_cost, los, 1.0)
        kernel = time.perf_counter() - t0
        t0 = time.perf_counter()
        dtai.warping_paths_fast(s1, s2, window=BAND, compact=True)
        dtai_s = time.perf_counter() - t0

        # Constant step weights (pattern=False): librosa's model, for the identity check.
        online = OnlineSubsequenceDTW(slope=slope, dim=fg_t.shape[1], band=BAND, pattern=False)
        out = []
        t0 = time.perf_counter()
        for k in range(max(len(fg_t), len(bg_t))):  # time order, both from frame 0
            if k < len(bg_t):
                out += online.push_bg(k, bg_t[k])
            if k < len(fg_t):
                out += online.push_fg(k, fg_t[k])
        out += online.finish()
        online_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        _, wp = librosa.sequence.dtw(
            C=cost, subseq=True, step_sizes_sigma=steps, weights_add=weights,
            weights_mul=np.ones(4),
        )  # fmt: skip
        librosa_s = time.perf_counter() - t0
        lib_path = np.zeros(cost.shape[0], np.int64)
        lib_path[wp[::-1, 0]] = wp[::-1, 1]

        t0 = time.perf_counter()
        hamming_matrix(ha, hb)
        ham_numba = time.perf_counter() - t0
        t0 = time.perf_counter()
        _hamming_numpy(ha, hb)
        ham_numpy = time.perf_counter() - t0

        cells = rows * width
        online_path = [p.bg for p in out]
        return {
            "decode_s": times["decode"],
            "align_s": times["align"],
            "throughput_ratio": times["decode"] / times["align"],
            "align_x_realtime": fg_seconds / times["align"],
            "decode_x_realtime": fg_seconds / times["decode"],
            "mean_abs_frame_error": float(err.mean()),
            "max_abs_frame_error": float(err.max()),
            "kernel_ns_per_cell": kernel / cells * 1e9,
            "dtaidistance_ns_per_cell": dtai_s / cells * 1e9,
            "ratio_kernel_dtaidistance": kernel / dtai_s,
            "online_ns_per_cell": online_s / (len(fg_t) * width) * 1e9,
            "librosa_ns_per_cell": librosa_s / cost.size * 1e9,
            "librosa_identical": float(online_path == lib_path.tolist()),
            "hamming_numba_ns_per_pair": ham_numba / (ha.size * hb.size) * 1e9,
            "hamming_numpy_ns_per_pair": ham_numpy / (ha.size * hb.size) * 1e9,
        }

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        return {
            "throughput_ratio >= 0.9": m["throughput_ratio"] >= TARGET_THROUGHPUT,
            "kernel per cell <= dtaidistance": m["ratio_kernel_dtaidistance"] <= 1.0,
            "online path == librosa subseq DTW": m["librosa_identical"] == 1.0,
            "mean error <= 0.5 frame": m["mean_abs_frame_error"] <= 0.5,
            "max error <= 2 frames": m["max_abs_frame_error"] <= 2,
        }

    def profile() -> object:
        graph, _ = _align_graph(setup)
        return graph.run_sync()

    params = {
        "bg": f"{spec.bg_size[0]}x{spec.bg_size[1]} {spec.bg_fps} fps {spec.bg_frames} frames",
        "fg": f"{spec.fg_size[0]}x{spec.fg_size[1]} {spec.fg_fps} fps {len(truth)} frames",
        "crop": spec.crop, "scale": spec.scale, "start_bg_frame": spec.start,
        "work_bg": setup.work_bg, "work_fg": setup.work_fg, "band": BAND,
        "kernel_rows": rows, "cost_matrix": list(cost.shape),
        "registration": [reg.x, reg.y, reg.width, reg.height, reg.scale],
    }  # fmt: skip
    import atexit

    atexit.register(shutil.rmtree, tmp, True)
    return Prepared(run=run, params=params, checks=checks, profile=profile)


# -- accuracy on variants: real low-motion footage and generated content -------------

VARIANT_WORK_WIDTH = 320  # the aligner's working width (``mediastream align`` default)
VARIANT_SOURCE_WIDTH = 640  # variants are cut at this size, then shrunk like the decoder
# A fg whose every frame, shrunk to 16 px wide, has a grey standard deviation below this
# shows nothing to align (a crop of a black part of a dark shot): the "_visible"
# summaries leave such variants out (the plain summaries keep them).
MIN_TEXTURE = 3.0


def _variant_sources(quick: bool) -> dict[str, tuple[list[Any], float]]:
    """name -> (source frames at VARIANT_SOURCE_WIDTH, fps)."""
    from mediastream.synth import synth_frame
    from tests.operators.video.real_pairs import REAL_CLIP, load_clip

    frames = 96 if quick else 192
    w, h = VARIANT_SOURCE_WIDTH, VARIANT_SOURCE_WIDTH * 9 // 16
    out: dict[str, tuple[list[Any], float]] = {}
    if REAL_CLIP.exists():
        out["talking_head"] = (load_clip(REAL_CLIP, width=w, max_frames=frames), 24.0)
    out["synthetic"] = ([synth_frame(i, w, h, 24.0) for i in range(frames)], 24.0)
    return out


def _align_variant(pair: Any) -> dict[str, float]:
    """Run VideoAlign on one variant (frames shrunk to the working width, in time order)."""
    from fractions import Fraction

    from operators.video import VideoAlign
    from operators.video.registration import _texture
    from stream import VideoFrame, VideoSpec
    from tests.operators.video.real_pairs import shrink

    v = pair.variant
    factor = VARIANT_WORK_WIDTH / pair.bg[0].shape[1]
    tb = Fraction(1, 1000)

    def frames(images: list[Any], fps: float) -> list[VideoFrame]:
        return [
            VideoFrame(im, i, round(i * 1000 / fps), tb, "gray")
            for i, im in enumerate(shrink(images, factor))
        ]

    fg, bg = frames(pair.fg, v.fg_fps), frames(pair.bg, v.bg_fps)
    texture = max(_texture(f.data) for f in fg)
    op = VideoAlign(fg_rate=v.fg_fps, bg_rate=v.bg_fps)
    op.configure(
        {
            "fg": VideoSpec(fg[0].width, fg[0].height, "gray", Fraction(v.fg_fps)),
            "bg": VideoSpec(bg[0].width, bg[0].height, "gray", Fraction(v.bg_fps)),
        }
    )
    items = sorted(
        [("fg", f) for f in fg] + [("bg", b) for b in bg], key=lambda t: (t[1].time, t[0] == "bg")
    )
    events: list[Any] = []
    t0 = time.perf_counter()
    for port, frame in items:
        events += op.process_port(port, frame)
    events += op.flush()
    wall = time.perf_counter() - t0
    pairs = [e.payload for e in events if e.kind == "align_pair"]
    reg = next((e.payload for e in events if e.kind == "align_registration"), None)
    out = {
        "fg_count": float(len(fg)), "paired_count": float(len(pairs)), "wall_s": wall,
        "fg_texture": texture,
    }  # fmt: skip
    if len(pairs) == len(fg):
        err = pair.errors([p.bg_index for p in pairs])
        out["mean_frame_error"] = float(err.mean())
        out["max_frame_error"] = float(err.max())
    else:
        out["mean_frame_error"] = out["max_frame_error"] = math.inf
    x, y, w, h = (c * factor for c in v.crop)
    if reg is None:
        out["reg_px"] = out["scale_pct"] = math.inf
    else:
        out["reg_px"] = max(abs(reg.x - x), abs(reg.y - y))
        out["scale_pct"] = 100 * max(abs(w / reg.width - 1), abs(h / reg.height - 1))
    return out


def _variant_list(quick: bool) -> list[tuple[str, str, Any]]:
    """(name, source, Variant): fixed issue cases, then random ones of the bench class."""
    from tests.operators.video.real_pairs import Variant, random_variant

    size = (VARIANT_SOURCE_WIDTH, VARIANT_SOURCE_WIDTH * 9 // 16)
    duration = 4.0 if quick else 8.0
    out: list[tuple[str, str, Any]] = [
        ("issue_crop_24_30", "talking_head",
         Variant(crop=(180, 80, 400, 240), bg_fps=24, fg_fps=30, start_s=20 / 24)),
        ("issue_hard_24_25", "talking_head",
         Variant(crop=(180, 80, 400, 240), scale=0.6, gamma=0.8, noise=6, bg_fps=24,
                 fg_fps=25, start_s=45 / 24, bg_drop=6 / 192, seed=1)),
    ]  # fmt: skip
    for source, seed, count in (("talking_head", 2027, 12), ("synthetic", 2028, 6)):
        rng = np.random.default_rng(seed)
        for k in range(2 if quick else count):
            v = random_variant(rng, size, duration_s=duration)
            out.append((f"{source}_{k:02d}", source, v))
    return out


@register(
    "align_variants",
    "alignment accuracy on variants of real low-motion footage and generated content",
)
def prepare_variants(options: Options) -> Prepared:
    from tests.operators.video.real_pairs import make_pair

    sources = _variant_sources(options.quick)
    cases = [(n, s, v) for n, s, v in _variant_list(options.quick) if s in sources]
    pairs = [(n, s, make_pair(sources[s][0], v)) for n, s, v in cases]

    def run() -> dict[str, float]:
        metrics: dict[str, float] = {}
        rows: dict[str, list[dict[str, float]]] = {}
        for name, source, pair in pairs:
            m = _align_variant(pair)
            for key, value in m.items():
                metrics[f"{name}_{key}"] = value
            if not name.startswith("issue_"):
                rows.setdefault(source, []).append(m)
                if m["fg_texture"] >= MIN_TEXTURE:
                    rows.setdefault(f"{source}_visible", []).append(m)
        for group, ms in rows.items():
            temporal = [
                m["paired_count"] == m["fg_count"]
                and m["mean_frame_error"] <= 0.3
                and m["max_frame_error"] <= 1
                for m in ms
            ]
            spatial = [m["reg_px"] <= 1 and m["scale_pct"] <= 1 for m in ms]
            mean_err = [m["mean_frame_error"] for m in ms]
            metrics[f"{group}_variants_count"] = float(len(ms))
            metrics[f"{group}_all_paired_share"] = float(
                np.mean([m["paired_count"] == m["fg_count"] for m in ms])
            )
            metrics[f"{group}_mean_of_mean_frame_error"] = float(np.mean(mean_err))
            metrics[f"{group}_median_of_mean_frame_error"] = float(np.median(mean_err))
            metrics[f"{group}_worst_max_frame_error"] = max(m["max_frame_error"] for m in ms)
            metrics[f"{group}_median_reg_px"] = float(np.median([m["reg_px"] for m in ms]))
            metrics[f"{group}_worst_reg_px"] = max(m["reg_px"] for m in ms)
            metrics[f"{group}_median_scale_pct"] = float(np.median([m["scale_pct"] for m in ms]))
            metrics[f"{group}_worst_scale_pct"] = max(m["scale_pct"] for m in ms)
            metrics[f"{group}_temporal_target_share"] = float(np.mean(temporal))
            metrics[f"{group}_registration_target_share"] = float(np.mean(spatial))
        return metrics

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        out = {}
        for group in [*sources, *(f"{s}_visible" for s in sources)]:
            if f"{group}_variants_count" in m:
                out[f"{group}: every fg frame paired"] = m[f"{group}_all_paired_share"] == 1.0
                out[f"{group}: every variant mean <= 0.3, max <= 1 frame"] = (
                    m[f"{group}_temporal_target_share"] == 1.0
                )
                out[f"{group}: every registration within 1 px and 1 %"] = (
                    m[f"{group}_registration_target_share"] == 1.0
                )
        return out

    params = {
        "work_width": VARIANT_WORK_WIDTH,
        "source_width": VARIANT_SOURCE_WIDTH,
        "sources": {s: f"{len(f)} frames at {fps:g} fps" for s, (f, fps) in sources.items()},
        "variants": {n: v.describe() for n, _, v in cases},
        "errors": "bg frames to the nearest bg frame showing the fg frame's source frame",
        "registration": "px at the working width; scale_pct: region width/height error",
    }
    return Prepared(run=run, params=params, checks=checks)
