"""Benchmark tables in the docs, generated from ``bench/results/*.json``.

::

    python bench/doc_tables.py            # rewrite every generated block
    python bench/doc_tables.py --check    # exit 1 when a block is out of date

A generated block is the text between two marker comments in a Markdown file::

    <!-- bench:ID -->
    ...generated, never edited by hand...
    <!-- /bench:ID -->

``ID`` is one of the tables declared in ``TABLES`` below (what is measured, its unit,
what it is measured against, taken from one or more results files), or ``NAME/metrics``:
every metric of ``bench/results/NAME.json`` with its median, min and max. Every table ends
with the command that produced its numbers, the date of the run, the repetitions, the
machine and the checks recorded in the JSON, all read from the JSON itself.

The files rewritten are ``docs/benchmarks.md`` and ``bench/README.md`` (or the files given
on the command line). Every results file must feed at least one block in them, so a new
benchmark cannot go undocumented. Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_FILES = (ROOT / "docs" / "benchmarks.md", ROOT / "bench" / "README.md")

__all__ = [
    "TABLES",
    "BlockError",
    "Column",
    "Matrix",
    "Row",
    "Table",
    "load_results",
    "main",
    "render_block",
    "update_text",
]

Derived = Literal["ours/peer", "peer/ours", "ours-peer"]


class BlockError(Exception):
    """A marker, a table or a results file that cannot be rendered."""


# -- what a table is ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One measured figure and what it is measured against.

    Attributes:
        label: what is measured, in words.
        metric: the metric's name in the results file.
        unit: the unit of ``metric`` (after ``scale``).
        against: what it is measured against, in words ("" when nothing).
        peer_metric: the peer's metric in the same results file, if any.
        ratio_metric: a metric holding the per-repetition ratio, if the benchmark records one.
        derived: otherwise, a ratio or difference computed from the two medians.
        ratio_label: what the ratio is, e.g. "pedalboard ÷ mediastream".
        scale: factor applied to ``metric`` and ``peer_metric`` (100 for a fraction in %).
        source: the results file (stem) when not the table's.
        digits: significant digits shown.
    """

    label: str
    metric: str
    unit: str
    against: str = ""
    peer_metric: str | None = None
    ratio_metric: str | None = None
    derived: Derived | None = None
    ratio_label: str = ""
    scale: float = 1.0
    source: str | None = None
    digits: int = 3


@dataclass(frozen=True)
class Table:
    """A table of figures, one per row, each beside what it is measured against."""

    title: str
    source: str
    rows: tuple[Row, ...]
    note: str = ""

    def sources(self) -> tuple[str, ...]:
        return _unique(row.source or self.source for row in self.rows)


@dataclass(frozen=True)
class Column:
    """A column of a :class:`Matrix`: the metric ``prefix + suffix`` of each row."""

    label: str
    suffix: str
    unit: str
    scale: float = 1.0
    digits: int = 3


@dataclass(frozen=True)
class Matrix:
    """Configurations (rows) by figures (columns).

    Attributes:
        rows: (label, results file stem, metric prefix) per row.
        against: what the rows are measured against, in words.
    """

    title: str
    rows: tuple[tuple[str, str, str], ...]
    columns: tuple[Column, ...]
    against: str
    note: str = ""

    def sources(self) -> tuple[str, ...]:
        return _unique(source for _, source, _ in self.rows)


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# -- the tables -----------------------------------------------------------------------

_BARE = "bare anyio chain (`await send` / `async for`)"
_NOWAIT = "hand-written `send_nowait`/`receive_nowait` chain (no stats, error positions, joins)"
_PB = "pedalboard {pedalboard}"
_NS = "ns per sample per channel"
_OFFLINE = "the same models offline over the whole file (`diarize_offline`)"
_SEQ = "the same files one after the other in one process"


def _overhead_rows(backend: str) -> tuple[Row, ...]:
    b = backend
    return (
        Row(
            f"{b}: graph cost per chunk per hop",
            f"{b}_graph_us_per_chunk_hop",
            "µs",
            _BARE,
            f"{b}_bare_us_per_chunk_hop",
            ratio_metric=f"{b}_ratio_graph_bare",
            ratio_label="mediastream ÷ bare chain",
        ),
        Row(
            f"{b}: graph cost per chunk per hop",
            f"{b}_graph_us_per_chunk_hop",
            "µs",
            _NOWAIT,
            f"{b}_bare_nowait_us_per_chunk_hop",
            ratio_metric=f"{b}_ratio_graph_bare_nowait",
            ratio_label="mediastream ÷ hand-written chain",
        ),
        Row(
            f"{b}: cost of one more pass-through node, per chunk",
            f"{b}_graph_us_per_operator",
            "µs",
            "one more forwarding task in the bare anyio chain",
            f"{b}_bare_us_per_forwarder",
            ratio_metric=f"{b}_ratio_marginal",
            ratio_label="mediastream ÷ bare chain",
        ),
    )


