"""PlotSink in real graphs: the pictures of the run, the same as `plot_results` of its
JSON Lines; pictures after a failure; errors that do not hide the run's error."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediastream.plot import PlotSink, plot_results
from sinks import JsonLinesSink
from stream import (
    AudioSpec,
    EventSpec,
    Graph,
    IncompatibleInputError,
    MediaStreamError,
    ParameterError,
)

from ..plot_support import (
    align_graph,
    check_png,
    dynamics_graph,
    turn_source,
    write_rttm,
)


def _same_as_plot_results(
    sink: PlotSink, jsonl: Path, out: Path, reference: Path | None = None
) -> None:
    """The sink's pictures are byte for byte those drawn from the run's JSON Lines."""
    again = plot_results(jsonl, out, reference)
    assert [p.name for p in again] == [p.name for p in sink.written]
    for a, b in zip(sink.written, again, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_dynamics_chain_into_plot_sink(tmp_path: Path) -> None:
    sink = PlotSink(tmp_path / "pics")
    dynamics_graph([sink, JsonLinesSink(tmp_path / "meters.jsonl")]).run_sync()
    assert sink.written == [tmp_path / "pics" / "dynamics.png"]
    check_png(sink.written[0])
    _same_as_plot_results(sink, tmp_path / "meters.jsonl", tmp_path / "again")


def test_video_alignment_with_forced_pairs_into_plot_sink(tmp_path: Path) -> None:
    sink = PlotSink(tmp_path, width_px=1000, height_px=700, names={"alignment": "align.png"})
    align_graph([sink, JsonLinesSink(tmp_path / "pairs.jsonl")], max_lag=6).run_sync()
    assert sink.written == [tmp_path / "align.png"]
    check_png(sink.written[0], 1000, 700)
    again = plot_results(
        tmp_path / "pairs.jsonl", tmp_path / "again", width_px=1000, height_px=700,
        names={"alignment": "align.png"},
    )  # fmt: skip
    assert again[0].read_bytes() == sink.written[0].read_bytes()


def test_speaker_turns_with_a_reference_into_plot_sink(tmp_path: Path) -> None:
    rttm = write_rttm(tmp_path / "ref.rttm")
    sink = PlotSink(tmp_path / "pics", reference=rttm)
    g = Graph()
    src = g.add(turn_source(), "turns")
    g.connect(src, g.add(sink, "plot"))
    g.connect(src, g.add(JsonLinesSink(tmp_path / "turns.jsonl"), "jsonl"))
    g.run_sync()
    assert sink.written == [tmp_path / "pics" / "timeline.png"]
    check_png(sink.written[0])
    _same_as_plot_results(sink, tmp_path / "turns.jsonl", tmp_path / "again", rttm)


def test_pictures_are_drawn_after_a_failed_run(tmp_path: Path) -> None:
    sink = PlotSink(tmp_path / "pics")
    graph = dynamics_graph([sink], seconds=6.0, nan_at_s=3.0)
    with pytest.raises(MediaStreamError, match="gate") as info:
        graph.run_sync()
    assert not getattr(info.value, "__notes__", None)
    assert sink.written == [tmp_path / "pics" / "dynamics.png"]
    check_png(sink.written[0])


def test_a_drawing_error_does_not_hide_the_run_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the pictures' folder cannot be made inside a file")
    sink = PlotSink(blocker / "pics")
    with pytest.raises(MediaStreamError, match="gate") as info:
        dynamics_graph([sink], seconds=6.0, nan_at_s=3.0).run_sync()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "PlotSink: drawing the pictures in" in notes and "cannot write the picture" in notes
    # After a clean run the drawing error is the run's error.
    with pytest.raises(MediaStreamError, match="cannot write the picture"):
        dynamics_graph([PlotSink(blocker / "pics")], seconds=2.0).run_sync()


def test_parameters_and_inputs_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"height_px must be 240\.\.8000 px, got 100 px"):
        PlotSink(tmp_path, height_px=100)
    with pytest.raises(ParameterError, match=r"reference RTTM .*: no such file"):
        PlotSink(tmp_path, reference=tmp_path / "none.rttm")
    with pytest.raises(ParameterError, match="names: unknown picture 'turns'"):
        PlotSink(tmp_path, names={"turns": "t.png"})
    (tmp_path / "file").write_text("")
    with pytest.raises(ParameterError, match=r"out_dir .* is a file"):
        PlotSink(tmp_path / "file")
    sink = PlotSink(tmp_path / "pics")
    with pytest.raises(IncompatibleInputError, match="accepts events"):
        sink.configure({"in": AudioSpec(48000, 2)})
    with pytest.raises(IncompatibleInputError, match="it would draw nothing"):
        sink.configure({"in": EventSpec(frozenset({"level"}))})
    sink.configure({"in": EventSpec(frozenset({"level", "dynamics"}))})
    sink.configure({"in": EventSpec()})  # kinds unknown: fine
    # Nothing arrived: nothing is drawn, no folder is made.
    sink.open()
    sink.close()
    assert sink.written == [] and not (tmp_path / "pics").exists()
