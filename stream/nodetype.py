"""NodeType: how a class is named and built from a graph file, declared by its owner.

Graph files (``mediastream run GRAPH.toml``) say ``type = "compressor"``; the package
that owns a class declares the node type next to it, as data, and the application
collects the declarations of every installed package through the entry-point group
``mediastream.nodes``. A third-party operator package adds its own node types the same
way, without touching mediastream::

    # mypkg/nodes.py
    from stream import NodeType

    NODE_TYPES = [
        NodeType("my_echo", "operator", "mypkg.echo:Echo", "a feedback echo (delay ms, dB)"),
    ]

    # pyproject.toml
    [project.entry-points."mediastream.nodes"]
    mypkg = "mypkg.nodes:NODE_TYPES"

Declaring imports nothing: ``target`` and ``build`` are ``"module:attribute"``
strings, resolved only when a graph file names the type. The keys a file may set are
the class's keyword arguments, checked against its type hints.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._exceptions import ParameterError

__all__ = ["BuildHook", "NodeType", "NodeValueError", "Role"]

Role = Literal["source", "operator", "sink"]

#: ``build(cls, kwargs, extra) -> node``: makes the node from the converted keyword
#: arguments and the raw values of the type's ``extra`` keys. A bad ``extra`` value
#: raises :class:`NodeValueError` naming its key; what the class raises passes through.
BuildHook = Callable[[type[Any], dict[str, Any], dict[str, Any]], Any]


class NodeValueError(ParameterError):
    """A build hook refuses the value of one of its node type's keys.

    Graph files report it at that key's line: ``file:line: nodes.NAME.KEY: message``.

    Attributes:
        key: the key at fault (one of the node type's ``extra`` keys).
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.key, str(self))


def _resolve(target: str, what: str) -> Any:
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{what} must be 'module:attribute', got {target!r}")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class NodeType:
    """A node type a graph file may name (``type = "<name>"``).

    Attributes:
        name: the ``type`` value: lower case letters, digits and ``_``.
        role: ``"source"``, ``"operator"`` or ``"sink"``.
        target: ``"module:Class"`` of the class built.
        summary: one line for ``mediastream run --types``.
        renames: graph-file key -> constructor argument (``{"path": "path_or_file"}``).
        output_paths: keys whose values are output files (resolved inside the output
            folder, never outside it).
        hidden: constructor arguments a graph file may not set (Python objects).
        extra: keys the ``build`` hook handles itself -> a short description of each.
        build: ``"module:function"`` of a :data:`BuildHook`; None (default) calls the
            class with the keyword arguments.
    """

    name: str
    role: Role
    target: str
    summary: str
    renames: Mapping[str, str] = field(default_factory=dict)
    output_paths: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)
    build: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c == "_" for c in self.name):
            raise ValueError(f"node type name {self.name!r}: use letters, digits and _")
        if self.name != self.name.lower():
            raise ValueError(f"node type name {self.name!r} must be lower case")
        if self.role not in ("source", "operator", "sink"):
            raise ValueError(f"node type {self.name!r}: role {self.role!r} is not one of "
                             "source, operator, sink")  # fmt: skip
        if self.extra and self.build is None:
            raise ValueError(f"node type {self.name!r}: extra keys need a build hook")

    def cls(self) -> type[Any]:
        """The class built (imported now)."""
        obj = _resolve(self.target, f"node type {self.name!r}: target")
        if not isinstance(obj, type):
            raise TypeError(f"node type {self.name!r}: {self.target} is not a class")
        return obj

    def make(self, kwargs: dict[str, Any], extra: dict[str, Any]) -> Any:
        """Build the node: the ``build`` hook when there is one, else ``cls()(**kwargs)``."""
        cls = self.cls()
        if self.build is None:
            return cls(**kwargs)
        hook: BuildHook = _resolve(self.build, f"node type {self.name!r}: build")
        return hook(cls, kwargs, extra)
