"""Offline diarization with the same models and embeddings, for comparison.

The whole file at once: the segmentation model slides over it as pyannote's
``Inference`` does (same buffer and step as the online diarizer), the same embedding
windows and the same overlap-aware local-speaker embeddings are computed. Which voices
there are comes from one of two clusterings (``clustering=``):

* ``"hindsight"`` (default): the diarizer's own clustering strategy is run over the
  file's buffers in order, exactly as streaming does, and its speakers at the end of
  the file (their centroids) are the voices. Nothing is labelled during that pass:
  every local speaker is labelled afterwards, against those final centroids. What
  streaming gets wrong only because it must decide before it has heard everything (a
  voice that is first heard in an overlap, before it has a speaker; the early buffers
  of a voice labelled with the nearest speaker until its cluster is confirmed) is
  labelled with hindsight. When that pass does not honour the speaker-count hints
  (or finds no speaker at all), the agglomerative clustering below is used instead.
* ``"agglomerative"``: all strong embeddings clustered together (scipy's
  average linkage on cosine distance, cut at a per-model distance; clusters of fewer
  than ``min_cluster_size`` embeddings, or 10 % of them in a short file, dissolved
  into the nearest larger cluster, as pyannote's pipeline does). This is independent of
  the streaming clustering: the reference of the "streaming versus offline clustering
  of the same embeddings" benches.

Either way every local speaker then goes to the speaker whose centroid is nearest,
jointly per buffer (Hungarian: two local speakers of one buffer never share a speaker,
so an overlap keeps both voices), as pyannote's constrained assignment. Aggregation and
turns are as online. It holds the whole file in memory.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Literal

import numpy as np
import numpy.typing as npt

from stream import Event, ParameterError

from .diarizer import OnlineDiarizer
from .linkage import LinkageClustering
from .local_speakers import (
    MIN_EMBED_SAMPLES,
    active_cells,
    buffer_maps,
    local_speakers,
    voices_without_speaker,
)
from .turns import SpeakerTurn, TurnTracker
from .windows import RollingWindows

__all__ = ["OFFLINE_CLUSTERINGS", "OFFLINE_THRESHOLD", "diarize_offline"]

# Average-linkage cut per embedding model (mean pairwise cosine distance between two
# clusters); lower than the online new-speaker distance, which is measured against
# centroids. CAM++: 0.40 with min_cluster_size 10, the middle of the flat part
# (0.38-0.42) of the tune-half DER of AMI excerpts, LibriSpeech-voice conversations and
# synthetic MBROLA conversations (`python bench/diarize_corpora.py sweep`,
# bench/README.md); with the constrained assignment and the 10 % rule (2026-12-07):
# 13.8 %, 5.1 % (4.8 % at 0.42) and 0.0 %; at 0.36 AMI 23.8 %, from 0.45 two MBROLA
# voices merge (9.3 %).
OFFLINE_THRESHOLD = {"campplus": 0.40, "ge2e": 0.25}
MIN_CLUSTER_SIZE = 10
OFFLINE_CLUSTERINGS = ("hindsight", "agglomerative")


def _segment(
    op: OnlineDiarizer,
    audio: npt.NDArray[np.float32],
    window: int | None = None,
    step: int | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Local-speaker probabilities of every buffer and the buffers' first samples.

    pyannote's ``Inference`` chunking (sliding window, no aggregation): buffers of
    ``window`` samples (default ``buffer_s``) every ``step`` (default ``step_s``) from
    0, then, when they do not end exactly at the end, one more zero-padded buffer that
    starts after the last whole one (or the whole file, padded, when it is shorter
    than a buffer).
    """
    cfg, seg = op.settings, op.models.segmentation
    assert seg is not None
    window = cfg.buffer_samples if window is None else window
    step = cfg.step_samples if step is None else step
    n = audio.shape[0]
    whole = 0 if n < window else 1 + (n - window) // step
    parts: list[npt.NDArray[np.float32]] = []
    if whole:
        view = np.lib.stride_tricks.sliding_window_view(audio, window)[::step][:whole]
        parts.append(seg(np.ascontiguousarray(view), step=step))
    if n < window or (n - window) % step > 0:
        last = np.zeros((1, window), np.float32)
        rest = audio[whole * step :]
        last[0, : rest.shape[0]] = rest
        parts.append(seg(last))
    probs = np.concatenate(parts).astype(np.float32, copy=False)
    return probs, np.arange(probs.shape[0], dtype=np.int64) * step


