"""VideoAlign: which background frame each foreground frame shows, while both decode.

Two input ports, ``"fg"`` and ``"bg"``, take video frames (ask the decoder for small
grey frames, both shrunk by the same factor). The operator:

1. registers the fg in the bg (:class:`~operators.video.registration.Registrar`:
   multi-scale template matching, confirmed on several frames, refined on frames
   spread over about a second, then made exact, to a fraction of a pixel and of a per
   cent in scale, by a final fit over ``fit_s`` of fg whose frames are paired with bg
   frames on the frame rate: :mod:`operators.video.refine`);
2. fingerprints fg frames whole and bg frames on the registered region only, taken at
   its sub-pixel position (:func:`~operators.video.fingerprint.subpixel_crop`: on a
   slow pan, half a pixel of rounding looks like a frame of time), as 64x36
   :class:`~operators.video.fingerprint.FrameFingerprinter` thumbnails (the detail
   that tells near-identical frames apart);
3. aligns the two fingerprint streams with the windowed online subsequence DTW
   (:class:`~operators.video.online_dtw.OnlineSubsequenceDTW`, its start searched
   near the registration's match, its steps held to the frame-rate pattern through
   static stretches) and emits an
   ``"align_pair"`` event per fg frame as soon as its pair is final (or forced by
   ``max_lag``), after one ``"align_registration"`` event; with ``band_costs`` each
   pair is followed by an ``"align_band"`` event holding the DTW band row it was
   chosen from (:class:`AlignBand`), so the cost band around the path can be drawn.

**Joining two timelines.** The runtime merges the ports in time order, but fg time 0
is somewhere inside the bg. Nothing here waits on the join: every item is consumed at
once, fg fingerprints (2.3 KB each) wait inside the DTW until the bg reaches them,
and bg frames are dropped as soon as the band has passed. Memory is the DTW band
(``band * subframes * max_lag``) plus the fg frames that arrived before the bg
reached them (the start offset times the fg rate); the default
``Graph(max_skew_s=10)`` is never hit because both ports keep flowing. Pairs are
identical for any interleaving of the two ports: every decision depends only on frame
counts, never on arrival order.

**Bounded fg backlog.** The fg frames held unpaired are bounded by ``max_pending_s``
seconds of fg (default 600 s: about 33 MB at 24 fps) plus the ``max_lag`` frames a
pair may wait for finality. In a graph, where the ports are merged in time order, the
backlog is the fg's start offset in the bg (all of the fg while it is not found), so
an fg that starts later than ``max_pending_s`` into the bg, or is not in it, stops the
run with a :class:`stream.MediaStreamError` at the fg frame that passes the bound,
naming the fg and bg times reached (the runtime adds the node); raise
``max_pending_s`` for such inputs. An operator cannot hold one port back, so the
bound is a clean error, never silent growth. Fed by hand, one port entirely before
the other, the backlog is the whole fg.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from stream import (
    Event,
    EventSpec,
    IncompatibleInputError,
    Item,
    MediaStreamError,
    Operator,
    ParameterError,
    StreamSpec,
    VideoFrame,
    VideoSpec,
)

from .fingerprint import FrameFingerprinter, gray_of, subpixel_crop
from .online_dtw import DTWPair, OnlineSubsequenceDTW
from .registration import Registrar, Registration

__all__ = ["AlignBand", "AlignPair", "AlignRegistration", "VideoAlign", "auto_subframes"]

MAX_AUTO_SUBFRAMES = 25  # 24 <-> 25 fps needs 25 (24/25)


def auto_subframes(slope: float) -> int:
    """Sub-frame positions for bg/fg frame-rate ratio ``slope``: the denominator of
    its nearest fraction with a denominator up to :data:`MAX_AUTO_SUBFRAMES` (60 / 25
    = 12 / 5: 5), so that a step of ``slope`` is a whole number of positions."""
    return Fraction(slope).limit_denominator(MAX_AUTO_SUBFRAMES).denominator


@dataclass(frozen=True)
class AlignPair:
    """Foreground frame ``fg_index`` shows background frame ``bg_index``.

    Attributes:
        fg_index: fg frame number.
        bg_index: bg frame number.
        fg_time: fg presentation time, seconds.
        bg_time: bg presentation time, seconds.
        cost: thumbnail cost ``1 - correlation`` (0 identical .. 2 inverted).
        confidence: ``1 - cost`` clipped to 0..1.
        final: False when the maximum lag forced the pair out before it was certain.
    """

    fg_index: int
    bg_index: int
    fg_time: float
    bg_time: float
    cost: float
    confidence: float
    final: bool


@dataclass(frozen=True)
class AlignBand:
    """The DTW band row fg frame ``fg_index`` was aligned in (``"align_band"`` events).

    Attributes:
        fg_index: fg frame number (the pair's ``fg_index``).
        bg_lo: bg frame number of the band's first cell.
        costs: local cost ``1 - correlation`` (0 identical .. 2 inverted) of the fg frame
            against bg frames ``bg_lo, bg_lo + 1, ...`` (``2 * band + 1`` cells); None
            where a cell lies past the last bg frame. The pair's ``bg_index`` is in the
            band, with ``costs[bg_index - bg_lo] == cost``.
    """

    fg_index: int
    bg_lo: int
    costs: tuple[float | None, ...]


@dataclass(frozen=True)
class AlignRegistration:
    """Where the fg sits in the bg frames given to the operator (pixels of those frames).

    Attributes:
        x, y, width, height: the bg region the fg shows, pixels.
        scale: fg pixels per bg pixel.
        score: correlation of the match, -1..1.
        fg_index: the fg frame that was matched (the first with texture).
        bg_index: the bg frame it was matched on.
        bg_width, bg_height: size of the bg frames the region refers to, pixels.
        residual: how far apart (pixels) the placements of single refinement frames
            lie from the joint one (0 when it was not refined).
    """

    x: float
    y: float
    width: float
    height: float
    scale: float
    score: float
    fg_index: int
    bg_index: int
    bg_width: int
    bg_height: int
    residual: float = 0.0


class VideoAlign(Operator):
    """Aligns a foreground video to the background it was cut from (module docs).

    Args:
        band: DTW half-band, bg frames (default 8).
        max_lag: most fg frames a pair may wait before it is forced out (default 90).
        max_step: largest bg advance per fg frame (default: ``2 * bg_rate / fg_rate``
            rounded up, at least 4 and at most ``band``: room for a dropped fg frame).
        step_penalty: cost per bg frame of deviation from the frame-rate step pattern
            (default 0.0075; costs are ``1 - correlation`` of thumbnails).
        min_scale: smallest fg/region size ratio searched (default 0.25).
        max_scale: largest (default 1.0).
        fg_rate: fg frames per second (default: the input spec's frame rate).
        bg_rate: bg frames per second (default: the input spec's frame rate).
        thumb_width: thumbnail width, pixels (default 64: on a slow shot, the detail
            that tells frames apart).
        thumb_height: thumbnail height, pixels (default 36).
        confirm_s: the registration's match must be the best within this many seconds
            of bg on each side (default 1 s); the pairs start that much later.
        band_costs: after every ``"align_pair"`` event, also emit an ``"align_band"``
            event (same time; payload :class:`AlignBand`, ``2 * band + 1`` costs) with
            the band row the pair was chosen from (default False).
        max_pending_s: most seconds of fg (at ``fg_rate``) held before the bg reaches
            them, beyond the ``max_lag`` frames a pair may wait (default 600 s, about
            33 MB of fingerprints at 24 fps; ``math.inf`` for no bound). Past it,
            :meth:`process_port` raises :class:`stream.MediaStreamError` (module docs).
        fit_s: seconds of fg the registration's final fit spans (default 4.0: position
            and scale fitted on 24 fg frames spread over them, which pins the scale
            down on low-motion footage; the registration, and so the first pair, comes
            once the bg is that far past the match). 0: no final fit, the placement
            refined on frames within about ``confirm_s`` stands (sooner, less exact on
            still content).
        subframes: positions per bg frame the DTW path moves on (default: the
            denominator of the bg/fg frame-rate ratio as a fraction, at most
            :data:`MAX_AUTO_SUBFRAMES`: 5 for 60 -> 25 fps, 1 for equal rates). A
            dropped fg frame moves the true path to another sub-frame phase of the
            frame-rate pattern; with whole positions the path would pay a step
            penalty on every row that phase steps differently, and so stays one
            frame off through still content (:mod:`operators.video.offline_dtw`).
    """

    input_ports = ("fg", "bg")
    accepts = frozenset({"video"})
    heavy = True

    def __init__(
        self,
        band: int = 8,
        max_lag: int = 90,
        max_step: int | None = None,
        step_penalty: float = 0.0075,
        min_scale: float = 0.25,
        max_scale: float = 1.0,
        fg_rate: float | None = None,
        bg_rate: float | None = None,
        thumb_width: int = 64,
        thumb_height: int = 36,
        confirm_s: float = 1.0,
        band_costs: bool = False,
        max_pending_s: float = 600.0,
        fit_s: float = 4.0,
        subframes: int | None = None,
    ) -> None:
        for name, rate in (("fg_rate", fg_rate), ("bg_rate", bg_rate)):
            if rate is not None and not 0 < rate <= 1000:
                raise ParameterError(f"VideoAlign.{name} must be in (0, 1000] fps, got {rate}")
        self.fingerprinter = FrameFingerprinter(thumb_width, thumb_height)
        self._auto_step = max_step is None
        self._auto_sub = subframes is None
        self._params: dict[str, Any] = {
            "band": band, "max_lag": max_lag, "step_penalty": step_penalty,
            "max_step": max(1, min(4, band)) if max_step is None else max_step,
            "subframes": 1 if subframes is None else subframes,
        }  # fmt: skip
        # Validate now (with slope 1); rebuilt with the real slope in configure().
        OnlineSubsequenceDTW(dim=self.fingerprinter.dim, **self._params)
        Registrar(min_scale=min_scale, max_scale=max_scale)
        self.min_scale, self.max_scale = min_scale, max_scale
        self.fg_rate, self.bg_rate = fg_rate, bg_rate
        if not 0 < confirm_s <= 60:
            raise ParameterError(f"VideoAlign.confirm_s must be in (0, 60] s, got {confirm_s}")
        self.confirm_s = confirm_s
        if not (math.isfinite(fit_s) and 0 <= fit_s <= 60):
            raise ParameterError(f"VideoAlign.fit_s must be in [0, 60] s, got {fit_s}")
        self.fit_s = float(fit_s)
        self.band_costs = bool(band_costs)
        if not max_pending_s > 0:
            raise ParameterError(
                f"VideoAlign.max_pending_s must be > 0 seconds (math.inf: no bound), "
                f"got {max_pending_s}"
            )
        self.max_pending_s = float(max_pending_s)
        self.max_pending = math.inf  # fg frames; set from the fg rate in configure()
        self.slope = 1.0
        self._bg_fps = 25.0
        self._fg_fps = 25.0
        self._configure_parts()

    def _configure_parts(self) -> None:
        self.dtw = OnlineSubsequenceDTW(
            slope=self.slope,
            dim=self.fingerprinter.dim,
            record_bands=self.band_costs,
            **self._params,
        )
        self.registrar = Registrar(
            slope=self.slope,
            min_scale=self.min_scale,
            max_scale=self.max_scale,
            confirm=max(1, round(self.confirm_s * self._bg_fps)),
            # The DTW's start search wants the bg from a little before the match.
            keep_before=self._params["band"] + 4,
            # Up to 2 s of fg for a distinct reference frame (not a smooth gradient).
            distinct_wait=max(1, round(2.0 * self._fg_fps)),
            # The final fit of position and scale over fit_s of fg (frames that show
            # different detail pin the scale down on low-motion footage); 0: none.
            polish_span=round(self.fit_s * self._fg_fps),
        )
        self.reset()

    def configure(self, inputs: Mapping[str, StreamSpec]) -> tuple[StreamSpec, ...]:
        rates: dict[str, float] = {}
        for port in self.input_ports:
            spec = inputs.get(port)
            if not isinstance(spec, VideoSpec):
                raise IncompatibleInputError(f"VideoAlign port {port!r} takes video, got {spec}")
            if spec.pixel_format not in ("rgb24", "bgr24", "gray"):
                raise IncompatibleInputError(
                    f"VideoAlign port {port!r} takes rgb24/bgr24/gray, got {spec.pixel_format}"
                )
            given = self.fg_rate if port == "fg" else self.bg_rate
            rate = given if given is not None else spec.frame_rate
            if rate is None or not rate > 0:
                raise IncompatibleInputError(
                    f"VideoAlign: the {port} frame rate is unknown; pass {port}_rate (fps)"
                )
            rates[port] = float(rate)
        self.slope = rates["bg"] / rates["fg"]
        self.max_pending = (
            math.ceil(self.max_pending_s * rates["fg"]) + self._params["max_lag"]
            if math.isfinite(self.max_pending_s)
            else math.inf
        )
        self._bg_fps = rates["bg"]
        self._fg_fps = rates["fg"]
        if self._auto_step:
            band = self._params["band"]
            self._params["max_step"] = max(1, min(band, max(4, math.ceil(2 * self.slope))))
        if self._auto_sub:
            self._params["subframes"] = auto_subframes(self.slope)
        if not self.slope <= self._params["max_step"]:
            raise IncompatibleInputError(
                f"VideoAlign: bg/fg frame rate ratio {self.slope:.3f} exceeds max_step "
                f"{self._params['max_step']}"
            )
        self._configure_parts()
        kinds = {"align_pair", "align_registration"}
        if self.band_costs:
            kinds.add("align_band")
        return (EventSpec(frozenset(kinds)),)

    def reset(self) -> None:
        self.dtw.reset()
        self.registrar.reset()
        self.registration: AlignRegistration | None = None
        self._region: tuple[int, int, int, int] | None = None
        self._exact = (0.0, 0.0, 0.0, 0.0)  # the region, sub-pixel
        self._fg_times: deque[tuple[int, int]] = deque()  # (index, pts) not yet paired
        self._bg_times: deque[tuple[int, int]] = deque()  # (index, pts) still pairable
        self._fg_tb: Fraction | None = None
        self._bg_tb: Fraction | None = None
        self._bg_size = (0, 0)
        self._fg_count = 0
        self._bg_count = 0

    @property
    def latency(self) -> Fraction:
        """``max_lag`` fg frames: the longest a pair waits once the fg is located.

        Before that, pairs also wait for the bg to reach the fg's start (the start
        offset); :meth:`bound` reports the true lower bound to downstream joins.
        """
        return Fraction(self._params["max_lag"]) / Fraction(self._fg_fps).limit_denominator(1001)

    def bound(self, frontier: Fraction) -> Fraction:
        if self._fg_times and self._fg_tb is not None:
            return min(frontier, self._fg_times[0][1] * self._fg_tb)
        return frontier

    def process(self, item: Item) -> list[Item]:
        raise TypeError("VideoAlign has two inputs, 'fg' and 'bg': connect both ports")

    def process_port(self, port: str, item: Item) -> list[Item]:
        if type(item) is not VideoFrame:
            raise TypeError(f"VideoAlign takes video frames, got {type(item).__name__}")
        if port == "fg":
            return self._fg(item)
        if port == "bg":
            return self._bg(item)
        raise ValueError(f"VideoAlign has no input port {port!r}")

    def _fg(self, frame: VideoFrame) -> list[Item]:
        index = self._fg_count
        self._fg_count += 1
        self._fg_tb = frame.time_base
        gray = gray_of(frame.data, frame.pixel_format)
        if self.registration is None:
            self.registrar.push_fg(index, gray)
        self._fg_times.append((index, frame.pts))
        out = self._pairs(self.dtw.push_fg(index, self.fingerprinter.thumb(gray)))
        if len(self._fg_times) > self.max_pending:
            self._too_far(frame)
        return out

    def _too_far(self, frame: VideoFrame) -> None:
        held = len(self._fg_times)
        bg = "no bg frame yet"
        if self._bg_times and self._bg_tb is not None:
            bg = f"the bg at {float(self._bg_times[-1][1] * self._bg_tb):.3f} s"
        elif self._bg_count:
            bg = f"{self._bg_count} bg frames"
        where = (
            "the fg was not found in the bg so far"
            if self.registration is None
            else "the fg starts that far into the bg"
        )
        raise MediaStreamError(
            f"VideoAlign: {held} fg frames ({held / self._fg_fps:.1f} s) wait unpaired at "
            f"fg time {float(frame.pts * frame.time_base):.3f} s ({bg}), more than "
            f"max_pending_s={self.max_pending_s:g} s plus max_lag={self._params['max_lag']}"
            f" frames: {where}; raise max_pending_s to hold more"
        )

    def _bg(self, frame: VideoFrame) -> list[Item]:
        index = self._bg_count
        self._bg_count += 1
        self._bg_tb = frame.time_base
        self._bg_times.append((index, frame.pts))
        gray = gray_of(frame.data, frame.pixel_format)
        if self.registration is not None:
            return self._pairs(self._push_bg(index, gray))
        self._bg_size = (gray.shape[1], gray.shape[0])
        reg = self.registrar.push_bg(index, gray)
        if reg is None:
            self._trim_bg_times(self.registrar.bg_frames[0][0])
            return []
        return self._registered(reg)

    def _registered(self, reg: Registration) -> list[Item]:
        bw, bh = self._bg_size
        assert self.registrar.bg_index is not None
        refined = self.registrar.refined
        self.registration = AlignRegistration(
            reg.x, reg.y, reg.width, reg.height, reg.scale, reg.score,
            self.registrar.ref or 0, self.registrar.bg_index, bw, bh,
            refined.residual if refined is not None else 0.0,
        )  # fmt: skip
        self._region = reg.region(bw, bh)
        self._exact = (reg.x, reg.y, reg.width, reg.height)
        out: list[Item] = []
        if self._fg_times:
            _, pts = self._fg_times[0]
            assert self._fg_tb is not None
            out.append(Event("align_registration", pts, pts, self._fg_tb, self.registration))
        r0 = self.dtw.first_content
        if r0 is not None:
            # The DTW's start: near where the registration matched (the same instant,
            # confirmed on several frames), never a look-alike elsewhere in the bg.
            at = self.registrar.bg_index + ((r0 - (self.registrar.ref or 0)) * self.slope)
            reach = self._params["band"]
            self.dtw.limit_start(math.floor(at) - reach, math.ceil(at) + reach)
        held = list(self.registrar.bg_frames)
        self.registrar.bg_frames.clear()
        self._trim_bg_times(held[0][0] if held else self._bg_count)
        pairs: list[DTWPair] = []
        for i, g in held:
            pairs += self._push_bg(i, g)
        return out + self._pairs(pairs)

    def _push_bg(self, index: int, gray: np.ndarray[Any, Any]) -> list[DTWPair]:
        assert self._region is not None
        return self.dtw.push_bg(index, self.fingerprinter.thumb(subpixel_crop(gray, *self._exact)))

    def _trim_bg_times(self, first: int) -> None:
        times = self._bg_times
        while times and times[0][0] < first:
            times.popleft()

    def _pairs(self, pairs: list[DTWPair]) -> list[Item]:
        if not pairs:
            if self.registration is not None:
                self._trim_bg_times(self.dtw.first_needed_bg)
            return []
        assert self._fg_tb is not None and self._bg_tb is not None
        out: list[Item] = []
        fg_times, bg_times = self._fg_times, self._bg_times
        bands = self.dtw.take_bands() if self.band_costs else None
        for k, p in enumerate(pairs):
            while fg_times[0][0] < p.fg:
                fg_times.popleft()
            fg_pts = fg_times[0][1]
            while bg_times[0][0] < p.bg:
                bg_times.popleft()
            bg_pts = bg_times[0][1]
            payload = AlignPair(
                p.fg, p.bg, float(fg_pts * self._fg_tb), float(bg_pts * self._bg_tb),
                p.cost, min(1.0, max(0.0, 1.0 - p.cost)), p.final,
            )  # fmt: skip
            out.append(Event("align_pair", fg_pts, fg_pts, self._fg_tb, payload))
            if bands is not None:
                fg, lo, costs = bands[k]
                assert fg == p.fg
                band = AlignBand(
                    fg, lo, tuple(c if math.isfinite(c) else None for c in costs.tolist())
                )
                out.append(Event("align_band", fg_pts, fg_pts, self._fg_tb, band))
        fg_times.popleft()
        return out

    def flush(self) -> list[Item]:
        out: list[Item] = []
        if self.registration is None:
            reg = self.registrar.finish()
            if reg is not None:
                out += self._registered(reg)
        return out + self._pairs(self.dtw.finish())
