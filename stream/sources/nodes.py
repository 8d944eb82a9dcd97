"""Graph-file node types of the sources :mod:`stream` owns (entry point ``stream``)."""

from __future__ import annotations

from ..nodetype import NodeType

__all__ = ["NODE_TYPES"]

NODE_TYPES = [
    NodeType("file", "source", "stream.sources.file:FileSource",
             "decode a media file or URL (PyAV): ports 'audio', 'video'"),
    NodeType("device", "source", "stream.sources.device:DeviceSource",
             "record from an audio input device (PortAudio): port 'audio'"),
]  # fmt: skip
