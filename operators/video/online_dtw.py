"""Windowed online subsequence DTW between two fingerprint streams.

:class:`OnlineSubsequenceDTW` takes foreground and background thumbnails in any
interleaving and returns ``(fg, bg)`` pairs as soon as they are certain:

1. **Start search.** The fg may start anywhere inside the bg. Candidate bg frames
   ``j`` for the first fg frame with content (``r0``: black and flat frames have zero
   thumbnails) are scored by the mean cost of fg frames ``r0 + k`` (``k <
   search_frames``) against bg frames ``floor(j + f + k * slope)``, for sub-frame
   phases ``f`` in 0, 1/4, 1/2, 3/4 (the best phase is the candidate's); the start
   locks on the first candidate that costs at most ``accept_cost`` and is the lowest
   within ``confirm`` candidates on each side (at the end of the input, the lowest
   candidate still held), and fg frame 0 is placed ``r0 * slope`` bg frames before
   ``j + f``. :meth:`~OnlineSubsequenceDTW.limit_start` (a registration's time of the
   match) keeps the search to a window of candidates.
2. **Banded rows.** Each fg frame then fills one row of the banded DTW of
   :mod:`operators.video.offline_dtw` (``2 * band + 1`` cells following the path;
   across flat fg frames the band advances at the expected slope), as
   soon as the bg frames of its band have arrived: one matrix-vector product for the
   costs and one Numba row update. Steps are penalised for leaving the frame-rate
   pattern of the locked start (:mod:`operators.video.offline_dtw`, "step pattern"):
   through static stretches, where every nearby bg frame costs the same, the path
   keeps the true rate instead of wandering. With ``subframes`` above 1, the cells
   are sub-frame positions (:mod:`operators.video.offline_dtw`, "sub-frame
   positions"), so a dropped fg frame, which moves the path to another phase of the
   pattern, is paid for once.
3. **Finality.** After each row, the paths ending in every live cell of the newest
   row are traced back; where they all pass through one cell, that cell and
   everything before it is final and emitted. It is exactly what the offline banded
   DTW returns for those rows, whatever comes later.
4. **Maximum lag.** When more than ``max_lag`` rows wait, the oldest is emitted on the
   currently best path (``final=False``) and every live cell whose path disagrees is
   dropped, so later pairs stay consistent and bg indices never go back.

Memory: the band state is ``O(band * subframes * max_lag)``; fingerprints are held from
the oldest row still to compute (fg) and the band's left edge (bg). Items in time
order keep the bg side to a band; the fg side holds the frames that arrived before
the bg reached them, i.e. the fg start offset in frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from ._band import FeatureWindow, converge, roots, trace
from .offline_dtw import (
    check_dtw_parameters,
    check_subframes,
    dtw_row,
    pattern_weights,
    step_weights,
)

__all__ = ["DTWPair", "OnlineSubsequenceDTW"]


@dataclass(frozen=True, slots=True)
class DTWPair:
    """One aligned pair: fg frame ``fg`` shows bg frame ``bg`` at ``cost``.

    ``final`` is False when the pair was forced out by the maximum lag.
    """

    fg: int
    bg: int
    cost: float
    final: bool


class OnlineSubsequenceDTW:
    """Online, banded subsequence DTW with a finality rule (see module docs).

    Args:
        slope: expected bg frames per fg frame (``bg_fps / fg_fps``).
        band: half-width of the band in bg frames (default 8).
        max_lag: most fg frames a pair may wait before it is forced out (default 90).
        max_step: largest bg advance per fg frame (default 3: up to 2 dropped frames at
            slope 1).
        step_penalty: cost per bg frame of deviation from ``slope`` (default 0.01; costs
            are ``1 - correlation`` of thumbnails, 0..2).
        search_frames: fg frames scored per candidate start (default 12).
        confirm: candidates on each side a start must beat (default 24 bg frames).
        accept_cost: highest mean cost of an acceptable start (default 0.35).
        dim: feature length (default 576: a 32x18 thumbnail).
        record_bands: also keep, for every pair emitted, the band row it was chosen
            from (default False); :meth:`take_bands` hands them over.
        pattern: penalise steps off the frame-rate pattern of the start rather than off
            ``slope`` itself (default True; False is librosa's constant step weights).
        subframes: positions per bg frame the path moves on (default 1): with
            ``subframes * slope`` a whole number, a path that stays on the frame-rate
            pattern after a dropped fg frame (a new sub-frame phase) pays no more
            penalty (:mod:`operators.video.offline_dtw`, "sub-frame positions").
    """

    PHASES = 4  # sub-frame phases tried per start candidate

    def __init__(
        self,
        slope: float = 1.0,
        band: int = 8,
        max_lag: int = 90,
        max_step: int = 3,
        step_penalty: float = 0.01,
        search_frames: int = 12,
        confirm: int = 24,
        accept_cost: float = 0.35,
        dim: int = 576,
        record_bands: bool = False,
        pattern: bool = True,
        subframes: int = 1,
    ) -> None:
        check_dtw_parameters(slope, band, max_step, step_penalty)
        check_subframes(subframes, max_step)
        if not 1 <= max_lag <= 100_000:
            raise ParameterError(f"max_lag must be 1..100000 fg frames, got {max_lag}")
        if not 1 <= search_frames <= 1000:
            raise ParameterError(f"search_frames must be 1..1000 fg frames, got {search_frames}")
        if not 0 <= confirm <= 100_000:
            raise ParameterError(f"confirm must be 0..100000 bg frames, got {confirm}")
        if not (math.isfinite(accept_cost) and 0 < accept_cost <= 2):
            raise ParameterError(
                f"accept_cost must be in (0, 2] (1 - correlation), got {accept_cost}"
            )
        if dim < 1:
            raise ParameterError(f"dim must be >= 1, got {dim}")
        self.slope = float(slope)
        self.band = band
        self.max_lag = max_lag
        self.max_step = max_step
        self.step_penalty = float(step_penalty)
        self.search_frames = search_frames
        self.confirm = confirm
        self.accept_cost = float(accept_cost)
        self.dim = dim
        self.record_bands = bool(record_bands)
        self.pattern = bool(pattern)
        self.sub = int(subframes)
        self.width = 2 * band + 1  # bg frames in a row's band
        self._wf = self.width * self.sub  # positions in a row's band
        self._weights = step_weights(
            self.slope * self.sub, max_step * self.sub, self.step_penalty / self.sub
        )
        self.reset()

    def reset(self) -> None:
        """Forget all stream state."""
        self._fg = FeatureWindow(self.dim)
        self._bg = FeatureWindow(self.dim)
        self._bg_first: int | None = None
        self.start: float | None = None  # locked bg position of fg frame 0
        self._r0: int | None = None  # first fg frame with content (not flat)
        self._pos = 0.0  # estimated bg position of the last computed row
        self._ended = False
        # start search
        self._next_cand = 0
        self._scores = np.empty(0, np.float64)  # scores of candidates _score_base...
        self._phases = np.empty(0, np.float64)  # their best sub-frame phases
        self._score_base = 0
        self._limit: tuple[int, int] | None = None  # candidates allowed (limit_start)
        self._next_check = 0
        # rows
        self._next_row = 0
        self._prev_d = np.full(self._wf, np.inf)  # per position
        self._prev_lo = 0  # bg frame
        cap = self.max_lag + 2
        self._los = np.zeros(cap, np.int64)  # positions (bg frame * sub)
        self._steps = np.full((cap, self._wf), -1, np.int16)  # in positions
        self._costs = np.zeros((cap, self.width), np.float64)
        self._pending = 0
        self._first_pending = 0
        self.forced = 0  # pairs forced out by max_lag
        self._bands: list[tuple[int, int, npt.NDArray[np.float64]]] = []

    # -- input ------------------------------------------------------------------------
    def _check(self, side: str, feats: FeatureWindow, index: int, row: npt.ArrayLike) -> None:
        if self._ended:
            raise ValueError(f"{side} frame {index} after the end of the input")
        if np.shape(row) != (self.dim,):
            raise ValueError(
                f"{side} frame {index}: feature shape {np.shape(row)}, want ({self.dim},)"
            )
        if feats.count and index != feats.count:
            raise ValueError(
                f"{side} frame {index} arrived after frame {feats.count - 1}: frames must be "
                "consecutive and in order"
            )

    def push_fg(self, index: int, thumb: npt.ArrayLike) -> list[DTWPair]:
        """Add fg frame ``index`` (0, 1, 2...); returns the pairs that became ready."""
        self._check("fg", self._fg, index, thumb)
        if self._fg.count == 0 and index != 0:
            raise ValueError(f"fg frames must start at index 0, got {index}")
        row = np.asarray(thumb, np.float32)
        if self._r0 is None and np.any(row != 0):
            self._r0 = index
        self._fg.push(row)
        return self._advance()

    def push_bg(self, index: int, thumb: npt.ArrayLike) -> list[DTWPair]:
        """Add bg frame ``index`` (consecutive from any first index)."""
        self._check("bg", self._bg, index, thumb)
        if self._bg_first is None:
            self._bg_first = index
            self._bg.base = self._bg.count = index
            self._next_cand = self._score_base = self._next_check = index
        self._bg.push(np.asarray(thumb, np.float32))
        return self._advance()

    def finish(self) -> list[DTWPair]:
        """End of both inputs: every remaining fg frame gets its pair."""
        self._ended = True
        out = self._advance()
        if self._pending:
            alive = np.isfinite(self._prev_d)
            if alive.any():
                k = int(np.argmin(self._prev_d))
                out += self._emit(self._pending - 1, self._prev_lo * self.sub + k, True)
        return out

    # -- start search -----------------------------------------------------------------
    def _offsets(self, k: int) -> npt.NDArray[np.int64]:
        """bg offsets of fg frames ``r0 + 0..k-1`` for each phase: ``(PHASES, k)``."""
        f = np.arange(self.PHASES, dtype=np.float64)[:, np.newaxis] / self.PHASES
        return np.floor(f + np.arange(k) * self.slope).astype(np.int64)

    def _score(
        self, cands: npt.NDArray[np.int64], k: int
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Mean cost of each candidate at its best phase, and that phase."""
        offs = self._offsets(k)
        assert self._r0 is not None
        fg = self._fg.rows(self._r0, self._r0 + k)
        out = np.empty(cands.shape[0], np.float64)
        phase = np.empty(cands.shape[0], np.float64)
        last = self._bg.count - 1
        for a in range(0, cands.shape[0], 64):
            c = cands[a : a + 64, np.newaxis, np.newaxis]
            idx = np.minimum(c + offs, last) - self._bg.base
            sims = np.einsum("cpkd,kd->cp", self._bg.data[idx], fg, optimize=False)
            cost = 1.0 - sims / k
            best = np.argmin(cost, axis=1)
            out[a : a + 64] = cost[np.arange(cost.shape[0]), best]
            phase[a : a + 64] = best / self.PHASES
        if self._limit is not None:
            lo, hi = self._limit
            out[(cands < lo) | (cands > hi)] = np.inf
        return out, phase

    def limit_start(self, lo: int, hi: int) -> None:
        """Consider only bg frames ``lo..hi`` as the match of the first fg frame with
        content (e.g. around a registration's match); call before any bg frame."""
        if self._bg_first is not None:
            raise ValueError("limit_start must come before the first bg frame")
        if hi < lo:
            raise ValueError(f"limit_start: empty window {lo}..{hi}")
        self._limit = (lo, hi)

    def _search(self) -> None:
        if self._bg_first is None:
            return
        r0 = self._r0
        if r0 is None:
            if self._ended and self._fg.count:  # only flat fg frames: nothing to find
                self._lock(self._bg_first)
            return
        k = self.search_frames
        if self._ended:
            k = min(k, self._fg.count - r0)
        if self._fg.count < r0 + k:
            return
        offs_last = math.floor(1 + (k - 1) * self.slope)
        stop = self._bg.count if self._ended else self._bg.count - offs_last
        if stop > self._next_cand:
            cands = np.arange(self._next_cand, stop, dtype=np.int64)
            scores, phases = self._score(cands, k)
            self._scores = np.concatenate([self._scores, scores])
            self._phases = np.concatenate([self._phases, phases])
            self._next_cand = stop
        scores, base, conf = self._scores, self._score_base, self.confirm
        if self._limit is not None:
            # A window given from outside (a registration): its best candidate, once
            # every one of them is scored.
            lo, hi = max(self._limit[0], base), self._limit[1]
            if (self._next_cand > hi or self._ended) and self._next_cand > lo:
                window = scores[lo - base : min(hi + 1, self._next_cand) - base]
                k_best = lo - base + int(np.argmin(window))
                self._lock(base + k_best, float(self._phases[k_best]))
            return
        # Check candidates whose right window is complete (all of them at the end).
        while self._next_check < self._next_cand and (
            self._ended or self._next_check + conf < self._next_cand
        ):
            c = self._next_check
            s = scores[c - base]
            if s <= self.accept_cost:
                left = scores[max(0, c - conf - base) : c - base]
                right = scores[c - base + 1 : c + conf + 1 - base]
                if (left.size == 0 or s < left.min()) and (right.size == 0 or s <= right.min()):
                    self._lock(c, float(self._phases[c - base]))
                    return
            self._next_check += 1
        if self._ended and self._next_cand > base:
            k_best = int(np.argmin(scores))
            self._lock(base + k_best, float(self._phases[k_best]))
            return
        # Forget candidates that can no longer matter (bounded memory).
        keep = max(base, self._next_check - conf)
        self._scores = scores[keep - base :]
        self._phases = self._phases[keep - base :]
        self._score_base = keep

    def _lock(self, c: int, phase: float = 0.0) -> None:
        """Lock the start: bg frame ``c`` shows the first fg frame with content, at
        sub-frame position ``c + phase``."""
        assert self._bg_first is not None
        self.start = c + phase - (self._r0 or 0) * self.slope
        self._pos = self.start
        self._prev_lo = max(self._bg_first, math.floor(self.start + 0.5) - self.band)
        self._scores = np.empty(0, np.float64)
        self._phases = np.empty(0, np.float64)

    @property
    def _search_reach(self) -> int:
        """bg frames before a candidate that its lock may still need."""
        return self.band + math.ceil((self._r0 or 0) * self.slope) + 1

    # -- rows -------------------------------------------------------------------------
    def _advance(self) -> list[DTWPair]:
        if self.start is None:
            self._search()
            if self.start is None:
                if self._r0 is not None:
                    self._bg.drop_before(self._score_base - self._search_reach)
                return []
        out: list[DTWPair] = []
        while self._next_row < self._fg.count:
            i = self._next_row
            lo = self._prev_lo
            if i > 0:
                lo = max(lo, math.floor(self._pos + self.slope + 0.5) - self.band)
            if not self._ended and self._bg.count < lo + self.width:
                break
            out += self._row(i, lo)
        self._fg.drop_before(self._next_row)
        self._bg.drop_before(self._prev_lo)
        return out

    def _row(self, i: int, lo: int) -> list[DTWPair]:
        width = self.width
        hi = min(lo + width, self._bg.count)
        cost = np.full(width, np.inf)
        cost[: hi - lo] = 1.0 - self._bg.rows(lo, hi) @ self._fg.rows(i, i + 1)[0]
        p = self._pending
        sub = self.sub
        self._los[p] = lo * sub
        self._costs[p] = cost
        fine = np.repeat(cost, sub) if sub > 1 else cost
        d = np.empty(self._wf)
        if i == 0:
            d[:] = fine
            self._steps[p] = -1
        else:
            w = self._weights
            if self.pattern:
                assert self.start is not None
                w = pattern_weights(
                    self.start * sub, self.slope * sub, i, self.max_step * sub,
                    self.step_penalty / sub,
                )  # fmt: skip
            dtw_row(self._prev_d, self._prev_lo * sub, fine, lo * sub, w, d, self._steps[p])
        self._prev_d, self._prev_lo = d, lo
        # Where this row sits: its best position, or (a flat fg frame, cost 1
        # everywhere) the expected advance from the previous row.
        if np.any(cost[: hi - lo] != 1.0):
            self._pos = (lo * sub + int(np.argmin(d))) / sub
        elif i > 0:
            self._pos += self.slope
        self._pending = p + 1
        self._next_row = i + 1
        alive = np.isfinite(d)
        out: list[DTWPair] = []
        r, col = converge(self._los, self._steps, self._pending, alive)
        if r >= 0:
            out += self._emit(r, col, True)
        while self._pending > self.max_lag:
            origin = roots(self._los, self._steps, self._pending, np.isfinite(self._prev_d))
            k = int(np.argmin(self._prev_d))
            keep = int(origin[k])
            self._prev_d[origin != keep] = np.inf
            self.forced += 1
            out += self._emit(0, keep, False)
            r, col = converge(self._los, self._steps, self._pending, np.isfinite(self._prev_d))
            if r >= 0:
                out += self._emit(r, col, True)
        return out

    def _emit(self, row: int, col: int, final: bool) -> list[DTWPair]:
        """Emit pending rows 0..row along the path through (row, position col); drop them."""
        sub = self.sub
        n = row + 1
        path = trace(self._los, self._steps, row, col) // sub
        los = self._los[:n] // sub
        first = self._first_pending
        out = [
            DTWPair(first + r, int(j), float(self._costs[r, j - los[r]]), final)
            for r, j in enumerate(path.tolist())
        ]
        if self.record_bands:
            self._bands += [(first + r, int(los[r]), self._costs[r].copy()) for r in range(n)]
        rest = self._pending - n
        if rest:
            self._los[:rest] = self._los[n : self._pending]
            self._steps[:rest] = self._steps[n : self._pending]
            self._costs[:rest] = self._costs[n : self._pending]
        self._pending = rest
        self._first_pending = first + n
        return out

    def take_bands(self) -> list[tuple[int, int, npt.NDArray[np.float64]]]:
        """The band rows of the pairs emitted since the last call, in the same order.

        Each is ``(fg, lo, costs)``: fg frame ``fg`` was compared with bg frames
        ``lo .. lo + 2 * band``, ``costs`` (``2 * band + 1`` floats, ``1 - correlation``)
        holding the local cost of each, ``inf`` past the last bg frame. Empty unless
        ``record_bands`` is set.
        """
        out, self._bands = self._bands, []
        return out

    # -- introspection ----------------------------------------------------------------
    @property
    def first_needed_bg(self) -> int:
        """Lowest bg frame a future pair can name (0 before any bg arrived)."""
        if self._bg_first is None:
            return 0
        if self.start is None:
            return max(self._bg_first, self._score_base - self._search_reach)
        return int(self._los[0]) // self.sub if self._pending else self._prev_lo

    @property
    def first_content(self) -> int | None:
        """The first fg frame with content (a non-zero feature), once one arrived."""
        return self._r0

    @property
    def held_frames(self) -> tuple[int, int]:
        """Fingerprints held now: (fg, bg)."""
        return self._fg.count - self._fg.base, self._bg.count - self._bg.base
