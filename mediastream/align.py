"""Video alignment pipeline (``mediastream align FG BG``).

Two file sources decode the foreground and the background as small grey frames
(shrunk in FFmpeg by the same factor, so the fg/bg pixel scale is preserved) into
one :class:`operators.video.VideoAlign` node; its ``"align_pair"`` events go to a JSON
Lines file and to the caller as they are produced, and, with a composite path, to a
:class:`mediastream.composite.CompositeSink` that overlays the fg on the bg at the
found place, in the fg's timing, frame by frame as the pairs arrive (one run, no
second pass over the files).

Nothing here imports OpenCV, Numba or PyAV at import time.
"""

from __future__ import annotations

import math
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Any

from stream import (
    Event,
    FileSource,
    Graph,
    MediaInfo,
    ParameterError,
    StreamInfo,
    VideoFormat,
    probe,
)

__all__ = ["AlignSetup", "AlignSummary", "build_align_graph"]


def _video_stream(info: MediaInfo, role: str) -> StreamInfo:
    for s in info.streams:
        if s.kind == "video" and s.width and s.height:
            return s
    raise ParameterError(f"align: the {role} {info.path!r} has no video stream")


@dataclass(frozen=True)
class AlignSetup:
    """What the aligner sees: full and working sizes of both videos.

    Attributes:
        fg_path, bg_path: the inputs.
        fg_size, bg_size: full frame sizes, pixels.
        work_fg, work_bg: decoded (working) sizes, pixels; both shrunk by ``factor``.
        factor: working / full size.
        fg_duration_s: fg duration in seconds when known.
        fg_rate, bg_rate: frame rates, fps (None when unknown).
    """

    fg_path: str
    bg_path: str
    fg_size: tuple[int, int]
    bg_size: tuple[int, int]
    work_fg: tuple[int, int]
    work_bg: tuple[int, int]
    factor: float
    fg_duration_s: float | None
    fg_rate: float | None
    bg_rate: float | None


@dataclass
class AlignSummary:
    """Running summary of an alignment (updated with :meth:`add`).

    Attributes:
        frames_aligned: fg frames paired.
        forced: pairs forced out by the maximum lag.
        mean_cost: mean thumbnail cost of the pairs (``1 - correlation``).
        offset: top-left of the fg in bg pixels (full resolution), when registered.
        region_size: the bg region size the fg shows (full resolution, pixels).
        scale: fg pixels per bg pixel (full resolution).
        registration_score: correlation of the registration, -1..1.
        registration_residual: how far apart single frames place the fg (full
            resolution pixels; see :class:`operators.video.AlignRegistration`).
        first_bg, last_bg: bg frames paired with the first and last fg frames.
        wall_s: seconds the run took; ``realtime`` is fg media seconds per wall second.
    """

    setup: AlignSetup
    frames_aligned: int = 0
    forced: int = 0
    cost_sum: float = 0.0
    offset: tuple[float, float] | None = None
    region_size: tuple[float, float] | None = None
    scale: float | None = None
    registration_score: float | None = None
    registration_residual: float | None = None
    first_bg: int | None = None
    last_bg: int | None = None
    wall_s: float = 0.0
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    def add(self, event: Event[Any]) -> None:
        """Account for one event of the aligner."""
        p = event.payload
        if event.kind == "align_registration":
            f = 1.0 / self.setup.factor
            self.offset = (p.x * f, p.y * f)
            self.region_size = (p.width * f, p.height * f)
            self.scale = self.setup.fg_size[0] / (p.width * f)
            self.registration_score = p.score
            self.registration_residual = p.residual * f
        elif event.kind == "align_pair":
            self.frames_aligned += 1
            self.forced += not p.final
            self.cost_sum += p.cost
            if self.first_bg is None:
                self.first_bg = p.bg_index
            self.last_bg = p.bg_index
        self.wall_s = time.perf_counter() - self._t0

    @property
    def mean_cost(self) -> float:
        return self.cost_sum / self.frames_aligned if self.frames_aligned else math.nan

    @property
    def realtime(self) -> float:
        """fg media seconds aligned per wall-clock second (x real time)."""
        rate = self.setup.fg_rate
        if not rate or not self.wall_s:
            return math.nan
        return self.frames_aligned / rate / self.wall_s

    def describe(self) -> str:
        """A few human lines."""
        lines = [f"frames aligned: {self.frames_aligned} ({self.forced} forced by max lag)"]
        if self.offset is not None and self.region_size is not None and self.scale is not None:
            lines.append(
                f"fg sits at x={self.offset[0]:.1f} y={self.offset[1]:.1f} in the bg "
                f"(region {self.region_size[0]:.1f}x{self.region_size[1]:.1f} px, "
                f"scale {self.scale:.3f}, match {self.registration_score:.3f}, "
                f"residual {self.registration_residual or 0.0:.2f} px)"
            )
        else:
            lines.append("registration: not found (no pairs)")
        if self.first_bg is not None:
            lines.append(f"fg frame 0 shows bg frame {self.first_bg}; last pair bg {self.last_bg}")
        lines.append(
            f"mean cost {self.mean_cost:.4f}; {self.wall_s:.2f} s wall, "
            f"{self.realtime:.1f}x real time"
        )
        return "\n".join(lines)