def _runtime_row(backend: str, joined: bool) -> Row:
    key = f"runtime_{backend}{'_joined_meters' if joined else ''}"
    meters = "both meters joined into one sink" if joined else "each meter into its own sink"
    return Row(
        f"compressor → limiter through the runtime, {backend}, {meters}",
        f"{key}_us_per_block",
        "µs CPU per 256-frame block",
        "the same two operators' `process()` called in a loop, no runtime",
        "direct_us_per_block",
        derived="ours/peer",
        ratio_label="runtime ÷ loop (of the medians)",
    )


def _block_share_row(backend: str, joined: bool) -> Row:
    key = f"runtime_{backend}{'_joined_meters' if joined else ''}"
    meters = "meters joined" if joined else "separate meter sinks"
    return Row(
        f"the same, as a share of the block's duration ({backend}, {meters})",
        f"{key}_percent_of_block",
        "% of 5333 µs",
        "the duration of one 256-frame block at 48 kHz",
    )


_LONG_RSS_ROWS = (
    ("`mediastream diarize`, segmentation-3.0 + CAM++", "long_rss_diarize_seg", ""),
    ("`mediastream diarize`, light mode (silero-vad + CAM++)", "long_rss_diarize_vad", ""),
    ("file → dynamics chain → FLAC", "long_rss_dynamics", ""),
    ("`mediastream align`, MP4 inputs", "long_rss_align", ""),
    ("`mediastream align`, Matroska inputs", "long_rss_align_mkv", ""),
)

