"""Sources: where items come from."""

from .._device import DeviceInfo, list_devices
from .._handoff import XrunInfo
from .array import ArraySource
from .device import DeviceSource, LiveStats
from .duplex import DuplexDevice
from .file import AudioFormat, FileSource, VideoFormat
from .probe import MediaInfo, StreamInfo, probe

__all__ = [
    "ArraySource",
    "AudioFormat",
    "DeviceInfo",
    "DeviceSource",
    "DuplexDevice",
    "FileSource",
    "LiveStats",
    "MediaInfo",
    "StreamInfo",
    "VideoFormat",
    "XrunInfo",
    "list_devices",
    "probe",
]
