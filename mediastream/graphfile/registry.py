"""The node types graph files may name, collected from every installed package.

Each package declares the node types of the classes it owns as a list of
:class:`stream.NodeType` and names that list in the ``mediastream.nodes`` entry-point
group of its distribution (mediastream's own: ``stream``, ``operators``,
``operators-dynamics``, ``operators-video``, ``operators-speaker``, ``sinks``,
``mediastream-plot``). Loading a declaration imports only the declaring module; the
class itself is imported when a graph file names its type.

Two packages declaring the same name is an error naming both; a package whose
declaration cannot be loaded is reported (a warning, and in ``mediastream run
--types``) and skipped, so one broken plug-in does not take the others down.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from stream import NodeType

__all__ = ["ENTRY_POINT_GROUP", "NodeRegistry", "RegistryError", "node_types"]

#: The entry-point group node-type declarations are registered in.
ENTRY_POINT_GROUP = "mediastream.nodes"


class RegistryError(Exception):
    """Node-type declarations that contradict each other (one name declared twice)."""


@dataclass(frozen=True)
class NodeRegistry:
    """Node types by name, where each came from, and the declarations that failed.

    Attributes:
        types: name -> node type.
        origins: name -> ``"distribution entry-point-name"`` that declared it.
        broken: ``"distribution entry-point-name"`` -> why it could not be loaded.
    """

    types: Mapping[str, NodeType]
    origins: Mapping[str, str] = field(default_factory=dict)
    broken: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_declarations(
        cls, declarations: Iterable[tuple[str, object]], broken: Mapping[str, str] | None = None
    ) -> NodeRegistry:
        """Registry of ``(origin, list of NodeType)`` pairs; checks names are unique."""
        types: dict[str, NodeType] = {}
        origins: dict[str, str] = {}
        bad = dict(broken or {})
        for origin, declared in declarations:
            if not isinstance(declared, list | tuple) or not all(
                isinstance(t, NodeType) for t in declared
            ):
                bad[origin] = "does not name a list of stream.NodeType"
                continue
            for nt in declared:
                if nt.name in types:
                    raise RegistryError(
                        f"node type {nt.name!r} is declared twice: by {origins[nt.name]} "
                        f"and by {origin}"
                    )
                types[nt.name] = nt
                origins[nt.name] = origin
        return cls(types=dict(sorted(types.items())), origins=origins, broken=bad)


def _origin(ep: EntryPoint) -> str:
    dist = ep.dist.name if ep.dist is not None else "?"
    return f"{dist} {ep.name}"


_CACHE: NodeRegistry | None = None


def node_types(*, reload: bool = False) -> NodeRegistry:
    """The registry of every installed package's node types (cached; ``reload`` rereads).

    Raises:
        RegistryError: two packages declare one name, or none is installed (mediastream
            itself not installed: ``pip install -e .``).
    """
    global _CACHE
    if _CACHE is not None and not reload:
        return _CACHE
    declarations: list[tuple[str, object]] = []
    broken: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        key = (ep.name, ep.value)
        if key in seen:  # one distribution found twice on sys.path
            continue
        seen.add(key)
        try:
            declarations.append((_origin(ep), ep.load()))
        except Exception as exc:
            broken[_origin(ep)] = f"{type(exc).__name__}: {exc}"
            warnings.warn(
                f"graph-file node types of {_origin(ep)} ({ep.value}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
    registry = NodeRegistry.from_declarations(declarations, broken)
    if not registry.types:
        raise RegistryError(
            f"no graph-file node types are registered (entry-point group "
            f"{ENTRY_POINT_GROUP!r}): is mediastream installed? (pip install -e .)"
        )
    _CACHE = registry
    return registry
