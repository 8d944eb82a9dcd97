"""CsvSink: header, payload columns, the extra column, csv.reader round trips."""

from __future__ import annotations

import csv
import json
import os
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from sinks import CsvSink
from stream import (
    ArraySource,
    Event,
    EventSpec,
    Graph,
    NodeError,
    ParameterError,
    StreamMismatchError,
)
from tests.sinks import RATE, FailAt, level_events

BASE = ["kind", "start", "end", "time_base", "start_s", "end_s"]


@dataclass(frozen=True)
class Turn:
    """A payload with other fields than Level."""

    speaker: str
    confidence: float
    overlap: bool


def _run(events: list[Event[Any]], sink: CsvSink) -> None:
    g = Graph()
    g.chain(g.add(ArraySource(events, EventSpec()), "src"), g.add(sink, "csv"))
    g.run_sync()


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_header_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out" / "levels.csv"
    sink = CsvSink(path)
    _run(level_events(4), sink)
    header, *rows = _read(path)
    assert header == [*BASE, "peak_db", "rms_db", "extra"]
    assert tuple(header) == sink.header and sink.rows_written == 4
    for i, row in enumerate(rows):
        rec = dict(zip(header, row, strict=True))
        start, end = i * 4801, (i + 1) * 4801
        assert rec["kind"] == "level"
        assert (int(rec["start"]), int(rec["end"])) == (start, end)
        assert Fraction(rec["time_base"]) == Fraction(1, RATE)
        assert Fraction(rec["time_base"]) * int(rec["end"]) == Fraction(end, RATE)
        assert float(rec["start_s"]) == round(start / RATE, 9)
        assert float(rec["end_s"]) == round(end / RATE, 9)
        assert float(rec["peak_db"]) == -i - 0.5  # floats round-trip exactly
        assert json.loads(rec["rms_db"]) == [-3.0 - i, -6.25]  # nested: JSON
        assert rec["extra"] == ""


def test_later_fields_go_to_extra(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    events: list[Event[Any]] = [
        Event.from_frames("level", 0, 4800, RATE, {"peak_db": -1.0, "rms_db": -3.0}),
        Event.from_frames("turn", 0, 9600, RATE, Turn("spk_0", 0.75, False)),
        Event.from_frames("level", 4800, 9600, RATE, {"peak_db": -2.0, "rms_db": -4.0}),
        Event.from_frames(
            "level", 9600, 14400, RATE, {"peak_db": -5.0, "clipped": 3, "per_channel": (1, 2)}
        ),
    ]
    _run(events, CsvSink(path))
    header, *rows = _read(path)
    assert header == [*BASE, "peak_db", "rms_db", "extra"]
    recs = [dict(zip(header, r, strict=True)) for r in rows]
    assert [r["kind"] for r in recs] == ["level", "turn", "level", "level"]
    assert recs[0]["extra"] == "" and recs[2]["extra"] == ""
    assert recs[1]["peak_db"] == "" and recs[1]["rms_db"] == ""  # missing fields: empty
    turn = {"speaker": "spk_0", "confidence": 0.75, "overlap": False}
    assert json.loads(recs[1]["extra"]) == turn
    assert recs[3]["rms_db"] == ""
    assert json.loads(recs[3]["extra"]) == {"clipped": 3, "per_channel": [1, 2]}


def test_explicit_columns_header_written_at_open(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    sink = CsvSink(path, columns=["rms_db"])
    sink.configure({"in": EventSpec()})
    sink.open()
    assert _read(path) == [[*BASE, "rms_db", "extra"]]  # on disk before any event
    sink.write(level_events(1)[0])
    sink.close()
    header, row = _read(path)
    rec = dict(zip(header, row, strict=True))
    assert json.loads(rec["rms_db"]) == [-3.0, -6.25]
    assert json.loads(rec["extra"]) == {"peak_db": -0.5}


def test_kinds_filter_and_bool_and_clash(tmp_path: Path) -> None:
    path = tmp_path / "turns.csv"
    events: list[Event[Any]] = [
        *level_events(2),
        Event.from_frames("turn", 0, 9600, RATE, {"speaker": "a", "overlap": True, "kind": "x"}),
    ]
    _run(events, CsvSink(path, kinds={"turn"}))
    header, row = _read(path)
    assert header == [*BASE, "speaker", "overlap", "payload.kind", "extra"]
    assert row[0] == "turn" and row[6:] == ["a", "true", "x", ""]


def test_no_events_still_gives_a_header(tmp_path: Path) -> None:
    _run([], CsvSink(tmp_path / "empty.csv"))
    assert _read(tmp_path / "empty.csv") == [[*BASE, "extra"]]


def test_file_object_is_left_open(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        _run(level_events(2), CsvSink(f))
        assert not f.closed
    assert len(_read(path)) == 3


def test_failing_run_keeps_rows_before_the_failure(tmp_path: Path) -> None:
    path = tmp_path / "partial.csv"
    g = Graph()
    src = g.add(ArraySource(level_events(30), EventSpec()), "src")
    g.chain(src, g.add(FailAt(11), "fail"), g.add(CsvSink(path), "csv"))
    with pytest.raises(NodeError, match="'fail'"):
        g.run_sync()
    header, *rows = _read(path)
    assert len(header) == 9
    assert [int(r[2]) for r in rows] == [(i + 1) * 4801 for i in range(10)]


def test_kinds_that_never_arrive_fail_at_build(tmp_path: Path) -> None:
    g = Graph()
    src = g.add(ArraySource(level_events(1), EventSpec(frozenset({"level"}))), "levels")
    g.chain(src, g.add(CsvSink(tmp_path / "x.csv", kinds=["turn"]), "csv"))
    with pytest.raises(StreamMismatchError, match="'levels' -> 'csv'"):
        g.validate()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"columns": "peak_db"}, "columns"),
        ({"columns": ["a", "a"]}, "columns"),
        ({"columns": [""]}, "columns"),
        ({"kinds": "level"}, "kinds"),
    ],
)
def test_bad_parameters(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        CsvSink(tmp_path / "x.csv", **kwargs)  # type: ignore[arg-type]


def test_writes_to_a_fifo(tmp_path: Path) -> None:
    # A FIFO cannot seek: the sink must still open and write it (no cut-back there).
    path = tmp_path / "levels.fifo"
    os.mkfifo(path)
    got: list[bytes] = []

    def reader() -> None:
        with open(path, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=reader)
    t.start()
    sink = CsvSink(path)
    try:
        _run(level_events(2), sink)
    finally:
        t.join(timeout=30)
    assert not t.is_alive()
    header, *rows = list(csv.reader(b"".join(got).decode("utf-8").splitlines()))
    assert header == [*BASE, "peak_db", "rms_db", "extra"] and sink.rows_written == 2
    assert [row[:2] for row in rows] == [["level", "0"], ["level", "4801"]]
