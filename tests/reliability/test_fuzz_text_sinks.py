"""Hostile event payloads into the text sinks (issue 7): newlines, tabs, quotes, NUL,
any Unicode (lone surrogates included), very long labels, NaN and infinities. Every
line written parses back (``json.loads``; the ``csv`` module; RTTM through
pyannote.database's loader, 10 whitespace-separated fields) with the values it was
given, in the form each format documents, or the sink refuses the event with a clear
error and the file still ends with its last complete line.
"""

from __future__ import annotations

import csv
import io
import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from operators.speaker import SpeakerTurn
from sinks import CsvSink, JsonLinesSink, RttmSink
from sinks.csv import FIELD_LIMIT
from stream import EncodeError, Event

TB = Fraction(1, 16000)
FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Text from every Unicode category, lone surrogates included, with the characters that
# break naive line and field formats over-represented.
NASTY = st.sampled_from(
    ["\n", "\r", "\r\n", "\t", '"', "'", ",", ";", " ", "\x00", "\\", "\x1c", "\x85",
     "\u2028", "\xa0", "\ufeff", "\ud800", "#", "NA", "<NA>", "nan", "null", "é", "😀"]
)  # fmt: skip
TEXT = st.lists(st.one_of(st.text(max_size=6), NASTY), max_size=8).map("".join)
LONG = st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.integers(1000, 5000))
LABEL = st.one_of(TEXT, LONG)
FLOAT = st.floats(allow_nan=True, allow_infinity=True)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), FLOAT, LABEL)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)
    ),
    max_leaves=6,
)
PAYLOAD = st.dictionaries(TEXT, VALUE, max_size=5)


