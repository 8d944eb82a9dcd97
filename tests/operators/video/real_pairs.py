"""fg/bg variants cut from a real clip (or any frame source), with exact ground truth.

A source clip (frames at ``src_fps``) is the common timeline. The background shows
it re-timed to ``bg_fps`` (bg frame ``j`` shows source frame ``floor(j * src_fps /
bg_fps)``) with some bg frames dropped; the foreground is a region of the same source
frames, rescaled, gamma-graded and noised, re-timed to ``fg_fps`` from a start time
inside the bg, with some fg frames dropped. The truth of a fg frame is the set of bg
frames showing its source frame (several when the bg repeats source frames; the
nearest ones in source time when that frame was dropped from the bg). Errors are in
bg frames, to the nearest frame of that set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

REAL_CLIP = Path("/work/shared/data/video/talking_head_1280x720_24fps.mp4")


@dataclass(frozen=True)
class Variant:
    """One fg/bg pair made from a source clip (sizes in source pixels, rates in fps).

    Attributes:
        crop: the source region the fg shows, ``(x, y, width, height)``.
        scale: fg pixels per region pixel.
        gamma: fg grade ``255 * (v / 255) ** gamma``.
        noise: Gaussian noise added to the fg, grey levels (standard deviation).
        src_fps, bg_fps, fg_fps: frame rates of the source, bg and fg.
        start_s: source time shown by fg frame 0, seconds.
        fg_s: fg duration before drops, seconds (default: to the end of the source).
        bg_drop, fg_drop: fraction of frames dropped from each side (spread at random).
        seed: noise and drop positions.
    """

    crop: tuple[int, int, int, int]
    scale: float = 1.0
    gamma: float = 1.0
    noise: float = 0.0
    src_fps: float = 24.0
    bg_fps: float = 24.0
    fg_fps: float = 24.0
    start_s: float = 0.0
    fg_s: float | None = None
    bg_drop: float = 0.0
    fg_drop: float = 0.0
    seed: int = 0

    @property
    def fg_size(self) -> tuple[int, int]:
        """The fg frame size: the region scaled, rounded to even (for H.264's 4:2:0)."""
        _, _, w, h = self.crop
        return max(8, round(w * self.scale / 2) * 2), max(8, round(h * self.scale / 2) * 2)

    def describe(self) -> str:
        x, y, w, h = self.crop
        return (
            f"crop {w}x{h}@({x},{y}) scale {self.scale:.2f} gamma {self.gamma:.2f} "
            f"noise {self.noise:.1f} fps {self.bg_fps:g}->{self.fg_fps:g} "
            f"start {self.start_s:.2f}s drops bg {self.bg_drop:.0%} fg {self.fg_drop:.0%}"
        )


@dataclass
class Pair:
    """A made variant: images, the source frame behind each, and the truth."""

    variant: Variant
    fg: list[Image]
    bg: list[Image]
    fg_src: npt.NDArray[np.int64]  # source frame of each fg frame
    bg_src: npt.NDArray[np.int64]  # source frame of each bg frame

    def truth(self) -> list[npt.NDArray[np.int64]]:
        """For each fg frame, the bg frames that show (or are nearest to) its source frame."""
        out = []
        for s in self.fg_src.tolist():
            d = np.abs(self.bg_src - s)
            out.append(np.flatnonzero(d == d.min()))
        return out

    def errors(self, pred: Sequence[int]) -> npt.NDArray[np.int64]:
        """Per fg frame, bg frames between ``pred`` and the nearest true bg frame."""
        truth = self.truth()
        if len(pred) != len(truth):
            raise ValueError(f"{len(pred)} predictions for {len(truth)} fg frames")
        return np.array([int(np.abs(t - p).min()) for t, p in zip(truth, pred, strict=True)])


def load_clip(
    path: str | os.PathLike[str] = REAL_CLIP,
    width: int = 320,
    max_frames: int | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> list[Image]:
    """Decode ``path`` as RGB frames ``width`` wide (height keeps the aspect, even).

    ``cache``: an ``.npy`` file to read the frames from, or to write them to.
    """
    if cache is not None and os.path.exists(cache):
        arr = np.load(cache)
        return [arr[k] for k in range(arr.shape[0])][:max_frames]
    import av

    frames: list[Image] = []
    with av.open(os.fspath(path)) as c:
        s = c.streams.video[0]
        height = round(s.codec_context.height * width / s.codec_context.width / 2) * 2
        for frame in c.decode(s):
            frames.append(frame.reformat(width, height, "rgb24", interpolation="AREA").to_ndarray())
            if max_frames is not None and len(frames) >= max_frames:
                break
    if cache is not None:
        np.save(cache, np.stack(frames))
    return frames


def _kept(n: int, fraction: float, rng: np.random.Generator, protect: int = 2) -> list[int]:
    """Indices 0..n-1 with ``round(n * fraction)`` dropped (never the first ``protect``)."""
    k = min(max(0, round(n * fraction)), max(0, n - protect - 1))
    drop = set(rng.choice(np.arange(protect, n), size=k, replace=False).tolist()) if k else set()
    return [i for i in range(n) if i not in drop]


def grade(img: Image, gamma: float, noise: float, rng: np.random.Generator) -> Image:
    """``255 * (img / 255) ** gamma`` plus Gaussian noise of ``noise`` grey levels."""
    f = img.astype(np.float32)
    if gamma != 1.0:
        f = 255.0 * (f / 255.0) ** np.float32(gamma)
    if noise > 0:
        f += rng.normal(0.0, noise, f.shape).astype(np.float32)
    return np.clip(f + 0.5, 0, 255).astype(np.uint8)


def make_pair(source: Sequence[Image], v: Variant) -> Pair:
    """Build the variant ``v`` of ``source`` (frames at ``v.src_fps``)."""
    rng = np.random.default_rng(v.seed)
    n_src = len(source)
    dur = n_src / v.src_fps
    n_bg = math.floor(dur * v.bg_fps + 1e-9)
    bg_src = np.array([math.floor(j * v.src_fps / v.bg_fps + 1e-9) for j in range(n_bg)])
    bg_keep = _kept(n_bg, v.bg_drop, rng)
    bg_src = bg_src[bg_keep]
    fg_s = v.fg_s if v.fg_s is not None else dur - v.start_s
    n_fg = math.floor(min(fg_s, dur - v.start_s) * v.fg_fps + 1e-9)
    fg_src = np.array(
        [math.floor((v.start_s + i / v.fg_fps) * v.src_fps + 1e-9) for i in range(n_fg)]
    )
    fg_src = np.minimum(fg_src, n_src - 1)[_kept(n_fg, v.fg_drop, rng)]
    x, y, w, h = v.crop
    fg = []
    for s in fg_src.tolist():
        crop = source[s][y : y + h, x : x + w]
        small = cv2.resize(crop, v.fg_size, interpolation=cv2.INTER_AREA)
        fg.append(grade(small, v.gamma, v.noise, rng))
    bg = [source[s] for s in bg_src.tolist()]
    return Pair(v, fg, bg, fg_src.astype(np.int64), bg_src.astype(np.int64))


def random_variant(
    rng: np.random.Generator,
    size: tuple[int, int],
    src_fps: float = 24.0,
    duration_s: float = 8.0,
    rates: Sequence[float] = (24, 25, 30, 50, 60),
) -> Variant:
    """One variant of the bench class: crop anywhere, scale 0.5-1, gamma 0.7-1.4,
    noise <= 8 grey levels, fps from ``rates`` on each side, a start offset, up to 5 %
    frames dropped on either side."""
    sw, sh = size
    w = int(rng.integers(round(sw * 0.35), round(sw * 0.8)))
    h = round(w * sh / sw * float(rng.uniform(0.8, 1.2)))
    h = min(h, sh - 2)
    x = int(rng.integers(0, sw - w + 1))
    y = int(rng.integers(0, sh - h + 1))
    return Variant(
        crop=(x, y, w, h),
        scale=float(rng.uniform(0.5, 1.0)),
        gamma=float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))),
        noise=float(rng.uniform(0.0, 8.0)),
        src_fps=src_fps,
        bg_fps=float(rng.choice(rates)),
        fg_fps=float(rng.choice(rates)),
        start_s=float(rng.uniform(0.3, duration_s * 0.35)),
        bg_drop=float(rng.uniform(0.0, 0.05)),
        fg_drop=float(rng.uniform(0.0, 0.05)),
        seed=int(rng.integers(0, 2**31)),
    )


def shrink(images: Sequence[Image], factor: float) -> list[Image]:
    """Grey images shrunk by ``factor`` (INTER_AREA), as the aligner's decoder gives them."""
    out = []
    for im in images:
        g = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) if im.ndim == 3 else im
        if factor != 1.0:
            size = (max(8, round(g.shape[1] * factor)), max(8, round(g.shape[0] * factor)))
            g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
        out.append(g)
    return out
