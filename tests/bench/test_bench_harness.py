"""Smoke test of the benchmark harness: bench/run.py with a tiny input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "bench" / "run.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_list_names_runtime_overhead() -> None:
    proc = _run("--list")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("runtime_overhead:")


def test_unknown_benchmark_is_an_error() -> None:
    proc = _run("no_such_benchmark", "--quick")
    assert proc.returncode == 2
    assert "no benchmark 'no_such_benchmark'" in proc.stderr


def test_quick_run_writes_sane_json(tmp_path: Path) -> None:
    proc = _run(
        "runtime_overhead",
        "--quick",
        "--repeats",
        "2",
        "--backends",
        "asyncio",
        "--out-dir",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert "asyncio_ratio_graph_bare" in proc.stdout  # the printed table

    result = json.loads((tmp_path / "runtime_overhead.json").read_text())
    for key in (
        "benchmark",
        "description",
        "command",
        "argv",
        "timestamp",
        "repeats",
        "warmup",
        "quick",
        "params",
        "environment",
        "metrics",
        "checks",
    ):
        assert key in result, key
    assert result["benchmark"] == "runtime_overhead"
    assert result["repeats"] == 2
    assert result["quick"] is True
    assert "--quick" in result["command"] and "runtime_overhead" in result["command"]

    env = result["environment"]
    for key in ("python", "numpy", "anyio", "cpu_count", "machine"):
        assert env[key], key
    assert env["cpu_count"] >= 1

    params = result["params"]
    assert params["chunks"] >= 1
    assert params["hops"] == 4
    assert params["buffer_size"] == 16

    metrics = result["metrics"]
    expected = {
        "asyncio_graph_us_per_chunk_hop",
        "asyncio_bare_us_per_chunk_hop",
        "asyncio_ratio_graph_bare",
        "asyncio_bare_nowait_us_per_chunk_hop",
        "asyncio_graph_empty_us_per_chunk",
        "asyncio_bare_empty_us_per_chunk",
        "asyncio_graph_wall_s",
        "asyncio_bare_wall_s",
    }
    assert expected <= set(metrics)
    for name, m in metrics.items():
        assert set(m) >= {"median", "min", "max", "all"}, name
        assert len(m["all"]) == 2, name
        assert all(math.isfinite(v) for v in m["all"]), name
        assert m["min"] <= m["median"] <= m["max"], name
    # Marginal per-node costs are differences and may be noisy at this size; the
    # measured totals must be positive.
    for name in expected:
        assert metrics[name]["min"] > 0, name
    assert all(isinstance(ok, bool) for ok in result["checks"].values())
