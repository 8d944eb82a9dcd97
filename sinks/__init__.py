"""Sinks: where results go."""

from .audio_file import AudioFileSink
from .csv import CsvSink
from .device import DeviceSink
from .jsonl import JsonLinesSink
from .memory import MemorySink
from .rttm import RttmSink
from .video_file import VideoFileSink

__all__ = [
    "AudioFileSink",
    "CsvSink",
    "DeviceSink",
    "JsonLinesSink",
    "MemorySink",
    "RttmSink",
    "VideoFileSink",
]
