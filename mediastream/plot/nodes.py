"""Graph-file node type of the picture sink (entry point ``mediastream-plot``)."""

from __future__ import annotations

from stream import NodeType

__all__ = ["NODE_TYPES"]

NODE_TYPES = [
    NodeType("plot", "sink", "mediastream.plot.sink:PlotSink",
             "PNG pictures: diarization timeline, DTW cost band, gain reduction",
             renames={"path": "out_dir"}, output_paths=("path",)),
]  # fmt: skip
