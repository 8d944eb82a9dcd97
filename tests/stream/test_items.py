"""What flows: AudioChunk, VideoFrame, Event, EOS and the ordering keys."""

from __future__ import annotations

import json
import math
import pickle
from fractions import Fraction

import numpy as np
import pytest

from stream import (
    EOS,
    AudioChunk,
    Bound,
    EndOfStream,
    Event,
    Item,
    VideoFrame,
    describe_position,
    item_end_time,
    item_time,
)
from tests.stream.support import Reading


# -- AudioChunk -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        np.zeros((1, 8), np.float64),  # wrong dtype
        np.zeros((1, 8), np.int16),
        np.zeros(8, np.float32),  # 1-D: channels missing
        np.zeros((1, 2, 8), np.float32),
        [[0.0, 0.1]],  # not an array
    ],
    ids=["float64", "int16", "1d", "3d", "list"],
)
def test_audio_chunk_rejects_wrong_dtype_or_shape(data: object) -> None:
    with pytest.raises(TypeError, match=r"float32 array shaped \(channels, frames\)"):
        AudioChunk(data, 48000, 0)  # type: ignore[arg-type]


def test_audio_chunk_error_names_dtype_and_shape() -> None:
    with pytest.raises(TypeError, match=r"float64 shape \(2, 3\)"):
        AudioChunk(np.zeros((2, 3)), 48000, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -44100])
def test_audio_chunk_rejects_non_positive_rate(rate: int) -> None:
    with pytest.raises(ValueError, match="sample_rate must be positive"):
        AudioChunk(np.zeros((1, 4), np.float32), rate, 0)


@pytest.mark.parametrize(("rate", "start"), [(48000.0, 0), (48000, 10.0)])
def test_audio_chunk_rejects_float_rate_or_start(rate: object, start: object) -> None:
    with pytest.raises(TypeError, match="must be ints"):
        AudioChunk(np.zeros((1, 4), np.float32), rate, start)  # type: ignore[arg-type]


def test_audio_chunk_accepts_numpy_integers() -> None:
    c = AudioChunk(np.zeros((1, 4), np.float32), np.int64(8000), np.int32(8))  # type: ignore[arg-type]
    assert c.time == Fraction(1, 1000)


def test_audio_chunk_times_are_exact_fractions() -> None:
    c = AudioChunk(np.zeros((2, 441), np.float32), 44100, 44100 * 3 + 1)
    assert (c.channels, c.frames, c.end) == (2, 441, 44100 * 3 + 442)
    assert c.time == Fraction(132301, 44100)
    assert isinstance(c.time, Fraction)
    assert c.end_time == Fraction(132742, 44100)
    assert c.end_time - c.time == Fraction(1, 100)  # exactly 10 ms, no float drift
    assert c.seconds == pytest.approx(3 + 1 / 44100)
    # Summing many chunk durations stays exact where floats drift.
    chunk = Fraction(441, 44100)
    assert sum([chunk] * 100_000, Fraction(0)) == 1000
    assert "start=132301" in repr(c)


def test_audio_chunk_is_immutable() -> None:
    c = AudioChunk(np.zeros((1, 4), np.float32), 48000, 0)
    with pytest.raises(AttributeError):
        c.start = 5  # type: ignore[misc]


# -- VideoFrame -------------------------------------------------------------------------
def test_video_frame_time_is_pts_times_time_base() -> None:
    f = VideoFrame(
        np.zeros((4, 6, 3), np.uint8), index=7, pts=7 * 1001, time_base=Fraction(1, 30000)
    )
    assert (f.width, f.height) == (6, 4)
    assert f.time == Fraction(7007, 30000)
    assert f.seconds == pytest.approx(7007 / 30000)
    assert item_time(f) == f.time == item_end_time(f)


# -- Event ------------------------------------------------------------------------------
def test_event_times_and_json_exact_units_and_seconds() -> None:
    payload = Reading(level_db=-12.5, label="speech", ratio=Fraction(1, 3))
    e = Event.from_frames("level", 4800, 9600, 48000, payload)
    assert e.time_base == Fraction(1, 48000)
    assert (e.start_time, e.end_time) == (Fraction(1, 10), Fraction(1, 5))
    line = e.to_json()
    assert "\n" not in line
    d = json.loads(line)
    assert d == {
        "kind": "level",
        "start": 4800,
        "end": 9600,
        "time_base": "1/48000",
        "start_s": 0.1,
        "end_s": 0.2,
        "payload": {"level_db": -12.5, "label": "speech", "ratio": "1/3"},
    }


def test_event_json_seconds_rounded_to_nanoseconds_units_exact() -> None:
    e = Event("frame", 1001, 2002, Fraction(1, 30000), None)
    d = json.loads(e.to_json())
    assert (d["start"], d["end"], d["time_base"]) == (1001, 2002, "1/30000")
    assert d["start_s"] == round(1001 / 30000, 9)
    assert d["end_s"] == round(2002 / 30000, 9)
    assert d["payload"] is None


