"""Smoke test of the long-run memory benchmark (bench/long_rss.py): tiny inputs, the
cheapest pipeline (dynamics), both runs report a peak and the ratio is theirs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "bench" / "run.py"


def test_long_rss_dynamics_quick(tmp_path: Path) -> None:
    name = "long_rss_dynamics"
    proc = subprocess.run(
        [sys.executable, str(RUN), name, "--seconds", "24", "--repeats", "1", "--warmup", "0",
         "--backends", "asyncio", "--out-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / f"{name}.json").read_text())
    m = {k: v["median"] for k, v in result["metrics"].items()}
    assert result["params"]["long_s"] == 24 and result["params"]["short_s"] == 2
    assert m["short_items"] == 2 * 8000 and m["long_items"] == 24 * 8000
    assert m["short_peak_rss_mb"] > m["short_baseline_rss_mb"] > 0
    assert m["ratio_long_short"] == m["long_peak_rss_mb"] / m["short_peak_rss_mb"]
    assert set(result["checks"]) == {"peak RSS long <= 1.1 x short"}
