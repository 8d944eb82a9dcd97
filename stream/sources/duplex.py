"""DuplexDevice: one PortAudio stream for input and output (shared clock, lowest latency)."""

from __future__ import annotations

import math
import threading
from typing import Any, Literal

from ..devices import (
    DeviceInfo,
    DeviceRef,
    Latency,
    check_common,
    check_output,
    close_stream,
    device_label,
    find_device,
    import_sounddevice,
    open_started,
    portaudio_calls,
    report_close,
)
from ..handoff import Playback, PlaybackSink
from ._live import LiveStats, OverrunPolicy
from .device import DeviceSource

__all__ = ["DuplexDevice"]


class _DuplexSink(PlaybackSink):
    """The output half of a DuplexDevice."""

    def __init__(
        self,
        duplex: DuplexDevice,
        channels: int,
        capacity_frames: int,
        prefill_frames: int,
        on_underrun: str,
    ) -> None:
        super().__init__(
            "DuplexDevice",
            duplex.sample_rate,
            channels,
            capacity_frames,
            prefill_frames,
            on_underrun,
        )
        self._duplex = duplex
        self._close_note: str | None = None

    def _start_device(self, playback: Playback) -> None:
        self._duplex._playback = playback
        self._duplex._open_half("sink")

    def _device_ok(self) -> bool:
        stream = self._duplex._stream
        return stream is not None and bool(stream.active)

    def _output_latency_s(self) -> float:
        return self._duplex._device_latency[1]

    def _check_alive(self, since: float, played: int) -> None:
        duplex = self._duplex
        check_output(
            "DuplexDevice",
            device_label("output", duplex.output_info),
            duplex._stream,
            duplex._finished,
            self._playback,
            duplex.sample_rate,
            since,
            played,
            self._output_latency_s(),
        )

    def _stop_device(self, drain: bool) -> None:
        self._close_note = self._duplex._close_half("sink", abort=not drain)

    def close(self, error: BaseException | None = None) -> None:
        self._close_note = None
        super().close(error)
        label = device_label("output", self._duplex.output_info)
        report_close("DuplexDevice", label, self._close_note, error)


