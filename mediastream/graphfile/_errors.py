"""GraphFileError: a graph file that is malformed or does not build.

Part of the exception tree of :mod:`stream` (a :class:`stream.GraphError`, so also a
``ValueError``): ``except stream.GraphError`` catches it.
"""

from __future__ import annotations

from typing import Any

from stream import GraphError

__all__ = ["GraphFileError"]


class GraphFileError(GraphError):
    """A graph file (TOML) is malformed or describes a graph that does not build.

    The message starts with ``file:line: key:``.

    Attributes:
        path: the file (``"<graph>"`` for text).
        line: 1-based line number, when known.
        key: the dotted key (``"nodes.comp.ratio"``), when one is at fault.
    """

    def __init__(self, message: str, *, path: str, line: int | None, key: str | None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return _graph_file_error, (str(self), self.path, self.line, self.key)


def _graph_file_error(
    message: str, path: str, line: int | None, key: str | None
) -> GraphFileError:
    return GraphFileError(message, path=path, line=line, key=key)
