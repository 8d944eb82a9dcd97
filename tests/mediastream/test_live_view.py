"""The live view of `mediastream run` / `demo`: what the panel and the lines say."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from rich.console import Console

from mediastream.live_view import LiveView
from mediastream.synth import write_media
from operators import AlignPair, AlignRegistration, DynamicsReading, SpeakerTurn
from stream import Event, NodeStats, RunStats

BIN = Path(sys.executable).with_name("mediastream")
TB = Fraction(1, 1000)


def _events() -> list[Event[object]]:
    out: list[Event[object]] = [
        Event("dynamics", 0, 100, TB, DynamicsReading("compressor", (-20.0, -21.0),
                                                       (-26.0, -27.0), (6.0, 5.5))),
        Event("dynamics", 0, 100, TB, DynamicsReading("limiter", (-10.0,), (-11.0,), (1.0,))),
        Event("align_registration", 0, 0, TB,
              AlignRegistration(64, 36, 192, 108, 0.75, 0.99, 0, 100, 320, 180)),
        Event("speaker_turn", 1000, 2500, TB, SpeakerTurn("spk0", 0.9)),
        Event("speaker_turn", 2500, 4000, TB, SpeakerTurn("spk1", 0.8, "ann", 0.7)),
    ]  # fmt: skip
    for i in range(3):
        pair = AlignPair(i, 100 + i, i / 25, 4 + i / 25, 0.01, 0.99, True)
        out.append(Event("align_pair", i * 40, i * 40, TB, pair))
    return out


def _stats() -> RunStats:
    node = NodeStats("align", "operator", "VideoAlign", media_s=5.0, wall_s=0.5)
    return RunStats({"align": node}, wall_s=0.5, media_s=5.0, duration_s=30.0)


def test_the_panel_shows_speakers_gain_reduction_alignment_and_nodes() -> None:
    view = LiveView("demo", enabled=False, quiet=True)
    for e in _events():
        view.event(e)
    view.update(_stats())
    console = Console(record=True, width=130)
    console.print(view.render())
    text = console.export_text()
    assert "align" in text and "VideoAlign" not in text and "10.0x" in text  # node row
    assert "GR compressor" in text and "6.0 dB" in text and "GR limiter" in text
    assert "levels   in  -20.0 dBFS   out  -11.0 dBFS" in text
    assert "speakers 2: spk0 1.5 s, spk1 1.5 s" in text and "= ann (0.70)" in text
    assert "aligned 3 frames (lag +4.00 s, cost 0.010, output 0.92 s behind input)" in text
    assert "fg at x=64 y=36 (192x108 px of the bg, scale 0.75, match 0.99)" in text
    assert "5.0 / 30.0 s of media, 10.0x real time" in text
    assert view.max_reduction == {"compressor": 6.0, "limiter": 1.0}
    assert view.first_offset_s == 4.0


def test_without_a_terminal_lines_and_summaries_print(capsys: object) -> None:
    view = LiveView("demo", enabled=True, summary_every_s=5.0)
    assert not view.live_enabled  # pytest's stdout is not a terminal
    with view:
        for e in _events():
            view.event(e)
        view.update(_stats())
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "turn       spk0        1.00 -    2.50 s  conf 0.90" in out
    assert "registered fg at x=64 y=36" in out
    assert "5.00 s   10.0x rt  |  speakers 2  |  GR compressor  6.0 dB, limiter  1.0 dB" in out


def test_run_in_a_terminal_draws_the_live_panel(tmp_path: Path) -> None:
    wav = tmp_path / "in.wav"
    write_media(wav, 2.0, video=False, sample_rate=48000, channels=2)
    (tmp_path / "g.toml").write_text(f"""
[nodes.media]
type = "file"
path = "{wav}"
video = false
[nodes.comp]
type = "compressor"
input = "media.audio"
threshold_db = -40
meter_interval_ms = 100
[nodes.out]
type = "jsonl"
input = "comp"
path = "m.jsonl"
""")
    env = {**os.environ, "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "120"}
    res = subprocess.run([str(BIN), "run", "g.toml", "--out", "o"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    # The panel (rich, with cursor movement): the node table and the meter.
    assert "\x1b[1A" in res.stdout and "x real time" in res.stdout  # redrawn in place
    assert "GR compressor" in res.stdout and "comp" in res.stdout
