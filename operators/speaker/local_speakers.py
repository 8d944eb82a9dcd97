"""Overlap-aware embeddings of the local speakers of one segmentation buffer.

A segmentation buffer gives ``(cells, local)`` probabilities of up to a few local
speakers on the 10 ms cell grid, and the embedding windows inside it are kept in a
:class:`WindowCache`, each embedded only once a buffer needs it
(:func:`needed_windows` says which ones :func:`local_speakers` will read). Each local
speaker gets one embedding, the average of the windows weighted by the fraction of
each window where that speaker speaks alone: overlapped speech and other voices weigh
little or nothing. Used by the online engine and by the offline reference.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .backends.base import EmbeddingModel
from .windows import WindowBatch

__all__ = [
    "MIN_EMBED_SAMPLES",
    "OVERLAP_FOUND_CELLS",
    "WindowCache",
    "local_speakers",
    "needed_windows",
    "voices_without_speaker",
]

MIN_EMBED_SAMPLES = 4000  # 0.25 s at 16 kHz: shorter flushed tails get no embedding
# 50 cells (0.5 s at 10 ms): how long a local speaker with a weak embedding must be heard
# over another local speaker of its buffer to be a voice of its own when there are
# fewer speakers than local speakers (voices_without_speaker).
OVERLAP_FOUND_CELLS = 50


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


class WindowCache:
    """The embedding windows not yet behind every buffer that may use them, each
    embedded at most once, when a buffer first needs it.

    Attributes (one row per window, oldest first):
        starts: int64 first sample, relative to the stream's origin.
        lengths: int64 samples (a full window, or a shorter flushed tail).
        samples: float32 ``(windows, window)`` audio (zero-padded tails).
        emb: float32 ``(windows, dim)`` unit embeddings; zero until embedded (and for
            tails shorter than ``MIN_EMBED_SAMPLES``).
        done: bool, embedded (or too short to embed).

    Args:
        window: full window length, samples.
        dim: embedding size.
    """

    def __init__(self, window: int, dim: int) -> None:
        self.window = window
        self.dim = dim
        self.starts = np.zeros(0, np.int64)
        self.lengths = np.zeros(0, np.int64)
        self.emb = np.zeros((0, dim), np.float32)
        self.samples = np.zeros((0, window), np.float32)
        self.done = np.zeros(0, bool)

    def add(self, wb: WindowBatch, origin: int) -> None:
        """Cache completed windows (their starts made relative to ``origin``)."""
        if not len(wb):
            return
        self.starts = np.concatenate([self.starts, wb.starts - origin])
        self.lengths = np.concatenate([self.lengths, wb.lengths])
        self.samples = np.concatenate([self.samples, wb.samples])
        zeros = np.zeros((len(wb), self.dim), np.float32)
        self.emb = np.concatenate([self.emb, zeros])
        self.done = np.concatenate([self.done, np.zeros(len(wb), bool)])

    def inside(self, start: int, length: int) -> npt.NDArray[np.int64]:
        """Indices of the windows within samples ``start .. start + length``."""
        return np.flatnonzero(
            (self.starts >= start) & (self.starts + self.lengths <= start + length)
        )

    def embed(self, need: npt.NDArray[np.bool_], model: EmbeddingModel) -> None:
        """Embed the windows in ``need`` not embedded yet (full ones in one batch)."""
        idx = np.flatnonzero(need & ~self.done)
        if not idx.size:
            return
        full = idx[self.lengths[idx] == self.window]
        if full.size:
            self.emb[full] = model.embed(self.samples[full])
        for i in idx[self.lengths[idx] != self.window]:
            n = int(self.lengths[i])
            if n >= MIN_EMBED_SAMPLES:  # shorter flushed tails keep a zero embedding
                self.emb[i] = model.embed(self.samples[i : i + 1, :n])[0]
        self.done[idx] = True

    def drop_before(self, start: int) -> None:
        """Forget the windows that start before sample ``start``."""
        keep = self.starts >= start
        self.starts, self.lengths = self.starts[keep], self.lengths[keep]
        self.samples, self.emb = self.samples[keep], self.emb[keep]
        self.done = self.done[keep]


RECONSTRUCTIONS = ("count", "threshold")


def buffer_maps(
    frame_centers: npt.NDArray[np.float64], buf: int, cell: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """For a segmentation buffer of ``buf`` samples whose model frames are centred at
    ``frame_centers`` (samples): the model frame of each ``cell``-sample cell (the
    nearest) and the Hamming weights (+1e-3) its cells carry when buffers are averaged."""
    centers = frame_centers
    cc = (np.arange(buf // cell) + 0.5) * cell
    step = (centers[-1] - centers[0]) / max(len(centers) - 1, 1)
    idx = np.rint((cc - centers[0]) / step).astype(np.int64)
    return np.clip(idx, 0, len(centers) - 1), np.hamming(buf // cell) + 1e-3


def active_cells(
    score: npt.NDArray[np.float64],
    count: npt.NDArray[np.float64],
    onset: float,
    reconstruction: str,
) -> npt.NDArray[np.bool_]:
    """Which speakers speak in each cell: ``score`` ``(cells, speakers)``, each speaker's
    probability averaged over the buffers covering the cell; ``count`` ``(cells,)``,
    the number of local speakers at or above ``onset`` averaged the same way.

    ``"count"``: a cell takes ``round(count)`` speakers, those with the highest
    scores (and a score above 0): pyannote.audio's reconstruction, which keeps the
    second voice of an overlap whose score the averaging over buffers diluted below
    ``onset``. ``"threshold"``: every speaker whose score is at least ``onset``.
    """
    if reconstruction == "threshold" or score.shape[1] == 0:
        return score >= onset
    k = np.rint(count)[:, None]
    rank = np.argsort(np.argsort(-score, axis=1, kind="stable"), axis=1, kind="stable")
    return (rank < k) & (score > 0)


def voices_without_speaker(
    pc: npt.NDArray[np.float64],
    active: npt.NDArray[np.bool_],
    update: npt.NDArray[np.bool_],
    num_speakers: int,
    min_cells: int = OVERLAP_FOUND_CELLS,
) -> npt.NDArray[np.bool_]:
    """The may-update mask with the local speakers that must be a voice of their own
    added: active, with a weak embedding (not in ``update``), on (probability >= 0.5)
    together with another local speaker of the buffer for at least ``min_cells``
    cells (10 ms each), in a buffer with more active local speakers than there are
    speakers (``num_speakers``). The segmentation model hears two voices at once there, and the
    cannot-link constraint would leave one of them without a speaker: a voice first
    heard over another (never alone long enough for a strong embedding) is otherwise
    lost until it speaks alone. Such an embedding enters the clustering's history
    like a strong one (and may found a speaker)."""
    if int(active.sum()) <= num_speakers:
        return update
    on = pc >= 0.5
    together = (on & (on.sum(axis=1, keepdims=True) > 1)).sum(axis=0)
    out: npt.NDArray[np.bool_] = update | (active & (together >= min_cells))
    return out
