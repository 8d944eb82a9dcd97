"""Sources: where items come from."""

from .array import ArraySource
from .file import AudioFormat, FileSource, VideoFormat
from .probe import MediaInfo, StreamInfo, probe

__all__ = [
    "ArraySource",
    "AudioFormat",
    "FileSource",
    "MediaInfo",
    "StreamInfo",
    "VideoFormat",
    "probe",
]
