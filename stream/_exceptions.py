"""Every exception mediastream raises on purpose, as one tree.

::

    MediaStreamError
    ├── GraphError (also ValueError)          the graph is malformed (build time)
    │   └── StreamMismatchError               two connected nodes disagree on a spec
    ├── ParameterError (also ValueError)      a bad operator/source/sink parameter
    │   └── OutputPathError                   an output is an input, or two outputs
    │                                         are one file (stream._paths)
    ├── IncompatibleInputError (also ValueError)  raised by a node's configure()
    ├── MediaError                            reading or writing media failed
    │   ├── MediaOpenError (also OSError)     a file/URL cannot be opened or probed
    │   ├── DecodeError                       demuxing/decoding failed mid-stream
    │   └── EncodeError (also OSError)        encoding/writing an output failed
    └── NodeError                             a node failed while the graph ran;
                                              names the node and the stream time,
                                              the original exception is __cause__
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "EncodeError",
    "GraphError",
    "IncompatibleInputError",
    "MediaError",
    "MediaOpenError",
    "MediaStreamError",
    "NodeError",
    "ParameterError",
    "StreamMismatchError",
]


class MediaStreamError(Exception):
    """Base class of every error raised on purpose by mediastream."""


class GraphError(MediaStreamError, ValueError):
    """The graph is malformed: unknown node, cycle, unconnected input, duplicate name."""


class StreamMismatchError(GraphError):
    """Two connected nodes disagree on what flows between them (rate, channels, type).

    The message names both nodes.
    """


class ParameterError(MediaStreamError, ValueError):
    """A parameter is out of range or of the wrong kind; the message names it."""


class IncompatibleInputError(MediaStreamError, ValueError):
    """Raised by ``configure()`` when a node cannot accept the spec on one of its ports.

    The graph turns it into a :class:`StreamMismatchError` naming both nodes.
    """

    def __init__(self, message: str, port: str | None = None) -> None:
        super().__init__(message)
        self.port = port

    def __reduce__(self) -> tuple[type[IncompatibleInputError], tuple[str, str | None]]:
        return type(self), (str(self), self.port)


class MediaError(MediaStreamError):
    """Reading or writing media failed."""


class MediaOpenError(MediaError, OSError):
    """A file or URL cannot be opened, or holds no stream of the kind asked for."""


class DecodeError(MediaError):
    """Demuxing or decoding failed part way; the message names the file and position."""


class EncodeError(MediaError, OSError):
    """Encoding or writing an output failed; the message names the file."""


class NodeError(MediaStreamError):
    """A node failed while the graph ran.

    Attributes:
        node: the node's name in the graph.
        position: where in the stream it failed (``"t=12.500000 s (frame 600000 at
            48000 Hz)"``, ``"end of stream"``, ...).
        time: the stream time in seconds, when known.

    The original exception is chained as ``__cause__``. Pickles (errors cross process
    boundaries when graphs run on Ray) when the cause does.
    """

    def __init__(
        self, node: str, position: str, cause: BaseException, time: float | None = None
    ) -> None:
        self.node = node
        self.position = position
        self.time = time
        self.cause = cause
        detail = str(cause) or type(cause).__name__
        super().__init__(f"node {node!r} failed at {position}: {type(cause).__name__}: {detail}")
        self.__cause__ = cause

    def __reduce__(
        self,
    ) -> tuple[type[NodeError], tuple[str, str, BaseException, float | None]]:
        return type(self), (self.node, self.position, self.cause, self.time)
