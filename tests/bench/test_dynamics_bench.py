"""Smoke test of the dynamics benchmarks: tiny input, every variant runs and reports."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "bench" / "run.py"


def _run(name: str, out: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, str(RUN), name, "--quick", "--seconds", "0.2", "--repeats", "1",
         "--warmup", "0", "--backends", "asyncio", "--out-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads((out / f"{name}.json").read_text())
    return result


def test_live_chain_overhead_quick(tmp_path: Path) -> None:
    metrics = _run("live_chain_overhead", tmp_path)["metrics"]
    assert isinstance(metrics, dict)
    for name in ("direct", "kernels", "runtime_asyncio", "runtime_asyncio_joined_meters"):
        assert metrics[f"{name}_percent_of_block"]["median"] > 0


@pytest.mark.skipif(
    importlib.util.find_spec("pedalboard") is None,
    reason="pedalboard is a bench-only dependency (pip install pedalboard)",
)
def test_dynamics_vs_pedalboard_quick(tmp_path: Path) -> None:
    metrics = _run("dynamics_vs_pedalboard", tmp_path)["metrics"]
    assert isinstance(metrics, dict)
    for key in (
        "pedalboard_compressor_512_ns",
        "ours_compressor_512_ns",
        "ours_envelope_whole_ns",
        "ratio_compressor_512_pedalboard_over_ours",
        "ratio_limiter_whole_pedalboard_over_ours",
    ):
        assert metrics[key]["median"] > 0


@pytest.mark.skipif(
    importlib.util.find_spec("pyloudnorm") is None,
    reason="pyloudnorm is a dev/bench dependency (pip install pyloudnorm)",
)
def test_loudness_vs_pyloudnorm_quick(tmp_path: Path) -> None:
    """The loudness benchmark runs on a short input and its accuracy figures hold there."""
    metrics = _run("loudness_vs_pyloudnorm", tmp_path)["metrics"]
    assert isinstance(metrics, dict)
    for key in ("ours_true_peak_s", "pyloudnorm_s", "ratio_pyloudnorm_over_ours_true_peak"):
        assert metrics[key]["median"] > 0
    assert metrics["diff_integrated_vs_ffmpeg_lu"]["median"] <= 0.1