def _refuse_pipe(what: str, path: str) -> None:
    """Alignment opens each input more than once (probe, alignment, composite): a
    pipe would be read once and then found empty, so it is refused up front."""
    pipe = path == "-" or path.startswith("pipe:")
    if not pipe:
        try:
            mode = os.stat(path).st_mode
            pipe = stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)
        except OSError:
            return  # missing or a URL: the probe names the problem
    if pipe:
        raise ParameterError(
            f"align: the {what} {path!r} is a pipe; alignment reads each input more than "
            "once, so give a file (save the stream first)"
        )


def align_setup(
    fg: str | os.PathLike[str], bg: str | os.PathLike[str], work_width: int = 320
) -> AlignSetup:
    """Probe both files and pick the working sizes (bg at most ``work_width`` wide)."""
    if not 32 <= work_width <= 4096:
        raise ParameterError(f"align: work_width must be 32..4096 pixels, got {work_width}")
    for what, path in (("foreground", fg), ("background", bg)):
        _refuse_pipe(what, os.fspath(path))
    fi, bi = probe(fg), probe(bg)
    fs, bs = _video_stream(fi, "foreground"), _video_stream(bi, "background")
    assert fs.width and fs.height and bs.width and bs.height
    factor = min(1.0, work_width / bs.width)

    def shrink(w: int, h: int) -> tuple[int, int]:
        return max(8, round(w * factor)), max(8, round(h * factor))

    return AlignSetup(
        os.fspath(fg), os.fspath(bg), (fs.width, fs.height), (bs.width, bs.height),
        shrink(fs.width, fs.height), shrink(bs.width, bs.height), factor,
        fs.duration_s or fi.duration_s,
        float(fs.frame_rate) if fs.frame_rate else None,
        float(bs.frame_rate) if bs.frame_rate else None,
    )  # fmt: skip


def build_align_graph(
    setup: AlignSetup,
    *,
    pairs_path: str | os.PathLike[str] | None = None,
    composite_path: str | os.PathLike[str] | None = None,
    band: int = 8,
    max_lag: int = 90,
    min_scale: float = 0.25,
    max_scale: float = 1.0,
    max_pending_s: float = 600.0,
    composite_codec: str = "libx264",
    composite_cache_mb: float = 512.0,
    fit_s: float = 4.0,
) -> Graph:
    """The graph: fg and bg file sources -> ``align`` (VideoAlign) -> optional sinks:
    ``pairs`` (JSON Lines) and ``composite`` (:class:`~mediastream.composite.CompositeSink`,
    the fg drawn over the bg, encoded with ``composite_codec``).

    ``composite_cache_mb``: the composite's window of decoded frames per input
    (:class:`~mediastream.composite.CompositeSink` ``frame_cache_mb``; default 512 MB).

    ``fit_s``: seconds of fg the registration's final fit spans (VideoAlign's
    ``fit_s``, default 4; 0: no final fit, the first pair comes about 2.5 s of bg
    sooner, the placement less exact on still content).

    ``max_pending_s``: VideoAlign's bound on the fg held before the bg reaches it
    (seconds of fg; past it the run fails naming the time, see
    :class:`operators.video.VideoAlign`).

    Both inputs keep flowing (VideoAlign consumes every item at once), so the join's
    default ``max_skew_s`` is never reached, whatever the fg's start offset in the bg.
    """
    from mediastream.composite import CompositeSink
    from operators.video import VideoAlign
    from sinks import JsonLinesSink

    g = Graph()
    composite = (
        None
        if composite_path is None
        else CompositeSink(
            setup, composite_path, codec=composite_codec, frame_cache_mb=composite_cache_mb
        )
    )
    fg = g.add(
        FileSource(
            setup.fg_path,
            audio=False,
            video=VideoFormat(*setup.work_fg, pixel_format="gray", interpolation="AREA"),
        ),
        "fg",
    )
    bg = g.add(
        FileSource(
            setup.bg_path,
            audio=False,
            video=VideoFormat(*setup.work_bg, pixel_format="gray", interpolation="AREA"),
        ),
        "bg",
    )
    align = g.add(
        VideoAlign(
            band=band,
            max_lag=max_lag,
            min_scale=min_scale,
            max_scale=max_scale,
            fg_rate=setup.fg_rate,
            bg_rate=setup.bg_rate,
            max_pending_s=max_pending_s,
            fit_s=fit_s,
        ),
        "align",
    )
    g.connect(fg["video"], align["fg"])
    g.connect(bg["video"], align["bg"])
    if pairs_path is not None:
        g.connect(align, g.add(JsonLinesSink(pairs_path), "pairs"))
    if composite is not None:
        # The composite takes the sources' decoded frames: each file is decoded once.
        composite.attach(g.node("fg"), g.node("bg"))
        g.connect(align, g.add(composite, "composite"))
    return g
