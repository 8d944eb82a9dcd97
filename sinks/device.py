"""DeviceSink: plays audio on an output device (PortAudio via sounddevice)."""

from __future__ import annotations

import threading
from typing import Any, Literal

from stream.devices import (
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
from stream.handoff import Playback, PlaybackSink

__all__ = ["DeviceSink"]


class DeviceSink(PlaybackSink):
    """Plays the audio it receives on an output device.

    Args:
        device: device index, part of its name (case-insensitive) or None for the
            default output; ``mediastream devices`` lists them.
        sample_rate: Hz; None (default) takes the rate of the graph's audio.
        channels: output channels; None (default) takes the graph's channel count.
        blocksize: frames per PortAudio callback (default 256; 0 lets the host choose).
        latency: PortAudio's suggested output latency: ``"low"`` (default), ``"high"``
            or seconds.
        queue_blocks: output queue capacity in blocks (default 16, i.e.
            ``16 * blocksize`` frames): how much audio is buffered ahead of the device.
        prefill_blocks: playback starts once this many blocks are queued (default 0:
            at the first chunk); a cushion against a jittery upstream, at the cost of
            that much latency.
        on_underrun: ``"silence"`` (default: play silence for what is missing, count
            it and go on) or ``"fail"`` (the next write raises a MediaError naming
            the frame; the device itself can only play silence meanwhile).

    Pacing: a write waits while the queue is full, so a graph reading a file plays at
    the device's pace (backpressure); with a live input the input paces the graph.
    Waiting never blocks the event loop, and a device that stops consuming fails the
    write after 2 s instead of hanging.

    Underruns: when the queue runs dry the device plays silence for what is missing;
    every such buffer is counted (:attr:`underruns`, :attr:`underrun_frames`; silence
    before the first chunk and after the last is not counted). A gap in the chunks'
    frame indices is played as silence (``gap_frames``), keeping the timeline.

    Closing: at the end of the stream everything queued is played (close waits for
    it, at most the queued duration plus the device latency plus 2 s); after an
    error or a cancellation the stream is aborted at once.

    A device that disappears (unplugged, its JACK server shut down) or stops
    consuming audio fails the next write that waits with a :class:`~stream.MediaError`
    naming the device and how much was played. PortAudio cannot stop a stream whose
    device is gone: it is then left open (noted on the error) instead of hanging.
    """

    def __init__(
        self,
        device: DeviceRef = None,
        *,
        sample_rate: int | None = None,
        channels: int | None = None,
        blocksize: int = 256,
        latency: Latency = "low",
        queue_blocks: int = 16,
        prefill_blocks: int = 0,
        on_underrun: Literal["silence", "fail"] = "silence",
    ) -> None:
        check_common(
            "DeviceSink", sample_rate, channels, blocksize, latency, queue_blocks, prefill_blocks
        )
        block = blocksize or 256
        super().__init__(
            "DeviceSink",
            sample_rate,
            channels,
            queue_blocks * block,
            prefill_blocks * block,
            on_underrun,
        )
        self.device = device
        self.blocksize = blocksize
        self.latency = latency
        self.info: DeviceInfo | None = None
        self._stream: Any = None
        self._finished = threading.Event()  # PortAudio's finished callback ran
        self._latency_s = 0.0
        self._close_note: str | None = None

    def _start_device(self, playback: Playback) -> None:
        with portaudio_calls("DeviceSink"):
            sd = import_sounddevice()
            assert self.sample_rate is not None and self.channels is not None
            self.info = find_device(
                "DeviceSink", self.device, "output", self.channels, self.sample_rate
            )

            def callback(outdata: Any, frames: int, t: Any, status: Any) -> None:
                playback.fill(outdata, frames)

            finished = self._finished = threading.Event()

            stream = open_started(
                sd,
                sd.OutputStream,
                f"DeviceSink: cannot open output device {self.info.index} {self.info.name!r} "
                f"at {self.sample_rate} Hz, {self.channels} ch",
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

    def _device_ok(self) -> bool:
        return self._stream is not None and bool(self._stream.active)

    def _output_latency_s(self) -> float:
        return self._latency_s

    def _check_alive(self, since: float, played: int) -> None:
        check_output(
            "DeviceSink",
            device_label("output", self.info),
            self._stream,
            self._finished,
            self._playback,
            self.sample_rate or 1,
            since,
            played,
            self._latency_s,
        )

    def _stop_device(self, drain: bool) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            self._close_note = close_stream(
                stream, self._finished, drain=drain, extra_s=self._latency_s
            )

    def close(self, error: BaseException | None = None) -> None:
        """Play what is queued (or stop at once after ``error``) and close the device."""
        self._close_note = None
        super().close(error)
        report_close("DeviceSink", device_label("output", self.info), self._close_note, error)
