"""JsonLinesSink: exact units and seconds, filtering, file objects, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from sinks import JsonLinesSink
from stream import (
    ArraySource,
    EncodeError,
    Event,
    EventSpec,
    Graph,
    NodeError,
    ParameterError,
    StreamMismatchError,
)
from tests.sinks import RATE, FailAt, Level, level_events


def _run(events: list[Event[Level]], sink: JsonLinesSink, *, backend: str = "asyncio") -> None:
    g = Graph()
    g.chain(g.add(ArraySource(events, EventSpec()), "src"), g.add(sink, "jsonl"))
    g.run_sync(backend=backend)


def _read(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_lines_hold_exact_units_and_seconds(tmp_path: Path, backend: str) -> None:
    events = level_events(5)
    path = tmp_path / "deep" / "er" / "levels.jsonl"  # parent folders are created
    sink = JsonLinesSink(path)
    _run(events, sink, backend=backend)
    rows = _read(path)
    assert sink.lines_written == len(rows) == 5
    for i, row in enumerate(rows):
        start, end = i * 4801, (i + 1) * 4801
        assert row == {
            "kind": "level",
            "start": start,
            "end": end,
            "time_base": "1/48000",
            "start_s": round(start / RATE, 9),
            "end_s": round(end / RATE, 9),
            "payload": {"peak_db": -i - 0.5, "rms_db": [-3.0 - i, -6.25]},
        }
        # Exact time from the exact fields; seconds agree to the 1 ns rounding.
        exact = Fraction(str(row["time_base"])) * int(str(row["end"]))
        assert exact == Fraction(end, RATE)
        assert abs(float(str(row["end_s"])) - float(exact)) <= 0.5e-9
    assert rows[1]["start_s"] == 0.100020833  # 4801 / 48000 s, rounded to 1 ns


def test_kinds_filter(tmp_path: Path) -> None:
    events = sorted(
        level_events(4) + level_events(3, step=6000, kind="loudness"), key=lambda e: e.end
    )
    sink = JsonLinesSink(tmp_path / "x.jsonl", kinds=["loudness"])
    _run(events, sink)
    rows = _read(tmp_path / "x.jsonl")
    assert [r["kind"] for r in rows] == ["loudness"] * 3
    assert [r["end"] for r in rows] == [6000, 12000, 18000]
    assert sink.lines_written == 3


def test_kinds_that_never_arrive_fail_at_build(tmp_path: Path) -> None:
    g = Graph()
    src = g.add(ArraySource(level_events(2), EventSpec(frozenset({"level"}))), "levels")
    g.chain(src, g.add(JsonLinesSink(tmp_path / "x.jsonl", kinds={"speaker_turn"}), "turns"))
    with pytest.raises(StreamMismatchError, match=r"'levels' -> 'turns'.*speaker_turn"):
        g.validate()
    assert not (tmp_path / "x.jsonl").exists()


def test_open_file_object_is_written_and_left_open(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    with path.open("w", encoding="utf-8") as f:
        f.write('{"note":"written by the caller"}\n')
        _run(level_events(3), JsonLinesSink(f))
        assert not f.closed
        f.write('{"note":"still mine"}\n')
    rows = _read(path)
    assert len(rows) == 5
    assert rows[0] == {"note": "written by the caller"} and rows[-1] == {"note": "still mine"}
    assert [r["end"] for r in rows[1:4]] == [4801, 9602, 14403]


def test_each_event_is_on_disk_before_the_next_arrives(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    sink = JsonLinesSink(path)
    sink.configure({"in": EventSpec()})
    sink.open()
    for n, event in enumerate(level_events(3), start=1):
        sink.write(event)
        assert len(_read(path)) == n  # read back by another file handle
    sink.close()
    sink.close()  # idempotent
    assert len(_read(path)) == 3


def test_append_and_truncate(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    _run(level_events(2), JsonLinesSink(path))
    _run(level_events(3), JsonLinesSink(path, append=True))
    assert len(_read(path)) == 5
    _run(level_events(1), JsonLinesSink(path))
    assert len(_read(path)) == 1


def test_failing_run_leaves_valid_lines_before_the_failure(tmp_path: Path) -> None:
    path = tmp_path / "partial.jsonl"
    g = Graph()
    src = g.add(ArraySource(level_events(40), EventSpec()), "src")
    g.chain(src, g.add(FailAt(25), "fail"), g.add(JsonLinesSink(path), "jsonl"))
    with pytest.raises(NodeError, match="'fail'") as info:
        g.run_sync()
    assert isinstance(info.value.__cause__, RuntimeError)
    rows = _read(path)
    assert [r["end"] for r in rows] == [(i + 1) * 4801 for i in range(24)]


def test_unserialisable_payload_names_the_file(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "bad.jsonl")
    sink.open()
    sink.write(level_events(1)[0])
    with pytest.raises(EncodeError, match=r"bad\.jsonl"):
        sink.write(Event.from_frames("odd", 0, 1, RATE, object()))
    sink.close()
    assert len(_read(tmp_path / "bad.jsonl")) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kinds": "level"}, "kinds"),
        ({"kinds": []}, "kinds"),
        ({"kinds": [""]}, "kinds"),
    ],
)
def test_bad_parameters(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        JsonLinesSink(tmp_path / "x.jsonl", **kwargs)  # type: ignore[arg-type]


def test_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="directory"):
        JsonLinesSink(tmp_path)
    with (tmp_path / "b.jsonl").open("wb") as fb, pytest.raises(ParameterError, match="text"):
        JsonLinesSink(fb)  # type: ignore[arg-type]
    with (tmp_path / "t.jsonl").open("w") as ft, pytest.raises(ParameterError, match="append"):
        JsonLinesSink(ft, append=True)
    with pytest.raises(ParameterError, match="path_or_file"):
        JsonLinesSink(42)  # type: ignore[arg-type]


def test_cannot_create_file_raises_encode_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    sink = JsonLinesSink(blocker / "sub" / "x.jsonl")  # a parent that is a file
    with pytest.raises(EncodeError, match=r"x\.jsonl") as info:
        sink.open()
    assert isinstance(info.value, OSError)


def _read_fifo_while(path: Path, run: Callable[[], None]) -> str:
    """Run ``run`` (which writes to the FIFO at ``path``) while a thread reads it."""
    os.mkfifo(path)
    got: list[bytes] = []

    def reader() -> None:
        with open(path, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=reader)
    t.start()
    try:
        run()
    finally:
        t.join(timeout=30)
    assert not t.is_alive()
    return b"".join(got).decode("utf-8")


def test_writes_to_a_fifo(tmp_path: Path) -> None:
    # A FIFO cannot seek: the sink must still open and write it (no cut-back there).
    path = tmp_path / "levels.fifo"
    sink = JsonLinesSink(path)
    text = _read_fifo_while(path, lambda: _run(level_events(3), sink))
    rows = [json.loads(line) for line in text.splitlines()]
    assert text.endswith("\n") and sink.lines_written == len(rows) == 3
    assert [r["start"] for r in rows] == [0, 4801, 9602]


def test_writes_to_dev_stdout_on_a_pipe() -> None:
    code = (
        "from sinks import JsonLinesSink\n"
        "from stream import ArraySource, EventSpec, Graph\n"
        "from tests.sinks import level_events\n"
        "g = Graph()\n"
        "src = g.add(ArraySource(level_events(2), EventSpec()), 'src')\n"
        "g.chain(src, g.add(JsonLinesSink('/dev/stdout'), 'jsonl'))\n"
        "g.run_sync()\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [(r["kind"], r["start"]) for r in rows] == [("level", 0), ("level", 4801)]