def test_event_json_nan_and_inf_stay_valid_json() -> None:
    payload = {
        "nan": float("nan"),
        "pos": math.inf,
        "neg": -math.inf,
        "arr": np.array([1.5, np.nan, -np.inf], np.float32),
        "np": np.float64(np.inf),
        "nested": [Reading(float("-inf"), "x", Fraction(2))],
    }
    line = Event.from_frames("meter", 0, 0, 48000, payload).to_json()
    assert "NaN" not in line and "Infinity" not in line
    d = json.loads(line)["payload"]
    assert d["nan"] is None
    assert (d["pos"], d["neg"], d["np"]) == ("inf", "-inf", "inf")
    assert d["arr"] == [1.5, None, "-inf"]
    assert d["nested"] == [{"level_db": "-inf", "label": "x", "ratio": "2"}]


def test_event_rejects_end_before_start() -> None:
    with pytest.raises(ValueError, match="end 9 is before start 10"):
        Event.from_frames("x", 10, 9, 48000, None)


def test_events_compare_by_value() -> None:
    a = Event.from_frames("x", 1, 2, 48000, Reading(1.0, "a", Fraction(1)))
    b = Event("x", 1, 2, Fraction(1, 48000), Reading(1.0, "a", Fraction(1)))
    assert a == b
    assert pickle.loads(pickle.dumps(a)) == a


# -- EOS and Bound ----------------------------------------------------------------------
def test_eos_is_a_singleton_that_pickles_to_itself() -> None:
    assert EndOfStream() is EOS
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(EOS, protocol=protocol)) is EOS
    assert pickle.loads(pickle.dumps([EOS, EOS]))[1] is EOS
    assert repr(EOS) == "EOS"


def test_bound_carries_an_exact_time() -> None:
    b = Bound(Fraction(1, 3))
    assert b == Bound(Fraction(2, 6))
    with pytest.raises(AttributeError):
        b.time = Fraction(1)  # type: ignore[misc]


# -- ordering keys ----------------------------------------------------------------------
def test_item_time_orders_chunks_by_start_frames_by_pts_events_by_end() -> None:
    chunk = AudioChunk(np.zeros((1, 480), np.float32), 48000, 48000)  # 1.0 .. 1.01 s
    frame = VideoFrame(np.zeros((2, 2), np.uint8), 25, 25, Fraction(1, 25), "gray")  # 1.0 s
    late_event = Event.from_frames("turn", 0, 48480, 48000, None)  # 0 .. 1.01 s
    early_event = Event("x", 99, 99, Fraction(1, 100), None)  # 0.99 s
    assert item_time(chunk) == Fraction(1)
    assert item_end_time(chunk) == Fraction(101, 100)
    assert item_time(frame) == Fraction(1)
    assert item_time(late_event) == Fraction(101, 100)
    assert item_end_time(late_event) == item_time(late_event)
    items: list[Item] = [late_event, chunk, early_event, frame]
    ordered = sorted(items, key=item_time)  # stable: chunk before frame at 1.0 s
    assert ordered == [early_event, chunk, frame, late_event]


def test_item_time_rejects_non_items() -> None:
    with pytest.raises(TypeError, match="not a stream item: int"):
        item_time(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        item_time(EOS)  # type: ignore[arg-type]


def test_describe_position() -> None:
    chunk = AudioChunk(np.zeros((1, 10), np.float32), 48000, 600000)
    assert describe_position(chunk) == "t=12.500000 s (frame 600000 at 48000 Hz)"
    frame = VideoFrame(np.zeros((2, 2), np.uint8), 3, 3000, Fraction(1, 1000), "gray")
    assert describe_position(frame) == "t=3.000000 s (video frame 3, pts 3000)"
    assert describe_position(Event.from_frames("lvl", 0, 24000, 48000, None)) == (
        "t=0.500000 s (event 'lvl')"
    )
    assert describe_position(EOS) == "end of stream"
    assert describe_position(None) == "start of stream"


def test_event_makes_numpy_ints_plain_and_refuses_inexact_times() -> None:
    e = Event("x", np.int64(30), np.int32(40), 1, None)  # type: ignore[arg-type]
    assert type(e.start) is int and type(e.end) is int and type(e.time_base) is Fraction
    assert json.loads(e.to_json())["start"] == 30
    with pytest.raises(TypeError, match="start and end must be ints"):
        Event("x", 1.5, 2, Fraction(1, 10), None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="time_base must be an exact Fraction"):
        Event("x", 1, 2, 1 / 48000, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time_base must be > 0"):
        Event("x", 1, 2, Fraction(0), None)
