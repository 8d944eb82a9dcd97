"""Frame fingerprints: a normalised grey thumbnail, packed pHash/aHash, a colour histogram.

The thumbnail (default 32x18 grey, zero mean, unit norm) is the alignment feature: the
cost of matching two frames is ``1 - <a, b>`` (0 for identical content, invariant to
brightness/contrast grades, 2 for inverted content). The 64-bit perceptual and
average hashes (OpenCV ``img_hash``, packed into ``uint64``) serve cut detection and
coarse search with :func:`~operators.video.hamming.hamming_matrix`; a 64-bit pHash alone
is a poor alignment cost (adjacent frames collide). Frames should arrive already shrunk
by the decoder (``VideoFormat(width=..., pixel_format="gray")``); the remaining shrink
to the thumbnail is one ``cv2.resize`` (INTER_AREA) call, never a Python pixel loop.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from stream import (
    Event,
    EventSpec,
    IncompatibleInputError,
    Item,
    Operator,
    ParameterError,
    StreamSpec,
    VideoFrame,
    VideoSpec,
)

__all__ = [
    "Fingerprint",
    "FrameFingerprint",
    "FrameFingerprinter",
    "color_histogram",
    "gray_of",
    "pack_hash",
    "subpixel_crop",
    "thumbnail_cost",
]

_PIXEL_FORMATS = ("rgb24", "bgr24", "gray")


def _cv2() -> Any:
    import cv2

    return cv2


def gray_of(data: npt.NDArray[np.uint8], pixel_format: str) -> npt.NDArray[np.uint8]:
    """The grey (BT.601 luma) image of an ``rgb24``/``bgr24``/``gray`` uint8 array."""
    if data.ndim == 2:
        return data
    cv2 = _cv2()
    code = cv2.COLOR_BGR2GRAY if pixel_format == "bgr24" else cv2.COLOR_RGB2GRAY
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(data), code), dtype=np.uint8)


def subpixel_crop(
    gray: npt.NDArray[np.uint8], x: float, y: float, width: float, height: float
) -> npt.NDArray[np.uint8]:
    """The region ``(x, y, width, height)`` of ``gray`` at its sub-pixel position.

    ``round(width) x round(height)`` pixels whose top-left corner is at ``(x, y)``:
    the fractional part of the position is a bilinear shift (``cv2.warpAffine``) of a
    window one pixel larger, so a region 0.4 px off a pixel edge is not rounded to it
    (on a slow pan, that rounding alone looks like a frame of time). Past the frame's
    edges the border pixels repeat.
    """
    cv2 = _cv2()
    bh, bw = gray.shape[:2]
    w, h = max(1, min(bw, round(width))), max(1, min(bh, round(height)))
    x0, y0 = math.floor(x), math.floor(y)
    fx, fy = x - x0, y - y0
    if fx == 0.0 and fy == 0.0 and 0 <= x0 <= bw - w and 0 <= y0 <= bh - h:
        return gray[y0 : y0 + h, x0 : x0 + w]
    m = np.array([[1.0, 0.0, x], [0.0, 1.0, y]], np.float64)
    out = cv2.warpAffine(
        gray, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
    return np.asarray(out, dtype=np.uint8)


def pack_hash(raw: npt.NDArray[np.uint8]) -> int:
    """An OpenCV 8-byte hash (``(1, 8)`` uint8) as one unsigned 64-bit integer."""
    return int(np.ascontiguousarray(raw, dtype=np.uint8).reshape(8).view("<u8")[0])


def color_histogram(data: npt.NDArray[np.uint8], bins: int) -> npt.NDArray[np.float32]:
    """Per-channel histogram with ``bins`` bins (a power of two), each channel summing to 1.

    Shape ``(channels * bins,)``: channels in the array's order (1 for grey).
    """
    shift = 8 - int(math.log2(bins))
    channels = 1 if data.ndim == 2 else int(data.shape[2])
    codes = (data.reshape(-1, channels) >> shift).astype(np.intp)
    codes += np.arange(channels, dtype=np.intp) * bins
    counts = np.bincount(codes.ravel(), minlength=channels * bins).astype(np.float32)
    pixels = max(1, data.shape[0] * data.shape[1])
    return counts / np.float32(pixels)


def thumbnail_cost(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Alignment cost of two thumbnails: ``1 - <a, b>`` (0 same .. 2 inverted)."""
    return float(1.0 - np.dot(a, b))


@dataclass(frozen=True, eq=False)
class FrameFingerprint:
    """The fingerprint of one frame.

    Attributes:
        index: the frame number.
        thumb: float32 grey thumbnail, flattened row-major, zero mean and unit norm
            (all zeros for a flat frame).
        phash: 64-bit DCT perceptual hash (OpenCV ``PHash``), packed little-endian.
        ahash: 64-bit average hash (OpenCV ``AverageHash``), packed little-endian.
        histogram: float32 per-channel colour histogram, each channel summing to 1.
        cut: the pHash differs from the previous frame's by more than the operator's
            ``cut_bits`` (a likely shot change; always False from the bare fingerprinter).
    """

    index: int
    thumb: npt.NDArray[np.float32]
    phash: int
    ahash: int
    histogram: npt.NDArray[np.float32]
    cut: bool = False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameFingerprint):
            return NotImplemented
        return (
            self.index == other.index
            and self.phash == other.phash
            and self.ahash == other.ahash
            and np.array_equal(self.thumb, other.thumb)
            and np.array_equal(self.histogram, other.histogram)
            and self.cut == other.cut
        )

    __hash__ = None  # type: ignore[assignment]


