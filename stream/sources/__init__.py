"""Sources: where items come from."""

from ..devices import DeviceInfo, list_devices
from ..handoff import XrunInfo
from ._live import LiveStats
from .array import ArraySource
from .device import DeviceSource
from .duplex import DuplexDevice
from .file import AudioFormat, FileSource, VideoFormat
from .probe import MediaInfo, StreamInfo, channel_layout, probe

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
    "channel_layout",
    "list_devices",
    "probe",
]
