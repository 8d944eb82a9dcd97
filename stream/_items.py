"""What flows along the edges of a graph.

Data items carry exact timestamps: an :class:`AudioChunk` counts frames since the
stream began (an ``int``, never float seconds), a :class:`VideoFrame` carries the
``pts`` and rational ``time_base`` that PyAV gives, and an :class:`Event` carries
``start``/``end`` in exact source units plus the ``time_base`` that turns them into
seconds.  Seconds are derived on demand and are never the stored truth.

Two control items travel in order behind the data: :data:`EOS` (end of stream; every
operator flushes when it arrives) and :class:`Bound` (a timestamp promise that lets
fan-in joins progress past sparse producers).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, Generic, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "EOS",
    "AudioChunk",
    "Bound",
    "EndOfStream",
    "Event",
    "Item",
    "VideoFrame",
    "describe_position",
    "item_end_time",
    "item_time",
]

P = TypeVar("P")


@dataclass(frozen=True, slots=True, eq=False)
class AudioChunk:
    """A block of audio.

    Attributes:
        data: float32 samples shaped ``(channels, frames)``, nominal range [-1, 1].
        sample_rate: frames per second (Hz).
        start: index of the first frame since the stream began (frames, exact).
    """

    data: npt.NDArray[np.float32]
    sample_rate: int
    start: int

    def __post_init__(self) -> None:
        data = self.data
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype != np.float32:
            shape = getattr(data, "shape", None)
            dtype = getattr(data, "dtype", type(data).__name__)
            raise TypeError(
                "AudioChunk.data must be a float32 array shaped (channels, frames); "
                f"got dtype {dtype} shape {shape}"
            )
        rate, start = self.sample_rate, self.start
        if (type(rate) is not int and not isinstance(rate, numbers.Integral)) or (
            type(start) is not int and not isinstance(start, numbers.Integral)
        ):
            # Exact times are Fraction(start, sample_rate): floats would fail much later.
            raise TypeError(
                "AudioChunk.sample_rate (Hz) and start (frames) must be ints, "
                f"got {rate!r} and {start!r}"
            )
        if rate <= 0:
            raise ValueError(f"AudioChunk.sample_rate must be positive, got {rate}")

    @classmethod
    def _trusted(cls, data: npt.NDArray[np.float32], sample_rate: int, start: int) -> AudioChunk:
        """A chunk built without the checks of ``__init__`` (about 0.6 us less per chunk).

        Private, for operators whose output array they allocated themselves as float32
        ``(channels, frames)``, with ``sample_rate`` and ``start`` (plain ints) taken
        from an already validated chunk or configuration. Anything else must use
        ``AudioChunk(...)``, which validates.
        """
        chunk = _new_object(cls)
        _set_data(chunk, data)
        _set_rate(chunk, sample_rate)
        _set_start(chunk, start)
        return chunk

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.data.shape[0])

    @property
    def frames(self) -> int:
        """Number of frames (samples per channel)."""
        return int(self.data.shape[1])

    @property
    def end(self) -> int:
        """Index one past the last frame (exclusive), in frames."""
        return self.start + int(self.data.shape[1])

    @property
    def time(self) -> Fraction:
        """Start time in seconds, exact."""
        return Fraction(self.start, self.sample_rate)

    @property
    def end_time(self) -> Fraction:
        """End time (exclusive) in seconds, exact."""
        return Fraction(self.end, self.sample_rate)

    @property
    def seconds(self) -> float:
        """Start time in seconds as a float (derived, for display)."""
        return self.start / self.sample_rate

    def __repr__(self) -> str:
        return (
            f"AudioChunk(channels={self.channels}, frames={self.frames}, "
            f"sample_rate={self.sample_rate}, start={self.start})"
        )


# The slot descriptors of AudioChunk, for AudioChunk._trusted (which bypasses the frozen
# dataclass's __setattr__ and __post_init__).
_new_object: Callable[[type[AudioChunk]], AudioChunk] = object.__new__
_set_data: Callable[[AudioChunk, Any], None] = AudioChunk.__dict__["data"].__set__
_set_rate: Callable[[AudioChunk, Any], None] = AudioChunk.__dict__["sample_rate"].__set__
_set_start: Callable[[AudioChunk, Any], None] = AudioChunk.__dict__["start"].__set__


@dataclass(frozen=True, slots=True, eq=False)
class VideoFrame:
    """One decoded video frame.

    Attributes:
        data: uint8 pixels, ``(height, width, 3)`` for ``rgb24``/``bgr24`` or
            ``(height, width)`` for ``gray``.
        index: frame number in the stream (0 for the first frame delivered).
        pts: presentation timestamp in ``time_base`` units (exact).
        time_base: seconds per ``pts`` unit (rational, as PyAV gives it).
        pixel_format: FFmpeg pixel format name of ``data``.
    """

    data: npt.NDArray[np.uint8]
    index: int
    pts: int
    time_base: Fraction
    pixel_format: str = "rgb24"

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.data.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.data.shape[0])

    @property
    def time(self) -> Fraction:
        """Presentation time in seconds, exact."""
        return self.pts * self.time_base

    @property
    def seconds(self) -> float:
        """Presentation time in seconds as a float (derived, for display)."""
        return float(self.pts * self.time_base)

    def __repr__(self) -> str:
        return (
            f"VideoFrame({self.width}x{self.height} {self.pixel_format}, index={self.index}, "
            f"pts={self.pts}, time_base={self.time_base})"
        )


def _jsonable(value: Any) -> Any:
    """Convert payload values to JSON-compatible values (exact where possible)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no inf/nan; keep the line valid and the meaning explicit.
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


