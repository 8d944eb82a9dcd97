"""Spatial registration on streams: where the foreground sits in the background.

:class:`Registrar` works on streams whose time offset is unknown: every bg frame is a
candidate match of the reference fg frame (the first with texture), scored at full
resolution with :mod:`operators.video.template_match` and confirmed on later fg frames
against the bg frames the frame-rate ratio puts them on; it locks on the first
candidate that is acceptable and the best within ``confirm`` candidates on each side.
The lock is then made exact (:func:`operators.video.refine.refine_registration`): scale
and sub-pixel position fitted on ``refine_frames`` fg frames spread over about
``confirm`` bg frames (not adjacent ones), each on the bg frame that matches it best
near where the frame-rate ratio puts it; :attr:`Registrar.refined` keeps the residual.
A lock whose refinement frames disagree by more than :meth:`Registrar.max_residual` is
refused (a look-alike, e.g. a dark frame matching a few highlights) and the search goes
on. An accepted lock gets a final fit (:func:`operators.video.refine.polish_registration`)
on ``polish_frames`` fg frames spread over ``polish_span`` (4 s in ``VideoAlign``),
once the bg has reached them; :attr:`Registrar.polished` keeps it. Memory: a ring of
``confirm`` plus the confirmation span of bg frames, and, after the lock, the bg frames
the final fit spans.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from .refine import (
    Polished,
    Refined,
    pair_scores,
    placement_score,
    polish_registration,
    refine_registration,
)
from .template_match import Gray, Registration, match_frame, refine_match, scale_grid

__all__ = ["Registrar", "Registration", "match_frame", "refine_match", "scale_grid"]


def _texture(gray: Gray) -> float:
    """Grey standard deviation of ``gray`` shrunk to 16 pixels wide (noise averaged)."""
    import cv2

    h, w = gray.shape
    size = (min(w, 16), max(1, round(h * min(w, 16) / w)))
    return float(np.std(cv2.resize(gray, size, interpolation=cv2.INTER_AREA)))


def self_similarity(gray: Gray) -> float:
    """How much ``gray`` looks like itself moved by 3 % of its width (at least 2 px):
    the largest correlation of the image with its own shift right, down and along the
    two diagonals, over the overlap (-1..1).

    Near 1 where a shifted placement would match as well as the true one: a smooth
    ramp or a wide gradient that registers anywhere along it. Real shots give about
    0.6-0.85 (the bench's talking-head crops), smooth generated gradients 0.99-1.
    """
    g = np.asarray(gray, dtype=np.float32)
    h, w = g.shape
    d = max(2, round(0.03 * w))
    if h <= d or w <= d:
        return 1.0
    worst = -1.0
    for dx, dy in ((d, 0), (0, d), (d, d), (d, -d)):
        a = g[max(0, dy) : h + min(0, dy), dx:]
        b = g[max(0, -dy) : h + min(0, -dy), : w - dx]
        a = a - a.mean()
        b = b - b.mean()
        den = float(np.sqrt(np.vdot(a, a) * np.vdot(b, b)))
        worst = max(worst, float(np.vdot(a, b)) / den if den > 0 else 1.0)
    return worst


class Registrar:
    """Registers a fg stream on a bg stream whose time offset is unknown (module docs).

    Each bg frame ``c`` is a candidate for the reference fg frame (the first with
    texture, :attr:`ref`): its score is the lowest full-resolution correlation of the
    reference on bg frame ``c`` and of the check fg
    frames on the bg frames the rate ratio puts them on (each within ``ceil(slope) + 1``
    frames: a dropped frame, or a source slower than both, moves it), with
    the placement agreeing within about a pixel; a candidate whose coarse match is
    far below ``accept`` is not refined. The registration locks on the first candidate
    that scores at least ``accept`` and is the best within ``confirm`` candidates on
    each side.

    Args:
        slope: expected bg frames per fg frame (``bg_fps / fg_fps``).
        min_scale: smallest fg/region size ratio tried (default 0.25).
        max_scale: largest (default 1.0: the fg is never an enlargement).
        accept: lowest acceptable correlation, -1..1 (default 0.8).
        confirm: candidates on each side a match must beat (default 24; about a second
            of bg is a good choice).
        check_frames: later fg frames (spread over ``check_span``) that must confirm
            the placement (default 2). After the first acceptable candidate, later
            candidates are searched only at scales within 10 % of its scale (positions
            stay free): a crop's scale does not change over time.
        check_span: fg frames the confirmation spans (default 12).
        coarse_width: width in pixels of the shrunk bg for the coarse search (default 128).
        keep_before: bg frames before the matched one still held when it locks, for
            whoever consumes :attr:`bg_frames` next (default 0); the reference's own
            offset (``ref * slope``) is added.
        min_std: least grey standard deviation (0..255) of the reference fg frame shrunk
            to 16 pixels wide (default 3; shrinking averages noise away, so a black
            intro with grain stays below it and a dark shot with shapes does not):
            earlier, flatter fg frames (black, fades) are skipped.
        refine_frames: fg frames (the reference included) the exact refinement rests
            on, spread over ``max(check_span, confirm / slope)`` fg frames (default 4;
            0 keeps the coarse placement).
        max_self_similarity: the reference must also be distinct: its
            :func:`self_similarity` below this (default 0.95). A frame of smooth
            gradients matches a moved placement as well as its own (on drifting
            gradients even at another time); a later frame where something
            sharper enters is taken instead.
        distinct_wait: fg frames after the first textured one to wait for a distinct
            one (default 48); when none comes, the first textured frame is the
            reference all the same.
        polish_frames: fg frames (the reference included) the final fit rests on,
            spread over ``polish_span`` fg frames after the reference (default 24; 0 or
            1: no final fit, the refined placement stands). They are paired with bg
            frames all together: the pairing that correlates best at the placement
            while keeping to the frame-rate ratio (each bg frame of deviation
            between consecutive frames costs ``RATE_PENALTY``, bg frames never go
            back, each within ``ceil(slope) + 1`` plus 6 % of its distance from the
            match, the reference too). Position and scale are then fitted on all
            pairs at once (:func:`~operators.video.refine.polish_registration`),
            twice: pairing at the exact placement throughout, and pairing first at
            each pair's best position within 3 pixels of it (a guess a pixel off
            still pairs the right instants); the fit that correlates better on its
            own pairs stands. Pairing each frame on its own near the previous one's
            pairing let a placement a fraction of a pixel off pick bg frames a frame
            or two off in time that it fits better, and the fit then kept that
            offset. :attr:`polish_pairs` keeps the ``(fg, bg)`` frame numbers of the
            pairing the kept fit ended on.
        polish_span: fg frames the final fit spans (default 96: 4 s at 24 fps;
            ``VideoAlign`` passes 4 s of fg). A second or two of a talking head shows
            one expression: frames seconds apart show different detail, which pins
            the scale down. The registration is returned once the bg has reached the
            last of those frames (a fg that ends sooner: ``confirm`` bg frames past
            its last frame's place; or at :meth:`finish`).
    """

    RATE_PENALTY = 0.005  # cost per bg frame off the rate ratio, pairing polish frames
    RATE_DRIFT = 0.06  # bg frames per bg frame the polish pairing may drift (drops)

    def __init__(
        self,
        slope: float = 1.0,
        min_scale: float = 0.25,
        max_scale: float = 1.0,
        accept: float = 0.8,
        confirm: int = 24,
        check_frames: int = 2,
        check_span: int = 12,
        coarse_width: int = 128,
        keep_before: int = 0,
        min_std: float = 3.0,
        refine_frames: int = 4,
        max_self_similarity: float = 0.95,
        distinct_wait: int = 48,
        polish_frames: int = 24,
        polish_span: int = 96,
    ) -> None:
        if not (0 < min_scale <= max_scale <= 4):
            raise ParameterError(
                f"registration scales must satisfy 0 < min_scale <= max_scale <= 4, "
                f"got {min_scale} and {max_scale}"
            )
        if not -1 < accept < 1:
            raise ParameterError(f"registration accept must be in (-1, 1), got {accept}")
        if confirm < 0 or check_frames < 0 or check_span < check_frames or keep_before < 0:
            raise ParameterError(
                f"registration confirm ({confirm}), check_frames ({check_frames}) and "
                f"keep_before ({keep_before}) must be >= 0 and check_span ({check_span}) "
                ">= check_frames"
            )
        if not 0 <= refine_frames <= 32:
            raise ParameterError(f"refine_frames must be 0..32, got {refine_frames}")
        if not 0 <= polish_frames <= 128 or polish_span < 0:
            raise ParameterError(
                f"polish_frames must be 0..128 and polish_span >= 0 fg frames, "
                f"got {polish_frames} and {polish_span}"
            )
        if not -1 < max_self_similarity <= 1 or distinct_wait < 0:
            raise ParameterError(
                f"max_self_similarity must be in (-1, 1] and distinct_wait >= 0 fg frames, "
                f"got {max_self_similarity} and {distinct_wait}"
            )
        if not 16 <= coarse_width <= 4096:
            raise ParameterError(f"coarse_width must be 16..4096 pixels, got {coarse_width}")
        self.slope = slope
        self.min_scale, self.max_scale = min_scale, max_scale
        self.accept = accept
        self.confirm = confirm
        self.coarse_width = coarse_width
        self.keep_before = keep_before
        self.checks = [round(check_span * (k + 1) / check_frames) for k in range(check_frames)]
        reach = max(check_span, math.floor(confirm / slope))
        self.retime = max(2, round(6 * slope))  # bg frames the refinement may re-time by
        self.spread = math.ceil(slope) + 1  # bg frames a refinement frame may be off by
        self.refines = sorted(
            {round(reach * k / max(1, refine_frames - 1)) for k in range(refine_frames)}
        )
        self._wanted = {0, *self.checks, *self.refines}
        self._last_wanted = max(self._wanted)  # the fg frames scoring waits for
        self.polishes = (
            sorted({round(polish_span * k / (polish_frames - 1)) for k in range(polish_frames)})
            if polish_frames >= 2 and polish_span > 0
            else []
        )
        self._wanted |= set(self.polishes)
        self.min_std = min_std
        self.max_self_similarity = max_self_similarity
        self.distinct_wait = distinct_wait
        self._span = round(max(self.checks, default=0) * slope) + 1 + self.spread
        self.reset()

    def reset(self) -> None:
        """Forget all stream state."""
        self.result: Registration | None = None
        self.refined: Refined | None = None  # the exact refinement and its residual
        self.polished: Polished | None = None  # the final fit over frames spread in time
        # (fg, bg) frame numbers of the pairing the final fit ended on
        self.polish_pairs: list[tuple[int, int]] = []
        self._locked: tuple[int, Registration] | None = None  # waiting for the final fit
        self.rejected = 0  # locks refused because the refinement frames disagreed
        self.ref: int | None = None  # the fg frame registered (first distinct one)
        self._textured: int | None = None  # the first fg frame with texture
        self.bg_index: int | None = None  # bg frame matched by fg frame ref
        self._fg: dict[int, Gray] = {}
        self._fg_count = 0
        self._bg: deque[tuple[int, Gray]] = deque()
        self._scores: deque[tuple[int, float, Registration | None]] = deque()
        self._next_check: int | None = None
        self._scale_hint: float | None = None
        self._cache: dict[int, dict[tuple[int, int], Gray]] = {}  # resized fg by frame

    @property
    def bg_frames(self) -> deque[tuple[int, Gray]]:
        """The bg frames held (index, image), oldest first."""
        return self._bg

    def push_fg(self, index: int, gray: Gray) -> None:
        """Offer fg frame ``index`` (0, 1, 2...); kept only if the registration needs it.

        The reference is the first fg frame with texture (grey standard deviation at
        least ``min_std`` once shrunk: a black or flat intro cannot be placed) that is
        distinct (:func:`self_similarity` below ``max_self_similarity``), or the
        first with texture when ``distinct_wait`` more frames bring none. Until
        then the frames the first textured one would need are kept.
        """
        if self.ref is None and _texture(gray) >= self.min_std:
            if self._textured is None:
                self._textured = index
            if self_similarity(gray) < self.max_self_similarity:
                self.ref = index
                self._fg = {k: f for k, f in self._fg.items() if k - index in self._wanted}
            elif index - self._textured >= self.distinct_wait:
                self.ref = self._textured
        base = self.ref if self.ref is not None else self._textured
        if base is not None and index - base in self._wanted:
            self._fg[index] = np.array(gray, copy=True)
        self._fg_count = index + 1

    @property
    def _reach(self) -> int:
        """bg frames kept before a candidate: keep_before plus the reference's offset."""
        return self.keep_before + math.ceil((self.ref or 0) * self.slope)

    def push_bg(self, index: int, gray: Gray) -> Registration | None:
        """Offer bg frame ``index``; returns the registration once it is certain."""
        if self.result is not None:
            return self.result
        self._bg.append((index, np.array(gray, copy=True)))
        if self._locked is not None:
            return self._polish(ended=False)
        result = self._advance(ended=False)
        if result is None and self._locked is None:
            # Hold what is still to score, what the next decision may lock on, and
            # keep_before frames before it.
            first = self._scores[-1][0] + 1 if self._scores else self._bg[0][0]
            if self._next_check is not None:
                first = min(first, self._next_check)
            while self._bg and self._bg[0][0] < first - self._reach:
                self._bg.popleft()
        return result

    def finish(self) -> Registration | None:
        """End of input: the best placement held, even if it scores below ``accept``
        (but not one whose refinement frames disagree)."""
        if self.ref is None:
            self.ref = self._textured  # the input ended while waiting for a distinct frame
        if self.result is None and self._locked is not None:
            self._polish(ended=True)
        if self.result is None:
            self._advance(ended=True)
        if self.result is None and self._locked is None:
            # The best held candidates whose refinement frames agree (at most three
            # tried); none when all of them disagree.
            scored = sorted((t for t in self._scores if t[2] is not None), key=lambda t: -t[1])
            for c, _, reg in scored[:3]:
                assert reg is not None
                bg_index, exact = self._refine(c, reg, None)
                if self.refined is None or self.refined.residual <= self.max_residual(exact):
                    self._locked = (bg_index, exact)
                    self._polish(ended=True)
                    break
                self.rejected += 1
                self.refined = None
        return self.result

    def _frame(self, index: int) -> Gray | None:
        if not self._bg or not self._bg[0][0] <= index <= self._bg[-1][0]:
            return None
        return self._bg[index - self._bg[0][0]][1]

    def _advance(self, ended: bool) -> Registration | None:
        fg0 = None if self.ref is None else self._fg.get(self.ref)
        if fg0 is None or not self._bg:
            return None
        assert self.ref is not None
        if not ended and self._fg_count <= self.ref + self._last_wanted:
            return None
        last_bg = self._bg[-1][0]
        start = self._scores[-1][0] + 1 if self._scores else self._bg[0][0]
        for c in range(start, last_bg + 1):
            if not ended and c + self._span > last_bg:
                break
            self._scores.append((c, *self._evaluate(c, fg0)))
            if self._next_check is None:
                self._next_check = c
        scores = self._scores
        while scores and self._next_check is not None:
            c = self._next_check
            last = scores[-1][0]
            if c > last or (not ended and c + self.confirm > last):
                break
            base = scores[0][0]
            _, s, reg = scores[c - base]
            lo, hi = max(base, c - self.confirm), min(last, c + self.confirm)
            window = [scores[k - base][1] for k in range(lo, hi + 1)]
            earlier = window[: c - lo]
            if (
                reg is not None
                and s >= self.accept
                and s >= max(window)
                and (not earlier or s > max(earlier))
            ):
                bg_index, exact = self._refine(c, reg, c + self.confirm + self._span)
                if self.refined is None or self.refined.residual <= self.max_residual(exact):
                    self._locked = (bg_index, exact)
                    return self._polish(ended)
                # The frames spread in time disagree on the placement: a look-alike
                # (a dark frame matching a few highlights), not the fg. Search on.
                scores[c - base] = (c, -2.0, None)
                self.rejected += 1
                self.refined = None
                self._scale_hint = None
            self._next_check = c + 1
            while scores[0][0] < c + 1 - self.confirm:
                scores.popleft()
        return None

    def _evaluate(self, c: int, fg0: Gray) -> tuple[float, Registration | None]:
        """Score of bg frame ``c`` as the match of fg frame 0, and the placement."""
        bg = self._frame(c)
        assert bg is not None
        lo, hi = self.min_scale, self.max_scale
        if self._scale_hint is not None:
            lo, hi = max(lo, self._scale_hint / 1.1), min(hi, self._scale_hint * 1.1)
        cache = self._cache.setdefault(0, {})
        coarse = match_frame(fg0, bg, lo, hi, self.coarse_width, False, cache)
        if coarse is None:
            return -2.0, None
        if coarse.score < self.accept - 0.2:
            return coarse.score - 1.0, None  # not worth refining; ranks below any refined
        radius = bg.shape[1] / self.coarse_width + 2
        reg = refine_match(fg0, bg, coarse, radius, cache=self._cache.setdefault(0, {}))
        score = reg.score
        tol = 1.5 + 0.01 * reg.width
        for k in self.checks:
            if score < self.accept:
                break  # unacceptable already: its exact rank no longer matters
            fg = self._fg.get((self.ref or 0) + k)
            if fg is None:
                continue  # the fg is shorter: nothing more to confirm with
            expect = c + round(k * self.slope)
            best = -1.0
            for j in range(expect - self.spread, expect + self.spread + 1):
                frame = self._frame(j)
                if frame is None:
                    continue
                r = refine_match(fg, frame, reg, tol, (1.0,), self._cache.setdefault(k, {}))
                if abs(r.x - reg.x) <= tol and abs(r.y - reg.y) <= tol:
                    best = max(best, r.score)
            score = min(score, best)
        if score >= self.accept and self._scale_hint is None:
            self._scale_hint = reg.scale
        return score, reg

    def _pairs_at(
        self,
        c: int,
        reg: Registration,
        last: int | None,
        offsets: dict[int, int] | None = None,
    ) -> tuple[list[tuple[Gray, Gray]], dict[int, int]]:
        """(fg, bg) pairs of the refinement frames if bg frame ``c`` shows the reference,
        and the offset of each from where the frame-rate ratio puts it.

        The reference goes on ``c``. Each later fg frame ``ref + k`` goes on the bg
        frame that fits ``reg`` best within ``spread`` of ``c + k * slope`` (a dropped
        fg or bg frame, or a source slower than both, moves it by about ``slope`` or a
        frame), or, given ``offsets`` (what an earlier call returned), on
        ``c + k * slope + offsets[k]`` exactly: the same relative timing, drops
        included, moved as a whole. Empty when a frame is not held.
        """
        pairs: list[tuple[Gray, Gray]] = []
        found: dict[int, int] = {}
        for k in self.refines:
            fg = self._fg.get((self.ref or 0) + k)
            if fg is None:
                continue  # the fg is shorter
            on_ratio = c + round(k * self.slope)
            expect = on_ratio if offsets is None else on_ratio + offsets.get(k, 0)
            spread = self.spread if k and offsets is None else 0
            best: tuple[float, int, Gray] | None = None
            for j in range(expect - spread, expect + spread + 1):
                frame = self._frame(j)
                if frame is None or (last is not None and j > last):
                    continue
                score = placement_score([(fg, frame)], reg)
                if best is None or score > best[0]:
                    best = (score, j, frame)
            if best is None:
                return [], {}
            pairs.append((fg, best[2]))
            found[k] = best[1] - on_ratio
        return pairs, found

    def _refine(self, c: int, reg: Registration, last: int | None) -> tuple[int, Registration]:
        """The exact placement and bg frame of the reference (bg frames up to ``last``).

        1. Refinement frames paired near ``c`` (:meth:`_pairs_at`) give the exact scale
           and position.
        2. On a slow pan, a bg frame a few frames off matches nearly as well, shifted
           by the pan: the reference's bg frame is re-chosen within ``retime`` of
           ``c`` by the sub-pixel score of all refinement frames at the exact placement,
           each kept at its timing relative to the reference found in step 1 (so a
           dropped frame does not pull the reference off).
        3. The placement is refined again on the frames of that bg frame; steps 2-3
           run once more when the bg frame moved.
        """
        if not self.refines:
            return c, reg
        pairs, offsets = self._pairs_at(c, reg, last)
        if not pairs:
            return c, reg
        self.refined = refine_registration(pairs, reg, max_scale=self.max_scale)
        reg = self.refined.registration
        for _ in range(2):
            # Every candidate differs from its neighbours in every pair, not only the
            # reference's.
            best = max(
                (placement_score(self._pairs_at(c2, reg, last, offsets)[0], reg), c2)
                for c2 in range(c - self.retime, c + self.retime + 1)
            )
            moved = best[1] != c
            c = best[1]
            pairs, offsets = self._pairs_at(c, reg, last)
            if pairs:
                self.refined = refine_registration(pairs, reg, max_scale=self.max_scale)
                reg = self.refined.registration
            if not moved:
                break
        return c, reg

    def _polish(self, ended: bool) -> Registration | None:
        """The final fit of the locked placement once the bg has reached the last
        polish frame (plus the drift its pairing may need), or the input ended."""
        assert self._locked is not None
        c, reg = self._locked
        ref = self.ref or 0
        if self.polishes and not ended:
            # Wait for the last polish frame's bg frame, or, when the fg has stopped
            # short of it (a fg shorter than the span), for ``confirm`` bg frames past
            # the newest fg frame's place.
            newest = self._fg_count - 1 - ref
            last = min(self.polishes[-1], newest)
            extra = self.confirm if newest < self.polishes[-1] else 0
            if self._bg[-1][0] < c + math.ceil(last * self.slope) + 2 * self.spread + extra:
                return None
        if self.polishes:
            ks = [k for k in self.polishes if ref + k in self._fg]
            if len(ks) >= 2:
                self.polished, self.polish_pairs = self._best_polish(ks, c, reg)
                reg = self.polished.registration
        self._commit(c, reg)
        return self.result

    def _best_polish(
        self, ks: list[int], c: int, guess: Registration
    ) -> tuple[Polished, list[tuple[int, int]]]:
        """The final fit from two pairings of the polish frames, the one whose fit
        correlates better on its own pairs, with the ``(fg, bg)`` frame numbers of
        those pairs. Both keep to the frame-rate ratio (:meth:`_rate_pairs`); the
        first scores candidates at the exact placement throughout, the second first
        at each pair's best position within 3 pixels (a guess a pixel or more off
        then still pairs the right instants), then exactly. Each alone was 1 to
        1.5 px off on variants where the other was within 0.3."""
        best: tuple[float, Polished, list[tuple[int, int]]] | None = None
        for peak_first in (False, True):
            last: list[tuple[list[tuple[int, int]], list[tuple[Gray, Gray]]]] = []
            polished = polish_registration(self._pairing(ks, c, peak_first, last), guess)
            numbers, pairs = last[-1]
            score = float(np.mean(pair_scores(pairs, polished.registration)))
            if best is None or score > best[0]:
                best = (score, polished, numbers)
        assert best is not None
        return best[1], best[2]

    def _pairing(
        self,
        ks: list[int],
        c: int,
        peak_first: bool,
        last: list[tuple[list[tuple[int, int]], list[tuple[Gray, Gray]]]],
    ) -> Callable[[Registration], list[tuple[Gray, Gray]]]:
        """``pairs_for`` of :func:`polish_registration`: :meth:`_rate_pairs`, the first
        call scoring at the best position near the placement when ``peak_first``;
        each call's frame numbers and pairs are put in ``last``."""

        def pairs_for(r: Registration) -> list[tuple[Gray, Gray]]:
            numbers, pairs = self._rate_pairs(ks, c, r, peak=peak_first and not last)
            last.append((numbers, pairs))
            return pairs

        return pairs_for

    def _rate_pairs(
        self, ks: list[int], c: int, r: Registration, peak: bool = False
    ) -> tuple[list[tuple[int, int]], list[tuple[Gray, Gray]]]:
        """The polish frames ``ref + k`` (``k`` in ``ks``) each on a bg frame, as
        ``(fg, bg)`` frame numbers and as images: the pairing that correlates best at
        the placement ``r`` (``peak``: at each pair's best position within 3 pixels of
        it) while keeping to the frame-rate ratio (dynamic programming over the
        frames: each bg frame of deviation from ``slope`` per fg frame between
        consecutive ones costs ``RATE_PENALTY``; bg frames never go back). The
        reference moves too: the lock's match ``c`` can be a frame off, and a pairing
        pinned to it keeps that offset, which a slow pan lets the placement absorb.
        Frames whose candidates lie past the bg held are left out."""
        ref = self.ref or 0
        cands: list[npt.NDArray[np.int64]] = []
        pairs: list[tuple[Gray, Gray]] = []
        for k in ks:
            at = c + round(k * self.slope)
            reach = self.spread + math.ceil(self.RATE_DRIFT * k * self.slope)
            fg, js = self._fg[ref + k], []
            for j in range(at - reach, at + reach + 1):
                frame = self._frame(j)
                if frame is not None:
                    js.append(j)
                    pairs.append((fg, frame))
            if not js:
                break
            cands.append(np.asarray(js, np.int64))
        if not cands:
            return [], []
        if peak:
            cost = 1.0 - np.asarray([placement_score([p], r) for p in pairs], np.float64)
        else:
            cost = 1.0 - np.asarray(pair_scores(pairs, r), np.float64)
        starts = np.cumsum([0] + [len(js) for js in cands])
        total = cost[: starts[1]]
        back: list[npt.NDArray[np.intp]] = []
        for n in range(1, len(cands)):
            cur, prev = cands[n], cands[n - 1]
            step = cur[:, np.newaxis] - prev[np.newaxis, :]
            expect = (ks[n] - ks[n - 1]) * self.slope
            via = total[np.newaxis, :] + self.RATE_PENALTY * np.abs(step - expect)
            via = np.where(step >= 0, via, np.inf)
            arg = np.argmin(via, axis=1)
            total = cost[starts[n] : starts[n + 1]] + via[np.arange(len(cur)), arg]
            back.append(arg)
        idx = int(np.argmin(total))
        chosen = [idx]  # index into each frame's candidates, last frame first
        for n in range(len(cands) - 1, 0, -1):
            idx = int(back[n - 1][idx])
            chosen.append(idx)
        chosen.reverse()
        numbers = [(ref + ks[n], int(cands[n][i])) for n, i in enumerate(chosen)]
        return numbers, [pairs[int(starts[n]) + i] for n, i in enumerate(chosen)]

    @staticmethod
    def max_residual(reg: Registration) -> float:
        """Largest residual (bg pixels) of an acceptable refinement: 2 px plus 1 % of the
        region's width."""
        return 2.0 + 0.01 * reg.width

    def _commit(self, c: int, reg: Registration) -> None:
        self._locked = None
        self.bg_index, self.result = c, reg
        self._fg.clear()
        self._cache.clear()
        self._scores.clear()
        while self._bg and self._bg[0][0] < c - self._reach:
            self._bg.popleft()
