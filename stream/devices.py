"""Live audio devices: the PortAudio layer that device sources and sinks share.

PortAudio (sounddevice) loading, device listing and lookup, parameter checks,
opening a started stream with every PortAudio call serialised, and closing streams
whose device vanished without hanging. Device nodes (:class:`~stream.DeviceSource`,
:class:`~stream.DuplexDevice`, :class:`~sinks.DeviceSink`, a user's own) build on it
together with :mod:`stream.handoff`.

sounddevice is imported lazily, when a device is opened or listed, so ``import
stream`` stays light and works without PortAudio installed.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ._exceptions import MediaError, MediaOpenError, ParameterError
from .handoff import STALL_S, Playback

__all__ = [
    "CLOSE_TIMEOUT_S",
    "DeviceInfo",
    "DeviceRef",
    "Latency",
    "check_common",
    "check_output",
    "close_stream",
    "close_unstarted",
    "device_gone",
    "device_label",
    "find_device",
    "import_sounddevice",
    "list_devices",
    "open_started",
    "portaudio_calls",
    "report_close",
    "stopped_reason",
]

DeviceRef = int | str | None
"""A device: its index, a (case-insensitive) part of its name, or None for the default."""

Latency = Literal["low", "high"] | float
"""PortAudio's suggested latency: ``"low"``, ``"high"`` or seconds."""


