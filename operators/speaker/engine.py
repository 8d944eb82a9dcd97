"""The streaming core of an online diarizer: its carried state and per-chunk algorithm.

:class:`DiarizationEngine` is built from the
:class:`~operators.speaker.settings.DiarizerSettings`, the
:class:`~operators.speaker.models.SpeakerModels` and a
:class:`~operators.speaker.strategy.ClusteringStrategy`; the operator
(:class:`~operators.speaker.diarizer.OnlineDiarizer`) hands it mono chunks. Everything
that crosses a chunk boundary lives here: the window and buffer cutters (with their
audio tails), the cache of recent window embeddings, the per-cell score accumulators of
the not-yet-final region and voice activity; what the final cells become (open turns,
held events, speaker labels) is its :class:`~operators.speaker.output.TurnOutput`.
Times are in samples relative to the first chunk (``origin``); decisions are made per
10 ms cell.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt

from stream import Item, item_time

from .linking import SpeakerProfile
from .local_speakers import (
    MIN_EMBED_SAMPLES,
    WindowCache,
    active_cells,
    buffer_maps,
    local_speakers,
    needed_windows,
    voices_without_speaker,
)
from .models import SpeakerModels
from .output import TurnOutput
from .settings import DiarizerSettings
from .strategy import ClusteringStrategy
from .windows import RollingWindows, WindowBatch

__all__ = ["DiarizationEngine"]


class DiarizationEngine:
    """Carried state and the per-chunk algorithm of one diarizer.

    Args:
        settings: the diarizer's settings.
        models: its models (a segmentation model in the segmentation mode, a voice
            activity detector in the light mode).
        clustering: the strategy that turns embeddings into speakers (reset and
            seeded with the enrolled voices here).

    Call :meth:`reset` before the first :meth:`push` (a new stream).
    """

    def __init__(
        self, settings: DiarizerSettings, models: SpeakerModels, clustering: ClusteringStrategy
    ) -> None:
        self.settings = settings
        self.models = models
        self.clustering = clustering
        self.output = TurnOutput(settings, clustering)
        # Per buffer length: the model frame of each cell, the Hamming weights.
        self._maps: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}

    def reset(self) -> None:
        """Forget the stream: speakers (the enrolled ones are seeded again), audio
        tails, scores, open turns and held events."""
        s, clustering = self.settings, self.clustering
        self.windows = RollingWindows(s.window_samples, s.window_step_samples)
        self.buffers = (
            RollingWindows(s.buffer_samples, s.step_samples) if s.mode == "segmentation" else None
        )
        count_buffer = s.count_buffer_samples if s.mode == "segmentation" else None
        self.count_buffers = (
            RollingWindows(count_buffer, s.count_step_samples) if count_buffer else None
        )
        # Count buffers segmented but not yet averaged in (they are, once the speaker
        # buffers have reached their end): (first cell, Hamming weights, local speakers
        # at or above onset per cell).
        self.count_queue: list[tuple[int, npt.NDArray[np.float64], npt.NDArray[np.float64]]] = []
        if self.models.vad is not None:
            self.models.vad.reset()
        clustering.reset()
        for vec in s.enrolled:
            join = min(clustering.new_speaker_distance, 1.0 - s.name_threshold)
            clustering.seed(vec, frozen=True, join_distance=join)
        self.output.reset()
        self.origin: int | None = None
        self.end = 0  # samples since origin
        self.ready = 0  # samples since origin up to which inputs were handled
        self.final = 0  # cells finalised
        n = clustering.max_speakers
        self.acc = np.zeros((0, n), np.float64)  # row 0 is cell `final`
        self.cnt = np.zeros(0, np.float64)
        # Local speakers at or above onset, weighted as cnt (see active_cells); the
        # same from the count buffers, and their weights.
        self.nact = np.zeros(0, np.float64)
        self.nact2 = np.zeros(0, np.float64)
        self.cnt2 = np.zeros(0, np.float64)
        self.cache = WindowCache(self.windows.window, s.dim)
        self.pending: list[WindowBatch] = []
        self.vad_start = 0
        self.vad_probs = np.zeros(0, np.float32)
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

    def labels(self) -> list[str]:
        """Label of each speaker so far, in creation order."""
        return list(self.output.names)

    def bound(self, frontier: Fraction) -> Fraction:
        """Lower bound (seconds) on the end of every future event."""
        if self.origin is None:
            return frontier
        cells = max(0, self.final - self.output.min_gap)
        return Fraction(self.origin + cells * self.settings.cell, self.settings.rate)

    def profiles(self) -> list[SpeakerProfile]:
        """The speakers with emitted turns, for linking speakers across streams."""
        return self.output.profiles()

    # -- stream ------------------------------------------------------------------------

    def push(self, mono: npt.NDArray[np.float32], start: int) -> list[Item]:
        """Take mono samples whose first frame is ``start``; return the events due."""
        s = self.settings
        if self.origin is None:
            self.origin = start
        self.end = start + mono.shape[0] - self.origin
        if s.mode == "segmentation":
            self.cache.add(self.windows.push(mono, start), self.origin)
            assert self.buffers is not None
            if self.count_buffers is not None:
                self._segment_counts(self.count_buffers.push(mono, start))
            out = self._handle_buffers(self.buffers.push(mono, start))
            return out + self._finalise((self.ready - s.latency_samples) // s.cell)
        else:
            assert self.models.vad is not None
            self._add_vad(*self.models.vad.push(mono, start))
            self.pending.append(self.windows.push(mono, start))
            self._handle_pending()
        return self._finalise((self.ready - s.latency_samples) // s.cell)

    def flush(self) -> list[Item]:
        """End of stream: every event still held or due."""
        if self.origin is None:
            return []
        if self.settings.mode == "segmentation":
            self.cache.add(self.windows.flush(), self.origin)
            assert self.buffers is not None
            if self.count_buffers is not None:
                self._segment_counts(self.count_buffers.flush())
            out = self._handle_buffers(self.buffers.flush())
            self._add_counts(everything=True)
        else:
            out = []
            assert self.models.vad is not None
            self._add_vad(*self.models.vad.flush())
            self.pending.append(self.windows.flush())
            self._handle_pending()
        last = -(-self.end // self.settings.cell)
        out += self._finalise(last)
        out += self.output.close(last, self.origin, self.end)
        out.sort(key=item_time)
        return out

    # -- segmentation mode ---------------------------------------------------------------

    def _buffer_maps(self, buf: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        if buf not in self._maps:
            seg = self.models.segmentation
            assert seg is not None
            self._maps[buf] = buffer_maps(seg.frame_centers(buf), buf, self.settings.cell)
        return self._maps[buf]

    def _segment_counts(self, bb: WindowBatch) -> None:
        """Segment count buffers; queue each cell's number of active local speakers
        (they are averaged in by :meth:`_add_counts`)."""
        if not len(bb):
            return
        seg, cb = self.models.segmentation, self.count_buffers
        assert self.origin is not None and seg is not None and cb is not None
        full = len(bb) > 1 and bool((bb.lengths == cb.window).all())
        probs = seg(bb.samples, step=cb.step if full else None)
        cell = self.settings.cell
        cell_frame, ham = self._buffer_maps(cb.window)
        for b in range(len(bb)):
            bstart, length = int(bb.starts[b]) - self.origin, int(bb.lengths[b])
            real = -(-length // cell)
            active = (probs[b][cell_frame[:real]] >= self.settings.onset).sum(axis=1)
            self.count_queue.append((bstart // cell, ham[:real], active.astype(np.float64)))

    def _add_counts(self, everything: bool = False) -> None:
        """Average in the queued count buffers that end by ``ready`` (all of them at
        the end of the stream): what a cell's count rests on depends on how far the
        speaker buffers have got, never on the chunking."""
        cell = self.settings.cell
        limit = None if everything else -(-self.ready // cell)
        keep = []
        for c0, w, active in self.count_queue:
            c1 = c0 + w.shape[0]
            if limit is not None and c1 > limit:
                keep.append((c0, w, active))
                continue
            lo = max(c0, self.final)
            if lo >= c1:
                continue
            self._grow(c1)
            rows = slice(lo - self.final, c1 - self.final)
            self.cnt2[rows] += w[lo - c0 :]
            self.nact2[rows] += w[lo - c0 :] * active[lo - c0 :]
        self.count_queue = keep

    def _handle_buffers(self, bb: WindowBatch) -> list[Item]:
        """Segment the buffers in one batch, embed (in one batch) the windows that
        their local speakers use and were not embedded yet, then assign in order.
        After each buffer, scores are re-attributed and the cells due are finalised, so
        that what is final does not depend on how many buffers one push completed."""
        if not len(bb):
            return []
        s, seg = self.settings, self.models.segmentation
        assert self.origin is not None and seg is not None
        assert self.buffers is not None
        # Buffers cut by one push are consecutive: the model may share work between them.
        full = len(bb) > 1 and bool((bb.lengths == self.buffers.window).all())
        probs = seg(bb.samples, step=self.buffers.step if full else None)
        cell = s.cell
        cell_frame, ham = self._buffer_maps(self.buffers.window)
        cache = self.cache
        todo = np.zeros(cache.starts.shape[0], bool)
        work = []
        for b in range(len(bb)):
            bstart, length = int(bb.starts[b]) - self.origin, int(bb.lengths[b])
            real = -(-length // cell)
            pc = probs[b][cell_frame[:real]].astype(np.float64)  # (real, local)
            sel = cache.inside(bstart, length)
            offsets = (cache.starts[sel] - bstart) // cell
            lengths = -(-cache.lengths[sel] // cell)
            need = needed_windows(pc, offsets, lengths, s.activity_threshold, s.min_purity)
            todo[sel[need]] = True
            work.append((bstart, length, pc, sel, offsets, lengths))
        cache.embed(todo, self.models.embedding)
        out: list[Item] = []
        for bstart, length, pc, sel, offsets, lengths in work:
            self._handle_buffer(bstart, length, pc, ham, sel, offsets, lengths)
            self._reattribute()
            out += self._finalise((self.ready - s.latency_samples) // cell)
        cache.drop_before(self.buffers.next_start - self.origin)  # no later buffer uses them
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
        s = self.settings
        cell = s.cell
        real = pc.shape[0]
        emb, active, update = local_speakers(
            pc,
            offsets,
            lengths,
            self.cache.emb[sel],
            s.activity_threshold,
            s.min_purity,
            s.update_ratio,
        )
        update = voices_without_speaker(pc, active, update, self.clustering.num_speakers)
        use = active
        labels = np.full(pc.shape[1], -1, np.int64)
        ids = np.full(pc.shape[1], -1, np.int64)
        if use.any():
            a = self.clustering.assign(
                emb[use].astype(np.float32),
                update=update[use],
                cannot_link=True,
                time=bstart / s.rate,
            )
            labels[use] = a.labels
            if a.entries is not None:
                ids[use] = a.entries
            self.output.name_new_speakers()
            if s.emit_embeddings:
                assert self.origin is not None
                t0, t1 = self.origin + bstart, self.origin + bstart + length
                vecs = emb[use] / np.linalg.norm(emb[use], axis=1, keepdims=True)
                for lab, d, v in zip(a.labels, a.distances, vecs, strict=True):
                    if lab >= 0:
                        self.output.hold_embedding(t0, t1, int(lab), float(d), v)
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
        self.nact[rows] += w * (pc[lo - c0 : real] >= s.onset).sum(axis=1)
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
        if not self.recent:
            return
        now = self.clustering.speakers_of(np.concatenate([r[4] for r in self.recent]))
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
        vad, cell = self.models.vad, self.settings.cell
        assert vad is not None
        centre = cells * cell + cell // 2
        idx = (centre - self.vad_start) // vad.frame
        ok = (idx >= 0) & (idx < self.vad_probs.shape[0])
        return np.where(ok, self.vad_probs[np.clip(idx, 0, max(self.vad_probs.size - 1, 0))], 0.0)

    def _handle_pending(self) -> None:
        s, vad, model = self.settings, self.models.vad, self.models.embedding
        assert self.origin is not None and vad is not None
        vad_end = self.vad_start + self.vad_probs.shape[0] * vad.frame
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
        cell = s.cell
        frac = np.zeros(n)
        for i in range(n):
            cells = np.arange(starts[i] // cell, (starts[i] + lens[i]) // cell)
            frac[i] = np.mean(self._vad_at(cells) >= 0.5) if cells.size else 0.0
        speech = (frac >= s.speech_ratio) & (lens[:n] >= MIN_EMBED_SAMPLES)
        emb = np.zeros((n, s.dim), np.float32)
        full = speech & (lens[:n] == self.windows.window)
        if full.any():
            emb[full] = model.embed(samples[:n][full])
        for w in np.flatnonzero(speech & ~full):
            emb[w] = model.embed(samples[w : w + 1, : lens[w]])[0]
        for w in np.flatnonzero(speech):
            i = int(w)
            a = self.clustering.assign(emb[i : i + 1], time=int(starts[i]) / s.rate)
            g = int(a.labels[0])
            self.output.name_new_speakers()
            if g < 0:
                continue
            c0, c1 = starts[i] // cell, -(-(starts[i] + lens[i]) // cell)
            lo = max(c0, self.final)
            if lo < c1:
                self._grow(c1)
                votes = np.hanning(c1 - c0 + 2)[1:-1]
                self.acc[lo - self.final : c1 - self.final, g] += votes[lo - c0 :]
            if s.emit_embeddings:
                t0, t1 = self.origin + int(starts[i]), self.origin + int(starts[i] + lens[i])
                self.output.hold_embedding(t0, t1, g, float(a.distances[0]), emb[i])
        self.ready = max(self.ready, min(int(starts[n - 1] + lens[n - 1]), vad_end))

    # -- decisions and turns -------------------------------------------------------------

    def _grow(self, cells: int) -> None:
        need = cells - self.final - self.acc.shape[0]
        if need > 0:
            self.acc = np.concatenate([self.acc, np.zeros((need, self.acc.shape[1]))])
            self.cnt = np.concatenate([self.cnt, np.zeros(need)])
            self.nact = np.concatenate([self.nact, np.zeros(need)])
            self.nact2 = np.concatenate([self.nact2, np.zeros(need)])
            self.cnt2 = np.concatenate([self.cnt2, np.zeros(need)])

    def _finalise(self, up_to: int) -> list[Item]:
        m = up_to - self.final
        if m <= 0:
            return []
        self._grow(up_to)
        s = self.settings
        if s.mode == "segmentation" and self.count_queue:
            self._add_counts()
        acc, cnt = self.acc[:m], self.cnt[:m]
        if s.mode == "segmentation":
            score = acc / np.maximum(cnt, 1e-9)[:, None]
            count = self.nact[:m] / np.maximum(cnt, 1e-9)
            cnt2 = self.cnt2[:m]
            if cnt2.any():  # the count buffers' count where they cover the cell
                count = np.where(cnt2 > 0, self.nact2[:m] / np.maximum(cnt2, 1e-9), count)
            active = active_cells(score, count, s.onset, s.reconstruction)
        else:
            total = acc.sum(axis=1)
            vad = self._vad_at(np.arange(self.final, up_to))
            win = np.argmax(acc, axis=1)
            speech = (vad >= 0.5) & (total > 0)
            active = np.zeros(acc.shape, bool)
            active[np.flatnonzero(speech), win[speech]] = True
            score = np.where(active, acc / np.maximum(total, 1e-9)[:, None] * vad[:, None], 0.0)
            assert self.models.vad is not None
            frame = self.models.vad.frame
            drop = (self.final * s.cell - self.vad_start) // frame
            if drop > 0:
                self.vad_probs = self.vad_probs[drop:]
                self.vad_start += drop * frame
        assert self.origin is not None
        out = self.output.decide(
            self.final, active, score.astype(np.float32), self.origin, self.end
        )
        self.acc, self.cnt, self.nact = self.acc[m:], self.cnt[m:], self.nact[m:]
        self.nact2, self.cnt2 = self.nact2[m:], self.cnt2[m:]
        self.final = up_to
        return out
