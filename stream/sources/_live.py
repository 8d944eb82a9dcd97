"""What the live device nodes share: the overrun policy, their counters, and the
stream a :class:`~stream.DuplexDevice` lends its input half.

:mod:`.device` (DeviceSource) and :mod:`.duplex` (DuplexDevice) both import this
module; the input half knows its duplex only through :class:`SharedStream`, so
``device`` never imports ``duplex``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..devices import DeviceInfo

__all__ = ["LiveStats", "OverrunPolicy", "SharedStream"]

OverrunPolicy = Literal["drop_oldest", "fail"]
"""What a live input does when the graph falls behind and its hand-off queue is full:
``"drop_oldest"`` (replace the oldest block by silence and report it) or ``"fail"``."""


@dataclass(frozen=True)
class LiveStats:
    """Counters of a live device, read while it runs or after.

    Attributes:
        sample_rate: Hz.
        overruns: input blocks dropped because the graph fell behind (hand-off full).
        input_overflows: input overflows reported by PortAudio (driver-side loss; on
            JACK, PortAudio reports every JACK xrun this way, audio lost or not).
        dropped_frames: input frames replaced by silence.
        underruns: output buffers padded with silence because the graph was late.
        underrun_frames: frames of silence played for that.
        skipped_frames: processed frames a DuplexDevice skipped to bring the latency
            back down after the graph fell behind (more than half its output queue
            waiting): it plays the newest audio rather than a backlog.
        round_trip_s: latest measured round trip (DuplexDevice): from the capture of
            an input frame (ADC) to the moment its processed version reaches the DAC,
            processing, queues and the chain's lookahead included; None until measured.
        round_trip_min_s, round_trip_max_s: extremes over the run.
        device_latency_s: (input, output) latency PortAudio reports for the stream.
    """

    sample_rate: int
    overruns: int = 0
    input_overflows: int = 0
    dropped_frames: int = 0
    underruns: int = 0
    underrun_frames: int = 0
    skipped_frames: int = 0
    round_trip_s: float | None = None
    round_trip_min_s: float | None = None
    round_trip_max_s: float | None = None
    device_latency_s: tuple[float, float] = (0.0, 0.0)

    @property
    def round_trip_frames(self) -> int | None:
        """The latest round trip in frames."""
        if self.round_trip_s is None:
            return None
        return round(self.round_trip_s * self.sample_rate)


class SharedStream(Protocol):
    """A PortAudio stream shared by an input half (a DeviceSource) and an output half:
    what the input half of a :class:`~stream.DuplexDevice` uses of it.

    Attributes:
        _stream: the open sounddevice stream, None while closed.
        _finished: set by PortAudio's finished callback.
        input_info: the input device, once the stream is open.
    """

    _stream: Any
    _finished: threading.Event
    input_info: DeviceInfo | None

    def _open_half(self, half: str) -> None:
        """Open the stream unless the other half did; ``half`` is ``"source"``/``"sink"``."""

    def _close_half(self, half: str, abort: bool) -> str | None:
        """Release one half; returns why the stream was left open, if it was."""

    def stats(self) -> LiveStats:
        """The counters of both halves so far."""