def import_sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a clear MediaOpenError."""
    try:
        # By name: sounddevice has no type information, and users' strict type
        # checks of their own code (which follow this import) must not fail on it.
        sounddevice = importlib.import_module("sounddevice")
    except OSError as exc:  # sounddevice raises OSError('PortAudio library not found')
        raise MediaOpenError(
            f"live audio needs the PortAudio library ({exc}): install it, e.g. "
            "`apt-get install libportaudio2` on Debian/Ubuntu or `brew install portaudio`"
        ) from exc
    except ImportError as exc:
        raise MediaOpenError(
            f"live audio needs the sounddevice package ({exc}): pip install sounddevice"
        ) from exc
    return sounddevice


@dataclass(frozen=True)
class DeviceInfo:
    """One audio device as PortAudio sees it.

    Attributes:
        index: PortAudio device index (what ``device=`` accepts, as does the name).
        name: device name.
        hostapi: host API name (ALSA, JACK Audio Connection Kit, Core Audio, WASAPI...).
        input_channels: maximum input channels (0: not an input).
        output_channels: maximum output channels (0: not an output).
        default_sample_rate: the device's default sample rate in Hz.
        default_input: True for the default input device.
        default_output: True for the default output device.
    """

    index: int
    name: str
    hostapi: str
    input_channels: int
    output_channels: int
    default_sample_rate: float
    default_input: bool
    default_output: bool

    def describe(self) -> str:
        """One line: ``  0 system (JACK ...): 2 in, 2 out, 48000 Hz, default in/out``."""
        marks = [m for m, on in (("in", self.default_input), ("out", self.default_output)) if on]
        default = f", default {'/'.join(marks)}" if marks else ""
        return (
            f"{self.index:3d} {self.name} ({self.hostapi}): {self.input_channels} in, "
            f"{self.output_channels} out, {self.default_sample_rate:g} Hz{default}"
        )


def _default_index(sd: Any, kind: str) -> int:
    try:
        info = sd.query_devices(kind=kind)
    except (ValueError, sd.PortAudioError):
        return -1
    return int(info["index"])


def list_devices() -> list[DeviceInfo]:
    """Every audio device PortAudio knows, in index order.

    PortAudio enumerates devices when it is initialised (the first use in a process):
    a device plugged in (or a JACK server started) later is seen by a new process.
    """
    sd = import_sounddevice()
    hostapis = sd.query_hostapis()
    default_in, default_out = _default_index(sd, "input"), _default_index(sd, "output")
    return [
        DeviceInfo(
            index=i,
            name=str(d["name"]),
            hostapi=str(hostapis[d["hostapi"]]["name"]),
            input_channels=int(d["max_input_channels"]),
            output_channels=int(d["max_output_channels"]),
            default_sample_rate=float(d["default_samplerate"]),
            default_input=i == default_in,
            default_output=i == default_out,
        )
        for i, d in enumerate(sd.query_devices())
    ]


def _listing(devices: list[DeviceInfo]) -> str:
    if not devices:
        return "PortAudio sees no audio device at all"
    return "devices:\n" + "\n".join(d.describe() for d in devices)


def find_device(
    who: str,
    device: DeviceRef,
    kind: Literal["input", "output"],
    channels: int,
    sample_rate: int,
) -> DeviceInfo:
    """Resolve ``device`` for ``kind`` and check that it takes ``channels`` at ``sample_rate``.

    Raises MediaOpenError naming the device and listing the devices that exist.
    """
    sd = import_sounddevice()
    devices = list_devices()
    has = "input_channels" if kind == "input" else "output_channels"
    capable = [d for d in devices if getattr(d, has) > 0]
    found: DeviceInfo | None
    if device is None:
        index = _default_index(sd, kind)
        found = devices[index] if 0 <= index < len(devices) else None
        if found is None:
            raise MediaOpenError(f"{who}: there is no default {kind} device; {_listing(devices)}")
    elif isinstance(device, int) and not isinstance(device, bool):
        if not 0 <= device < len(devices):
            raise MediaOpenError(f"{who}: no audio device with index {device}; {_listing(devices)}")
        found = devices[device]
    elif isinstance(device, str):
        text = device.strip().lower()
        exact = [d for d in capable if d.name.lower() == text]
        partial = [d for d in capable if text in f"{d.name} ({d.hostapi})".lower()]
        matches = exact or partial
        if not matches:
            raise MediaOpenError(f"{who}: no {kind} device matches {device!r}; {_listing(devices)}")
        if len(matches) > 1:
            names = "; ".join(f"{d.index} {d.name} ({d.hostapi})" for d in matches)
            raise MediaOpenError(
                f"{who}: {device!r} matches several {kind} devices ({names}): "
                "give the index or a longer part of the name"
            )
        found = matches[0]
    else:
        raise ParameterError(
            f"{who}: device must be an index, a name or None, got {type(device).__name__}"
        )
    if getattr(found, has) < channels:
        raise MediaOpenError(
            f"{who}: {kind} device {found.index} {found.name!r} has {getattr(found, has)} "
            f"{kind} channels, {channels} asked for; {_listing(devices)}"
        )
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=found.index, channels=channels, samplerate=sample_rate, dtype="float32")
    except (sd.PortAudioError, ValueError) as exc:
        raise MediaOpenError(
            f"{who}: {kind} device {found.index} {found.name!r} refuses {sample_rate} Hz, "
            f"{channels} ch float32 ({exc}); its default rate is "
            f"{found.default_sample_rate:g} Hz"
        ) from exc
    return found


def check_common(
    who: str,
    sample_rate: int | None,
    channels: int | None,
    blocksize: int,
    latency: Latency,
    queue_blocks: int,
    prefill_blocks: int = 0,
) -> None:
    """Validate the parameters every device node takes (ParameterError naming them)."""
    if sample_rate is not None and (
        isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0
    ):
        raise ParameterError(f"{who}: sample_rate must be a positive int (Hz), got {sample_rate!r}")
    if channels is not None and (
        isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= 64
    ):
        raise ParameterError(f"{who}: channels must be an int in 1..64, got {channels!r}")
    if isinstance(blocksize, bool) or not isinstance(blocksize, int) or blocksize < 0:
        raise ParameterError(
            f"{who}: blocksize must be an int >= 0 (frames; 0 lets the host choose), "
            f"got {blocksize!r}"
        )
    if isinstance(latency, str):
        if latency not in ("low", "high"):
            raise ParameterError(
                f"{who}: latency must be 'low', 'high' or seconds > 0, got {latency!r}"
            )
    elif (
        isinstance(latency, bool)
        or not isinstance(latency, (int, float))
        or not (math.isfinite(latency) and 0 < latency <= 10)
    ):
        raise ParameterError(
            f"{who}: latency must be 'low', 'high' or seconds in (0, 10], got {latency!r}"
        )
    if isinstance(queue_blocks, bool) or not isinstance(queue_blocks, int) or queue_blocks < 2:
        raise ParameterError(f"{who}: queue_blocks must be an int >= 2, got {queue_blocks!r}")
    if (
        isinstance(prefill_blocks, bool)
        or not isinstance(prefill_blocks, int)
        or not 0 <= prefill_blocks < queue_blocks
    ):
        raise ParameterError(
            f"{who}: prefill_blocks must be an int in 0..queue_blocks-1 ({queue_blocks - 1}), "
            f"got {prefill_blocks!r}"
        )


def close_unstarted(stream: Any, exc: BaseException) -> None:
    """Close a PortAudio stream whose ``start()`` failed (its handle would leak).

    A failure to close is added to ``exc`` as a note: ``exc`` is what gets raised.
    """
    try:
        stream.close()
    except Exception as exc2:  # PortAudioError or anything else: exc stays the error
        exc.add_note(f"closing the stream afterwards also failed: {exc2}")


def open_started(
    sd: Any, factory: Callable[..., Any], failure: str, **settings: Any
) -> Any:
    """Open a PortAudio stream (``factory(dtype="float32", **settings)``, e.g.
    ``sd.InputStream``) and start it. On a PortAudio error the half-opened stream is
    closed (its handle would leak) and :class:`MediaOpenError` ``"{failure}: {error}"``
    is raised. Call it inside :func:`portaudio_calls`."""
    stream: Any = None
    try:
        stream = factory(dtype="float32", **settings)
        stream.start()
    except sd.PortAudioError as exc:
        if stream is not None:
            close_unstarted(stream, exc)
        raise MediaOpenError(f"{failure}: {exc}") from exc
    return stream


# -- one thread at a time in PortAudio ------------------------------------------------------

PORTAUDIO_WAIT_S = 10.0
"""How long opening a stream waits for another thread's PortAudio call to finish."""

