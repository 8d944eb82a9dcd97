"""The node type this package adds to mediastream graph files."""

from stream import NodeType

NODE_TYPES = [
    NodeType("polarity", "operator", "mediastream_polarity:Polarity",
             "flip the sign of audio (a plug-in's operator)"),
]  # fmt: skip
