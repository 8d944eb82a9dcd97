"""mediastream runtime: what flows, how it flows, where it comes from.

``import stream`` is light: it never imports torch, pyannote.audio or cv2.
"""

from ._exceptions import (
    DecodeError,
    EncodeError,
    GraphError,
    GraphFileError,
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
from .graphfile import GraphFile, load_graph
from .sources import (
    ArraySource,
    AudioFormat,
    DeviceInfo,
    DeviceSource,
    DuplexDevice,
    FileSource,
    LiveStats,
    MediaInfo,
    StreamInfo,
    VideoFormat,
    XrunInfo,
    list_devices,
    probe,
)

__version__ = "0.1.0"

__all__ = [
    "EOS",
    "ArraySource",
    "AudioChunk",
    "AudioFormat",
    "AudioSpec",
    "Bound",
    "DecodeError",
    "DeviceInfo",
    "DeviceSource",
    "DuplexDevice",
    "EncodeError",
    "EndOfStream",
    "Event",
    "EventSpec",
    "EventStream",
    "FileSource",
    "Graph",
    "GraphError",
    "GraphFile",
    "GraphFileError",
    "IncompatibleInputError",
    "Item",
    "LiveStats",
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
    "XrunInfo",
    "describe_position",
    "item_end_time",
    "item_time",
    "list_devices",
    "load_graph",
    "probe",
]