class FrameFingerprinter:
    """Computes fingerprints of uint8 frames (or of a region of them).

    Args:
        thumb_width: thumbnail width in pixels (default 32).
        thumb_height: thumbnail height in pixels (default 18).
        histogram_bins: bins per colour channel, a power of two 2..256 (default 16).
    """

    def __init__(
        self, thumb_width: int = 32, thumb_height: int = 18, histogram_bins: int = 16
    ) -> None:
        for name, value in (("thumb_width", thumb_width), ("thumb_height", thumb_height)):
            if not 4 <= value <= 256:
                raise ParameterError(f"Fingerprint.{name} must be 4..256 pixels, got {value}")
        if histogram_bins not in (2, 4, 8, 16, 32, 64, 128, 256):
            raise ParameterError(
                "Fingerprint.histogram_bins must be a power of two in 2..256, "
                f"got {histogram_bins}"
            )
        self.thumb_size = (thumb_width, thumb_height)
        self.histogram_bins = histogram_bins

    @property
    def dim(self) -> int:
        """Length of a thumbnail vector."""
        return self.thumb_size[0] * self.thumb_size[1]

    def thumb(self, gray: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The zero-mean, unit-norm thumbnail of a grey image (any size >= 1x1)."""
        cv2 = _cv2()
        small = cv2.resize(
            np.ascontiguousarray(gray), self.thumb_size, interpolation=cv2.INTER_AREA
        )
        v: npt.NDArray[np.float32] = small.astype(np.float32).ravel()
        v -= v.mean(dtype=np.float32)
        norm = float(np.linalg.norm(v))
        if norm < 1e-3:
            return np.zeros_like(v)
        v /= np.float32(norm)
        return v

    def __call__(
        self,
        data: npt.NDArray[np.uint8],
        pixel_format: str,
        index: int,
        region: tuple[int, int, int, int] | None = None,
    ) -> FrameFingerprint:
        """Fingerprint of ``data`` (or of ``region`` = ``(x, y, width, height)`` in pixels)."""
        if region is not None:
            x, y, w, h = region
            data = data[y : y + h, x : x + w]  # a view: no copy
        if data.size == 0:
            raise ValueError(f"frame {index}: empty image or region {region}")
        cv2 = _cv2()
        gray = np.ascontiguousarray(gray_of(data, pixel_format))
        return FrameFingerprint(
            index=index,
            thumb=self.thumb(gray),
            phash=pack_hash(cv2.img_hash.pHash(gray)),
            ahash=pack_hash(cv2.img_hash.averageHash(gray)),
            histogram=color_histogram(data, self.histogram_bins),
        )


class Fingerprint(Operator):
    """Emits a ``"fingerprint"`` event (payload :class:`FrameFingerprint`) for every frame.

    Args:
        thumb_width: thumbnail width in pixels (default 32).
        thumb_height: thumbnail height in pixels (default 18).
        histogram_bins: colour histogram bins per channel (default 16).
        region: ``(x, y, width, height)`` in pixels of the input frames to fingerprint
            (default: the whole frame), e.g. where a foreground sits in a background.
        cut_bits: pHash bits (of 64) that must differ from the previous frame's for
            ``cut`` to be set (default 24).

    Events are instants at the frame's pts. Zero latency; the only state carried from
    frame to frame is the previous pHash, so any arrival chunking gives identical
    fingerprints. Accepts ``rgb24``, ``bgr24`` and
    ``gray``; ask the decoder for small frames (``VideoFormat(width=160)``).
    """

    accepts = frozenset({"video"})

    def __init__(
        self,
        thumb_width: int = 32,
        thumb_height: int = 18,
        histogram_bins: int = 16,
        region: tuple[int, int, int, int] | None = None,
        cut_bits: int = 24,
    ) -> None:
        if not 1 <= cut_bits <= 64:
            raise ParameterError(f"Fingerprint.cut_bits must be 1..64 bits, got {cut_bits}")
        self.cut_bits = cut_bits
        self._prev_phash: int | None = None
        self.fingerprinter = FrameFingerprinter(thumb_width, thumb_height, histogram_bins)
        if region is not None and (
            len(region) != 4 or min(region[2:]) < 1 or min(region[:2]) < 0
        ):
            raise ParameterError(
                "Fingerprint.region must be (x >= 0, y >= 0, width >= 1, height >= 1) "
                f"pixels, got {region}"
            )
        self.region = region

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        (spec,) = inputs.values()
        if not isinstance(spec, VideoSpec):
            raise IncompatibleInputError(f"Fingerprint takes video, got {spec}")
        if spec.pixel_format not in _PIXEL_FORMATS:
            raise IncompatibleInputError(
                f"Fingerprint takes rgb24/bgr24/gray, got {spec.pixel_format}"
            )
        if self.region is not None:
            x, y, w, h = self.region
            if x + w > spec.width or y + h > spec.height:
                raise IncompatibleInputError(
                    f"Fingerprint.region {self.region} lies outside the "
                    f"{spec.width}x{spec.height} input frames"
                )
        return (EventSpec(frozenset({"fingerprint"})),)

    def process(self, item: Item) -> list[Item]:
        if type(item) is not VideoFrame:
            raise TypeError(f"Fingerprint takes video frames, got {type(item).__name__}")
        fp = self.fingerprinter(item.data, item.pixel_format, item.index, self.region)
        prev, self._prev_phash = self._prev_phash, fp.phash
        if prev is not None and (prev ^ fp.phash).bit_count() > self.cut_bits:
            fp = dataclasses.replace(fp, cut=True)
        return [Event("fingerprint", item.pts, item.pts, item.time_base, fp)]

    def reset(self) -> None:
        self._prev_phash = None
