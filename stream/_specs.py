"""Stream specifications: the type of what flows along an edge.

Every output port declares a spec, every node checks the specs it receives when the
graph is built, so a sample-rate, channel-count or frame-type mismatch fails before
anything runs, with a message that names both nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

__all__ = ["AudioSpec", "EventSpec", "StreamSpec", "VideoSpec"]


@dataclass(frozen=True)
class AudioSpec:
    """Audio: float32 chunks at ``sample_rate`` Hz with ``channels`` channels."""

    sample_rate: int
    channels: int
    kind: ClassVar[str] = "audio"

    def __str__(self) -> str:
        return f"audio {self.sample_rate} Hz, {self.channels} ch"


@dataclass(frozen=True)
class VideoSpec:
    """Video: uint8 frames of ``pixel_format`` (``rgb24``, ``bgr24`` or ``gray``).

    ``width``/``height`` are pixels, ``frame_rate`` frames per second (average,
    ``None`` when unknown) and ``time_base`` the seconds per pts unit.
    """

    width: int
    height: int
    pixel_format: str = "rgb24"
    frame_rate: Fraction | None = None
    time_base: Fraction | None = None
    kind: ClassVar[str] = "video"

    def __str__(self) -> str:
        rate = f", {float(self.frame_rate):g} fps" if self.frame_rate else ""
        return f"video {self.width}x{self.height} {self.pixel_format}{rate}"


@dataclass(frozen=True)
class EventSpec:
    """Events; ``kinds`` lists the event kinds that may appear (``None``: any)."""

    kinds: frozenset[str] | None = None
    kind: ClassVar[str] = "events"

    def __str__(self) -> str:
        if self.kinds is None:
            return "events"
        return "events (" + ", ".join(sorted(self.kinds)) + ")"


StreamSpec = AudioSpec | VideoSpec | EventSpec