TABLES: dict[str, Table | Matrix] = {
    "summary": Table(
        "Headline figures, each beside what it is measured against",
        "runtime_overhead",
        (
            _overhead_rows("asyncio")[0],
            Row(
                "compressor, 512-frame streaming, 60 s stereo 48 kHz",
                "ours_compressor_512_ns",
                _NS,
                _PB + " `Compressor`, `reset=False`",
                "pedalboard_compressor_512_ns",
                ratio_metric="ratio_compressor_512_pedalboard_over_ours",
                ratio_label="pedalboard ÷ mediastream (> 1: mediastream faster)",
                source="dynamics_vs_pedalboard",
            ),
            Row(
                "limiter (5 ms true lookahead), 512-frame streaming",
                "ours_limiter_512_ns",
                _NS,
                _PB + " `Limiter`, `reset=False`",
                "pedalboard_limiter_512_ns",
                ratio_metric="ratio_limiter_512_pedalboard_over_ours",
                ratio_label="pedalboard ÷ mediastream",
                source="dynamics_vs_pedalboard",
            ),
            Row(
                "envelope follower, whole buffer",
                "ours_envelope_whole_ns",
                _NS,
                source="dynamics_vs_pedalboard",
            ),
            replace(_block_share_row("asyncio", False), source="live_chain_overhead"),
            Row(
                "video alignment, 8 s 1080p bg + 5 s fg, wall time",
                "align_s",
                "s",
                "decoding both files alone, as the aligner decodes them",
                "decode_s",
                ratio_metric="throughput_ratio",
                ratio_label="decode ÷ align (1: as fast as decoding)",
                source="align",
            ),
            Row(
                "DTW band recurrence",
                "kernel_ns_per_cell",
                "ns per cell",
                "dtaidistance `warping_paths_fast`, the same 200000 x 17 cells",
                "dtaidistance_ns_per_cell",
                ratio_metric="ratio_kernel_dtaidistance",
                ratio_label="mediastream ÷ dtaidistance (< 1: mediastream faster)",
                source="align",
            ),
            Row(
                "diarization (segmentation-3.0 + CAM++) through the graph, 60 s of speech",
                "seg_campplus_graph_xrt",
                "x real time",
                _OFFLINE,
                "seg_campplus_offline_xrt",
                ratio_metric="ratio_graph_offline",
                ratio_label="streaming ÷ offline",
                source="diarize_streaming_vs_offline",
            ),
            Row(
                "diarization DER, 20 synthetic 4-speaker conversations, collar 0.5 s",
                "seg_linkage_der05",
                "%",
                "offline clustering of the same embeddings",
                "seg_offline_der05",
                derived="ours-peer",
                ratio_label="percentage points above offline",
                scale=100.0,
                source="diarize_synthetic_der",
            ),
            Row(
                "`mediastream batch`, 8 files x 60 s, dynamics graph, Ray on 2 CPUs",
                "ray_files_per_min",
                "files per minute",
                _SEQ,
                "seq_files_per_min",
                ratio_metric="speedup",
                ratio_label="Ray ÷ sequential",
                source="batch_ray",
            ),
        ),
    ),
    "runtime_overhead": Table(
        "Runtime overhead: source → 3 pass-through operators → sink, 256-frame 48 kHz chunks",
        "runtime_overhead",
        (*_overhead_rows("asyncio"), *_overhead_rows("trio")),
    ),
    "dynamics_vs_pedalboard": Table(
        "Dynamics: compressor, limiter and envelope follower, 60 s of 48 kHz stereo noise bursts",
        "dynamics_vs_pedalboard",
        (
            Row(
                "compressor, 256-frame streaming",
                "ours_compressor_256_ns",
                _NS,
                _PB + " `Compressor`, `process(chunk, reset=False)`",
                "pedalboard_compressor_256_ns",
                ratio_metric="ratio_compressor_256_pedalboard_over_ours",
                ratio_label="pedalboard ÷ mediastream (> 1: mediastream faster)",
            ),
            Row(
                "compressor, 512-frame streaming",
                "ours_compressor_512_ns",
                _NS,
                _PB + " `Compressor`, `process(chunk, reset=False)`",
                "pedalboard_compressor_512_ns",
                ratio_metric="ratio_compressor_512_pedalboard_over_ours",
                ratio_label="pedalboard ÷ mediastream (> 1: mediastream faster)",
            ),
            Row(
                "compressor, whole buffer",
                "ours_compressor_whole_ns",
                _NS,
                _PB + " `Compressor`, whole buffer",
                "pedalboard_compressor_whole_ns",
                ratio_metric="ratio_compressor_whole_pedalboard_over_ours",
                ratio_label="pedalboard ÷ mediastream",
            ),
            Row(
                "compressor's Numba kernel alone, 512-frame chunks",
                "ours_compressor_kernel_512_ns",
                _NS,
                _PB + " `Compressor`, 512-frame streaming",
                "pedalboard_compressor_512_ns",
                ratio_metric="ratio_compressor_512_pedalboard_over_our_kernel",
                ratio_label="pedalboard ÷ kernel",
            ),
            Row(
                "limiter (5 ms true lookahead), 256-frame streaming",
                "ours_limiter_256_ns",
                _NS,
                _PB + " `Limiter`, `process(chunk, reset=False)`",
                "pedalboard_limiter_256_ns",
                ratio_metric="ratio_limiter_256_pedalboard_over_ours",
                ratio_label="pedalboard ÷ mediastream",
            ),
            Row(
                "limiter (5 ms true lookahead), 512-frame streaming",
                "ours_limiter_512_ns",
                _NS,
                _PB + " `Limiter`, `process(chunk, reset=False)`",
                "pedalboard_limiter_512_ns",
                ratio_metric="ratio_limiter_512_pedalboard_over_ours",
                ratio_label="pedalboard ÷ mediastream",
            ),
            Row(
                "limiter, whole buffer",
                "ours_limiter_whole_ns",
                _NS,
                _PB + " `Limiter`, whole buffer",
                "pedalboard_limiter_whole_ns",
                ratio_metric="ratio_limiter_whole_pedalboard_over_ours",
                ratio_label="pedalboard ÷ mediastream",
            ),
            Row("envelope follower, whole buffer", "ours_envelope_whole_ns", _NS),
            Row("envelope follower, 256-frame streaming", "ours_envelope_256_ns", _NS),
            Row("envelope follower, 512-frame streaming", "ours_envelope_512_ns", _NS),
        ),
    ),
    "live_chain_overhead": Table(
        "Live chain: compressor → limiter with 50 ms meters, 256-frame blocks, CPU time",
        "live_chain_overhead",
        (
            _runtime_row("asyncio", False),
            _runtime_row("trio", False),
            _runtime_row("asyncio", True),
            _runtime_row("trio", True),
            _block_share_row("asyncio", False),
            _block_share_row("trio", False),
            _block_share_row("asyncio", True),
            _block_share_row("trio", True),
            Row(
                "the two operators' bare Numba kernels, no meters",
                "kernels_us_per_block",
                "µs CPU per 256-frame block",
            ),
        ),
    ),
    "align": Table(
        "Video alignment: 8 s 1920x1080 24 fps background, 5 s 30 fps foreground cut from it",
        "align",
        (
            Row(
                "whole `mediastream align` graph (registration, fingerprints, online DTW)",
                "align_s",
                "s",
                "decoding both files alone, as the aligner decodes them (grey, shrunk)",
                "decode_s",
                ratio_metric="throughput_ratio",
                ratio_label="decode ÷ align (1: as fast as decoding)",
            ),
            Row(
                "the same, in foreground seconds per wall second",
                "align_x_realtime",
                "x real time",
                "decoding alone",
                "decode_x_realtime",
                derived="ours/peer",
                ratio_label="align ÷ decode (of the medians)",
            ),
            Row(
                "DTW band recurrence (Numba, steps 0..3, 4 predecessors)",
                "kernel_ns_per_cell",
                "ns per cell",
                "dtaidistance `warping_paths_fast(window=8)`, the same 200000 x 17 cells",
                "dtaidistance_ns_per_cell",
                ratio_metric="ratio_kernel_dtaidistance",
                ratio_label="mediastream ÷ dtaidistance (< 1: mediastream faster)",
            ),
            Row(
                "online subsequence DTW, everything included, per band cell",
                "online_ns_per_cell",
                "ns per cell",
                "librosa `sequence.dtw(subseq=True)` on the full 149 x 192 matrix, offline",
                "librosa_ns_per_cell",
            ),
            Row(
                "online DTW path identical to librosa's offline path",
                "librosa_identical",
                "1 = identical",
                "librosa `sequence.dtw(subseq=True)`",
            ),
            Row(
                "mean frame error of the pairs",
                "mean_abs_frame_error",
                "frames",
                "the generated ground truth",
            ),
            Row(
                "largest frame error of the pairs",
                "max_abs_frame_error",
                "frames",
                "the generated ground truth",
            ),
            Row(
                "Hamming distances of packed 64-bit hashes (Numba popcount)",
                "hamming_numba_ns_per_pair",
                "ns per pair",
                "chunked `np.bitwise_count`",
                "hamming_numpy_ns_per_pair",
                derived="peer/ours",
                ratio_label="NumPy ÷ mediastream (of the medians)",
            ),
        ),
    ),
    "diarize_streaming_vs_offline": Table(
        "Diarization speed and DER: pyannote's `sample.wav` tiled to 60 s, one thread per model",
        "diarize_streaming_vs_offline",
        (
            Row(
                "segmentation-3.0 + CAM++ through the graph (32768-frame chunks)",
                "seg_campplus_graph_xrt",
                "x real time",
                _OFFLINE,
                "seg_campplus_offline_xrt",
                ratio_metric="ratio_graph_offline",
                ratio_label="streaming ÷ offline",
            ),
            Row(
                "the same, CPU time instead of wall time",
                "seg_campplus_graph_cpu_xrt",
                "x real time (CPU)",
                _OFFLINE,
                "seg_campplus_offline_cpu_xrt",
                derived="ours/peer",
                ratio_label="streaming ÷ offline (of the medians)",
            ),
            Row(
                "segmentation-3.0 + CAM++, live-sized 4096-frame `process()` calls",
                "seg_campplus_stream_xrt",
                "x real time",
                _OFFLINE,
                "seg_campplus_offline_xrt",
                ratio_metric="ratio_stream_offline",
                ratio_label="streaming ÷ offline",
            ),
            Row(
                "light mode (silero-vad + GE2E) through the graph",
                "vad_ge2e_graph_xrt",
                "x real time",
            ),
            Row(
                "light mode, live-sized 4096-frame `process()` calls",
                "vad_ge2e_stream_xrt",
                "x real time",
            ),
            Row(
                "DER, segmentation-3.0 + CAM++ streaming, collar 0.5 s",
                "seg_campplus_graph_der05",
                "%",
                _OFFLINE,
                "seg_campplus_offline_der05",
                derived="ours-peer",
                ratio_label="percentage points above offline",
                scale=100.0,
            ),
            Row(
                "DER, segmentation-3.0 + CAM++ streaming, collar 0",
                "seg_campplus_graph_der0",
                "%",
                _OFFLINE,
                "seg_campplus_offline_der0",
                derived="ours-peer",
                ratio_label="percentage points above offline",
                scale=100.0,
            ),
            Row(
                "DER, light mode (GE2E), collar 0.5 s",
                "vad_ge2e_graph_der05",
                "%",
                scale=100.0,
            ),
        ),
    ),
    "diarize_synthetic_der": Matrix(
        "Diarization error on 20 synthetic 4-speaker conversations (31 min, held-out seeds)",
        (
            (
                "segmentation-3.0 + CAM++, linkage clustering",
                "diarize_synthetic_der",
                "seg_linkage",
            ),
            ("same models, centroid clustering", "diarize_synthetic_der", "seg_centroid"),
            ("light mode, silero-vad + CAM++", "diarize_synthetic_der", "light"),
            (
                "offline clustering of the linkage run's embeddings",
                "diarize_synthetic_der",
                "seg_offline",
            ),
        ),
        (
            Column("DER over the corpus, collar 0.5 s", "_der05", "%", 100.0),
            Column("mean DER per conversation", "_der05_mean", "%", 100.0),
            Column("worst conversation", "_der05_max", "%", 100.0),
            Column("conversations above 5 %", "_over5", "of 20"),
            Column("DER over the corpus, collar 0", "_der0", "%", 100.0),
            Column("all 4 voices found", "_speakers_ok", "% of conversations", 100.0),
        ),
        "the known turns of the generated conversations; the last row is the offline "
        "reference the streaming rows are measured against",
    ),
    "live_soak": Table(
        "Live soak: `mediastream live` (compressor → limiter, 256-frame blocks) on a JACK "
        "dummy device, fed clicks",
        "live_soak",
        (
            Row("soak duration", "soak_s", "s"),
            Row(
                "overruns after start-up (the graph fell behind the device)",
                "overruns_after_startup",
                "count",
                "zero",
            ),
            Row("underruns after start-up", "underruns_after_startup", "count", "zero"),
            Row("frames of those underruns", "underrun_frames_after_startup", "frames"),
            Row(
                "input overflows after start-up (flagged by PortAudio's JACK host API)",
                "input_overflows_after_startup",
                "count",
                "zero",
            ),
            Row("round trip, capture to DAC, at the end", "round_trip_last_ms", "ms"),
            Row("round trip, largest", "round_trip_max_ms", "ms"),
            Row("compressor input peak, largest", "compressor_input_peak_max_dbfs", "dBFS"),
            Row("compressor gain reduction, largest", "compressor_reduction_max_db", "dB"),
            Row(
                "resident memory at the last status line",
                "rss_last_status_mb",
                "MiB",
                "resident memory at the first status line",
                "rss_first_status_mb",
                derived="ours-peer",
                ratio_label="MiB grown",
                digits=4,
            ),
        ),
        note="A soak, not a comparison: the figures are counted against zero.",
    ),
    "long_rss": Matrix(
        "Peak resident memory (VmHWM) on 2 h of generated input against 10 min of it",
        tuple(_LONG_RSS_ROWS),
        (
            Column("10 min peak", "short_peak_rss_mb", "MiB"),
            Column("2 h peak", "long_peak_rss_mb", "MiB"),
            Column("2 h ÷ 10 min", "ratio_long_short", "ratio", digits=5),
            Column("2 h run, wall", "long_wall_s", "s"),
            Column("2 h run", "long_x_realtime", "x real time"),
        ),
        "the same pipeline, in a fresh process, on 10 min (1/12) of the same generated input",
    ),
    "batch_ray": Table(
        "`mediastream batch`: 8 generated 60 s WAV files through a dynamics graph file",
        "batch_ray",
        (
            Row(
                "Ray, local instance with 2 CPUs, one task per file",
                "ray_files_per_min",
                "files per minute",
                _SEQ,
                "seq_files_per_min",
                ratio_metric="speedup",
                ratio_label="Ray ÷ sequential",
            ),
            Row(
                "the same, media seconds per wall second",
                "ray_xrt",
                "x real time",
                _SEQ,
                "seq_xrt",
                derived="ours/peer",
                ratio_label="Ray ÷ sequential (of the medians)",
            ),
            Row(
                "CPU cores kept busy",
                "ray_cpu_cores",
                "cores",
                _SEQ,
                "seq_cpu_cores",
            ),
            Row(
                "wall time not spent running inputs (scheduling, summary)",
                "ray_task_overhead_s",
                "s per batch",
                _SEQ,
                "seq_task_overhead_s",
            ),
            Row("decoding one input alone", "decode_xrt", "x real time"),
            Row("starting the local Ray instance (not timed above)", "ray_init_s", "s"),
            Row("machine load before each repetition", "load_1min", "1-minute load average"),
        ),
    ),
    "batch_ray_diarize": Table(
        "`mediastream batch`: 4 synthetic conversations (espeak-ng + MBROLA) through a "
        "diarization graph file (segmentation-3.0 + CAM++, one thread per model)",
        "batch_ray_diarize",
        (
            Row(
                "Ray on 2 CPUs, every worker loading its own models",
                "ray_local_files_per_min",
                "files per minute",
                _SEQ,
                "seq_files_per_min",
                ratio_metric="speedup_local",
                ratio_label="Ray ÷ sequential",
            ),
            Row(
                "Ray on 2 CPUs, shared model actors on CPU (`--shared-models all`)",
                "ray_shared_files_per_min",
                "files per minute",
                _SEQ,
                "seq_files_per_min",
                ratio_metric="speedup_shared",
                ratio_label="Ray ÷ sequential",
            ),
            Row(
                "per-worker models, media seconds per wall second",
                "ray_local_xrt",
                "x real time",
                _SEQ,
                "seq_xrt",
            ),
            Row(
                "per-worker models, CPU cores kept busy",
                "ray_local_cpu_cores",
                "cores",
                _SEQ,
                "seq_cpu_cores",
            ),
            Row(
                "shared actors, CPU cores kept busy",
                "ray_shared_cpu_cores",
                "cores",
                _SEQ,
                "seq_cpu_cores",
            ),
            Row(
                "shared actors, wall time not spent running inputs (actor start-up included)",
                "ray_shared_task_overhead_s",
                "s per batch",
            ),
            Row(
                "shared embedding actor, windows per forward pass",
                "ray_shared_embed_rows_per_call",
                "windows",
            ),
            Row(
                "embedding windows sent to the actor",
                "ray_shared_embed_bytes_per_media_s",
                "bytes per media second",
            ),
            Row(
                "segmentation buffers sent to the actor",
                "ray_shared_segment_bytes_per_media_s",
                "bytes per media second",
            ),
            Row("embedding actor CPU time", "ray_shared_embedding_actor_cpu_s", "s"),
            Row("segmentation actor CPU time", "ray_shared_segmentation_actor_cpu_s", "s"),
            Row("machine load before each repetition", "load_1min", "1-minute load average"),
        ),
    ),
}


