"""Generated fg/bg video pairs with exact ground truth, for the alignment tests.

The background is moving synthetic content: a smooth texture that pans and zooms,
three discs on their own paths, and a hard cut to another texture and motion. The
foreground of each fg frame is a bg frame (the ground truth) cropped, rescaled,
colour graded and noised; its timing comes from a frame-rate change, a start offset
inside the bg, and dropped and duplicated frames.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from stream import VideoFrame

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class PairSpec:
    """What to generate (sizes in pixels, rates in fps, indices in frames)."""

    bg_size: tuple[int, int] = (320, 180)
    bg_fps: int = 24
    bg_frames: int = 144
    fg_fps: int = 24
    start: int = 30  # bg frame shown by fg frame 0
    fg_frames: int = 60  # before drops/duplicates
    crop: tuple[int, int, int, int] = (60, 40, 200, 112)  # x, y, w, h in the bg
    scale: float = 0.8
    gain: tuple[float, float, float] = (1.1, 0.95, 0.9)
    gamma: float = 0.9
    offset: float = 8.0
    noise: float = 3.0
    drops: tuple[int, ...] = ()
    dups: tuple[int, ...] = ()
    cut_at: int | None = 80
    seed: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def fg_size(self) -> tuple[int, int]:
        _, _, w, h = self.crop
        return max(8, round(w * self.scale)) // 2 * 2, max(8, round(h * self.scale)) // 2 * 2


def _texture(rng: np.random.Generator, w: int, h: int) -> npt.NDArray[np.float32]:
    out = np.zeros((h, w, 3), np.float32)
    for cell, amp in ((48, 90.0), (16, 60.0), (6, 40.0), (3, 30.0)):
        small = rng.random((max(2, h // cell), max(2, w // cell), 3)).astype(np.float32)
        out += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * amp
    return out


class Scene:
    """The bg content: ``frame(j)`` is bg frame ``j`` (RGB uint8)."""

    def __init__(self, spec: PairSpec) -> None:
        self.spec = spec
        w, h = spec.bg_size
        rng = np.random.default_rng(spec.seed)
        self.canvases = [_texture(rng, 2 * w, 2 * h), _texture(rng, 2 * w, 2 * h)]
        self.phases = rng.random(8) * 2 * math.pi

    def frame(self, j: int) -> Image:
        spec = self.spec
        w, h = spec.bg_size
        t = j / spec.bg_fps
        part = 1 if spec.cut_at is not None and j >= spec.cut_at else 0
        sign = -1.0 if part else 1.0
        zoom = 1.0 + 0.15 * math.sin(2 * math.pi * 0.2 * t + self.phases[0])
        ox = w * 0.5 + sign * 36.0 * t + 20 * math.sin(2 * math.pi * 0.3 * t)
        oy = h * 0.4 + 25 * math.sin(2 * math.pi * 0.23 * t + self.phases[1])
        m = np.array([[zoom, 0, ox], [0, zoom, oy]], np.float32)
        img = cv2.warpAffine(
            self.canvases[part], m, (w, h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT,
        )  # fmt: skip
        for k, colour in enumerate(((250, 60, 40), (30, 220, 90), (60, 80, 250))):
            f = 0.4 + 0.23 * k
            cx = int(w * (0.5 + 0.4 * math.sin(2 * math.pi * f * t + self.phases[2 + k])))
            cy = int(h * (0.5 + 0.4 * math.sin(2 * math.pi * 0.8 * f * t + self.phases[5 + k])))
            cv2.circle(img, (cx, cy), max(4, h // 9), colour, -1)
        return np.clip(img, 0, 255).astype(np.uint8)


def ground_truth(spec: PairSpec) -> npt.NDArray[np.int64]:
    """The bg frame each fg frame shows."""
    t = np.arange(spec.fg_frames) * Fraction(1, 1)
    base = np.array(
        [spec.start + math.floor(Fraction(int(i), spec.fg_fps) * spec.bg_fps) for i in t],
        np.int64,
    )
    keep = [i for i in range(spec.fg_frames) if i not in spec.drops]
    out: list[int] = []
    for i in keep:
        out.append(int(base[i]))
        if i in spec.dups:
            out.append(int(base[i]))
    gt = np.array(out, np.int64)
    if gt.max() >= spec.bg_frames:
        raise ValueError(f"fg runs past the bg: needs bg frame {gt.max()}")
    return gt


def fg_image(spec: PairSpec, bg: Image, rng: np.random.Generator) -> Image:
    """The fg frame showing ``bg``: crop, rescale, grade, noise."""
    x, y, w, h = spec.crop
    crop = bg[y : y + h, x : x + w].astype(np.float32)
    img = cv2.resize(crop, spec.fg_size, interpolation=cv2.INTER_AREA)
    img = 255.0 * (np.clip(img * np.float32(spec.gain), 0, 255) / 255.0) ** spec.gamma
    img += spec.offset + rng.normal(0.0, spec.noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def generate(spec: PairSpec) -> tuple[list[Image], list[Image], npt.NDArray[np.int64]]:
    """(fg images, bg images, ground truth) in memory."""
    scene = Scene(spec)
    bg = [scene.frame(j) for j in range(spec.bg_frames)]
    gt = ground_truth(spec)
    rng = np.random.default_rng(spec.seed + 1)
    fg = [fg_image(spec, bg[j], rng) for j in gt]
    return fg, bg, gt


def video_frames(images: Sequence[Image], fps: int, gray: bool = True) -> list[VideoFrame]:
    """Images as VideoFrames (pts in 1/fps units), grey or RGB."""
    tb = Fraction(1, fps)
    if gray:
        return [
            VideoFrame(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), i, i, tb, "gray")
            for i, im in enumerate(images)
        ]
    return [VideoFrame(im, i, i, tb) for i, im in enumerate(images)]


def write_video(path: str | os.PathLike[str], images: Sequence[Image], fps: int) -> Path:
    """Write RGB images as an H.264 MP4 at ``fps`` with PyAV (near-lossless)."""
    import av

    h, w = images[0].shape[:2]
    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "12"}
        for im in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(im, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path)


def write_pair(directory: Path, spec: PairSpec) -> tuple[Path, Path, npt.NDArray[np.int64]]:
    """Write fg.mp4 and bg.mp4 for ``spec`` into ``directory``; returns paths and truth."""
    fg, bg, gt = generate(spec)
    return (
        write_video(directory / "fg.mp4", fg, spec.fg_fps),
        write_video(directory / "bg.mp4", bg, spec.bg_fps),
        gt,
    )


def interleave(
    fg: Sequence[VideoFrame], bg: Sequence[VideoFrame], order: Sequence[bool]
) -> Iterator[tuple[str, VideoFrame]]:
    """Both streams merged: ``order[k]`` True takes the next fg frame (while any are left)."""
    i = j = 0
    for take_fg in order:
        if take_fg and i < len(fg):
            yield "fg", fg[i]
            i += 1
        elif j < len(bg):
            yield "bg", bg[j]
            j += 1
    yield from (("fg", f) for f in fg[i:])
    yield from (("bg", b) for b in bg[j:])
