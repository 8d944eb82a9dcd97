"""RttmSink: one SPEAKER line per turn, names, validation, valid file after errors."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import pytest

from operators.speaker import SpeakerTurn
from sinks import RttmSink
from stream import Event, EventSpec, IncompatibleInputError, ParameterError

TB = Fraction(1, 16000)


def _turn(start: float, end: float, speaker: str, name: str | None = None) -> Event[SpeakerTurn]:
    payload = SpeakerTurn(speaker, 0.9, name, 0.8 if name else None)
    return Event("speaker_turn", round(start * 16000), round(end * 16000), TB, payload)


def test_writes_one_line_per_turn_and_round_trips(tmp_path: Path) -> None:
    from pyannote.database.util import load_rttm

    path = tmp_path / "sub" / "out.rttm"
    sink = RttmSink(path, uri="meeting")
    sink.configure({"in": EventSpec(frozenset({"speaker_turn", "speaker_embedding"}))})
    sink.open()
    sink.write(_turn(1.0, 2.5, "spk0"))
    sink.write(Event("speaker_embedding", 0, 16000, TB, None))  # ignored
    sink.write(_turn(2.25, 4.0, "spk1", name="ann"))
    sink.close()
    assert sink.turns_written == 2
    assert path.read_text().splitlines() == [
        "SPEAKER meeting 1 1.000 1.500 <NA> <NA> spk0 <NA> <NA>",
        "SPEAKER meeting 1 2.250 1.750 <NA> <NA> ann <NA> <NA>",
    ]
    ann = load_rttm(str(path))["meeting"]
    assert sorted(ann.labels()) == ["ann", "spk0"]
    assert ann.label_duration("ann") == pytest.approx(1.75)


def test_labels_instead_of_names_and_file_objects() -> None:
    buf = io.StringIO()
    sink = RttmSink(buf, use_names=False)
    sink.open()
    sink.write(_turn(0.0, 1.0, "spk3", name="bob"))
    sink.close()
    assert buf.getvalue() == "SPEAKER stream 1 0.000 1.000 <NA> <NA> spk3 <NA> <NA>\n"
    assert not buf.closed


def test_lines_written_before_an_error_stay(tmp_path: Path) -> None:
    path = tmp_path / "out.rttm"
    sink = RttmSink(path)
    sink.open()
    sink.write(_turn(0.0, 1.0, "spk0"))
    with pytest.raises(ValueError, match="whitespace"):
        sink.write(_turn(1.0, 2.0, "two words"))
    sink.close(ValueError("boom"))
    assert path.read_text().count("SPEAKER") == 1


def test_validation() -> None:
    with pytest.raises(ParameterError, match="uri"):
        RttmSink(io.StringIO(), uri="has space")
    with pytest.raises(IncompatibleInputError, match="speaker_turn"):
        RttmSink(io.StringIO()).configure({"in": EventSpec(frozenset({"level"}))})
    with pytest.raises(TypeError):
        sink = RttmSink(io.StringIO())
        sink.open()
        sink.write(object())  # type: ignore[arg-type]
