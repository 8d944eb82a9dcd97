"""mediastream, the application: command line, graph files, demo, batch on Ray, pictures.

It sits on top of the three libraries: :mod:`stream` (the runtime), :mod:`operators`
and :mod:`sinks`; nothing of those imports it. ``import mediastream`` stays light: the
commands, models, Ray and matplotlib load only where used.
"""

from __future__ import annotations

from mediastream.graphfile import GraphFile, GraphFileError, load_graph

__version__ = "0.1.0"

__all__ = ["GraphFile", "GraphFileError", "__version__", "load_graph"]
