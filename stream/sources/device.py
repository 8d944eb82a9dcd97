"""Live audio input: DeviceSource, a PortAudio input stream.

The PortAudio callback never waits: it copies each block into a bounded hand-off
queue (see :mod:`stream.handoff`). When the graph falls behind and the queue is full,
the oldest block is dropped and counted (an overrun). Dropped audio is replaced by
silence of the same length, so frame indices stay contiguous and keep following the
device clock (a file written from a live input has the length of the time that
passed, and every later chunk stays where it belongs in time); each overrun is also
reported as an ``"xrun"`` event on the ``"events"`` port. ``on_overrun="fail"``
stops the graph with a :class:`~stream.MediaError` instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Collection, Mapping
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._exceptions import MediaError, ParameterError
from .._items import AudioChunk, Event, Item
from .._nodes import Source
from .._specs import AudioSpec, EventSpec, StreamSpec
from ..devices import (
    DeviceInfo,
    DeviceRef,
    Latency,
    check_common,
    close_stream,
    device_label,
    find_device,
    import_sounddevice,
    open_started,
    portaudio_calls,
    stopped_reason,
)
from ..handoff import STALL_S, Capture, XrunInfo, wait_event
from ._live import LiveStats, OverrunPolicy, SharedStream

__all__ = ["DeviceSource"]


def _check_source_params(
    who: str, on_overrun: str, duration: float | None, channels: int, sample_rate: int
) -> None:
    if on_overrun not in ("drop_oldest", "fail"):
        raise ParameterError(
            f"{who}: on_overrun must be 'drop_oldest' or 'fail', got {on_overrun!r}"
        )
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, (int, float))
        or not (math.isfinite(duration) and duration > 0)
    ):
        raise ParameterError(f"{who}: duration must be seconds > 0 or None, got {duration!r}")
    if sample_rate is None or channels is None:
        raise ParameterError(f"{who}: sample_rate (Hz) and channels are required")
    if duration is not None and round(duration * sample_rate) < 1:
        raise ParameterError(
            f"{who}: duration={duration!r} s is less than one frame at {sample_rate} Hz "
            f"(round(duration * sample_rate) must be >= 1)"
        )


class DeviceSource(Source):
    """Audio from an input device (microphone, line in, JACK ports) via PortAudio.

    Args:
        device: device index, part of its name (case-insensitive) or None for the
            default input; ``mediastream devices`` lists them.
        sample_rate: Hz (default 48000); the device must accept it.
        channels: input channels (default 2).
        blocksize: frames per PortAudio callback (default 256 = 5.3 ms at 48 kHz;
            0 lets the host choose, blocks may then vary).
        latency: PortAudio's suggested input latency: ``"low"`` (default), ``"high"``
            or seconds.
        queue_blocks: capacity of the hand-off queue in blocks (default 16); how far
            the graph may fall behind before audio is dropped.
        on_overrun: ``"drop_oldest"`` (default: drop the oldest queued block,
            replace it by silence, emit an ``"xrun"`` event) or ``"fail"`` (stop the
            graph with a MediaError naming the frame position).
        duration: stop after this many seconds of audio (exactly
            ``round(duration * sample_rate)`` frames); None runs until cancelled.

    Output ports: ``"audio"`` (AudioChunk, ``start`` counts frames since the first
    captured frame) and ``"events"`` (``"xrun"`` events with an :class:`XrunInfo`
    payload, placed at the frames they concern). Connect ports explicitly:
    ``graph.connect(src["audio"], op)``.

    Reads wait for the device without blocking the event loop (a worker thread
    waits on the hand-off, abandoned at once on cancellation), so a graph cancelled
    or interrupted by Ctrl-C closes the stream promptly.

    A device that disappears (unplugged, its JACK server shut down) or stops
    delivering audio for 2 s fails the read with a :class:`~stream.MediaError`
    naming the device and the last frame; everything captured before reached the
    graph. A stream PortAudio cannot stop any more (its device is gone) is left open
    rather than hanging the run (see :func:`stream.devices.close_stream`).
    """

    blocking = True  # open() (PortAudio can take a while) runs in a worker thread
    live: ClassVar[bool] = True

    def __init__(
        self,
        device: DeviceRef = None,
        *,
        sample_rate: int = 48000,
        channels: int = 2,
        blocksize: int = 256,
        latency: Latency = "low",
        queue_blocks: int = 16,
        on_overrun: OverrunPolicy = "drop_oldest",
        duration: float | None = None,
        _duplex: SharedStream | None = None,
    ) -> None:
        who = "DeviceSource" if _duplex is None else "DuplexDevice"
        check_common(who, sample_rate, channels, blocksize, latency, queue_blocks)
        _check_source_params(who, on_overrun, duration, channels, sample_rate)
        self.device = device
        self.sample_rate = sample_rate
        self.channels = channels
        self.blocksize = blocksize
        self.latency = latency
        self.queue_blocks = queue_blocks
        self.on_overrun: OverrunPolicy = on_overrun
        self.duration_s = None if duration is None else float(duration)
        self._total = None if duration is None else round(duration * sample_rate)
        self._duplex = _duplex
        self._who = who
        self._stream: Any = None
        self._finished = threading.Event()  # PortAudio's finished callback ran
        self._capture = Capture(queue_blocks)
        self._events = False
        self._next = 0
        self._done = False
        self._stop_at: int | None = None  # set by stop()
        self._dropped = 0
        self._last_data = 0.0
        self._latency_s = 0.0  # the open stream's input latency, kept after close
        self.info: DeviceInfo | None = None

    # -- Source -----------------------------------------------------------------------
    def specs(self) -> Mapping[str, StreamSpec]:
        return {
            "audio": AudioSpec(self.sample_rate, self.channels),
            "events": EventSpec(frozenset({"xrun"})),
        }

    @property
    def duration(self) -> Fraction | None:
        if self._total is None:
            return None
        return Fraction(self._total, self.sample_rate)

    def open(self, ports: Collection[str] = ("audio",)) -> None:
        self._events = "events" in ports
        self._capture = Capture(self.queue_blocks)
        self._next = 0
        self._done = False
        self._stop_at = None
        self._dropped = 0
        self._last_data = time.monotonic()
        self._capture.active = True
        if self._duplex is not None:
            self._duplex._open_half("source")
            return
        with portaudio_calls(self._who):
            sd = import_sounddevice()
            self.info = find_device(
                self._who, self.device, "input", self.channels, self.sample_rate
            )
            capture = self._capture
            self._latency_s = 0.0
            finished = self._finished = threading.Event()

            def callback(indata: Any, frames: int, t: Any, status: Any) -> None:
                capture.push(indata, frames, t.inputBufferAdcTime, bool(status.input_overflow))

            stream = open_started(
                sd,
                sd.InputStream,
                f"{self._who}: cannot open input device {self.info.index} "
                f"{self.info.name!r} at {self.sample_rate} Hz, {self.channels} ch",
                device=self.info.index,
                samplerate=self.sample_rate,
                channels=self.channels,
                blocksize=self.blocksize,
                latency=self.latency,
                callback=callback,
                finished_callback=finished.set,
            )
            self._latency_s = float(stream.latency)
            self._stream = stream

    def close(self) -> None:
        self._capture.active = False
        if self._duplex is not None:
            self._duplex._close_half("source", abort=False)
            return
        stream, self._stream = self._stream, None
        if stream is not None:
            # Input: nothing worth waiting for. A stream left open (its device is gone)
            # needs no report here: the read that found the device gone raised.
            close_stream(stream, self._finished, drain=False)

    def stop(self) -> None:
        """End the stream after the audio captured so far: it is delivered, then end of
        stream, so the graph flushes (a diarizer decides its last turns, files are
        completed). Safe to call from a signal handler or another thread; a second
        call changes nothing."""
        if self._stop_at is not None:
            return
        blocks = self._capture.blocks
        last = blocks[-1] if blocks else None
        end = last[0] + last[1].shape[1] if last is not None else self._next
        self._stop_at = end
        if self._total is None or end < self._total:
            self._total = end
        if end <= self._next:
            self._done = True
        self._capture.active = False
        self._capture.ready.set()

    def capture_time(self, frame: int) -> float | None:
        """``time.monotonic()`` at which input frame ``frame`` was captured (reached
        this process), extrapolated from the newest block at the stream's rate; None
        before the first block. For latency figures: a result computed from frames up
        to ``frame`` came ``time.monotonic() - capture_time(frame)`` seconds later."""
        clock = self._capture.clock
        if clock is None:
            return None
        t, captured = clock
        return t - (captured - frame) / self.sample_rate

    def read(self, max_items: int) -> list[tuple[str, Item]]:
        """Up to ``max_items`` items, waiting (in this thread) for the device."""
        while True:
            out = self._take(max_items)
            if out or self._done:
                return out
            self._capture.ready.clear()
            if not self._capture.blocks and not self._capture.ready.wait(0.05):
                self._check_alive()

    async def aread(self, max_items: int) -> list[tuple[str, Item]]:
        """Like :meth:`read`, without blocking the event loop (used by the runtime)."""
        import anyio.to_thread

        capture = self._capture
        while True:
            out = self._take(max_items)
            if out or self._done:
                return out
            capture.ready.clear()
            if capture.blocks:
                continue
            if not await anyio.to_thread.run_sync(
                wait_event, capture.ready, abandon_on_cancel=True
            ):
                self._check_alive()

    # -- internals --------------------------------------------------------------------
    def _check_alive(self) -> None:
        """Raise a MediaError naming the device when it stopped or stalled."""
        duplex = self._duplex
        if duplex is not None:
            stream, finished, info = duplex._stream, duplex._finished, duplex.input_info
        else:
            stream, finished, info = self._stream, self._finished, self.info
        where = (
            f"after frame {self._next} (t={self._next / self.sample_rate:.3f} s)"
            if self._next
            else "before its first frame"
        )
        label = device_label("input", info)
        if stream is None:
            raise MediaError(f"{self._who}: {label} is closed ({where})")
        if not stream.active:
            reason = stopped_reason(stream, finished)
            raise MediaError(f"{self._who}: {label} stopped delivering audio {where}: {reason}")
        if time.monotonic() - self._last_data > STALL_S:
            raise MediaError(
                f"{self._who}: {label} delivered nothing for {STALL_S:g} s {where}: the "
                "device stopped running (a stalled driver or JACK server)"
            )

    def _xrun(self, cause: str, start: int, frames: int) -> tuple[str, Item]:
        cap = self._capture
        info = XrunInfo(cause, frames, cap.overruns, cap.input_overflows, self._dropped)
        return "events", Event.from_frames("xrun", start, start + frames, self.sample_rate, info)

    def _limit(self, start: int, data: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self._total is not None and start + data.shape[1] >= self._total:
            self._done = True
            self._capture.active = False  # the rest is not wanted: no overruns counted
            return data[:, : max(0, self._total - start)]
        return data

    def _take(self, max_items: int) -> list[tuple[str, Item]]:
        blocks = self._capture.blocks
        out: list[tuple[str, Item]] = []
        rate = self.sample_rate
        while len(out) < max_items and blocks and not self._done:
            start, data, overflow = blocks.popleft()
            self._last_data = time.monotonic()
            if start > self._next:  # blocks dropped by the hand-off: an overrun
                gap = start - self._next
                if self.on_overrun == "fail":
                    raise MediaError(
                        f"{self._who}: overrun at frame {self._next} "
                        f"(t={self._next / rate:.3f} s): the graph fell behind the device "
                        f"and {gap} frames were lost (on_overrun='fail'; 'drop_oldest' "
                        "replaces them by silence and goes on)"
                    )
                silence = self._limit(self._next, np.zeros((self.channels, gap), np.float32))
                self._dropped += silence.shape[1]
                if self._events:
                    out.append(self._xrun("overrun", self._next, silence.shape[1]))
                out.append(("audio", AudioChunk(silence, rate, self._next)))
                self._next += silence.shape[1]
                if self._done:
                    break
            if overflow and self._events:
                out.append(self._xrun("input_overflow", start, 0))
            data = self._limit(start, data)
            if data.shape[1]:
                out.append(("audio", AudioChunk(data, rate, start)))
            self._next = start + data.shape[1]
        return out

    def stats(self) -> LiveStats:
        """The counters so far (also after the run)."""
        cap = self._capture
        if self._duplex is not None:
            return self._duplex.stats()
        return LiveStats(
            sample_rate=self.sample_rate,
            overruns=cap.overruns,
            input_overflows=cap.input_overflows,
            dropped_frames=self._dropped,
            device_latency_s=(self._latency_s, 0.0),
        )
