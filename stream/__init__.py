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
from ._paths import OutputPathError, check_output_paths
from ._specs import AudioSpec, EventSpec, StreamSpec, VideoSpec
from ._stats import NodeStats, RunStats
from .nodetype import NodeType, NodeValueError
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
    channel_layout,
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
    "IncompatibleInputError",
    "Item",
    "LiveStats",
    "MediaInfo",
    "MediaError",
    "MediaOpenError",
    "MediaStreamError",
    "NodeError",
    "NodeRef",
    "NodeType",
    "OutputPathError",
    "NodeValueError",
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
    "channel_layout",
    "check_output_paths",
    "describe_position",
    "item_end_time",
    "item_time",
    "list_devices",
    "probe",
]
