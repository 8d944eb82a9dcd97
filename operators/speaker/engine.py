"""The stream state of an :class:`~operators.speaker.diarizer.OnlineDiarizer`.

Everything that crosses a chunk boundary lives here: the window and buffer cutters
(with their audio tails), the cache of recent window embeddings, the per-cell score
accumulators of the not-yet-final region, voice activity, open turns and held events.
Times are in samples relative to the first chunk (``origin``); decisions are made per
10 ms cell.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from stream import Event, Item, item_time

from .turns import SpeakerEmbedding, SpeakerTurn, TurnTracker
from .windows import WindowBatch

if TYPE_CHECKING:
    from .diarizer import OnlineDiarizer

__all__ = ["DiarizationState", "local_speakers", "needed_windows"]

_MIN_EMBED_SAMPLES = 4000  # 0.25 s: shorter flushed tails get no embedding


def _purity(
    pc: npt.NDArray[np.float64], offsets: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Cells where each local speaker is on, and ``(windows, local)`` the fraction of
    each window where each local speaker speaks alone."""
    real = pc.shape[0]
    on = pc >= 0.5
    clean = on & (on.sum(axis=1, keepdims=True) == 1)
    cs = np.concatenate([np.zeros((1, pc.shape[1])), np.cumsum(clean, axis=0)])
    purity = (cs[np.minimum(offsets + lengths, real)] - cs[offsets]) / np.maximum(lengths, 1)[
        :, None
    ]
    return on, purity


def needed_windows(
    pc: npt.NDArray[np.float64],
    offsets: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    activity_threshold: float,
    min_purity: float,
) -> npt.NDArray[np.bool_]:
    """Which windows :func:`local_speakers` reads the embedding of, for the same
    arguments: those with a non-zero weight for some local speaker, and the best
    window of an active speaker that has none. The others (silence, overlap, windows
    shared by several speakers) need not be embedded: their weight is zero."""
    _, purity = _purity(pc, offsets, lengths)
    weighted = (purity >= min_purity) & (purity > 0)
    need: npt.NDArray[np.bool_] = np.asarray(weighted.any(axis=1))
    active = pc.max(axis=0, initial=0.0) >= activity_threshold
    for j in np.flatnonzero(active & ~weighted.any(axis=0)):
        if purity.shape[0] and purity[:, j].max() > 0:
            need[int(np.argmax(purity[:, j]))] = True
    return need


