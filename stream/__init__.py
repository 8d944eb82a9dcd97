"""mediastream runtime: what flows, how it flows, where it comes from.

``import stream`` is light: it never imports torch, pyannote.audio or cv2.
"""

from ._exceptions import (
    DecodeError,
    EncodeError,
    GraphError,
    IncompatibleInputError,
    MediaError,
    MediaOpenError,
    MediaStreamError,
    NodeError,
    ParameterError,
    StreamMismatchError,
)
from ._graph import EventStream, Graph, NodeRef, PortRef
from ._items import (
    EOS,
    AudioChunk,
    Bound,
    EndOfStream,
    Event,
    Item,
    VideoFrame,
    describe_position,
    item_end_time,
    item_time,
)
from ._nodes import Operator, Sink, Source
from ._specs import AudioSpec, EventSpec, StreamSpec, VideoSpec
from ._stats import NodeStats, RunStats
from .sources import ArraySource, AudioFormat, FileSource, MediaInfo, StreamInfo, VideoFormat, probe

__version__ = "0.1.0"

__all__ = [
    "EOS",
    "ArraySource",
    "AudioChunk",
    "AudioFormat",
    "AudioSpec",
    "Bound",
    "DecodeError",
    "EncodeError",
    "EndOfStream",
    "Event",
    "EventSpec",
    "EventStream",
    "FileSource",
    "Graph",
    "GraphError",
    "IncompatibleInputError",
    "Item",
    "MediaInfo",
    "MediaError",
    "MediaOpenError",
    "MediaStreamError",
    "NodeError",
    "NodeRef",
    "NodeStats",
    "Operator",
    "ParameterError",
    "PortRef",
    "RunStats",
    "Sink",
    "Source",
    "StreamInfo",
    "StreamMismatchError",
    "StreamSpec",
    "VideoFormat",
    "VideoFrame",
    "VideoSpec",
    "describe_position",
    "item_end_time",
    "item_time",
    "probe",
]
