"""Benchmark registry, repetition, statistics and the JSON result file.

A benchmark registers under a name with :func:`register`. Its function receives the
command-line :class:`Options`, does all setup that must not be timed (building input
data, graphs) and returns a :class:`Prepared`: ``run()`` performs one repetition and
returns ``{metric name: value}``. The harness calls ``run()`` once as a warm-up
(discarded), then ``repeats`` times, and reports median/min/max of every metric.

Metric names carry their unit (``_us``, ``_s``, ``ratio``...). Every value is measured
in this process, in this run; nothing is copied from elsewhere.
"""

from __future__ import annotations

import cProfile
import datetime as _dt
import gc
import io
import json
import os
import platform
import pstats
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "Interleaved",
    "Options",
    "Prepared",
    "environment",
    "register",
    "run_benchmark",
    "summarise",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Options:
    """What the command line asks of a benchmark.

    Attributes:
        quick: a tiny input for smoke tests (seconds to run, numbers not meaningful).
        backends: anyio backends to measure on, in order.
        seconds: media duration to push through, seconds (None: the benchmark's default).
    """

    quick: bool = False
    backends: tuple[str, ...] = ("asyncio",)
    seconds: float | None = None


@dataclass
class Prepared:
    """A benchmark ready to run.

    Attributes:
        run: one repetition; returns metric name -> value.
        params: what was measured (sizes, backends...), written to the JSON as is.
        checks: median metrics -> named pass/fail checks (targets), optional.
        profile: one run of the part worth profiling (for ``--profile``), optional.
    """

    run: Callable[[], dict[str, float]]
    params: dict[str, Any] = field(default_factory=dict)
    checks: Callable[[Mapping[str, float]], dict[str, bool]] | None = None
    profile: Callable[[], object] | None = None


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark."""

    name: str
    description: str
    prepare: Callable[[Options], Prepared]


BENCHMARKS: dict[str, Benchmark] = {}


class Interleaved:
    """Times every variant once per call, side by side: ``gc.collect()`` before each,
    and an order that rotates from call to call so that no variant is always first.

    ``variants``: name -> a callable that runs that variant once and returns its time
    (any unit). A call returns name -> that time.
    """

    def __init__(self, variants: Mapping[str, Callable[[], float]]) -> None:
        self.names = list(variants)
        self.variants = dict(variants)
        self.calls = 0

    def __call__(self) -> dict[str, float]:
        k = self.calls % len(self.names)
        self.calls += 1
        times: dict[str, float] = {}
        for name in self.names[k:] + self.names[:k]:
            gc.collect()
            times[name] = self.variants[name]()
        return times


def register(
    name: str, description: str
) -> Callable[[Callable[[Options], Prepared]], Callable[[Options], Prepared]]:
    """Register ``prepare`` as benchmark ``name`` (decorator)."""

    def decorate(prepare: Callable[[Options], Prepared]) -> Callable[[Options], Prepared]:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} is registered twice")
        BENCHMARKS[name] = Benchmark(name, description, prepare)
        return prepare

    return decorate


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Versions and machine facts worth keeping next to the numbers."""
    try:
        usable_cpus: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable_cpus = None
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "numpy": _version("numpy"),
        "anyio": _version("anyio"),
        "trio": _version("trio"),
        "mediastream": _version("mediastream"),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus,
        "machine": platform.machine(),
        "platform": platform.platform(),
        "processor": platform.processor() or None,
    }


def summarise(values: list[float]) -> dict[str, Any]:
    """Median, min, max and every value of one metric."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "all": values,
    }


def run_benchmark(
    bench: Benchmark,
    options: Options,
    *,
    repeats: int,
    warmup: int = 1,
    argv: list[str] | None = None,
    out_dir: Path = RESULTS_DIR,
    profile: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], Path]:
    """Warm up, repeat, summarise, write ``out_dir/NAME.json``; returns (result, path)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    prepared = bench.prepare(options)
    for i in range(warmup):
        log(f"warm-up {i + 1}/{warmup}")
        prepared.run()
    samples: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    for i in range(repeats):
        metrics = prepared.run()
        for key, value in metrics.items():
            samples.setdefault(key, []).append(float(value))
        log(f"repeat {i + 1}/{repeats} done")
    elapsed = time.perf_counter() - t0
    summary = {key: summarise(vals) for key, vals in samples.items()}
    medians = {key: s["median"] for key, s in summary.items()}
    checks = prepared.checks(medians) if prepared.checks is not None else {}
    argv = list(sys.argv if argv is None else argv)
    result: dict[str, Any] = {
        "benchmark": bench.name,
        "description": bench.description,
        "command": shlex.join(["python", *argv]),
        "argv": argv,
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "repeats": repeats,
        "warmup": warmup,
        "quick": options.quick,
        "measure_s": elapsed,
        "params": prepared.params,
        "environment": environment(),
        "metrics": summary,
        "checks": checks,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    if profile and prepared.profile is not None:
        result["profile_file"] = str(_write_profile(prepared.profile, out_dir / bench.name))
    path = out_dir / f"{bench.name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result, path


def _write_profile(target: Callable[[], object], stem: Path) -> Path:
    """Profile one call of ``target``; write the top functions by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    target()
    profiler.disable()
    buf = io.StringIO()
    stats = pstats.Stats(profiler, stream=buf)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(30)
    path = stem.with_suffix(".profile.txt")
    path.write_text(buf.getvalue())
    return path


def format_table(result: Mapping[str, Any]) -> str:
    """Median/min/max of every metric as a plain-text table."""
    metrics: Mapping[str, Mapping[str, Any]] = result["metrics"]
    width = max((len(k) for k in metrics), default=6)
    lines = [f"{'metric':<{width}} {'median':>12} {'min':>12} {'max':>12}"]
    lines.append("-" * len(lines[0]))
    for key, s in metrics.items():
        lines.append(f"{key:<{width}} {s['median']:>12.4g} {s['min']:>12.4g} {s['max']:>12.4g}")
    for name, ok in result.get("checks", {}).items():
        lines.append(f"check {name}: {'PASS' if ok else 'FAIL'}")
    return "\n".join(lines)