def local_speakers(
    pc: npt.NDArray[np.float64],
    offsets: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    window_emb: npt.NDArray[np.float32],
    activity_threshold: float,
    min_purity: float,
    update_ratio: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """One embedding per local speaker of a buffer, overlap-aware.

    ``pc``: ``(cells, local)`` speaker probabilities of the buffer; the windows inside
    it start at cell ``offsets`` and last ``lengths`` cells, with embeddings
    ``window_emb``. A window counts for local speaker j with weight = the fraction of
    it where j speaks alone, if that is at least ``min_purity``. Returns (embeddings
    ``(local, dim)``, zero where none; active mask; may-update mask). An active
    speaker with no such window gets its best window's embedding, without update.
    """
    real = pc.shape[0]
    on, purity = _purity(pc, offsets, lengths)
    active = pc.max(axis=0, initial=0.0) >= activity_threshold
    weights = np.where(purity >= min_purity, purity, 0.0)  # (windows, local)
    emb = weights.T @ window_emb.astype(np.float64)  # (local, dim)
    update = on.mean(axis=0) >= update_ratio if real else np.zeros(pc.shape[1], bool)
    for j in np.flatnonzero(active & (weights.sum(axis=0) == 0)):
        if purity.shape[0] and purity[:, j].max() > 0:  # best window, no update
            emb[j] = window_emb[int(np.argmax(purity[:, j]))]
            update[j] = False
    return emb, active & (np.linalg.norm(emb, axis=1) > 0), update


class DiarizationState:
    """Carried state and the per-chunk algorithm of one diarizer."""

    def __init__(self, op: OnlineDiarizer) -> None:
        self.op = op
        self._cell_frame: npt.NDArray[np.int64] | None = None
        self._hamming: npt.NDArray[np.float64] | None = None

    def reset(self) -> None:
        op = self.op
        self.windows, self.buffers = op._windows()
        if op.vad is not None:
            op.vad.reset()
        op.clustering.reset()
        self.names: list[str] = []
        for name, vec in zip(op.enrolled_names, op._enrolled, strict=True):
            join = min(op.clustering.new_speaker_distance, 1.0 - op.name_threshold)
            op.clustering.seed(vec, frozen=True, join_distance=join)
            self.names.append(name)
        self.origin: int | None = None
        self.end = 0  # samples since origin
        self.ready = 0  # samples since origin up to which inputs were handled
        self.final = 0  # cells finalised
        s = op.clustering.max_speakers
        self.acc = np.zeros((0, s), np.float64)  # row 0 is cell `final`
        self.cnt = np.zeros(0, np.float64)
        self.w_starts = np.zeros(0, np.int64)
        self.w_lens = np.zeros(0, np.int64)
        self.w_emb = np.zeros((0, op.model.dim), np.float32)
        self.w_samples = np.zeros((0, self.windows.window), np.float32)
        self.w_done = np.zeros(0, bool)  # embedded (or too short to embed)
        self.pending: list[WindowBatch] = []
        self.vad_start = 0
        self.vad_probs = np.zeros(0, np.float32)
        self.tracker = TurnTracker(s, round(op.min_gap_s * 100))
        # Buffers whose cells are not all final, for re-attribution: (first cell,
        # Hamming weights, probabilities, speaker per local speaker, history ids).
        self.recent: list[
            tuple[
                int,
                npt.NDArray[np.float64],
                npt.NDArray[np.float64],
                npt.NDArray[np.int64],
                npt.NDArray[np.int64],
            ]
        ] = []
        self.held: list[Event[Any]] = []
        self.speech = np.zeros(s, np.int64)  # samples in each speaker's emitted turns

    def labels(self) -> list[str]:
        return list(self.names)

    def bound(self, frontier: Fraction) -> Fraction:
        """Lower bound (seconds) on the end of every future event."""
        if self.origin is None:
            return frontier
        cells = max(0, self.final - self.tracker.min_gap)
        return Fraction(self.origin + cells * self.op.cell, self.op.rate)

    # -- stream ------------------------------------------------------------------------

    def push(self, mono: npt.NDArray[np.float32], start: int) -> list[Item]:
        if self.origin is None:
            self.origin = start
        self.end = start + mono.shape[0] - self.origin
        if self.op.mode == "segmentation":
            self._add_windows(self.windows.push(mono, start))
            assert self.buffers is not None
            out = self._handle_buffers(self.buffers.push(mono, start))
            return out + self._finalise((self.ready - self.op._lat) // self.op.cell)
        else:
            assert self.op.vad is not None
            self._add_vad(*self.op.vad.push(mono, start))
            self.pending.append(self.windows.push(mono, start))
            self._handle_pending()
        return self._finalise((self.ready - self.op._lat) // self.op.cell)

    def flush(self) -> list[Item]:
        if self.origin is None:
            return []
        if self.op.mode == "segmentation":
            self._add_windows(self.windows.flush())
            assert self.buffers is not None
            out = self._handle_buffers(self.buffers.flush())
        else:
            out = []
            assert self.op.vad is not None
            self._add_vad(*self.op.vad.flush())
            self.pending.append(self.windows.flush())
            self._handle_pending()
        last = -(-self.end // self.op.cell)
        out += self._finalise(last)
        out += self._turn_events(self.tracker.close_all(last))
        out += self.held
        self.held = []
        out.sort(key=item_time)
        return out

    # -- segmentation mode ---------------------------------------------------------------

    def _add_windows(self, wb: WindowBatch) -> None:
        """Cache completed windows; each is embedded when a buffer first needs it."""
        if not len(wb):
            return
        assert self.origin is not None
        self.w_starts = np.concatenate([self.w_starts, wb.starts - self.origin])
        self.w_lens = np.concatenate([self.w_lens, wb.lengths])
        self.w_samples = np.concatenate([self.w_samples, wb.samples])
        zeros = np.zeros((len(wb), self.op.model.dim), np.float32)
        self.w_emb = np.concatenate([self.w_emb, zeros])
        self.w_done = np.concatenate([self.w_done, np.zeros(len(wb), bool)])

    def _embed(self, todo: npt.NDArray[np.bool_]) -> None:
        """Embed the cached windows in ``todo`` (full ones in one batch)."""
        idx = np.flatnonzero(todo)
        if not idx.size:
            return
        model = self.op.model
        full = idx[self.w_lens[idx] == self.windows.window]
        if full.size:
            self.w_emb[full] = model.embed(self.w_samples[full])
        for i in idx[self.w_lens[idx] != self.windows.window]:
            n = int(self.w_lens[i])
            if n >= _MIN_EMBED_SAMPLES:  # shorter flushed tails keep a zero embedding
                self.w_emb[i] = model.embed(self.w_samples[i : i + 1, :n])[0]
        self.w_done[idx] = True

    def _buffer_maps(self, buf: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        if self._cell_frame is None or self._hamming is None:
            seg = self.op.segmentation
            assert seg is not None
            centers = seg.frame_centers(buf)
            cell = self.op.cell
            cc = (np.arange(buf // cell) + 0.5) * cell
            step = (centers[-1] - centers[0]) / max(len(centers) - 1, 1)
            idx = np.rint((cc - centers[0]) / step).astype(np.int64)
            self._cell_frame = np.clip(idx, 0, len(centers) - 1)
            self._hamming = np.hamming(buf // cell) + 1e-3
        return self._cell_frame, self._hamming

    def _handle_buffers(self, bb: WindowBatch) -> list[Item]:
        """Segment the buffers in one batch, embed (in one batch) the windows that
        their local speakers use and were not embedded yet, then assign in order.
        After each buffer, scores are re-attributed and the cells due are finalised, so
        that what is final does not depend on how many buffers one push completed."""
        if not len(bb):
            return []
        op = self.op
        assert self.origin is not None and op.segmentation is not None
        assert self.buffers is not None
        # Buffers cut by one push are consecutive: the model may share work between them.
        full = len(bb) > 1 and bool((bb.lengths == self.buffers.window).all())
        probs = op.segmentation(bb.samples, step=self.buffers.step if full else None)
        cell = op.cell
        cell_frame, ham = self._buffer_maps(self.buffers.window)
        todo = np.zeros(self.w_starts.shape[0], bool)
        work = []
        for b in range(len(bb)):
            bstart, length = int(bb.starts[b]) - self.origin, int(bb.lengths[b])
            real = -(-length // cell)
            pc = probs[b][cell_frame[:real]].astype(np.float64)  # (real, local)
            sel = np.flatnonzero(
                (self.w_starts >= bstart) & (self.w_starts + self.w_lens <= bstart + length)
            )
            offsets = (self.w_starts[sel] - bstart) // cell
            lengths = -(-self.w_lens[sel] // cell)
            need = needed_windows(pc, offsets, lengths, op.activity_threshold, op.min_purity)
            todo[sel[need]] = True
            work.append((bstart, length, pc, sel, offsets, lengths))
        self._embed(todo & ~self.w_done)
        out: list[Item] = []
        for bstart, length, pc, sel, offsets, lengths in work:
            self._handle_buffer(bstart, length, pc, ham, sel, offsets, lengths)
            self._reattribute()
            out += self._finalise((self.ready - op._lat) // cell)
        # Windows older than the next buffer are no longer needed.
        keep = self.w_starts >= self.buffers.next_start - self.origin
        self.w_starts, self.w_lens = self.w_starts[keep], self.w_lens[keep]
        self.w_samples, self.w_emb = self.w_samples[keep], self.w_emb[keep]
        self.w_done = self.w_done[keep]
        return out

    def _handle_buffer(
        self,
        bstart: int,
        length: int,
        pc: npt.NDArray[np.float64],
        ham: npt.NDArray[np.float64],
        sel: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        lengths: npt.NDArray[np.int64],
    ) -> None:
        op = self.op
        cell = op.cell
        real = pc.shape[0]
        emb, active, update = local_speakers(
            pc,
            offsets,
            lengths,
            self.w_emb[sel],
            op.activity_threshold,
            op.min_purity,
            op.update_ratio,
        )
        use = active
        labels = np.full(pc.shape[1], -1, np.int64)
        ids = np.full(pc.shape[1], -1, np.int64)
        if use.any():
            a = op.clustering.assign(
                emb[use].astype(np.float32), update=update[use], cannot_link=True
            )
            labels[use] = a.labels
            if a.entries is not None:
                ids[use] = a.entries
            self._name_new_speakers()
            if op.emit_embeddings:
                vecs = emb[use] / np.linalg.norm(emb[use], axis=1, keepdims=True)
                for lab, d, v in zip(a.labels, a.distances, vecs, strict=True):
                    if lab >= 0:
                        self._hold_embedding(bstart, bstart + length, int(lab), float(d), v)
        # Accumulate the probabilities of assigned local speakers on the cell grid.
        self.ready = max(self.ready, bstart + length)
        c0 = bstart // cell
        lo = max(c0, self.final)
        if lo >= c0 + real:
            return
        self._grow(c0 + real)
        rows = slice(lo - self.final, c0 + real - self.final)
        w = ham[lo - c0 : real]
        self.cnt[rows] += w
        for j in np.flatnonzero(labels >= 0):
            self.acc[rows, labels[j]] += w * pc[lo - c0 : real, j]
        if (ids >= 0).any():
            self.recent.append((c0, ham[:real], pc, labels, ids))

    def _reattribute(self) -> None:
        """Move the not-yet-final scores of local speakers whose history entry now
        belongs to another speaker (a cluster confirmed as a new speaker after its
        first buffers went to the nearest old one) to that speaker, keeping the
        cannot-link constraint of each buffer."""
        self.recent = [r for r in self.recent if r[0] + r[1].shape[0] > self.final]
        speakers_of = getattr(self.op.clustering, "speakers_of", None)
        if not self.recent or speakers_of is None:
            return
        now = speakers_of(np.concatenate([r[4] for r in self.recent]))
        at = 0
        for c0, w, pc, labels, ids in self.recent:
            cur = now[at : at + ids.shape[0]]
            at += ids.shape[0]
            moved = (ids >= 0) & (cur >= 0) & (cur != labels)
            if not moved.any():
                continue
            new = np.where(moved, cur, labels)
            taken = new[new >= 0]
            if np.unique(taken).shape[0] != taken.shape[0]:
                continue  # would put two local speakers of the buffer on one speaker
            lo = max(c0, self.final)
            rows = slice(lo - self.final, c0 + w.shape[0] - self.final)
            for j in np.flatnonzero(moved):
                part = w[lo - c0 :] * pc[lo - c0 :, j]
                if labels[j] >= 0:
                    self.acc[rows, labels[j]] -= part
                self.acc[rows, new[j]] += part
            labels[:] = new

    # -- light (VAD) mode --------------------------------------------------------------

    def _add_vad(self, start: int, probs: npt.NDArray[np.float32]) -> None:
        if not probs.size:
            return
        assert self.origin is not None
        if not self.vad_probs.size:
            self.vad_start = start - self.origin
        self.vad_probs = np.concatenate([self.vad_probs, probs])

    def _vad_at(self, cells: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        assert self.op.vad is not None
        centre = cells * self.op.cell + self.op.cell // 2
        idx = (centre - self.vad_start) // self.op.vad.frame
        ok = (idx >= 0) & (idx < self.vad_probs.shape[0])
        return np.where(ok, self.vad_probs[np.clip(idx, 0, max(self.vad_probs.size - 1, 0))], 0.0)

    def _handle_pending(self) -> None:
        op = self.op
        assert self.origin is not None and op.vad is not None
        vad_end = self.vad_start + self.vad_probs.shape[0] * op.vad.frame
        batches = [b for b in self.pending if len(b)]
        if not batches:
            self.pending = []
            return
        samples = np.concatenate([b.samples for b in batches])
        starts = np.concatenate([b.starts for b in batches]) - self.origin
        lens = np.concatenate([b.lengths for b in batches])
        ready = starts + lens <= vad_end  # at flush the padded last VAD frame covers all
        n = int(np.argmin(ready)) if not ready.all() else ready.shape[0]
        self.pending = (
            [WindowBatch(samples[n:], starts[n:] + self.origin, lens[n:])] if n < len(lens) else []
        )
        if n == 0:
            return
        cell = op.cell
        frac = np.zeros(n)
        for i in range(n):
            cells = np.arange(starts[i] // cell, (starts[i] + lens[i]) // cell)
            frac[i] = np.mean(self._vad_at(cells) >= 0.5) if cells.size else 0.0
        speech = (frac >= op.speech_ratio) & (lens[:n] >= _MIN_EMBED_SAMPLES)
        emb = np.zeros((n, op.model.dim), np.float32)
        full = speech & (lens[:n] == self.windows.window)
        if full.any():
            emb[full] = op.model.embed(samples[:n][full])
        for w in np.flatnonzero(speech & ~full):
            emb[w] = op.model.embed(samples[w : w + 1, : lens[w]])[0]
        for w in np.flatnonzero(speech):
            i = int(w)
            a = op.clustering.assign(emb[i : i + 1])
            g = int(a.labels[0])
            self._name_new_speakers()
            if g < 0:
                continue
            c0, c1 = starts[i] // cell, -(-(starts[i] + lens[i]) // cell)
            lo = max(c0, self.final)
            if lo < c1:
                self._grow(c1)
                votes = np.hanning(c1 - c0 + 2)[1:-1]
                self.acc[lo - self.final : c1 - self.final, g] += votes[lo - c0 :]
            if op.emit_embeddings:
                self._hold_embedding(
                    int(starts[i]), int(starts[i] + lens[i]), g, float(a.distances[0]), emb[i]
                )
        self.ready = max(self.ready, min(int(starts[n - 1] + lens[n - 1]), vad_end))

    # -- decisions and turns -------------------------------------------------------------

    def _grow(self, cells: int) -> None:
        need = cells - self.final - self.acc.shape[0]
        if need > 0:
            self.acc = np.concatenate([self.acc, np.zeros((need, self.acc.shape[1]))])
            self.cnt = np.concatenate([self.cnt, np.zeros(need)])

    def _name_new_speakers(self) -> None:
        n_enrolled = len(self.op.enrolled_names)
        while len(self.names) < self.op.clustering.num_speakers:
            self.names.append(f"spk{len(self.names) - n_enrolled}")

    def _finalise(self, up_to: int) -> list[Item]:
        m = up_to - self.final
        if m <= 0:
            return []
        self._grow(up_to)
        acc, cnt = self.acc[:m], self.cnt[:m]
        if self.op.mode == "segmentation":
            score = acc / np.maximum(cnt, 1e-9)[:, None]
            active = score >= self.op.onset
        else:
            total = acc.sum(axis=1)
            vad = self._vad_at(np.arange(self.final, up_to))
            win = np.argmax(acc, axis=1)
            speech = (vad >= 0.5) & (total > 0)
            active = np.zeros(acc.shape, bool)
            active[np.flatnonzero(speech), win[speech]] = True
            score = np.where(active, acc / np.maximum(total, 1e-9)[:, None] * vad[:, None], 0.0)
            assert self.op.vad is not None
            drop = (self.final * self.op.cell - self.vad_start) // self.op.vad.frame
            if drop > 0:
                self.vad_probs = self.vad_probs[drop:]
                self.vad_start += drop * self.op.vad.frame
        turns = self.tracker.advance(self.final, active, score.astype(np.float32))
        self.acc, self.cnt = self.acc[m:], self.cnt[m:]
        self.final = up_to
        out = self._turn_events(turns)
        # A turn still open may end up to min_gap cells before `final`: hold back later events.
        limit = (self.final - self.tracker.min_gap) * self.op.cell
        assert self.origin is not None
        keep = [e for e in self.held if e.end - self.origin > limit]
        out += [e for e in self.held if e.end - self.origin <= limit]
        self.held = keep
        out.sort(key=item_time)
        return out

    def _turn_events(self, turns: list[tuple[int, int, int, float]]) -> list[Item]:
        if not turns:
            return []
        op = self.op
        assert self.origin is not None
        names: list[str | None] = [None] * len(turns)
        scores: list[float | None] = [None] * len(turns)
        if op.enrolled_names:
            sims = op.clustering.centroids @ op._enrolled.T  # (speakers, enrolled)
            for t, (s, *_rest) in enumerate(turns):
                best = int(np.argmax(sims[s]))
                scores[t] = float(sims[s, best])
                if sims[s, best] >= op.name_threshold:
                    names[t] = op.enrolled_names[best]
        out: list[Item] = []
        for t, (s, c0, c1, conf) in enumerate(turns):
            start = self.origin + c0 * op.cell
            end = self.origin + min(c1 * op.cell, self.end)
            if end <= start:
                continue
            payload = SpeakerTurn(self.names[s], round(conf, 4), names[t], scores[t])
            self.speech[s] += end - start
            out.append(op._event_turn(start, end, payload))
        return out

    def _hold_embedding(self, start: int, end: int, label: int, dist: float, vec: Any) -> None:
        assert self.origin is not None
        payload = SpeakerEmbedding(
            self.names[label], round(dist, 6), tuple(float(v) for v in np.asarray(vec))
        )
        self.held.append(self.op._event_embedding(self.origin + start, self.origin + end, payload))
