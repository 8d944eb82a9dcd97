"""Graph files: any graph described in TOML (``mediastream run GRAPH.toml``).

:func:`load_graph` builds a :class:`GraphFile` from a file or text; every error is a
:class:`GraphFileError` naming the file, line and key. The node types a file may name
come from the registry (:mod:`mediastream.graphfile.registry`): each package declares
its own through the ``mediastream.nodes`` entry-point group.
"""

from ._errors import GraphFileError
from ._loader import GraphFile, describe_types, load_graph

__all__ = ["GraphFile", "GraphFileError", "describe_types", "load_graph"]
