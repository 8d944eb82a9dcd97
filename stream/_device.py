"""Live audio devices: PortAudio (sounddevice) loading, device listing and lookup.

sounddevice is imported lazily, when a device is opened or listed, so ``import
stream`` stays light and works without PortAudio installed.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Literal

from ._exceptions import MediaOpenError, ParameterError

__all__ = [
    "DeviceInfo",
    "DeviceRef",
    "Latency",
    "check_common",
    "close_unstarted",
    "find_device",
    "import_sounddevice",
    "list_devices",
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