_PORTAUDIO = threading.RLock()


@contextlib.contextmanager
def portaudio_calls(who: str) -> Iterator[None]:
    """Hold PortAudio for this thread: stream set-up and tear-down, one thread at a time.

    PortAudio is not thread-safe, and a graph opens its device nodes concurrently (in
    worker threads): two streams opened at once in one process (a DeviceSource and a
    DeviceSink) made PortAudio's JACK host API fail at random ("Insufficient memory",
    "Unanticipated host error") or deadlock. Raises MediaOpenError when another
    thread holds PortAudio for more than 10 s (a close stuck on a dead device).
    """
    if not _PORTAUDIO.acquire(timeout=PORTAUDIO_WAIT_S):
        raise MediaOpenError(
            f"{who}: PortAudio stayed busy for {PORTAUDIO_WAIT_S:g} s (another stream's "
            "open or close is stuck, e.g. on a device that stopped responding)"
        )
    try:
        yield
    finally:
        _PORTAUDIO.release()


# -- streams whose device vanished -----------------------------------------------------------

CLOSE_TIMEOUT_S = 2.0
"""How long closing a stream may take (beyond the audio still to play) before it is
left open: a device that stopped responding never lets PortAudio's stop return."""

_ABANDONED: list[Any] = []
"""Streams PortAudio could not close: kept referenced (their callbacks stay valid for
as long as PortAudio might call them) and never closed."""


def device_label(kind: str, info: DeviceInfo | None) -> str:
    """``input device 0 'system' (JACK Audio Connection Kit)``, for error messages."""
    if info is None:
        return f"the {kind} device"
    return f"{kind} device {info.index} {info.name!r} ({info.hostapi})"


def device_gone(stream: Any, finished: threading.Event) -> bool:
    """Whether the host stopped ``stream`` under us because its device vanished.

    The stream is inactive, was never stopped by us, and PortAudio's finished callback
    (``finished``, set by ``finished_callback=finished.set``) did not run: a callback
    that ended the stream, or a host API that stops the stream on a driver error (ALSA
    after an unplug), goes through that callback; PortAudio's JACK host API, when the
    JACK server shuts down, only marks the stream inactive.
    """
    return not stream.active and not stream.stopped and not finished.is_set()