def _encodable(*values: Any) -> bool:
    """Whether every string in ``values`` (keys and nested values too) is valid UTF-8."""
    for value in values:
        if isinstance(value, dict):
            if not _encodable(*value.keys(), *value.values()):
                return False
        elif isinstance(value, list):
            if not _encodable(*value):
                return False
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def _json_form(value: Any) -> Any:
    """What a value reads back as from JSON: NaN -> null, +-inf -> "inf"/"-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return [_json_form(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_form(v) for k, v in value.items()}
    return value


def _event(kind: str, start: int, payload: Any) -> Event[Any]:
    return Event(kind, start, start + 160, TB, payload)


# -- JSON Lines ------------------------------------------------------------------------------


@FUZZ
@given(kinds=st.lists(LABEL, min_size=1, max_size=4), payloads=st.lists(PAYLOAD, max_size=4))
def test_json_lines_round_trip_any_payload(
    tmp_path: Path, kinds: list[str], payloads: list[dict[str, Any]]
) -> None:
    path = tmp_path / "fuzz.jsonl"
    events = [_event(kinds[i % len(kinds)], 160 * i, p) for i, p in enumerate(payloads)]
    sink = JsonLinesSink(path)
    sink.open()
    for e in events:
        sink.write(e)
    sink.close()
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == len(events) and (not events or text.endswith("\n"))
    for e, line in zip(events, text.splitlines(), strict=True):
        record = json.loads(line)
        assert record["kind"] == e.kind
        assert (record["start"], record["end"], record["time_base"]) == (e.start, e.end, "1/16000")
        assert record["payload"] == _json_form(e.payload)


# -- CSV ---------------------------------------------------------------------------------


def _csv_cell(value: Any) -> str:
    """The CSV sink's documented rendering of a payload value, as the reader sees it."""
    value = _json_form(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _csv_refusal(
    kind: str, payload: dict[str, Any], columns: list[str], header: bool
) -> list[str]:
    """Why the CSV sink must refuse this event (a word of its message for each
    reason that applies; the sink names one of them), or an empty list.

    Text goes into the file as it is, except nested values and the extra column,
    which are JSON (ASCII-escaped): only the former can hold what UTF-8 cannot.
    """
    extra = {k: v for k, v in payload.items() if k not in columns}
    cells = [kind, *(_csv_cell(payload.get(k)) for k in columns), _csv_cell(extra or None)]
    reasons = []
    if not _encodable(*cells, *(columns if header else [])):
        reasons.append("UTF-8")
    if any(len(cell) > FIELD_LIMIT for cell in cells):
        reasons.append("characters")
    return reasons


@FUZZ
@given(kind=LABEL, payloads=st.lists(PAYLOAD, min_size=1, max_size=4))
def test_csv_rows_read_back_or_the_event_is_refused(
    tmp_path: Path, kind: str, payloads: list[dict[str, Any]]
) -> None:
    path = tmp_path / "fuzz.csv"
    sink = CsvSink(path)
    sink.open()
    try:
        written: list[Event[Any]] = []
        first: list[str] | None = None  # the payload keys the header was made from
        for i, payload in enumerate(payloads):
            event = _event(kind, 160 * i, payload)
            columns = list(payload) if first is None else first
            reasons = _csv_refusal(kind, payload, columns, header=first is None)
            try:
                sink.write(event)
            except EncodeError as exc:
                assert "CsvSink" in str(exc) and str(path) in str(exc), exc
                assert any(r in str(exc) for r in reasons), (reasons, exc)
                continue
            finally:
                if first is None and sink.header is not None:
                    first = list(payload)
            assert not reasons, reasons
            written.append(event)
    finally:
        # Closed also when an example fails: the next example locks the same path.
        sink.close()
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, data = rows[0], rows[1:]
    assert header[:6] == ["kind", "start", "end", "time_base", "start_s", "end_s"]
    assert header[-1] == "extra" and len(set(header)) == len(header)
    assert len(data) == len(written)
    fields = header[6:-1]
    first = first or []
    for event, row in zip(written, data, strict=True):
        assert len(row) == len(header)
        assert row[0] == event.kind and row[1:4] == [str(event.start), str(event.end), "1/16000"]
        payload = event.payload
        for name, key, cell in zip(fields, first, row[6:-1], strict=True):
            assert name in (key, f"payload.{key}")
            assert cell == _csv_cell(payload.get(key))
        extra = {k: v for k, v in payload.items() if k not in first}
        assert row[-1] == (json.dumps(_json_form(extra), separators=(",", ":")) if extra else "")


# -- RTTM --------------------------------------------------------------------------------


# Labels that pandas (and so pyannote.database) reads as something else: refused.
TRICKY = ['"quoted"', '"a', '""', "NA", "<NA>", "nan", "a b", "a\u2028b", "\ud800"]
# Labels that look odd but read back as they are.
ODD = ['a"b', "#comment", "a\x00b", "é😀", "a,b", "'s'", "1e5", "007", "True", "\x1b[31m"]


@FUZZ
@example(uri="stream", labels=TRICKY[:5], starts=[0, 1, 2, 3, 4])
@example(uri="stream", labels=TRICKY[5:], starts=[0, 1, 2, 3, 4])
@example(uri="stream", labels=ODD[:5], starts=[0, 1, 2, 3, 4])
@example(uri="stream", labels=ODD[5:], starts=[0, 1, 2, 3, 4])
@given(
    uri=st.sampled_from(["stream", "meeting-1", "é😀"]),
    labels=st.lists(LABEL, min_size=1, max_size=5),
    starts=st.lists(st.integers(0, 10**7), min_size=5, max_size=5),
)
def test_rttm_lines_load_back_or_the_turn_is_refused(
    tmp_path: Path, uri: str, labels: list[str], starts: list[int]
) -> None:
    from pyannote.database.util import load_rttm

    path = tmp_path / "fuzz.rttm"
    sink = RttmSink(path, uri=uri)
    sink.open()
    written: list[tuple[str, Event[Any]]] = []
    for label, start in zip(labels, starts, strict=False):
        event = Event("speaker_turn", start, start + 1234, TB, SpeakerTurn(label, 0.5))
        try:
            sink.write(event)
        except (ValueError, EncodeError) as exc:
            assert str(exc).startswith("RttmSink: ") and repr(label)[:40] in str(exc), exc
            continue
        written.append((label, event))
    sink.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(written)
    for line, (label, event) in zip(lines, written, strict=True):
        fields = line.split(" ")
        assert len(fields) == 10 and line.split() == fields, line
        assert fields[0] == "SPEAKER" and fields[1] == uri and fields[7] == label
        # Milliseconds, rounded: at most half a millisecond off (plus float noise).
        assert abs(float(fields[3]) - float(event.start_time)) <= 5e-4 + 1e-9
        assert abs(float(fields[4]) - float(event.end_time - event.start_time)) <= 5e-4 + 1e-9
    if written:
        loaded = load_rttm(str(path))[uri]
        got = sorted((round(s.start, 3), label) for s, _, label in loaded.itertracks(True))
        want = sorted((float(line.split(" ")[3]), label) for line, (label, _) in zip(
            lines, written, strict=True))
        assert got == want


def test_csv_header_names_stay_unique_when_payload_keys_clash(tmp_path: Path) -> None:
    path = tmp_path / "clash.csv"
    sink = CsvSink(path)
    sink.open()
    sink.write(_event("x", 0, {"kind": 1, "payload.kind": 2, "extra": 3, "payload.extra": 4}))
    sink.close()
    with path.open(newline="") as f:
        header, row = list(csv.reader(f))
    assert len(set(header)) == len(header), header
    assert row[6:10] == ["1", "2", "3", "4"]


def test_text_sink_refuses_what_utf8_cannot_hold_and_keeps_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    sink = CsvSink(path)
    sink.open()
    sink.write(_event("ok", 0, {"label": "a"}))
    with pytest.raises(EncodeError, match=r"CsvSink: .*out\.csv.*UTF-8"):
        sink.write(_event("bad", 160, {"label": "\ud800"}))
    with pytest.raises(EncodeError, match=r"column 'label' would hold 200000 characters"):
        sink.write(_event("long", 320, {"label": "x" * 200_000}))
    sink.write(_event("ok", 480, {"label": "b"}))
    sink.close()
    assert [r[0] for r in csv.reader(io.StringIO(path.read_text(), newline=""))] == [
        "kind", "ok", "ok"
    ]  # fmt: skip


@pytest.mark.parametrize("label", TRICKY)
def test_rttm_refuses_labels_that_loaders_would_misread(tmp_path: Path, label: str) -> None:
    sink = RttmSink(tmp_path / "out.rttm")
    sink.open()
    with pytest.raises(ValueError, match=r"^RttmSink: speaker of the turn at 0\.000 s ") as info:
        sink.write(Event("speaker_turn", 0, 1600, TB, SpeakerTurn(label, 0.5)))
    assert repr(label) in str(info.value)
    sink.close()
    assert (tmp_path / "out.rttm").read_text() == ""


@pytest.mark.parametrize("label", ODD)
def test_rttm_odd_labels_load_back_as_they_are(tmp_path: Path, label: str) -> None:
    from pyannote.database.util import load_rttm

    path = tmp_path / "out.rttm"
    sink = RttmSink(path)
    sink.open()
    sink.write(Event("speaker_turn", 0, 1600, TB, SpeakerTurn(label, 0.5)))
    sink.write(Event("speaker_turn", 1600, 3200, TB, SpeakerTurn("next", 0.5)))
    sink.close()
    assert sorted(load_rttm(str(path))["stream"].labels()) == sorted([label, "next"])
