"""Graph-file node types of the video operators (entry point ``operators-video``)."""

from __future__ import annotations

from stream import NodeType

__all__ = ["NODE_TYPES"]

NODE_TYPES = [
    NodeType("frame_stats", "operator", "operators.video.frame_stats:FrameStats",
             "brightness, motion and scene cuts per video frame"),
    NodeType("fingerprint", "operator", "operators.video.fingerprint:Fingerprint",
             "perceptual fingerprints (pHash, thumbnail, histogram) per frame"),
    NodeType("video_align", "operator", "operators.video.align:VideoAlign",
             "online DTW alignment of a foreground video to its background: ports "
             "'fg', 'bg'"),
]  # fmt: skip
