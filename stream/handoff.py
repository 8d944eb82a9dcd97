"""Live audio hand-off, shared by device sources and sinks: between the PortAudio
callback (a real-time thread that must never wait) and the graph (async tasks), a
bounded deque per direction:

* capture: the callback appends a copy of each input block tagged with its frame
  index; when the deque is full it drops the oldest block first (``popleft``) and
  counts an overrun. The reader sees the gap in the frame indices.
* playback: writers append chunks while there is room; the callback copies what is
  queued into the output buffer and plays silence for what is missing (an underrun,
  counted when audio follows the silence: silence before the first chunk or after
  the last is not one).

``deque.append``/``popleft`` are atomic in CPython, and every counter is written by
one thread only (frames in by the writer, frames out by the callback), so neither
side takes a lock. Waiting (the reader for data, a writer for room) happens on a
``threading.Event`` in a worker thread that anyio abandons on cancellation, with a
short timeout so that an abandoned wait ends on its own: no polling, no blocking of
the event loop, and the same code on asyncio and trio.

:class:`PlaybackSink` is the base of every output device node: a subclass supplies
the device (``_start_device``, ``_device_ok``, ``_output_latency_s``,
``_stop_device``); see :mod:`stream.devices` for the PortAudio side.
"""

from __future__ import annotations

import abc
import contextlib
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._exceptions import IncompatibleInputError, MediaError, ParameterError
from ._items import AudioChunk, Item
from ._nodes import Sink
from ._specs import AudioSpec, StreamSpec

__all__ = ["STALL_S", "Capture", "Playback", "PlaybackSink", "XrunInfo", "wait_event"]

WAIT_S = 0.05  # one wait on a threading.Event; an abandoned wait ends within this
STALL_S = 2.0  # a device that moves no audio for this long (plus its buffers) failed


@dataclass(frozen=True)
class XrunInfo:
    """Payload of an ``"xrun"`` event: audio lost on the way in.

    Attributes:
        cause: ``"overrun"`` (the graph fell behind and the hand-off queue dropped
            its oldest blocks; they are replaced by silence, see ``frames``) or
            ``"input_overflow"`` (PortAudio or the driver lost input before the
            callback; how much is unknown, ``frames`` is 0).
        frames: frames replaced by silence by this xrun.
        overruns: blocks dropped by the hand-off queue so far (total).
        input_overflows: input overflows PortAudio reported so far (total).
        dropped_frames: frames replaced by silence so far (total).
    """

    cause: str
    frames: int
    overruns: int
    input_overflows: int
    dropped_frames: int


class Capture:
    """Input hand-off: filled by the PortAudio callback, drained by the reader."""

    def __init__(self, capacity_blocks: int) -> None:
        self.capacity = capacity_blocks
        self.blocks: deque[tuple[int, npt.NDArray[np.float32], bool]] = deque()
        self.ready = threading.Event()
        self.active = False
        # Written by the callback only.
        self.captured = 0  # frames
        self.overruns = 0  # blocks dropped because the queue was full
        self.input_overflows = 0  # PortAudio's input overflow flags
        self.last_block_frames = 0
        # time.monotonic() when the latest block arrived, and the frames captured by then.
        self.clock: tuple[float, int] | None = None

    def push(
        self, indata: npt.NDArray[np.float32], frames: int, adc: float, overflow: bool
    ) -> None:
        """Called in the callback: never waits."""
        if not self.active:
            return
        block = np.array(indata.T, dtype=np.float32, order="C")
        blocks = self.blocks
        if len(blocks) >= self.capacity:
            # Drop the oldest: the newest audio is what a listener needs. (The reader
            # may have emptied the queue meanwhile.)
            with contextlib.suppress(IndexError):
                blocks.popleft()
            self.overruns += 1
        if overflow:
            self.input_overflows += 1
        blocks.append((self.captured, block, overflow))
        self.captured += frames
        self.last_block_frames = frames
        self.clock = (time.monotonic(), self.captured)
        self.ready.set()