def stopped_reason(stream: Any, finished: threading.Event) -> str:
    """Why an inactive stream stopped, for the error message."""
    if device_gone(stream, finished):
        return "the device is gone (unplugged or switched off, or its JACK server shut down)"
    return "PortAudio ended the stream (a driver error, or the device is gone)"


def _abandon(stream: Any) -> None:
    """Leave ``stream`` open for good, and keep PortAudio from hanging the process's exit.

    sounddevice terminates PortAudio at exit, which closes every open stream first:
    for this one that would wait as long as stopping it (PortAudio's JACK host waits
    10 minutes for a server that is gone, then fails an assertion and aborts the
    process; terminating it after its JACK server died aborts it too). The process
    exits without terminating PortAudio instead; the operating system frees the rest.
    """
    _ABANDONED.append(stream)
    sd = sys.modules.get("sounddevice")
    handler = getattr(sd, "_exit_handler", None)
    if handler is not None:
        atexit.unregister(handler)


def close_stream(
    stream: Any, finished: threading.Event, *, drain: bool, extra_s: float = 0.0
) -> str | None:
    """Stop (``drain``: play what is queued first; else abort) and close a started stream.

    Never hangs: returns None once closed, or else why the stream was left open.

    * A stream whose device vanished (:func:`device_gone`) is left open at once:
      PortAudio's JACK host API waits for the server's process thread to acknowledge a
      stop, and with the server gone nothing ever does (``pa_jack.c`` ``RealStop``
      waits on a condition only ``JackCallback`` signals: 10 minutes, then an error).
    * Otherwise stop and close run in a helper thread, waited for at most
      ``extra_s + CLOSE_TIMEOUT_S`` seconds: a device that stopped running (a JACK
      server that hangs) is left open after that instead of hanging the caller.
    """
    if device_gone(stream, finished):
        _abandon(stream)
        return "the stream was left open (PortAudio cannot stop a stream whose device is gone)"
    done = threading.Event()

    def stop_and_close() -> None:
        try:
            with _PORTAUDIO:
                if drain:
                    stream.stop()
                else:
                    stream.abort()
                stream.close()
        finally:
            done.set()

    threading.Thread(target=stop_and_close, name="mediastream-close-stream", daemon=True).start()
    limit = extra_s + CLOSE_TIMEOUT_S
    if done.wait(limit):
        return None
    _abandon(stream)
    return (
        f"the stream was left open (PortAudio did not stop it within {limit:g} s: "
        "the device stopped responding)"
    )


def report_close(who: str, label: str, note: str | None, error: BaseException | None) -> None:
    """After a sink's close: a stream left open is a note on ``error``, or else an error."""
    if note is None:
        return
    message = f"{who}: {label}: {note}"
    if error is not None:
        error.add_note(message)
    else:
        raise MediaError(message)


def check_output(
    who: str,
    label: str,
    stream: Any,
    finished: threading.Event,
    playback: Playback | None,
    sample_rate: int,
    since: float,
    played: int,
    latency_s: float,
) -> None:
    """For a writer waiting for room in ``playback``: raise a MediaError naming the
    device (``label``) when its stream stopped, or when it played nothing since
    ``since`` (``played`` frames then) for 2 s plus its latency."""
    done = playback.played if playback is not None else 0
    where = f"after {done} frames (t={done / sample_rate:.3f} s)"
    if stream is None:
        raise MediaError(f"{who}: {label} is closed ({where})")
    if not stream.active:
        reason = stopped_reason(stream, finished)
        raise MediaError(f"{who}: {label} stopped playing {where}: {reason}")
    if done == played and time.monotonic() - since > STALL_S + latency_s:
        raise MediaError(
            f"{who}: {label} played nothing for {STALL_S:g} s {where}: the device "
            "stopped running (a stalled driver or JACK server)"
        )
