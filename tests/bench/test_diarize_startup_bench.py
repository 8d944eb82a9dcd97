"""Smoke test of the start-up benchmark (bench/diarize_startup.py): one repetition, each
variant a real process, the diarizer's turns on its 3 s of speech written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "bench" / "run.py"


def test_startup_bench_measures_each_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(RUN), "diarize_startup", "--repeats", "1", "--warmup", "0",
         "--out-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "diarize_startup.json").read_text())
    m = {k: v["median"] for k, v in result["metrics"].items()}
    for name in ("diarize", "diarize_torch", "pyannote_segmentation", "torch_import"):
        assert 0.1 < m[f"{name}_wall_s"] < 120
        assert m[f"{name}_peak_rss_mb"] > 100
    assert m["rttm_lines"] >= 1 and m["diarize_torch_rttm_lines"] >= 1
    # With the torch engine the diarizer imports torch and more: it cannot start in
    # less than torch's import. (The default engine's figure depends on whether this
    # run exported the models to the cache, with torch, or found them there.)
    assert m["diarize_torch_peak_rss_mb"] > m["torch_import_peak_rss_mb"]
    assert "the 3 s clip gave turns" in result["checks"]
