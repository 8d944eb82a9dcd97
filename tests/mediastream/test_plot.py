"""mediastream.plot: pictures of real event streams, exact sizes, JSON Lines reading, bounds."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediastream.plot import (
    PlotData,
    RttmTurn,
    plot_alignment,
    plot_dynamics,
    plot_results,
    plot_timeline,
    read_rttm,
)
from mediastream.plot._dynamics import _chain
from stream import ParameterError

from ..plot_support import (
    align_dicts,
    check_png,
    dynamics_dicts,
    png_size,
    turn_events,
    write_rttm,
)


def _jsonl(path: Path, events: Any) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def _turn_dicts() -> list[dict[str, Any]]:
    return [e.to_dict() for e in turn_events()]


def test_importing_stream_sinks_and_the_cli_does_not_import_matplotlib() -> None:
    code = (
        "import sys, stream, sinks, operators, mediastream.plot, mediastream.cli\n"
        "mediastream.cli.build_parser()\n"
        "print([m for m in sys.modules if m.split('.')[0] == 'matplotlib'"
        " or m.startswith('pyannote.metrics')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_dynamics_picture_of_a_gate_compressor_limiter_chain(tmp_path: Path) -> None:
    events = dynamics_dicts()
    stages = {e["payload"]["stage"] for e in events}
    assert stages == {"gate", "compressor", "limiter"}
    path = plot_dynamics(events, tmp_path / "dyn.png")
    assert path == tmp_path / "dyn.png"
    check_png(path)
    # The chain is recognised: each stage's input peaks are the previous one's output.
    data = PlotData()
    for e in events:
        data.add(e)
    series = [s for group in data.dynamics.values() for s in group]
    labels = [s.label for s in series]
    fed = _chain([s.rows.rows() for s in series])
    named = {labels[a]: (labels[b] if b is not None else None) for a, b in enumerate(fed)}
    assert named == {"gate": None, "compressor": "gate", "limiter": "compressor"}


def test_alignment_picture_with_bands_and_with_pairs_only(tmp_path: Path) -> None:
    events = align_dicts(max_lag=6)
    pairs = [e for e in events if e["kind"] == "align_pair"]
    bands = [e for e in events if e["kind"] == "align_band"]
    assert len(pairs) == len(bands) > 0
    assert any(not p["payload"]["final"] for p in pairs), "max_lag=6 should force pairs"
    banded = check_png(plot_alignment(pairs, bands, tmp_path / "a.png"))
    path_only = check_png(plot_alignment(pairs, None, tmp_path / "b.png"))
    # The band image covers much of the top panel; the path alone leaves it white.
    assert (banded < 0.9).all(axis=2).mean() > (path_only < 0.9).all(axis=2).mean() + 0.1
    # Other kinds in the same list are ignored (a whole results file can be passed).
    check_png(plot_alignment(events, None, tmp_path / "c.png"))


def test_timeline_picture_with_and_without_reference(tmp_path: Path) -> None:
    turns = _turn_dicts()
    alone = check_png(plot_timeline(turns, tmp_path / "t.png"))
    rttm = write_rttm(tmp_path / "ref.rttm")
    both = check_png(plot_timeline(turns, tmp_path / "tr.png", reference=rttm))
    assert not np.array_equal(alone, both)
    # The reference may also be given as turns already read.
    again = check_png(plot_timeline(turns, tmp_path / "tr2.png", reference=read_rttm(rttm)))
    assert np.array_equal(both, again)


@pytest.mark.parametrize("size", [(1203, 677), (320, 240), (2000, 1500)])
def test_pictures_have_exactly_the_requested_size(tmp_path: Path, size: tuple[int, int]) -> None:
    w, h = size
    path = plot_timeline(_turn_dicts(), tmp_path / "t.png", width_px=w, height_px=h)
    assert png_size(path) == (w, h)


def test_parameter_and_input_errors_say_what_is_wrong(tmp_path: Path) -> None:
    turns = _turn_dicts()
    with pytest.raises(ParameterError, match=r"width_px must be 320\.\.8000 px, got 100 px"):
        plot_timeline(turns, tmp_path / "t.png", width_px=100)
    with pytest.raises(ParameterError, match="height_px must be a whole number"):
        plot_timeline(turns, tmp_path / "t.png", height_px=900.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"nothing to plot: no 'speaker_turn' events .*"
                       r"\(dynamics x\d+\)"):  # fmt: skip
        plot_timeline(dynamics_dicts(), tmp_path / "t.png")
    with pytest.raises(ParameterError, match="nothing to plot: no 'dynamics'"):
        plot_dynamics([], tmp_path / "d.png")
    bad = [*turns[:2], {**turns[2], "payload": {"confidence": 0.5}}]
    with pytest.raises(ParameterError, match="event 2: 'speaker_turn' event without field "
                       "'speaker'"):  # fmt: skip
        plot_timeline(bad, tmp_path / "t.png")
    pair = next(e for e in align_dicts() if e["kind"] == "align_pair")
    bad_pair = {**pair, "payload": {**pair["payload"], "bg_index": 3.5}}
    with pytest.raises(ParameterError, match=r"event 0: malformed 'align_pair' event: "
                       r"bg_index 3\.5 is not a whole number"):  # fmt: skip
        plot_alignment([bad_pair], None, tmp_path / "a.png")
    with pytest.raises(ParameterError, match="not an event"):
        plot_timeline([["speaker_turn"]], tmp_path / "t.png")  # type: ignore[list-item]
    with pytest.raises(ParameterError, match=r"reference RTTM .*missing\.rttm.*: no such file"):
        plot_timeline(turns, tmp_path / "t.png", reference=tmp_path / "missing.rttm")
    assert not (tmp_path / "t.png").exists()


def test_read_rttm_reads_speaker_lines_and_names_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "r.rttm"
    path.write_text(
        ";; a comment\n\nSPKR-INFO rec 1 <NA> <NA> <NA> unknown alice <NA> <NA>\n"
        "SPEAKER rec 1 0.500 1.250 <NA> <NA> alice <NA> <NA>\n"
        "SPEAKER rec 1 2.000 0.500 <NA> <NA> bob <NA> <NA>\n"
    )
    assert read_rttm(path) == [RttmTurn(0.5, 1.75, "alice"), RttmTurn(2.0, 2.5, "bob")]
    cases = {
        "SPEAKER rec 1 0.5 x <NA> <NA> a <NA> <NA>\n": r"line 1: onset '0\.5' and duration "
        "'x' must be seconds",
        "SPEAKER rec 1 0.5\n": "line 1: a SPEAKER line has at least 8 fields",
        "SPEAKER rec 1 0.5 -1 <NA> <NA> a <NA> <NA>\n": "the duration >= 0",
        "SPEAKER a 1 0 1 <NA> <NA> x <NA> <NA>\nSPEAKER b 1 0 1 <NA> <NA> x <NA> <NA>\n":
            "holds 2 recordings",
        ";; nothing\n": "holds no SPEAKER lines",
    }  # fmt: skip
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(ParameterError, match=message):
            read_rttm(path)


def test_plot_results_reads_files_and_folders(tmp_path: Path) -> None:
    results = tmp_path / "run"
    results.mkdir()
    _jsonl(results / "dynamics.jsonl", dynamics_dicts())
    _jsonl(results / "align.jsonl", align_dicts())
    _jsonl(results / "turns.jsonl", _turn_dicts())
    (results / "notes.txt").write_text("not read: only *.jsonl files in a folder are")
    written = plot_results(results, tmp_path / "pics", write_rttm(tmp_path / "ref.rttm"))
    assert written == [tmp_path / "pics" / f"{n}.png" for n in ("timeline", "alignment",
                                                               "dynamics")]  # fmt: skip
    for path in written:
        check_png(path)
    # Files can be named one by one, pictures renamed; only what has data is drawn.
    written = plot_results(
        [results / "dynamics.jsonl"], tmp_path / "pics2", names={"dynamics": "levels.png"},
        width_px=800, height_px=450,
    )  # fmt: skip
    assert written == [tmp_path / "pics2" / "levels.png"]
    assert png_size(written[0]) == (800, 450)
    with pytest.raises(ParameterError, match="names: unknown picture 'levels'"):
        plot_results(results, tmp_path / "x", names={"levels": "l.png"})
    with pytest.raises(ParameterError, match="must be a file name inside the output folder"):
        plot_results(results, tmp_path / "x", names={"timeline": "a/b.png"})


def test_plot_results_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"results '.*nope\.jsonl': no such file"):
        plot_results(tmp_path / "nope.jsonl", tmp_path)
    with pytest.raises(ParameterError, match=r"holds no \.jsonl files"):
        plot_results(tmp_path, tmp_path)
    levels = _jsonl(
        tmp_path / "levels.jsonl",
        [{"kind": "level", "start": 0, "end": 480, "time_base": "1/48000", "payload": {}}] * 3,
    )
    with pytest.raises(ParameterError, match=r"nothing to plot in .*levels\.jsonl: no "
                       r"speaker_turn, align_pair or dynamics events \(level x3\)"):  # fmt: skip
        plot_results(levels, tmp_path)
    lines = [json.dumps(e) for e in dynamics_dicts()[:10]]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([*lines[:4], lines[4][:30], *lines[5:]]) + "\n")
    with pytest.raises(ParameterError, match=r"broken\.jsonl:5: not a JSON event line .*only "
                       "the last line of an interrupted run may be cut short"):  # fmt: skip
        plot_results(broken, tmp_path)
    not_event = tmp_path / "list.jsonl"
    not_event.write_text(lines[0] + "\n[1, 2]\n")
    with pytest.raises(ParameterError, match=r"list\.jsonl:2: not an event"):
        plot_results(not_event, tmp_path)


def test_a_cut_off_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    text = "".join(json.dumps(e) + "\n" for e in dynamics_dicts())
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(text.encode()[:-25])  # killed while writing the last line
    n = len(text.splitlines())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = plot_results(cut, tmp_path / "out")
    assert [str(w.message).split(": skipped")[0] for w in caught] == [f"{cut}:{n}"]
    assert "cut short (an interrupted run?)" in str(caught[0].message)
    check_png(written[0])


def _reading(start: float, gr: float, stage: str = "compressor") -> dict[str, Any]:
    return {
        "kind": "dynamics", "start_s": start, "end_s": start + 0.1,
        "payload": {"stage": stage, "input_peak_dbfs": [-10.0, -12.0],
                    "output_peak_dbfs": [-14.0, -15.0], "gain_reduction_db": [gr, gr / 2]},
    }  # fmt: skip


def test_memory_is_bounded_and_merging_keeps_peaks_and_forced_pairs() -> None:
    data = PlotData(max_points=100)
    for k in range(1000):
        data.add(_reading(k * 0.1, 30.0 if k == 777 else 1.0 + (k % 7) * 0.1))
        data.add({"kind": "align_pair", "payload": {
            "fg_index": k, "bg_index": k + 5, "cost": 0.5 if k == 555 else 0.1,
            "final": k != 555}})  # fmt: skip
        data.add({"kind": "align_band", "payload": {
            "fg_index": k, "bg_lo": k - 3, "costs": [0.2] * 6 + [None]}})  # fmt: skip
    (series,) = data.dynamics["compressor"]
    rows = series.rows.rows()
    assert len(rows) <= 101 and series.rows.stride == 16 and series.rows.count == 1000
    assert rows[0, 0] == 0.0 and rows[-1, 1] == pytest.approx(100.0)
    assert rows[:, 4].max() == 30.0  # the largest gain reduction survives the merging
    assert rows[:, 2].max() == -10.0 and rows[:, 3].max() == -14.0  # max over channels
    pairs = data.pairs.rows()
    assert len(pairs) <= 101 and data.pairs.count == 1000 and data.forced == 1
    forced = pairs[pairs[:, 3] == 0]
    assert len(forced) == 1 and forced[0, 2] == 0.5 and forced[0, 0] <= 555
    assert data.cost_sum == pytest.approx(999 * 0.1 + 0.5)
    bands = data.bands.rows() if data.bands is not None else None
    assert bands is not None and len(bands) <= 101 and np.isnan(bands[:, -1]).all()


def test_two_meters_of_one_stage_are_drawn_apart() -> None:
    data = PlotData()
    for k in range(20):  # two compressors' readings, merged in time order
        data.add(_reading(k * 0.1, 2.0))
        data.add(_reading(k * 0.1, 4.0))
    assert [s.label for s in data.dynamics["compressor"]] == ["compressor", "compressor 2"]
    assert [s.rows.rows()[:, 4].max() for s in data.dynamics["compressor"]] == [2.0, 4.0]
    with pytest.raises(ParameterError, match="max_points must be an even number >= 100"):
        PlotData(max_points=99)