class DuplexDevice:
    """One PortAudio stream for input and output: a shared clock, the lowest latency.

    Add ``duplex.source`` (a :class:`DeviceSource`) and ``duplex.sink`` (a sink) to a
    graph: ``g.chain(g.add(duplex.source)["audio"], ..., g.add(duplex.sink))``. The
    stream starts when the first half opens and stops when both have closed (at once
    when the sink closes after an error or cancellation).

    Args:
        input, output: devices (index, part of the name or None for the defaults).
        sample_rate, channels, blocksize, latency, queue_blocks, on_overrun,
            duration: as for :class:`DeviceSource`; ``queue_blocks`` also bounds the
            output queue.
        output_channels: output channels (default: ``channels``).
        on_underrun: as for :class:`~sinks.DeviceSink`: ``"silence"`` (default) or
            ``"fail"``.
        prefill_blocks: output playback starts once this many processed blocks are
            queued (default 0: as soon as the first arrives). Each block of prefill
            adds one block of latency and absorbs that much scheduling jitter (on a
            loaded machine, 1-3 blocks avoid underruns).

    Latency control: when more than half of the output queue is waiting (the graph
    fell behind, then caught up), the oldest queued audio is skipped down to one
    block (counted in ``LiveStats.skipped_frames``), so the latency goes back to its
    minimum instead of staying at the height of the backlog for the rest of the run.
    An underrun (silence played because the graph was late) shifts the following
    audio by its length: the latency grows by that much, up to that limit.

    :meth:`stats` measures the round trip: in each callback the input block's first
    frame has a known capture time (PortAudio's ``inputBufferAdcTime``) and the
    output buffer a known DAC time (``outputBufferDacTime``); the frame index of
    what is played then gives the time from a frame's capture to its processed
    version reaching the DAC (algorithmic lookahead of the chain included, since
    operators emit a chunk labelled ``t`` only once they have seen ``t + latency``).
    Where the host API gives no times, PortAudio's reported stream latencies are
    used for the device part.
    """

    def __init__(
        self,
        input: DeviceRef = None,
        output: DeviceRef = None,
        *,
        sample_rate: int = 48000,
        channels: int = 2,
        output_channels: int | None = None,
        blocksize: int = 256,
        latency: Latency = "low",
        queue_blocks: int = 16,
        prefill_blocks: int = 0,
        on_overrun: OverrunPolicy = "drop_oldest",
        on_underrun: Literal["silence", "fail"] = "silence",
        duration: float | None = None,
    ) -> None:
        out_channels = channels if output_channels is None else output_channels
        check_common(
            "DuplexDevice",
            sample_rate,
            out_channels,
            blocksize,
            latency,
            queue_blocks,
            prefill_blocks,
        )
        self.input = input
        self.output = output
        self.sample_rate = sample_rate
        self.blocksize = blocksize
        self.latency = latency
        self.source = DeviceSource(
            input,
            sample_rate=sample_rate,
            channels=channels,
            blocksize=blocksize,
            latency=latency,
            queue_blocks=queue_blocks,
            on_overrun=on_overrun,
            duration=duration,
            _duplex=self,
        )
        block = blocksize or 256
        capacity = queue_blocks * block
        self.sink: PlaybackSink = _DuplexSink(
            self, out_channels, capacity, prefill_blocks * block, on_underrun
        )
        self._max_backlog = max(capacity // 2, (prefill_blocks + 2) * block)
        self.output_channels = out_channels
        self._lock = threading.Lock()
        self._halves: set[str] = set()
        self._stream: Any = None
        self._finished = threading.Event()  # PortAudio's finished callback ran
        self._playback: Playback | None = None
        self._device_latency = (0.0, 0.0)
        self._rt_last: float | None = None
        self._rt_min = math.inf
        self._rt_max = -math.inf
        self.input_info: DeviceInfo | None = None
        self.output_info: DeviceInfo | None = None

    def _open_half(self, half: str) -> None:
        with self._lock:
            if self._stream is None:
                with portaudio_calls("DuplexDevice"):
                    self._stream = self._open_stream()
            self._halves.add(half)  # only once the stream is open: a failure adds nothing

    def _close_half(self, half: str, abort: bool) -> str | None:
        """Release one half; close the stream with the last (or at once on ``abort``).

        Returns why the stream was left open, if it was (its device is gone or stopped
        responding: see :func:`stream.devices.close_stream`), else None.
        """
        with self._lock:
            self._halves.discard(half)
            if self._stream is not None and (abort or not self._halves):
                stream, self._stream = self._stream, None
                return close_stream(
                    stream, self._finished, drain=not abort, extra_s=self._device_latency[1]
                )
        return None

    def _open_stream(self) -> Any:
        sd = import_sounddevice()
        src = self.source
        self.input_info = find_device(
            "DuplexDevice", self.input, "input", src.channels, self.sample_rate
        )
        self.output_info = find_device(
            "DuplexDevice", self.output, "output", self.output_channels, self.sample_rate
        )
        self._rt_last, self._rt_min, self._rt_max = None, math.inf, -math.inf
        rate = self.sample_rate
        max_backlog = self._max_backlog
        finished = self._finished = threading.Event()

        def callback(indata: Any, outdata: Any, frames: int, t: Any, status: Any) -> None:
            capture = src._capture
            adc, dac = t.inputBufferAdcTime, t.outputBufferDacTime
            capture.push(indata, frames, adc, bool(status.input_overflow))
            playback = self._playback
            if playback is None:
                outdata.fill(0.0)
                return
            if playback.queued() > max_backlog:
                # The graph fell behind and caught up: play the newest audio, not a
                # backlog that would keep the latency high for the rest of the run.
                playback.skip_backlog(frames)
            first = playback.fill(outdata, frames)
            if first is None or not capture.active or capture.captured == 0:
                return
            pos, index = first
            device = dac - adc if adc > 0 and dac > 0 else sum(self._device_latency)
            in_block = capture.captured - capture.last_block_frames
            rt = device + (pos + in_block - index) / rate
            self._rt_last = rt
            if rt < self._rt_min:
                self._rt_min = rt
            if rt > self._rt_max:
                self._rt_max = rt

        stream = open_started(
            sd,
            sd.Stream,
            f"DuplexDevice: cannot open input {self.input_info.index} "
            f"{self.input_info.name!r} with output {self.output_info.index} "
            f"{self.output_info.name!r} at {rate} Hz",
            device=(self.input_info.index, self.output_info.index),
            samplerate=rate,
            channels=(src.channels, self.output_channels),
            blocksize=self.blocksize,
            latency=self.latency,
            callback=callback,
            finished_callback=finished.set,
        )
        self._device_latency = (float(stream.latency[0]), float(stream.latency[1]))
        return stream

    def stats(self) -> LiveStats:
        """Counters and the measured round trip so far (also after the run)."""
        cap = self.source._capture
        pb = self._playback
        return LiveStats(
            sample_rate=self.sample_rate,
            overruns=cap.overruns,
            input_overflows=cap.input_overflows,
            dropped_frames=self.source._dropped,
            underruns=pb.underruns if pb is not None else 0,
            underrun_frames=pb.underrun_frames if pb is not None else 0,
            skipped_frames=pb.skipped if pb is not None else 0,
            round_trip_s=self._rt_last,
            round_trip_min_s=None if self._rt_last is None else self._rt_min,
            round_trip_max_s=None if self._rt_last is None else self._rt_max,
            device_latency_s=self._device_latency,
        )
