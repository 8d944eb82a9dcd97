"""The example graph files in examples/ build, and the demo's packaged copy is the same."""

from __future__ import annotations

import os
from pathlib import Path

from mediastream import load_graph
from mediastream.demo import DEMO_GRAPH
from mediastream.synth import write_media

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_demo_ships_the_example_graph_file_unchanged() -> None:
    assert (EXAMPLES / "demo.toml").read_text() == DEMO_GRAPH.read_text()


def test_the_dynamics_example_builds_and_runs(tmp_path: Path) -> None:
    wav = tmp_path / "in.wav"
    write_media(wav, 1.0, video=False, sample_rate=48000, channels=2)
    gf = load_graph(EXAMPLES / "dynamics.toml", params={"input": os.fspath(wav)},
                    out_dir=tmp_path / "out")  # fmt: skip
    stats = gf.graph.run_sync()
    assert stats.media_s > 0.99
    assert (tmp_path / "out" / "compressed.wav").stat().st_size > 48000 * 2 * 4
    assert (tmp_path / "out" / "meters" / "levels.jsonl").read_text().count("\n") >= 19
