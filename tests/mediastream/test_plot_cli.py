"""`mediastream plot`: pictures of result files, sizes printed, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mediastream.cli import main

from ..plot_support import align_dicts, check_png, dynamics_dicts, turn_events, write_rttm

BIN = Path(sys.executable).with_name("mediastream")


def _jsonl(path: Path, events: Any) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def _results(folder: Path) -> Path:
    folder.mkdir()
    _jsonl(folder / "dynamics.jsonl", dynamics_dicts())
    _jsonl(folder / "align.jsonl", align_dicts())
    _jsonl(folder / "turns.jsonl", [e.to_dict() for e in turn_events()])
    return folder


def test_plot_writes_every_picture_next_to_the_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _results(tmp_path / "run")
    rttm = write_rttm(tmp_path / "ref.rttm")
    assert main(["plot", str(results), "--reference", str(rttm)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in out] == [
        f"wrote {results / name}.png" for name in ("timeline", "alignment", "dynamics")
    ]
    for line in out:
        assert line.endswith(" KiB)") and "(1600x900 px, " in line
    for name in ("timeline", "alignment", "dynamics"):
        check_png(results / f"{name}.png")


def test_plot_files_into_a_folder_at_a_given_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _results(tmp_path / "run")
    args = ["plot", str(results / "align.jsonl"), str(results / "turns.jsonl"),
            "--out", str(tmp_path / "pics"),
            "--width-px", "1111", "--height-px", "555"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "timeline.png (1111x555 px" in out and "alignment.png (1111x555 px" in out
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == [
        "alignment.png", "timeline.png"
    ]  # fmt: skip
    check_png(tmp_path / "pics" / "alignment.png", 1111, 555)


def test_bad_input_exits_2_with_a_message_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.jsonl"
    assert main(["plot", str(missing)]) == 2
    assert f"mediastream plot: error: results '{missing}': no such file or folder" in (
        capsys.readouterr().err
    )
    levels = _jsonl(
        tmp_path / "levels.jsonl",
        [{"kind": "level", "start": 0, "end": 480, "time_base": "1/48000", "payload": {}}],
    )
    assert main(["plot", str(levels)]) == 2
    assert "error: nothing to plot in" in capsys.readouterr().err
    lines = [json.dumps(e) for e in dynamics_dicts()[:6]]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], lines[1][:-9], *lines[2:]]) + "\n")
    assert main(["plot", str(broken)]) == 2
    assert f"error: {broken}:2: not a JSON event line" in capsys.readouterr().err
    assert main(["plot", str(levels), "--width-px", "50"]) == 2
    assert "width_px must be 320..8000 px, got 50 px" in capsys.readouterr().err
    ref = tmp_path / "bad.rttm"
    ref.write_text("SPEAKER rec 1 zero 1.0 <NA> <NA> a <NA> <NA>\n")
    assert main(["plot", str(levels), "--reference", str(ref)]) == 2
    assert "line 1: onset 'zero'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


def test_a_cut_off_last_line_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "".join(json.dumps(e) + "\n" for e in dynamics_dicts())
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[:-40])
    assert main(["plot", str(cut)]) == 0
    captured = capsys.readouterr()
    n = len(text.splitlines())
    assert f"mediastream plot: warning: {cut}:{n}: skipped the last line" in captured.err
    assert f"wrote {tmp_path / 'dynamics.png'} (1600x900 px" in captured.out


def test_the_installed_command_without_matplotlib_says_how_to_get_it(tmp_path: Path) -> None:
    results = _jsonl(tmp_path / "d.jsonl", dynamics_dicts()[:20])
    env = {**os.environ, "COLUMNS": "160"}
    ok = subprocess.run([str(BIN), "plot", str(results)], capture_output=True, text=True,
                        env=env, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"wrote {tmp_path / 'dynamics.png'} (1600x900 px")
    # The same run where matplotlib cannot be imported (an install without the extra).
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from mediastream.cli import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code, "plot", str(results)],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert res.returncode == 1
    assert "needs matplotlib" in res.stderr and "pip install 'mediastream[plot]'" in res.stderr
