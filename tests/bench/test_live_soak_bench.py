"""Smoke test of the live soak benchmark: a 4 s soak on its own JACK dummy server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "bench" / "run.py"


def test_live_soak_parses_the_status_lines(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(RUN), "live_soak", "--seconds", "4", "--repeats", "1",
         "--warmup", "0", "--backends", "asyncio", "--out-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "live_soak.json").read_text())["metrics"]
    median = {name: m["median"] for name, m in metrics.items()}
    assert median["soak_s"] >= 3.5
    assert median["overruns_after_startup"] == 0  # the graph keeps up with the device
    assert median["compressor_input_peak_max_dbfs"] > -3  # the clicks reached the chain
    assert median["compressor_reduction_max_db"] > 3
    assert 100 < median["rss_last_status_mb"] < 2000