@dataclass(frozen=True, slots=True, eq=True)
class Event(Generic[P]):
    """A result: something that happened between ``start`` and ``end``.

    Attributes:
        kind: what it is (``"level"``, ``"speaker_turn"``, ...).
        start: start in exact source units (audio frames, video pts, ...).
        end: end in the same units (``end >= start``; equal for instants).
        time_base: seconds per unit (``Fraction(1, 48000)`` for audio frames at
            48 kHz, the stream's time base for video pts).
        payload: a small typed value (usually a frozen dataclass) describing it.

    Events order by ``end`` on an edge: the time at which they became knowable.
    """

    kind: str
    start: int
    end: int
    time_base: Fraction
    payload: P

    def __post_init__(self) -> None:
        start, end, tb = self.start, self.end, self.time_base
        if type(start) is not int or type(end) is not int:
            # NumPy integers are fine (made plain ints for JSON); floats would lose exactness.
            if not isinstance(start, numbers.Integral) or not isinstance(end, numbers.Integral):
                raise TypeError(
                    f"Event {self.kind!r}: start and end must be ints in time-base units, "
                    f"got {start!r} and {end!r}"
                )
            object.__setattr__(self, "start", int(start))
            object.__setattr__(self, "end", int(end))
        if type(tb) is not Fraction:
            if not isinstance(tb, numbers.Rational):
                raise TypeError(
                    f"Event {self.kind!r}: time_base must be an exact Fraction (e.g. "
                    f"Fraction(1, 48000)), got {tb!r}"
                )
            object.__setattr__(self, "time_base", Fraction(tb))
        if not self.time_base > 0:
            raise ValueError(f"Event {self.kind!r}: time_base must be > 0, got {tb}")
        if self.end < self.start:
            raise ValueError(f"Event {self.kind!r}: end {self.end} is before start {self.start}")

    @classmethod
    def from_frames(cls, kind: str, start: int, end: int, sample_rate: int, payload: P) -> Event[P]:
        """An event timed in audio frames at ``sample_rate`` Hz."""
        return cls(kind, start, end, Fraction(1, sample_rate), payload)

    @property
    def start_time(self) -> Fraction:
        """Start in seconds, exact."""
        return self.start * self.time_base

    @property
    def end_time(self) -> Fraction:
        """End in seconds, exact."""
        return self.end * self.time_base

    @property
    def start_s(self) -> float:
        """Start in seconds (float, derived)."""
        return float(self.start * self.time_base)

    @property
    def end_s(self) -> float:
        """End in seconds (float, derived)."""
        return float(self.end * self.time_base)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict: exact units, the time base, seconds and the payload."""
        return {
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "time_base": str(self.time_base),
            "start_s": round(self.start_s, 9),
            "end_s": round(self.end_s, 9),
            "payload": _jsonable(self.payload),
        }

    def to_json(self) -> str:
        """One JSON line (no trailing newline)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


class EndOfStream:
    """End of stream: travels in order behind the data. Use the singleton :data:`EOS`."""

    _instance: EndOfStream | None = None

    def __new__(cls) -> EndOfStream:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EOS"

    def __reduce__(self) -> str:
        return "EOS"


EOS: Final = EndOfStream()


@dataclass(frozen=True, slots=True)
class Bound:
    """A promise: every later data item on this edge has ``time >= time`` (seconds)."""

    time: Fraction


Item = AudioChunk | VideoFrame | Event[Any]
"""A data item: what operators process and sinks write."""


def item_time(item: Item) -> Fraction:
    """The ordering key of an item on an edge, in exact seconds.

    Audio chunks order by their first frame, video frames by presentation time,
    events by their end (the moment they became knowable).
    """
    if type(item) is AudioChunk:
        return Fraction(item.start, item.sample_rate)
    if type(item) is VideoFrame:
        return item.pts * item.time_base
    if isinstance(item, Event):
        return item.end * item.time_base
    raise TypeError(f"not a stream item: {type(item).__name__}")


def item_end_time(item: Item) -> Fraction:
    """The media time an item covers up to, in exact seconds (for progress and stats)."""
    if type(item) is AudioChunk:
        return Fraction(item.end, item.sample_rate)
    return item_time(item)


def describe_position(item: object) -> str:
    """A human description of where in the stream ``item`` sits, for error messages."""
    if type(item) is AudioChunk:
        return (
            f"t={float(item.start / item.sample_rate):.6f} s "
            f"(frame {item.start} at {item.sample_rate} Hz)"
        )
    if type(item) is VideoFrame:
        return f"t={item.seconds:.6f} s (video frame {item.index}, pts {item.pts})"
    if isinstance(item, Event):
        return f"t={item.end_s:.6f} s (event {item.kind!r})"
    if item is EOS:
        return "end of stream"
    return "start of stream"
