"""Graph-file node types of the sinks (entry point ``sinks``)."""

from __future__ import annotations

from stream import NodeType

__all__ = ["NODE_TYPES"]

_PATH = {"path": "path_or_file"}

NODE_TYPES = [
    NodeType("jsonl", "sink", "sinks.jsonl:JsonLinesSink",
             "events as JSON Lines", renames=_PATH, output_paths=("path",)),
    NodeType("csv", "sink", "sinks.csv:CsvSink",
             "events as CSV rows", renames=_PATH, output_paths=("path",)),
    NodeType("rttm", "sink", "sinks.rttm:RttmSink",
             "speaker turns as RTTM", renames=_PATH, output_paths=("path",)),
    NodeType("audio_file", "sink", "sinks.audio_file:AudioFileSink",
             "audio to a file (codec from the extension: wav, flac, opus...)",
             output_paths=("path",)),
    NodeType("video_file", "sink", "sinks.video_file:VideoFileSink",
             "video to a file (H.264 by default)", output_paths=("path",)),
    NodeType("audio_device", "sink", "sinks.device:DeviceSink",
             "play audio on an output device (PortAudio)"),
]  # fmt: skip