class Playback:
    """Output hand-off: filled by writers, drained by the PortAudio callback."""

    def __init__(self, channels: int, capacity_frames: int, prefill_frames: int = 0) -> None:
        self.channels = channels
        self.capacity = max(capacity_frames, prefill_frames + 1)
        self.prefill = prefill_frames  # playback starts once this much is queued
        self.chunks: deque[tuple[int, npt.NDArray[np.float32]]] = deque()
        self.room = threading.Event()
        self.room.set()
        self.ending = False  # the writer is done: silence from now on is no underrun
        self.written = 0  # frames queued (writer only)
        # Callback only.
        self._cur: tuple[int, npt.NDArray[np.float32]] | None = None
        self._off = 0
        self.played = 0  # frames taken from the queue
        self.started = False  # the first chunk has been played
        self.underruns = 0  # callbacks that had to play some silence
        self.underrun_frames = 0
        self.skipped = 0  # frames dropped by skip_backlog
        self.underrun_before = 0  # frame index played right after the latest underrun
        self._gaps = 0  # silence played since the last audio (an underrun if audio follows)
        self._gap_frames = 0

    def queued(self) -> int:
        """Frames queued and not yet handed to the device."""
        return self.written - self.played

    def has_room(self, frames: int) -> bool:
        """Room for one more chunk: less than ``capacity`` frames queued (a chunk may
        overshoot it, so that chunks larger than the queue still flow)."""
        return self.queued() < self.capacity

    def put(self, start: int, data: npt.NDArray[np.float32]) -> None:
        self.chunks.append((start, data))
        self.written += data.shape[1]

    def skip_backlog(self, keep: int) -> int:
        """Called in the callback: drop the oldest queued audio down to ``keep`` frames.

        Returns the frames dropped (whole queued chunks only, oldest first).
        """
        dropped = 0
        chunks = self.chunks
        while True:
            if self._cur is not None:
                n = self._cur[1].shape[1] - self._off
            elif chunks:
                n = chunks[0][1].shape[1]
            else:
                break
            if self.queued() - dropped - n < keep:
                break
            if self._cur is not None:
                self._cur = None
                self._off = 0
            else:
                chunks.popleft()
            dropped += n
        self.played += dropped
        self.skipped += dropped
        return dropped

    def fill(self, outdata: npt.NDArray[np.float32], frames: int) -> tuple[int, int] | None:
        """Called in the callback: fill ``outdata`` (frames, channels), never wait.

        Returns ``(position in the buffer, stream frame index)`` of the first queued
        frame played in this buffer, or None when nothing was queued.
        """
        pos = 0
        first: tuple[int, int] | None = None
        chunks = self.chunks
        if not self.started and self.queued() < self.prefill and not self.ending:
            frames_available = 0
        else:
            frames_available = frames
        while pos < frames_available:
            cur = self._cur
            if cur is None:
                try:
                    cur = self._cur = chunks.popleft()
                except IndexError:
                    break
                self._off = 0
            start, data = cur
            off = self._off
            if first is None:
                first = (pos, start + off)
            take = min(frames_available - pos, data.shape[1] - off)
            outdata[pos : pos + take] = data[:, off : off + take].T
            pos += take
            off += take
            if off >= data.shape[1]:
                self._cur = None
                self._off = 0
            else:
                self._off = off
        if pos:
            if self._gap_frames:
                # Audio came after silence: that silence was an underrun. Silence that
                # no audio follows is the end of the stream, not an underrun.
                if first is not None:
                    self.underrun_before = first[1]
                self.underruns += self._gaps
                self.underrun_frames += self._gap_frames
                self._gaps = self._gap_frames = 0
            self.started = True
            self.played += pos
        if pos < frames:
            outdata[pos:] = 0.0
            if self.started and not self.ending:
                self._gaps += 1
                self._gap_frames += frames - pos
        self.room.set()
        return first


