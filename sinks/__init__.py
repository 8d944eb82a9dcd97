"""Sinks: where results go."""

from .audio_file import AudioFileSink
from .csv import CsvSink
from .jsonl import JsonLinesSink
from .memory import MemorySink

__all__ = ["AudioFileSink", "CsvSink", "JsonLinesSink", "MemorySink"]