def _unit_centroids(
    e: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], clusters: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Unit mean direction of the embeddings ``e`` labelled with each of ``clusters``."""
    cent = np.stack([e[labels == c].mean(axis=0) for c in np.asarray(clusters)])
    out: npt.NDArray[np.float64] = cent / np.linalg.norm(cent, axis=1, keepdims=True)
    return out


def _dissolve_small(
    e: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    min_size: float,
    at_least: int = 1,
) -> npt.NDArray[np.int64]:
    """Relabel 0..k-1 keeping clusters of >= ``min_size`` members (at least the
    ``at_least`` largest); members of the others go to the nearest kept centroid."""
    counts = np.bincount(labels)
    keep = np.flatnonzero(counts >= min_size)
    if keep.size < at_least:
        keep = np.sort(np.argsort(-counts, kind="stable")[:at_least])
    cent = _unit_centroids(e, labels, keep)
    out = np.full(labels.shape, -1, np.int64)
    for i, c in enumerate(keep):
        out[labels == c] = i
    small = out < 0
    if small.any():
        out[small] = np.argmax(cent @ e[small].T, axis=0)
    return out


def _cluster(
    e: npt.NDArray[np.float64],
    cut: float,
    min_size: float,
    min_speakers: int,
    max_speakers: int,
) -> npt.NDArray[np.int64]:
    """Labels 0..k-1 of the unit embeddings ``e``: scipy's average linkage on cosine
    distance cut at ``cut``, clusters smaller than ``min_size`` (at most 10 % of the
    embeddings, pyannote.audio's rule for short files) dissolved; when that leaves fewer than
    ``min_speakers`` or more than ``max_speakers`` clusters, the dendrogram is cut into
    the nearest allowed count instead (``maxclust``) and only the smaller clusters
    beyond it dissolve."""
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]

    min_size = min(min_size, max(1, round(0.1 * e.shape[0])))  # pyannote's, short files
    z = linkage(e, method="average", metric="cosine")
    labels = _dissolve_small(e, fcluster(z, t=cut, criterion="distance") - 1, min_size)
    k = int(labels.max()) + 1
    if min_speakers <= k <= max_speakers:
        return labels
    target = min(max(k, min_speakers), max_speakers, e.shape[0])
    raw = fcluster(z, t=target, criterion="maxclust") - 1
    out = _dissolve_small(e, raw, min_size, at_least=target)
    if int(out.max()) + 1 > target:  # more big clusters than allowed: the largest stay
        out = _dissolve_small(e, raw, np.inf, at_least=target)
    return out


def _hindsight_centroids(
    op: OnlineDiarizer,
    e: npt.NDArray[np.float64],
    strong: npt.NDArray[np.bool_],
    buffers: npt.NDArray[np.int64],
    local: npt.NDArray[np.int64],
    pcs: list[tuple[int, int, npt.NDArray[np.float64]]],
) -> npt.NDArray[np.float64] | None:
    """Unit centroids ``(k, dim)`` of the speakers that ``op``'s clustering strategy
    (a fresh copy) has at the end of the file when fed the local speakers of every
    buffer in order, as the streaming diarizer feeds it (``strong``: may enter its
    history, with :func:`voices_without_speaker` as online; ``local``: each
    embedding's local speaker in its buffer; ``pcs``: each buffer's first sample, cells
    and probabilities). None when it has none, or a number outside ``op``'s
    speaker-count hints."""
    clu = copy.deepcopy(op.clustering)
    clu.reset()
    ids = np.full(e.shape[0], -1, np.int64)
    # Local speakers are listed buffer by buffer, in order: one group per buffer.
    cuts = np.flatnonzero(np.diff(buffers)) + 1
    for idx in np.split(np.arange(buffers.size), cuts):
        b0, _, pc = pcs[int(buffers[idx[0]])]
        js = local[idx]
        act = np.zeros(pc.shape[1], bool)
        act[js] = True
        upd = np.zeros(pc.shape[1], bool)
        upd[js] = strong[idx]
        upd = voices_without_speaker(pc, act, upd, clu.num_speakers)
        a = clu.assign(
            e[idx].astype(np.float32),
            update=upd[js],
            cannot_link=True,
            time=b0 / op.settings.rate,
        )
        if a.entries is not None:
            ids[idx] = a.entries
    if clu.num_speakers == 0:
        return None
    if isinstance(clu, LinkageClustering):  # the speakers that still have a cluster
        speakers = clu.speakers_of(ids[ids >= 0])
        keep = np.unique(speakers[speakers >= 0])
    else:
        keep = np.arange(clu.num_speakers)
    cfg = op.settings
    if not cfg.min_speakers <= keep.size <= cfg.max_speakers:
        return None
    return clu.centroids[keep].astype(np.float64)


def _constrained(
    e: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    k: int,
    buffers: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Each local speaker's cluster, no two local speakers of one buffer in the same
    one (pyannote.audio's constrained assignment): the unit embeddings ``e`` against
    the centroids of ``labels`` (0..k-1; -1: not clustered), see :func:`_assign`."""
    return _assign(e, _unit_centroids(e, labels, range(k)), buffers)


def _assign(
    e: npt.NDArray[np.float64],
    centroids: npt.NDArray[np.float64],
    buffers: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Index of the centroid each unit embedding of ``e`` goes to, Hungarian per buffer
    (``buffers``: each embedding's buffer), never two of one buffer to one centroid. A
    buffer with more local speakers than centroids leaves the least similar ones at
    -1."""
    from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

    sim = e @ centroids.T  # (locals, clusters)
    out = np.full(e.shape[0], -1, np.int64)
    order = np.argsort(buffers, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(buffers[order]) != 0])
    for g in np.split(order, starts[1:]):
        rows, cols = linear_sum_assignment(-sim[g])
        out[g[rows]] = cols
    return out


def diarize_offline(
    op: OnlineDiarizer,
    audio: npt.NDArray[np.float32],
    threshold: float | None = None,
    min_cluster_size: float | None = None,
    clustering: Literal["hindsight", "agglomerative"] = "hindsight",
) -> list[Event[SpeakerTurn]]:
    """Diarize mono ``audio`` (at ``op.rate``) offline with ``op``'s models and settings.

    ``op`` must be in segmentation mode; it is only read (its speaker-count hints
    ``min_speakers``/``max_speakers`` and its clustering strategy included; enrolled
    voices are not used). ``clustering``: how the voices are found (module docstring):
    ``"hindsight"`` (default), ``op``'s streaming clustering run over the whole file,
    every local speaker labelled afterwards against its final speakers; or
    ``"agglomerative"``, average linkage over all strong embeddings at once, which is
    also the fallback when the first finds no speaker or breaks a count hint.

    The agglomerative clustering's parameters: ``threshold``, the average-linkage cut,
    a cosine distance (default: ``OFFLINE_THRESHOLD`` for the model, else ``op``'s
    ``linkage_distance`` when it uses linkage clustering, else its new-speaker
    distance); ``min_cluster_size``: clusters of fewer strong local-speaker embeddings
    (one per buffer a speaker is active in) join the nearest larger cluster (default
    10, whatever the online setting: with the whole file at hand there is no need to
    confirm a voice early; the largest cluster always stays; at most 10 % of the strong
    embeddings, so that a short file keeps its minor speakers). When no embedding is
    strong (a file whose only speech is short or mixed), all of them are clustered
    instead: one voice rather than none. Every local speaker, strong or not, then takes
    the nearest speaker's centroid, jointly with the other local speakers of its buffer
    (never two on one speaker). Returns speaker turns.
    """
    cfg, model, seg = op.settings, op.models.embedding, op.models.segmentation
    if cfg.mode != "segmentation" or seg is None:
        raise ValueError("diarize_offline needs an OnlineDiarizer in segmentation mode")
    if clustering not in OFFLINE_CLUSTERINGS:
        raise ParameterError(
            f"diarize_offline.clustering must be one of {OFFLINE_CLUSTERINGS}, got {clustering!r}"
        )
    x = np.asarray(audio, np.float32).reshape(-1)
    cell, n = cfg.cell, x.shape[0]
    probs, starts = _segment(op, x)
    # Window embeddings over the whole file (same grid as online).
    wins = RollingWindows(cfg.window_samples, cfg.window_step_samples)
    wb = wins.push(x, 0)
    tail = wins.flush()
    w_starts = np.concatenate([wb.starts, tail.starts])
    w_lens = np.concatenate([wb.lengths, tail.lengths])
    w_emb = np.zeros((len(w_starts), cfg.dim), np.float32)
    if len(wb):
        w_emb[: len(wb)] = model.embed(wb.samples)
    if len(tail) and tail.lengths[0] >= MIN_EMBED_SAMPLES:
        w_emb[-1] = model.embed(tail.samples[:, : tail.lengths[0]])[0]
    # Local speakers of every chunk.
    buf = cfg.buffer_samples
    cell_frame, ham = buffer_maps(seg.frame_centers(buf), buf, cell)
    locals_: list[tuple[int, int, npt.NDArray[np.float64], bool]] = []
    pcs: list[tuple[int, int, npt.NDArray[np.float64]]] = []
    for c in range(probs.shape[0]):
        bstart = int(starts[c])
        if bstart >= n:
            break
        length = min(buf, n - bstart)
        real = -(-length // cell)
        pc = probs[c][cell_frame[:real]].astype(np.float64)
        sel = (w_starts >= bstart) & (w_starts + w_lens <= bstart + length)
        emb, active, update = local_speakers(
            pc,
            (w_starts[sel] - bstart) // cell,
            -(-w_lens[sel] // cell),
            w_emb[sel],
            cfg.activity_threshold,
            cfg.min_purity,
            cfg.update_ratio,
        )
        pcs.append((bstart, real, pc))
        for j in np.flatnonzero(active):
            locals_.append((len(pcs) - 1, int(j), emb[j], bool(update[j])))
    # All embeddings clustered at once.
    labels = np.full(len(locals_), -1, np.int64)
    if locals_:
        e = np.stack([v for *_, v, _ in locals_]).astype(np.float64)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        strong = np.array([u for *_, u in locals_])
        if not strong.any():  # only short or mixed speech: better one voice than none
            strong[:] = True
        buffers = np.array([b for b, *_ in locals_])
        cent = None
        if clustering == "hindsight":
            local = np.array([j for _, j, *_ in locals_])
            cent = _hindsight_centroids(op, e, strong, buffers, local, pcs)
        if cent is not None:
            labels = _assign(e, cent, buffers)
        elif strong.sum() >= 2:
            clu = op.clustering
            t = threshold or OFFLINE_THRESHOLD.get(
                model.name,
                clu.linkage_distance
                if isinstance(clu, LinkageClustering)
                else clu.new_speaker_distance,
            )
            if min_cluster_size is None:
                min_cluster_size = MIN_CLUSTER_SIZE
            labels[strong] = _cluster(
                e[strong],
                t,
                min_cluster_size,
                cfg.min_speakers,
                cfg.max_speakers,
            )
        elif strong.any():
            labels[strong] = 0
        k = int(labels.max()) + 1
        if k and cent is None:  # every local speaker, the clustered ones too, as pyannote
            labels = _constrained(e, labels, k, buffers)
    k = max(int(labels.max()) + 1, 1) if len(labels) else 1
    total = -(-n // cell)
    acc = np.zeros((total, k))
    cnt = np.zeros(total)
    nact = np.zeros(total)
    for (b, loc, _, _), lab in zip(locals_, labels, strict=True):
        b0, nreal, pcb = pcs[b]
        if lab >= 0:
            acc[b0 // cell : b0 // cell + nreal, lab] += ham[:nreal] * pcb[:, loc]
    for b0, nreal, pcb in pcs:
        cnt[b0 // cell : b0 // cell + nreal] += ham[:nreal]
        nact[b0 // cell : b0 // cell + nreal] += ham[:nreal] * (pcb >= cfg.onset).sum(axis=1)
    score = acc / np.maximum(cnt, 1e-9)[:, None]
    count = nact / np.maximum(cnt, 1e-9)
    if cfg.count_buffer_samples is not None:  # the count from longer buffers, as online
        cbuf, cstep = cfg.count_buffer_samples, cfg.count_step_samples
        cprobs, cstarts = _segment(op, x, cbuf, cstep)
        cframe, cham = buffer_maps(seg.frame_centers(cbuf), cbuf, cell)
        nact2, cnt2 = np.zeros(total), np.zeros(total)
        for c in range(cprobs.shape[0]):
            c0 = int(cstarts[c]) // cell
            if c0 >= total:
                break
            real = min(cbuf // cell, total - c0)
            active = (cprobs[c][cframe[:real]] >= cfg.onset).sum(axis=1)
            cnt2[c0 : c0 + real] += cham[:real]
            nact2[c0 : c0 + real] += cham[:real] * active
        count = np.where(cnt2 > 0, nact2 / np.maximum(cnt2, 1e-9), count)
    tracker = TurnTracker(k, cfg.min_gap_cells)
    active = active_cells(score, count, cfg.onset, cfg.reconstruction)
    turns = tracker.advance(0, active, score.astype(np.float32))
    turns += tracker.close_all(total)
    tb = Fraction(1, cfg.rate)
    events = [
        Event(
            "speaker_turn", c0 * cell, min(c1 * cell, n), tb, SpeakerTurn(f"spk{s}", round(conf, 4))
        )
        for s, c0, c1, conf in turns
        if min(c1 * cell, n) > c0 * cell
    ]
    events.sort(key=lambda ev: ev.end)
    return events