# -- reading results ------------------------------------------------------------------

_REQUIRED = ("benchmark", "command", "timestamp", "repeats", "warmup", "environment", "metrics")


def load_results(results_dir: Path) -> dict[str, dict[str, Any]]:
    """Every ``NAME.json`` of ``results_dir``, by NAME."""
    results: dict[str, dict[str, Any]] = {}
    for path in sorted(results_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BlockError(f"{_shown(path)}: not readable as JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BlockError(f"{_shown(path)}: not a JSON object")
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise BlockError(f"{_shown(path)}: no {', '.join(missing)}")
        results[path.stem] = data
    if not results:
        raise BlockError(f"no results (*.json) in {_shown(results_dir)}")
    return results


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _result(results: Mapping[str, dict[str, Any]], stem: str, block: str) -> dict[str, Any]:
    if stem not in results:
        raise BlockError(f"block {block!r} reads bench/results/{stem}.json, which does not exist")
    return results[stem]


def _stats(result: Mapping[str, Any], name: str, block: str) -> tuple[float, float, float]:
    metrics: Mapping[str, Any] = result["metrics"]
    stats = metrics.get(name)
    if not isinstance(stats, Mapping) or not all(k in stats for k in ("median", "min", "max")):
        raise BlockError(
            f"block {block!r}: bench/results/{result['benchmark']}.json has no metric {name!r} "
            f"with median/min/max"
        )
    try:
        return float(stats["median"]), float(stats["min"]), float(stats["max"])
    except (TypeError, ValueError) as exc:
        raise BlockError(f"block {block!r}: metric {name!r} is not a number: {exc}") from exc


# -- formatting -----------------------------------------------------------------------


_DASH = "\N{EN DASH}"


def _fmt(value: float, digits: int = 3) -> str:
    """``digits`` significant digits, integers as integers."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    magnitude = math.floor(math.log10(abs(value)))
    return f"{value:.{max(0, digits - 1 - magnitude)}f}"


def _spread(stats: tuple[float, float, float], scale: float = 1.0, digits: int = 3) -> str:
    median, low, high = (v * scale for v in stats)
    text = _fmt(median, digits)
    if _fmt(low, digits) != _fmt(high, digits):
        text += f" ({_fmt(low, digits)}{_DASH}{_fmt(high, digits)})"
    return text


def _when(timestamp: str) -> str:
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d)?(\+00:00|Z)?", timestamp)
    if match is None:
        return timestamp
    return f"{match[1]} {match[2]}{' UTC' if match[3] else ''}"


def _repetitions(result: Mapping[str, Any], spread: bool) -> str:
    repeats, warmup = int(result["repeats"]), int(result["warmup"])
    warm = f"after {warmup} warm-up" if warmup else "no warm-up"
    if repeats == 1:
        return f"one repetition ({warm})"
    text = f"{repeats} repetitions {warm}"
    return text + f": medians, (min{_DASH}max) where they differ" if spread else text


def _machine(env: Mapping[str, Any]) -> str:
    cpus = env.get("cpu_count")
    usable = env.get("usable_cpus")
    parts = []
    if cpus is not None:
        parts.append(f"{cpus} CPUs" + (f" ({usable} usable)" if usable not in (None, cpus) else ""))
    for key in ("processor", "machine", "platform"):
        if env.get(key):
            parts.append(str(env[key]))
    versions = [f"{env.get('python_implementation', 'Python')} {env['python']}"]
    versions += [
        f"{label} {env[key]}"
        for key, label in (
            ("numpy", "NumPy"),
            ("anyio", "anyio"),
            ("trio", "trio"),
            ("mediastream", "mediastream"),
        )
        if env.get(key)
    ]
    return ", ".join(parts) + "; " + ", ".join(versions)


def _checks(result: Mapping[str, Any]) -> str:
    checks: Mapping[str, Any] = result.get("checks") or {}
    if not checks:
        return "no checks recorded"
    return "checks recorded with the run: " + "; ".join(
        f"`{name}` {'met' if ok else '**not met**'}" for name, ok in checks.items()
    )


def _footer(
    results: Mapping[str, dict[str, Any]], stems: Sequence[str], block: str, spread: bool = True
) -> str:
    lines = []
    machines: dict[str, list[str]] = {}
    for stem in stems:
        result = _result(results, stem, block)
        quick = " **Quick run: the numbers mean nothing.**" if result.get("quick") else ""
        lines.append(
            f"- `{result['command']}` → `bench/results/{stem}.json`, run "
            f"{_when(str(result['timestamp']))}, {_repetitions(result, spread)}; "
            f"{_checks(result)}.{quick}"
        )
        machines.setdefault(_machine(result["environment"]), []).append(stem)
    if len(machines) == 1:
        lines.append(f"- Machine: {next(iter(machines))}.")
    else:
        lines += [f"- Machine of {', '.join(s)}: {m}." for m, s in machines.items()]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


_PARAM = re.compile(r"\{(\w+)\}")


def _with_params(text: str, result: Mapping[str, Any], block: str) -> str:
    params: Mapping[str, Any] = result.get("params") or {}

    def value(match: re.Match[str]) -> str:
        found = params.get(match[1])
        if found is None or isinstance(found, dict | list):
            raise BlockError(f"block {block!r}: params has no scalar {match[1]!r}")
        return str(found)

    return _PARAM.sub(value, text)


# -- rendering ------------------------------------------------------------------------


def _render_table(block: str, table: Table, results: Mapping[str, dict[str, Any]]) -> str:
    body: list[list[str]] = []
    for row in table.rows:
        result = _result(results, row.source or table.source, block)
        ours = _stats(result, row.metric, block)
        peer = _stats(result, row.peer_metric, block) if row.peer_metric else None
        ratio = ""
        if row.ratio_metric:
            ratio = _spread(_stats(result, row.ratio_metric, block))
        elif row.derived and peer is not None:
            a, b = ours[0] * row.scale, peer[0] * row.scale
            if row.derived == "ours-peer":
                ratio = f"{'+' if a - b >= 0 else ''}{_fmt(a - b, row.digits)}"
            else:
                num, den = (a, b) if row.derived == "ours/peer" else (b, a)
                ratio = _fmt(num / den) if den else "n/a"
        elif row.derived:
            raise BlockError(f"block {block!r}: row {row.label!r} derives a ratio without a peer")
        if ratio and row.ratio_label:
            ratio += f", {row.ratio_label}"
        body.append(
            [
                row.label,
                row.unit,
                _spread(ours, row.scale, row.digits),
                _with_params(row.against, result, block) or "—",
                _spread(peer, row.scale, row.digits) if peer is not None else "—",
                ratio or "—",
            ]
        )
    header = ["measured", "unit", "mediastream", "measured against", "its value", "ratio"]
    keep = [i for i in range(len(header)) if i < 3 or any(r[i] != "—" for r in body)]
    text = f"**{table.title}**\n\n" + _markdown(
        [header[i] for i in keep], [[r[i] for i in keep] for r in body]
    )
    if table.note:
        text += f"\n\n{table.note}"
    return text + "\n\n" + _footer(results, table.sources(), block)


def _render_matrix(block: str, matrix: Matrix, results: Mapping[str, dict[str, Any]]) -> str:
    body = []
    for label, stem, prefix in matrix.rows:
        result = _result(results, stem, block)
        cells = [
            _spread(_stats(result, prefix + c.suffix, block), c.scale, c.digits)
            for c in matrix.columns
        ]
        body.append([label, *cells])
    header = ["configuration"] + [
        c.label if c.unit == "ratio" else f"{c.label} ({c.unit})" for c in matrix.columns
    ]
    text = f"**{matrix.title}**, measured against {matrix.against}.\n\n"
    text += _markdown(header, body)
    if matrix.note:
        text += f"\n\n{matrix.note}"
    return text + "\n\n" + _footer(results, matrix.sources(), block)


# Units of metric names, by ending (first match wins); see bench/harness.py: names carry units.
_UNITS: tuple[tuple[str, str], ...] = (
    ("_us_per_chunk_hop", "µs per chunk per hop"),
    ("_us_per_chunk", "µs per chunk"),
    ("_us_per_operator", "µs per chunk per added operator"),
    ("_us_per_forwarder", "µs per chunk per added forwarder"),
    ("_us_per_block", "µs CPU per block"),
    ("_percent_of_block", "% of the block's duration"),
    ("_ns_per_cell", "ns per cell"),
    ("_ns_per_pair", "ns per pair"),
    ("_ns", "ns per sample per channel"),
    ("_bytes_per_media_s", "bytes per media second"),
    ("_files_per_min", "files per minute"),
    ("_cpu_xrt", "x real time (CPU time)"),
    ("_xrt", "x real time"),
    ("_x_realtime", "x real time"),
    ("_cpu_cores", "cores"),
    ("_der05_mean", "mean DER per conversation, collar 0.5 s (fraction)"),
    ("_der05_max", "worst conversation's DER, collar 0.5 s (fraction)"),
    ("_der05", "DER, collar 0.5 s (fraction)"),
    ("_der0", "DER, collar 0 (fraction)"),
    ("_fa05", "false alarm, collar 0.5 s (fraction of reference speech)"),
    ("_miss05", "missed speech, collar 0.5 s (fraction of reference speech)"),
    ("_conf05", "speaker confusion, collar 0.5 s (fraction of reference speech)"),
    ("_fa0", "false alarm, collar 0 (fraction of reference speech)"),
    ("_miss0", "missed speech, collar 0 (fraction of reference speech)"),
    ("_conf0", "speaker confusion, collar 0 (fraction of reference speech)"),
    ("_count_exact", "fraction of files with the speaker count right"),
    ("_count_pm1", "fraction of files with the speaker count within one"),
    ("_over5", "conversations with DER > 5 %"),
    ("_speakers_ok", "fraction of conversations with every voice found"),
    ("_identical", "1 = identical"),
    ("_share", "fraction"),
    ("_count", "count"),
    ("_px", "px (working width)"),
    ("_pct", "%"),
    ("_texture", "grey std at 16 px wide"),
    ("_frame_error", "frames"),
    ("_max_queue", "chunks queued"),
    ("_items", "items written"),
    ("_rows_per_call", "windows per forward pass"),
    ("frames_after_startup", "frames"),
    ("_startup", "count"),
    ("load_1min", "1-minute load average"),
    ("_mb", "MiB"),
    ("_dbfs", "dBFS"),
    ("_dbtp", "dBTP"),
    ("_lufs", "LUFS"),
    ("_lu", "LU"),
    ("_db", "dB"),
    ("_ms", "ms"),
    ("_s", "s"),
    ("_frames", "frames"),
    ("_lines", "lines"),
    ("overruns", "count"),
    ("input_overflows", "count"),
    ("turns", "count"),
    ("speakers", "count"),
)


def _unit(name: str) -> str:
    for ending, unit in _UNITS:
        if name.endswith(ending):
            return unit
    if "ratio" in name or name.startswith("speedup"):
        return "ratio"
    return "—"


def _render_metrics(block: str, stem: str, results: Mapping[str, dict[str, Any]]) -> str:
    result = _result(results, stem, block)
    rows = []
    for name in result["metrics"]:
        median, low, high = _stats(result, name, block)
        rows.append([f"`{name}`", _unit(name), _fmt(median), _fmt(low), _fmt(high)])
    title = f"**`{stem}`, every metric**: {result.get('description', '')}".rstrip(": ")
    text = title + "\n\n" + _markdown(["metric", "unit", "median", "min", "max"], rows)
    return text + "\n\n" + _footer(results, [stem], block, spread=False)


def _sources(block: str) -> tuple[str, ...]:
    if block.endswith("/metrics"):
        return (block.removesuffix("/metrics"),)
    if block not in TABLES:
        raise BlockError(f"unknown block {block!r}: not in TABLES and not NAME/metrics")
    return TABLES[block].sources()


def render_block(block: str, results: Mapping[str, dict[str, Any]]) -> str:
    """The generated Markdown of one block (without its markers)."""
    if block.endswith("/metrics"):
        return _render_metrics(block, block.removesuffix("/metrics"), results)
    spec = TABLES.get(block)
    if spec is None:
        raise BlockError(f"unknown block {block!r}: not in TABLES and not NAME/metrics")
    if isinstance(spec, Matrix):
        return _render_matrix(block, spec, results)
    return _render_table(block, spec, results)


# -- markers --------------------------------------------------------------------------

_START = re.compile(r"^<!-- bench:(\S+) -->$")
_END = re.compile(r"^<!-- /bench:(\S+) -->$")
_NOTE = "<!-- generated by bench/doc_tables.py from bench/results/; do not edit -->"


@dataclass(frozen=True)
class Block:
    """One generated block of a file: its id, and its text now and as generated."""

    block: str
    current: str
    expected: str


def update_text(
    text: str, results: Mapping[str, dict[str, Any]], where: str = "<text>"
) -> tuple[str, list[Block]]:
    """``text`` with every block regenerated, and the blocks found."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        start = _START.match(line.strip())
        i += 1
        if _END.match(line.strip()):
            raise BlockError(f"{where}:{i}: {line.strip()} without its opening marker")
        if start is None:
            continue
        block = start[1]
        body: list[str] = []
        while i < len(lines) and not _END.match(lines[i].strip()):
            if _START.match(lines[i].strip()):
                raise BlockError(f"{where}:{i + 1}: a block opens inside block {block!r}")
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise BlockError(f"{where}: block {block!r} has no closing <!-- /bench:{block} -->")
        end = _END.match(lines[i].strip())
        assert end is not None
        if end[1] != block:
            raise BlockError(f"{where}:{i + 1}: block {block!r} closed as {end[1]!r}")
        expected = f"{_NOTE}\n{render_block(block, results)}\n"
        blocks.append(Block(block, "".join(body), expected))
        out.append(expected)
        out.append(lines[i])
        i += 1
    return "".join(out), blocks


# -- command line ---------------------------------------------------------------------


def _diff(current: str, expected: str, label: str, limit: int = 30) -> str:
    lines = list(
        difflib.unified_diff(
            current.splitlines(),
            expected.splitlines(),
            f"{label} (in the file)",
            f"{label} (from the results)",
            lineterm="",
            n=0,
        )
    )
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more diff lines)"]
    return "\n".join(lines)


def run(files: Sequence[Path], results_dir: Path, *, check: bool) -> int:
    """Regenerate (or with ``check``, compare) every block of ``files``; the exit code."""
    try:
        results = load_results(results_dir)
        stale: list[str] = []
        used: set[str] = set()
        for path in files:
            where = _shown(path)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise BlockError(f"{where}: cannot read: {exc}") from exc
            new, blocks = update_text(text, results, where)
            for b in blocks:
                used.update(_sources(b.block))
                if b.current != b.expected:
                    stale.append(
                        f"{where}: table {b.block!r} differs from "
                        + ", ".join(f"bench/results/{s}.json" for s in _sources(b.block))
                        + "\n"
                        + _diff(b.current, b.expected, f"{where} [{b.block}]")
                    )
            if not check and new != text:
                path.write_text(new, encoding="utf-8")
                print(f"rewrote {where} ({len(blocks)} tables)")
        uncovered = sorted(set(results) - used)
    except BlockError as exc:
        print(f"doc_tables: error: {exc}", file=sys.stderr)
        return 1
    status = 0
    if uncovered:
        names = ", ".join(f"bench/results/{s}.json" for s in uncovered)
        print(
            f"doc_tables: {names} feed no table: add a block to docs/benchmarks.md, e.g. "
            f"<!-- bench:{uncovered[0]}/metrics --> <!-- /bench:{uncovered[0]}/metrics -->",
            file=sys.stderr,
        )
        status = 1
    if check and stale:
        for message in stale:
            print(message, file=sys.stderr)
        print(
            f"doc_tables: {len(stale)} benchmark table(s) out of date with bench/results/; "
            "run `python bench/doc_tables.py` to regenerate them",
            file=sys.stderr,
        )
        status = 1
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/doc_tables.py",
        description="Generate the benchmark tables of the docs from bench/results/*.json.",
    )
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="Markdown files to update (default: docs/benchmarks.md and bench/README.md)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 when a table differs from what the results give",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS_DIR,
        metavar="DIR",
        help="folder of the results JSON files (default bench/results)",
    )
    args = parser.parse_args(argv)
    files = tuple(args.files) or DEFAULT_FILES
    return run(files, args.results, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