def wait_event(event: threading.Event) -> bool:
    """One bounded wait (runs in a worker thread)."""
    return event.wait(WAIT_S)


class PlaybackSink(Sink):
    """The writing half of an output device (DeviceSink, DuplexDevice.sink).

    ``awrite`` queues a chunk when there is room and otherwise waits (in a worker
    thread abandoned on cancellation) until the device has played enough: the device
    clock paces the graph. Gaps in the chunks' frame indices are played as silence;
    a chunk that goes back in time is an error. ``close(None)`` plays what is queued
    (the event loop waits at most the queued duration plus the device latency);
    ``close(error)`` stops the device at once.
    """

    accepts = frozenset({"audio"})
    # open() (PortAudio opens the device, which can take a while) runs in a worker
    # thread; chunks go through awrite(), which never blocks the event loop.
    heavy = True

    def __init__(
        self,
        who: str,
        sample_rate: int | None,
        channels: int | None,
        capacity_frames: int,
        prefill_frames: int = 0,
        on_underrun: str = "silence",
    ) -> None:
        if on_underrun not in ("silence", "fail"):
            raise ParameterError(
                f"{who}: on_underrun must be 'silence' or 'fail', got {on_underrun!r}"
            )
        self._who = who
        self._prefill = prefill_frames
        self.on_underrun = on_underrun
        self.sample_rate = sample_rate
        self.channels = channels
        self._capacity = capacity_frames
        self._playback: Playback | None = None
        self._next: int | None = None  # frame index expected next
        self._open = False
        self.gap_frames = 0

    # -- what the concrete sinks provide -----------------------------------------------
    @abc.abstractmethod
    def _start_device(self, playback: Playback) -> None:
        """Open and start the device stream that pulls from ``playback``."""

    @abc.abstractmethod
    def _device_ok(self) -> bool:
        """Whether the device stream is still running."""

    @abc.abstractmethod
    def _output_latency_s(self) -> float:
        """The device's output latency in seconds."""

    @abc.abstractmethod
    def _stop_device(self, drain: bool) -> None:
        """Stop the device: play what is queued first when ``drain``."""

    # -- Sink -------------------------------------------------------------------------
    def configure(self, inputs: Mapping[str, StreamSpec]) -> None:
        super().configure(inputs)
        (spec,) = inputs.values()
        assert isinstance(spec, AudioSpec)
        if self.sample_rate is not None and spec.sample_rate != self.sample_rate:
            raise IncompatibleInputError(
                f"{self._who} plays {self.sample_rate} Hz, the input is {spec.sample_rate} Hz "
                "(resample upstream, e.g. FileSource(audio=AudioFormat(sample_rate=...)))"
            )
        if self.channels is not None and spec.channels != self.channels:
            raise IncompatibleInputError(
                f"{self._who} plays {self.channels} channels, the input has {spec.channels}"
            )
        self.sample_rate, self.channels = spec.sample_rate, spec.channels

    def open(self) -> None:
        if self.sample_rate is None or self.channels is None:
            raise ParameterError(
                f"{self._who}: sample_rate and channels are needed (or a graph that gives them)"
            )
        self._playback = Playback(self.channels, self._capacity, self._prefill)
        self._next = None
        self.gap_frames = 0
        self._open = True
        self._start_device(self._playback)

    def _prepare(self, item: Item) -> list[tuple[int, npt.NDArray[np.float32]]]:
        if type(item) is not AudioChunk:
            raise TypeError(f"{self._who} plays audio, got {type(item).__name__}")
        if item.channels != self.channels or item.sample_rate != self.sample_rate:
            raise ValueError(
                f"{self._who}: chunk at frame {item.start} is {item.sample_rate} Hz "
                f"{item.channels} ch, the device plays {self.sample_rate} Hz {self.channels} ch"
            )
        out: list[tuple[int, npt.NDArray[np.float32]]] = []
        expected = item.start if self._next is None else self._next
        if item.start < expected:
            raise ValueError(
                f"{self._who}: chunk at frame {item.start} goes back in time (frame "
                f"{expected} was expected next)"
            )
        if item.start > expected:  # a gap upstream: keep the timeline, play silence
            gap = item.start - expected
            self.gap_frames += gap
            out.append((expected, np.zeros((item.channels, gap), dtype=np.float32)))
        if item.frames:
            out.append((item.start, np.ascontiguousarray(item.data, dtype=np.float32)))
        self._next = item.end
        return out

    def _check_alive(self, since: float, played: int) -> None:
        pb = self._playback
        assert pb is not None
        if not self._device_ok():
            raise MediaError(f"{self._who}: the output stream stopped (device lost?)")
        if pb.played == played and time.monotonic() - since > STALL_S + self._output_latency_s():
            raise MediaError(
                f"{self._who}: the device played nothing for {STALL_S:g} s (stream stalled)"
            )

    def _check_underrun(self, pb: Playback) -> None:
        if self.on_underrun == "fail" and pb.underruns:
            rate = self.sample_rate or 1
            raise MediaError(
                f"{self._who}: underrun before frame {pb.underrun_before} "
                f"(t={pb.underrun_before / rate:.3f} s): the graph was late and the device "
                f"played {pb.underrun_frames} frames of silence (on_underrun='fail'; "
                "'silence' counts underruns and goes on)"
            )

    def write(self, item: Item) -> None:
        """Queue a chunk, waiting (in this thread) while the queue is full."""
        pb = self._playback
        if pb is None:
            raise RuntimeError(f"{self._who}: write() before open()")
        self._check_underrun(pb)
        for start, data in self._prepare(item):
            since, played = time.monotonic(), pb.played
            while not pb.has_room(data.shape[1]):
                pb.room.clear()
                if pb.has_room(data.shape[1]):
                    break
                if not pb.room.wait(WAIT_S):
                    self._check_alive(since, played)
                elif pb.played != played:
                    since, played = time.monotonic(), pb.played
            pb.put(start, data)

    async def awrite(self, item: Item) -> None:
        """Queue a chunk, waiting without blocking the event loop (used by the runtime)."""
        import anyio.to_thread

        pb = self._playback
        if pb is None:
            raise RuntimeError(f"{self._who}: write() before open()")
        self._check_underrun(pb)
        for start, data in self._prepare(item):
            since, played = time.monotonic(), pb.played
            while not pb.has_room(data.shape[1]):
                pb.room.clear()
                if pb.has_room(data.shape[1]):
                    break
                woke = await anyio.to_thread.run_sync(
                    wait_event, pb.room, abandon_on_cancel=True
                )
                if not woke:
                    self._check_alive(since, played)
                elif pb.played != played:
                    since, played = time.monotonic(), pb.played
            pb.put(start, data)

    def close(self, error: BaseException | None = None) -> None:
        pb = self._playback
        if pb is None or not self._open:
            return
        self._open = False
        drain = error is None and self._device_ok()
        if drain:
            pb.ending = True
            rate = self.sample_rate or 1
            deadline = time.monotonic() + pb.queued() / rate + STALL_S
            while pb.queued() > 0 and self._device_ok() and time.monotonic() < deadline:
                pb.room.clear()
                if pb.queued() > 0:
                    pb.room.wait(WAIT_S)
            # The last block is in the device's buffers: let it reach the DAC.
            time.sleep(min(self._output_latency_s(), 1.0))
        pb.ending = True
        self._stop_device(drain)

    @property
    def underruns(self) -> int:
        """Device buffers that had to be padded with silence (the graph was late)."""
        return self._playback.underruns if self._playback is not None else 0

    @property
    def underrun_frames(self) -> int:
        """Frames of silence played because the graph was late."""
        return self._playback.underrun_frames if self._playback is not None else 0
