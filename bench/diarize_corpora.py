"""Diarization on real recordings, side by side with pyannote's offline pipeline (issue 20).

``diarize_corpora``
    Four corpora, each split once into a *tune* half (the only files the defaults of
    :class:`~operators.speaker.settings.DiarizerSettings` were chosen on, see
    ``python bench/diarize_corpora.py sweep``) and a *held-out* half (never used to
    choose anything); every metric is reported per corpus and per half:

    * ``ami``: the nine 30 s AMI excerpts of ``data/ami-train`` (far-field meetings,
      2-4 speakers, overlap) with ``train.rttm`` and ``train.uem``. Tune: trn01, trn03,
      trn05, trn07, trn09; held-out: trn02, trn04, trn06, trn08.
    * ``libri``: conversations assembled from the real voices of
      ``data/librispeech-train-clean-100`` (:func:`libri_conversation`): 2-6 speakers
      (``2 + seed % 5``), each speaker's utterance cut at quiet frames into 2-3 turns,
      turns shuffled (never one voice twice in a row), pauses of 0.15-1.0 s, a quarter of
      the turns overlapping the previous one by 0.3-1.2 s, per-voice level -9..0 dB,
      white noise floor at -60 dBFS; the reference is each turn's own speech (10 ms
      energy gate on the clean turn, gaps under 0.3 s bridged). The voices are split
      first (speaker ids in sorted order: even positions tune, odd held-out), so no
      held-out voice was heard while tuning; utterances under 8 s (a few are 2-5 s)
      are left out. Tune seeds 0-9, held-out seeds 100-109.
    * ``mbrola``: the synthetic espeak-ng + MBROLA 4-speaker conversations of
      ``bench/diarize_synthetic.py`` (20 turns). Tune seeds 1-3 (as issue 5 tuned on
      seeds 1-6), held-out seeds 7-10. Skipped (and said so in ``params``) when
      espeak-ng/MBROLA are not installed.
    * ``sample``: pyannote.audio's ``sample.wav`` (30 s, 2 speakers) with the
      ``sample.rttm`` it ships: held-out only.

    Systems, each on every file:

    * ``stream``: ``OnlineDiarizer`` with its defaults (segmentation-3.0 + CAM++), fed
      4096-frame chunks through ``process()`` (``run_all``): the live case.
    * ``offline``: ``operators.speaker.offline.diarize_offline`` of the same models
      (the project's offline mode, its default ``clustering="hindsight"``: the
      streaming clustering run over the whole file, every local speaker labelled
      afterwards against its final speakers).
    * ``anchor``: pyannote.audio's offline ``SpeakerDiarization`` pipeline with the same
      local segmentation-3.0 weights and a wrapper around the project's CAM++
      (:class:`AnchorEmbedding`), centroid agglomerative clustering, cut 0.7046, min
      cluster size 12, embeddings without overlapped frames (pyannote 3.1's
      parameters). It runs ~3-5x real time on 2 CPUs: held-out halves only, and its
      RTTM output and wall time are cached in ``bench/results/diarize_corpora_anchor/``
      keyed by a hash of the audio and the pipeline's parameters (delete the folder to
      re-run; its ``xrt`` is the one measured when it ran).

    Metrics, ``<corpus>_<half>_<system>_...``: ``der05`` / ``der0`` (corpus-level
    pyannote.metrics ``DiarizationErrorRate``, overlap scored, collar 0.5 s / 0 s: the
    errors of all files summed over their total speech), with the components at each
    collar as fractions of the reference speech (``fa05`` false alarm, ``miss05``
    missed detection, ``conf05`` confusion, and ``*0``); ``count_exact`` and
    ``count_pm1`` (fraction of files with the speaker count right / within one; the
    hypothesis count is the number of labels with turns, the reference count the
    number of labels in the reference within the UEM); ``xrt`` (audio seconds / wall
    seconds of the system on the files, models loaded beforehand; torch runs one
    thread) and ``cpu_xrt`` (audio seconds / CPU seconds of the process: less
    sensitive to other work on the machine). Deterministic up to float noise: one
    repetition is enough
    (``--repeats 1 --warmup 0``). ``--quick``: one AMI file, one 2-speaker and one
    3-speaker conversation, one MBROLA conversation, sample.wav, no anchor (seconds).

``python bench/diarize_corpora.py sweep [--quick]``
    The calibration: DER of the streaming and offline clustering on the tune halves of
    ``ami`` and ``libri`` (and ``mbrola`` as a constraint) as each threshold varies with
    the others at their defaults (``--base``); writes
    ``bench/results/diarize_corpora_calibration/sweep.json`` (``plot``:
    ``bench/results/diarize_corpora_sweep.png``; ``grid``: every combination, ``choose``:
    leave-one-file-out over a grid). The model outputs (segmentation of each buffer,
    embedding of each window) are cached in memory by a hash of their input, so every
    point re-runs only the clustering. Leave-one-file-out: for each tune file, the value
    that minimises the mean of the AMI and LibriSpeech corpus DERs of the other files.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from harness import RESULTS_DIR, Options, Prepared, register  # noqa: E402

from operators.speaker.tuning import cached_models, digest  # noqa: E402

RATE = 16000
CHUNK = 4096
DATA_DIR = Path(os.environ.get("MEDIASTREAM_DATA", _HERE.parent.parent / "shared" / "data"))
ANCHOR_CACHE = RESULTS_DIR / "diarize_corpora_anchor"
# Sweep and grid results (not harness results: bench/doc_tables.py reads every
# bench/results/*.json as one).
CALIBRATION_DIR = RESULTS_DIR / "diarize_corpora_calibration"
AMI_TUNE = ("trn01", "trn03", "trn05", "trn07", "trn09")
AMI_HELD = ("trn02", "trn04", "trn06", "trn08")
LIBRI_TUNE_SEEDS = tuple(range(10))
LIBRI_HELD_SEEDS = tuple(range(100, 110))
MBROLA_TUNE_SEEDS = (1, 2, 3)
MBROLA_HELD_SEEDS = (7, 8, 9, 10)
MBROLA_TURNS = 20
MIN_UTTERANCE_S = 8.0  # a few utterances are 2-5 s: too little of a voice to find it
# pyannote 3.1's clustering parameters for its offline pipeline (the anchor).
ANCHOR_PARAMS: dict[str, Any] = {
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7046},
}
SYSTEMS = ("stream", "offline", "anchor")
LAST_CPU = [0.0]  # CPU seconds of the process during the last diarize() call
# Targets of issue 20 (collar 0.5, held-out halves).
TARGETS = {"ami": 0.40, "libri": 0.08, "mbrola": 0.05, "sample": 0.03}
TARGET_XRT = 10.0


@dataclass(frozen=True)
class Recording:
    """One file of a corpus: mono float32 audio at 16 kHz, its reference turns
    (a ``pyannote.core.Annotation``) and the scored region (``Timeline``)."""

    uri: str
    audio: npt.NDArray[np.float32]
    reference: Any
    uem: Any

    @property
    def seconds(self) -> float:
        return float(self.audio.shape[0] / RATE)

    @property
    def num_speakers(self) -> int:
        return len(self.reference.crop(self.uem).labels())


# -- corpora ----------------------------------------------------------------------------


def _read_audio(path: Path) -> npt.NDArray[np.float32]:
    """Mono float32 samples at 16 kHz of a WAV/FLAC file (PyAV)."""
    import av

    with av.open(str(path)) as f:
        stream = f.streams.audio[0]
        res = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = []
        for frame in f.decode(stream):
            for out in res.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
        for out in res.resample(None):
            parts.append(out.to_ndarray().reshape(-1))
    return np.concatenate(parts).astype(np.float32)


def _whole(seconds: float) -> Any:
    from pyannote.core import Segment, Timeline

    return Timeline([Segment(0.0, seconds)])


def ami(half: str, quick: bool = False) -> list[Recording]:
    """The AMI excerpts of ``half`` (``"tune"`` or ``"held"``)."""
    from pyannote.core import Segment, Timeline
    from pyannote.database.util import load_rttm

    root = DATA_DIR / "ami-train"
    refs = load_rttm(str(root / "train.rttm"))  # type: ignore[no-untyped-call]
    uems: dict[str, Any] = {}
    for line in (root / "train.uem").read_text().split("\n"):
        parts = line.split()
        if len(parts) == 4:
            uems.setdefault(parts[0], []).append(Segment(float(parts[2]), float(parts[3])))
    names: tuple[str, ...] = AMI_TUNE if half == "tune" else AMI_HELD
    if quick:
        names = names[:1]
    return [Recording(n, _read_audio(root / f"{n}.wav"), refs[n], Timeline(uems[n])) for n in names]


def libri_voices(half: str) -> list[Path]:
    """The LibriSpeech utterances of ``half``: speaker ids in sorted order, even
    positions tune, odd positions held-out; those of at least ``MIN_UTTERANCE_S``."""
    import av

    files = sorted(
        (DATA_DIR / "librispeech-train-clean-100").glob("*.flac"),
        key=lambda p: int(p.name.split("-")[0]),
    )
    files = files[0::2] if half == "tune" else files[1::2]
    long = []
    for path in files:
        with av.open(str(path)) as f:
            if (f.duration or 0) >= MIN_UTTERANCE_S * 1e6:
                long.append(path)
    return long


def _frame_rms(x: npt.NDArray[np.float32], hop: int) -> npt.NDArray[np.float64]:
    n = x.shape[0] // hop
    f = x[: n * hop].astype(np.float64).reshape(n, hop)
    out: npt.NDArray[np.float64] = np.sqrt(np.mean(f * f, axis=1) + 1e-12)
    return out


def _quiet_cuts(x: npt.NDArray[np.float32], pieces: int) -> list[int]:
    """Sample indices where ``x`` may be cut into ``pieces`` turns: the middle of quiet
    runs (20 ms frames 26 dB under the loud ones, >= 60 ms), nearest to equal parts,
    each turn >= 2 s."""
    hop = RATE // 50
    rms = _frame_rms(x, hop)
    quiet = rms < 0.05 * np.percentile(rms, 95)
    mids = []
    i = 0
    while i < quiet.size:
        if quiet[i]:
            j = i
            while j < quiet.size and quiet[j]:
                j += 1
            if j - i >= 3:
                mids.append(((i + j) // 2) * hop)
            i = j
        else:
            i += 1
    cuts: list[int] = []
    for k in range(1, pieces):
        target = x.shape[0] * k / pieces
        ok = [
            m
            for m in mids
            if m - (cuts[-1] if cuts else 0) >= 2 * RATE and x.shape[0] - m >= 2 * RATE
        ]
        if ok:
            cuts.append(min(ok, key=lambda m: abs(m - target)))
    return sorted(set(cuts))


def _speech_segments(x: npt.NDArray[np.float32], offset: float) -> list[tuple[float, float]]:
    """Speech of a clean turn: 10 ms frames within 30 dB of its loud frames, gaps under
    0.3 s bridged, islands under 0.1 s dropped; seconds from ``offset``."""
    hop = RATE // 100
    rms = _frame_rms(x, hop)
    on = rms > 10 ** (-30 / 20) * np.percentile(rms, 95)
    segs: list[list[int]] = []
    for i in np.flatnonzero(on):
        if segs and i - segs[-1][1] <= 30:
            segs[-1][1] = int(i) + 1
        else:
            segs.append([int(i), int(i) + 1])
    return [(offset + a / 100, offset + b / 100) for a, b in segs if b - a >= 10]


def libri_conversation(seed: int, voices: Sequence[Path]) -> Recording:
    """A conversation of ``2 + seed % 5`` real voices from ``voices`` (fixed by
    ``seed``); see the module docstring for how it is built."""
    from pyannote.core import Annotation, Segment

    rng = np.random.default_rng(seed)
    k = 2 + seed % 5
    chosen = [voices[int(i)] for i in rng.choice(len(voices), size=k, replace=False)]
    turns: list[tuple[int, npt.NDArray[np.float32]]] = []
    for v, path in enumerate(chosen):
        x = _read_audio(path)
        x = x / (np.sqrt(np.mean(x * x)) + 1e-9) * 10 ** (-23 / 20)  # same loudness...
        x = x * 10 ** (rng.uniform(-9.0, 0.0) / 20)  # ...then a level per voice
        cuts = [0, *_quiet_cuts(x, int(rng.integers(2, 4))), x.shape[0]]
        turns += [(v, x[a:b]) for a, b in itertools.pairwise(cuts)]
    order: list[int] = []
    left = list(range(len(turns)))
    while left:  # random order, never one voice twice in a row when avoidable
        ok = [i for i in left if not order or turns[i][0] != turns[order[-1]][0]]
        pick = ok[int(rng.integers(len(ok)))] if ok else left[int(rng.integers(len(left)))]
        order.append(pick)
        left.remove(pick)
    starts: list[int] = []
    t = int(0.5 * RATE)
    prev_len = 0
    for n, i in enumerate(order):
        if n and rng.random() < 0.25:
            t -= int(min(rng.uniform(0.3, 1.2), 0.5 * prev_len / RATE) * RATE)
        else:
            t += int(rng.uniform(0.15, 1.0) * RATE) if n else 0
        starts.append(t)
        prev_len = turns[i][1].shape[0]
        t += prev_len
    audio = np.zeros(t + RATE // 2, np.float32)
    ref = Annotation(uri=f"libri{seed}")
    for s, i in zip(starts, order, strict=True):
        v, x = turns[i]
        audio[s : s + x.shape[0]] += x
        for a, b in _speech_segments(x, s / RATE):
            ref[Segment(a, b)] = f"{chosen[v].name.split('-')[0]}"
    audio += rng.normal(0, 10 ** (-60 / 20), audio.shape[0]).astype(np.float32)
    return Recording(f"libri{seed}", audio, ref, _whole(audio.shape[0] / RATE))


def libri(half: str, quick: bool = False) -> list[Recording]:
    seeds: tuple[int, ...] = LIBRI_TUNE_SEEDS if half == "tune" else LIBRI_HELD_SEEDS
    if quick:
        seeds = seeds[:2]
    voices = libri_voices(half)
    return [libri_conversation(s, voices) for s in seeds]


def mbrola_available() -> bool:
    from tests.operators.speaker import synth_speech

    return bool(synth_speech.available())


def mbrola(half: str, quick: bool = False) -> list[Recording]:
    from tests.operators.speaker import synth_speech

    if not synth_speech.available():
        return []
    seeds: tuple[int, ...] = MBROLA_TUNE_SEEDS if half == "tune" else MBROLA_HELD_SEEDS
    if quick:
        seeds = seeds[:1]
    out = []
    for s in seeds:
        conv = synth_speech.conversation(MBROLA_TURNS, seed=s)
        out.append(
            Recording(f"mbrola{s}", conv.audio, conv.reference(), _whole(conv.audio.size / RATE))
        )
    return out


def sample(half: str, quick: bool = False) -> list[Recording]:
    """pyannote's sample.wav and sample.rttm (held-out only)."""
    from tests.operators.speaker.support import sample_audio, sample_reference

    if half == "tune":
        return []
    audio = sample_audio()
    return [Recording("sample", audio, sample_reference(), _whole(audio.size / RATE))]


CORPORA: dict[str, Callable[[str, bool], list[Recording]]] = {
    "ami": ami,
    "libri": libri,
    "mbrola": mbrola,
    "sample": sample,
}


# -- systems ----------------------------------------------------------------------------


def annotation(events: Iterable[Any], uri: str) -> Any:
    from pyannote.core import Annotation, Segment

    hyp = Annotation(uri=uri)
    for e in events:
        if e.kind == "speaker_turn":
            hyp[Segment(e.start_s, e.end_s)] = e.payload.name or e.payload.speaker
    return hyp


class AnchorEmbedding:
    """The project's CAM++ as pyannote's pipeline expects an embedding model: called on
    ``(batch, 1, samples)`` waveforms and ``(batch, frames)`` masks, it keeps the fbank
    frames the mask selects (nearest segmentation frame > 0.5), mean-normalises them
    and runs the network; NaN rows when fewer than 20 frames (0.2 s) remain."""

    sample_rate = RATE
    metric = "cosine"
    min_num_samples = 640

    def __init__(self, model: Any) -> None:
        self.model = model
        self.dimension = int(model.dim)

    def to(self, device: Any) -> AnchorEmbedding:
        return self

    def __call__(self, waveforms: Any, masks: Any = None) -> npt.NDArray[np.float32]:
        import torch

        x = waveforms[:, 0].float()
        out = np.full((x.shape[0], self.dimension), np.nan, np.float32)
        with torch.inference_mode():
            feats = self.model._fbank(x)  # (batch, frames, 80)
            nt = feats.shape[1]
            for b in range(x.shape[0]):
                f = feats[b]
                if masks is not None:
                    m = masks[b].float()
                    idx = torch.clamp((torch.arange(nt) * m.shape[0]) // nt, max=m.shape[0] - 1)
                    f = f[m[idx] > 0.5]
                if f.shape[0] < 20:
                    continue
                f = f - f.mean(dim=0, keepdim=True)
                e = self.model.net(f[None]).float()[0].cpu().numpy()
                out[b] = e / max(float(np.linalg.norm(e)), 1e-12)
        return out


def anchor_pipeline(segmentation: Any, embedding: Any) -> Any:
    """pyannote.audio's offline ``SpeakerDiarization`` with the project's models (the
    hub embedding and PLDA loaders are bypassed only while it is constructed)."""
    import importlib

    from operators.speaker.backends.pyannote import load_pyannote_model

    sd: Any = importlib.import_module("pyannote.audio.pipelines.speaker_diarization")
    saved = sd.PretrainedSpeakerEmbedding, sd.get_plda
    sd.PretrainedSpeakerEmbedding = lambda emb, **_: emb
    sd.get_plda = lambda plda, **_: plda
    try:
        pipe = sd.SpeakerDiarization(
            # pyannote's own Model of the same checkpoint (the project runs its own module).
            segmentation=load_pyannote_model(segmentation.checkpoint),
            embedding=AnchorEmbedding(embedding),
            embedding_exclude_overlap=True,
            plda=None,
            clustering="AgglomerativeClustering",
            segmentation_batch_size=32,
            embedding_batch_size=32,
        )
    finally:
        sd.PretrainedSpeakerEmbedding, sd.get_plda = saved
    pipe.instantiate(ANCHOR_PARAMS)
    return pipe


def _anchor_key(rec: Recording) -> str:
    h = hashlib.blake2b(rec.audio.tobytes(), digest_size=12)
    h.update(json.dumps(ANCHOR_PARAMS, sort_keys=True).encode())
    return f"{rec.uri}-{h.hexdigest()}"


def run_anchor(pipe: Callable[[], Any], rec: Recording) -> tuple[Any, float]:
    """The anchor's turns for ``rec`` and the wall time it took (from the cache when
    there: the RTTM and a JSON of the time measured when it ran)."""
    import torch
    from pyannote.database.util import load_rttm

    path = ANCHOR_CACHE / f"{_anchor_key(rec)}.rttm"
    timing = path.with_suffix(".json")
    if path.is_file() and timing.is_file():
        loaded = load_rttm(str(path))  # type: ignore[no-untyped-call]
        hyp = loaded.get(rec.uri) or annotation([], rec.uri)
        return hyp, float(json.loads(timing.read_text())["wall_s"])
    t0 = time.perf_counter()
    out = pipe()({"waveform": torch.from_numpy(rec.audio[None, :]), "sample_rate": RATE})
    wall = time.perf_counter() - t0
    hyp = getattr(out, "speaker_diarization", out)
    hyp.uri = rec.uri
    ANCHOR_CACHE.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        hyp.write_rttm(f)
    timing.write_text(json.dumps({"wall_s": wall, "audio_s": rec.seconds}) + "\n")
    return hyp, wall


# -- scoring ----------------------------------------------------------------------------


class Score:
    """Corpus-level DER at collars 0.5 and 0 (overlap scored), its components, the
    speaker counts and the time of one system on one corpus half."""

    def __init__(self) -> None:
        from pyannote.metrics.diarization import DiarizationErrorRate

        self.metrics = {c: DiarizationErrorRate(collar=c, skip_overlap=False) for c in (0.5, 0.0)}
        self.counts: list[tuple[int, int]] = []
        self.per_file: dict[str, float] = {}
        self.seconds = 0.0
        self.wall = 0.0
        self.cpu = 0.0

    def add(
        self, rec: Recording, hyp: Any, wall: float | None = None, cpu: float | None = None
    ) -> float:
        d = float(self.metrics[0.5](rec.reference, hyp, uem=rec.uem, uri=rec.uri))
        self.metrics[0.0](rec.reference, hyp, uem=rec.uem, uri=rec.uri)
        self.counts.append((len(hyp.crop(rec.uem).labels()), rec.num_speakers))
        self.per_file[rec.uri] = d
        if wall is not None:
            self.seconds += rec.seconds
            self.wall += wall
        if cpu is not None:
            self.cpu += cpu
        return d

    def summary(self, prefix: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for c, tag in ((0.5, "05"), (0.0, "0")):
            m = self.metrics[c]
            total = max(m.accumulated_["total"], 1e-9)
            out[f"{prefix}_der{tag}"] = abs(m)
            out[f"{prefix}_fa{tag}"] = m.accumulated_["false alarm"] / total
            out[f"{prefix}_miss{tag}"] = m.accumulated_["missed detection"] / total
            out[f"{prefix}_conf{tag}"] = m.accumulated_["confusion"] / total
        hyp_n = np.array([h for h, _ in self.counts])
        ref_n = np.array([r for _, r in self.counts])
        out[f"{prefix}_count_exact"] = float(np.mean(hyp_n == ref_n))
        out[f"{prefix}_count_pm1"] = float(np.mean(np.abs(hyp_n - ref_n) <= 1))
        if self.wall > 0:
            out[f"{prefix}_xrt"] = self.seconds / self.wall
        if self.cpu > 0:
            out[f"{prefix}_cpu_xrt"] = self.seconds / self.cpu
        return out


def _models() -> tuple[Any, Any]:
    import torch

    from tests.operators.speaker.support import campplus, segmentation

    emb, seg = campplus(), segmentation()
    torch.set_num_threads(1)
    return emb, seg


def diarize(
    rec: Recording,
    emb: Any,
    seg: Any,
    system: str,
    params: Mapping[str, Any] | None = None,
    offline: Mapping[str, Any] | None = None,
) -> tuple[Any, float]:
    """Run ``system`` (``"stream"`` or ``"offline"``) on ``rec``; (turns, wall s)."""
    from operators.speaker import OnlineDiarizer
    from operators.speaker.offline import diarize_offline

    t0, c0 = time.perf_counter(), time.process_time()
    op = OnlineDiarizer(emb, segmentation=seg, **(params or {}))
    if system == "stream":
        events: Sequence[Any] = op.run_all(rec.audio, RATE, chunk_frames=CHUNK)
    else:
        events = diarize_offline(op, rec.audio, **(offline or {}))
    wall = time.perf_counter() - t0
    LAST_CPU[0] = time.process_time() - c0
    return annotation(events, rec.uri), wall


@register(
    "diarize_corpora",
    "DER on real recordings (AMI, LibriSpeech voices) + MBROLA + sample.wav: "
    "streaming vs offline vs pyannote's offline pipeline, tune and held-out halves",
)
def prepare(options: Options) -> Prepared:
    emb, seg = _models()
    halves = ("tune", "held")
    data = {
        (name, half): make(half, options.quick) for name, make in CORPORA.items() for half in halves
    }
    data = {k: v for k, v in data.items() if v}
    pipe: list[Any] = []

    def get_pipe() -> Any:
        if not pipe:
            from tests.operators.speaker.support import campplus

            # The anchor's wrapper runs CAM++'s torch module on pyannote's masked fbank.
            pipe.append(anchor_pipeline(seg, campplus("torch")))
        return pipe[0]

    def run() -> dict[str, float]:
        out: dict[str, float] = {}
        for (name, half), recs in data.items():
            systems = ["stream", "offline"]
            if half == "held" and not options.quick:
                systems.append("anchor")
            for system in systems:
                score = Score()
                for rec in recs:
                    if system == "anchor":
                        hyp, wall = run_anchor(get_pipe, rec)
                        score.add(rec, hyp, wall)
                    else:
                        hyp, wall = diarize(rec, emb, seg, system)
                        score.add(rec, hyp, wall, LAST_CPU[0])
                out.update(score.summary(f"{name}_{half}_{system}"))
        return out

    def checks(m: Mapping[str, float]) -> dict[str, bool]:
        res: dict[str, bool] = {}
        for name, target in TARGETS.items():
            key = f"{name}_held_stream_der05"
            if key not in m:
                continue
            res[f"{key} <= {target}"] = m[key] <= target
            for c in ("05", "0"):
                anchor = m.get(f"{name}_held_anchor_der{c}")
                if anchor is not None:
                    s, o = m[f"{name}_held_stream_der{c}"], m[f"{name}_held_offline_der{c}"]
                    res[f"{name}_held_offline_der{c} <= anchor"] = o <= anchor
                    res[f"{name}_held_stream_der{c} <= anchor + 0.05"] = s <= anchor + 0.05
        if "libri_held_stream_count_exact" in m:
            res["libri_held_stream_count_exact >= 0.8"] = m["libri_held_stream_count_exact"] >= 0.8
            res["libri_held_stream_count_pm1 == 1"] = m["libri_held_stream_count_pm1"] == 1.0
        for kind in ("xrt", "cpu_xrt"):
            xrts = [v for k, v in m.items() if k.endswith(f"_stream_{kind}")]
            if xrts:
                res[f"stream {kind} >= {TARGET_XRT} (every corpus)"] = min(xrts) >= TARGET_XRT
        return res

    return Prepared(
        run=run,
        params={
            "data_dir": str(DATA_DIR),
            "files": {
                f"{n}_{h}": [f"{r.uri} ({r.seconds:.1f} s, {r.num_speakers} spk)" for r in recs]
                for (n, h), recs in data.items()
            },
            "mbrola": "included" if mbrola_available() else "skipped: espeak-ng/MBROLA missing",
            "sample": "pyannote.audio sample.wav + sample.rttm (held-out only)",
            "anchor": {"pipeline": "pyannote.audio SpeakerDiarization", **ANCHOR_PARAMS},
            "anchor_halves": [] if options.quick else ["held"],
            "chunk_frames": CHUNK,
            "torch_threads": 1,
        },
        checks=checks,
    )


# -- calibration sweep ------------------------------------------------------------------
# The model outputs are memoised by operators.speaker.tuning.cached_models (what
# `mediastream diarize-tune` uses too), so every point re-runs only the clustering.


# Each swept parameter: its values and what it belongs to (stream settings or offline).
SWEEPS: dict[str, tuple[str, tuple[float, ...]]] = {
    "linkage_distance": (
        "stream",
        (0.3, 0.34, 0.38, 0.4, 0.42, 0.45, 0.48, 0.51, 0.55, 0.6, 0.65, 0.7, 0.8),
    ),
    "new_speaker_distance": ("stream", (0.5, 0.62, 0.7, 0.75, 0.8, 0.9, 1.0, 1.2)),
    "min_cluster_size": ("stream", (2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 14.0, 20.0)),
    "offline_threshold": (
        "offline",
        (0.34, 0.38, 0.4, 0.42, 0.45, 0.48, 0.51, 0.55, 0.6, 0.65, 0.7, 0.8),
    ),
    "offline_min_cluster_size": ("offline", (2.0, 4.0, 6.0, 10.0, 14.0, 20.0)),
}


def _evaluate(
    recs: Mapping[str, list[Recording]],
    emb: Any,
    seg: Any,
    stream: Mapping[str, Any],
    offline: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Corpus DERs, components and counts of one configuration on ``recs``
    (``offline`` None: the streaming diarizer with ``stream``, else the offline mode)."""
    per: dict[str, Any] = {}
    for name, rs in recs.items():
        score = Score()
        for rec in rs:
            system = "stream" if offline is None else "offline"
            hyp, _ = diarize(rec, emb, seg, system, stream, offline)
            score.add(rec, hyp)
        m = score.metrics[0.5]
        per[name] = {
            "der05": abs(m),
            "der0": abs(score.metrics[0.0]),
            "count_exact": float(np.mean([h == r for h, r in score.counts])),
            "count_pm1": float(np.mean([abs(h - r) <= 1 for h, r in score.counts])),
            "counts": score.counts,
            "files": score.per_file,
            "components": {
                k: float(m.accumulated_[k])
                for k in ("false alarm", "missed detection", "confusion", "total")
            },
            # per-file errors and totals at collar 0.5, for leave-one-file-out
            "file_errors": {
                uri: [
                    float(c["false alarm"] + c["missed detection"] + c["confusion"]),
                    float(c["total"]),
                ]
                for uri, c in m.results_
            },
        }
    return per


def _prepare_sweep(quick: bool) -> tuple[Any, Any, dict[str, list[Recording]]]:
    emb, seg = cached_models(*_models())
    import operators.speaker.offline as offline_mod

    raw_segment = offline_mod._segment
    memo: dict[bytes, Any] = {}

    def segment(op: Any, audio: npt.NDArray[np.float32]) -> Any:
        key = digest(audio)
        if key not in memo:
            memo[key] = raw_segment(op, audio)
        return memo[key]

    offline_mod._segment = segment
    recs = {name: CORPORA[name]("tune", quick) for name in ("ami", "libri", "mbrola")}
    return emb, seg, {k: v for k, v in recs.items() if v}


def _log(label: str, per: Mapping[str, Any], t0: float) -> None:
    print(
        f"{label}: "
        + ", ".join(
            f"{n} {p['der05']:.3f}/{p['der0']:.3f}/{p['count_exact']:.2f}" for n, p in per.items()
        )
        + f" ({time.perf_counter() - t0:.0f} s)",
        file=sys.stderr,
        flush=True,
    )


def sweep(
    quick: bool = False, only: Sequence[str] = (), base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """DER on the tune halves for every value of every swept parameter, the others at
    ``base`` (stream parameters; ``offline_*`` keys for the offline mode) or their
    defaults."""
    emb, seg, recs = _prepare_sweep(quick)
    base = dict(base or {})
    stream_base = {k: v for k, v in base.items() if not k.startswith("offline_")}
    off_base = {k[len("offline_") :]: v for k, v in base.items() if k.startswith("offline_")}
    results: dict[str, Any] = {}
    for param, (system, values) in SWEEPS.items():
        if only and param not in only:
            continue
        rows = []
        for v in values:
            t0 = time.perf_counter()
            if system == "stream":
                per = _evaluate(recs, emb, seg, {**stream_base, param: v}, None)
            else:
                key = "threshold" if param == "offline_threshold" else "min_cluster_size"
                # threshold and min_cluster_size are the agglomerative clustering's
                off = {"clustering": "agglomerative", **off_base, key: v}
                per = _evaluate(recs, emb, seg, stream_base, off)
            rows.append({"value": v, **per})
            _log(f"{param}={v}", per, t0)
        results[param] = {"system": system, "base": base, "rows": rows}
    return results


def grid(
    quick: bool, spec: Mapping[str, Sequence[Any]], offline: bool = False
) -> list[dict[str, Any]]:
    """The streaming diarizer (``offline``: ``diarize_offline``, whose keyword arguments
    ``spec`` then names) on the tune halves at every combination of ``spec``."""
    emb, seg, recs = _prepare_sweep(quick)
    keys = list(spec)
    out = []
    for combo in itertools.product(*(spec[k] for k in keys)):
        params = dict(zip(keys, combo, strict=True))
        t0 = time.perf_counter()
        if offline:
            agglomerative = {"threshold", "min_cluster_size"} & set(params)
            off = {"clustering": "agglomerative", **params} if agglomerative else params
            per = _evaluate(recs, emb, seg, {}, off)
        else:
            per = _evaluate(recs, emb, seg, params, None)
        out.append({"params": params, **per})
        _log(json.dumps(params), per, t0)
    return out


def _objective(row: Mapping[str, Any], corpora: Sequence[str], leave_out: str | None) -> float:
    """Mean over ``corpora`` of the corpus DER (collar 0.5) without file ``leave_out``."""
    ders = []
    for name in corpora:
        errs = [(e, t) for uri, (e, t) in row[name]["file_errors"].items() if uri != leave_out]
        ders.append(sum(e for e, _ in errs) / max(sum(t for _, t in errs), 1e-9))
    return float(np.mean(ders))


def choose(rows: Sequence[Mapping[str, Any]], corpora: Sequence[str] = ("ami", "libri")) -> Any:
    """Leave-one-file-out over the tune files of ``corpora``: for each file, the grid
    point with the lowest mean corpus DER on the others. Returns the point chosen on all
    files, the choice of each fold and its DER on the file left out."""
    files = [uri for name in corpora for uri in rows[0][name]["file_errors"]]
    best = min(rows, key=lambda r: _objective(r, corpora, None))
    folds = []
    for f in files:
        pick = min(rows, key=lambda r: _objective(r, corpora, f))
        name = next(n for n in corpora if f in pick[n]["file_errors"])
        e, t = pick[name]["file_errors"][f]
        folds.append({"left_out": f, "params": pick["params"], "der05_left_out": e / t})
    return {
        "all_files": best["params"],
        "objective": _objective(best, corpora, None),
        "folds": folds,
    }


def plot(results: Mapping[str, Any], chosen: Mapping[str, float], path: Path) -> None:
    """One panel per swept parameter: tune-half DER (collar 0.5 solid, 0 dashed) of each
    corpus against its value, the chosen value marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = [p for p in SWEEPS if p in results]
    fig, axes = plt.subplots(1, len(params), figsize=(4.2 * len(params), 3.6), squeeze=False)
    colours = {"ami": "tab:red", "libri": "tab:blue", "mbrola": "tab:green"}
    for ax, param in zip(axes[0], params, strict=True):
        rows = results[param]["rows"]
        xs = [r["value"] for r in rows]
        for name, colour in colours.items():
            if name not in rows[0]:
                continue
            ax.plot(xs, [100 * r[name]["der05"] for r in rows], "o-", color=colour, label=name)
            ax.plot(xs, [100 * r[name]["der0"] for r in rows], "--", color=colour, alpha=0.5)
        if param in chosen:
            ax.axvline(chosen[param], color="k", lw=0.8)
        base = ", ".join(f"{k}={v}" for k, v in results[param].get("base", {}).items())
        ax.set_title(f"others: {base or 'defaults'}", fontsize=7)
        ax.set_xlabel(f"{param} ({results[param]['system']})")
        ax.set_ylabel("DER % (tune halves)")
        ax.set_ylim(0, 60)
        ax.grid(alpha=0.3)
    axes[0][0].legend(title="solid: collar 0.5\ndashed: collar 0", fontsize=8)
    fig.suptitle("diarize_corpora sweep, tune halves: one parameter varied (line: chosen)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="bench/diarize_corpora.py")
    parser.add_argument("command", choices=["sweep", "grid", "plot", "choose"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--offline", action="store_true", help="grid: the offline mode")
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--base", type=json.loads, default={}, help="JSON: parameters")
    parser.add_argument("--grid", type=json.loads, default={}, help="JSON: name -> values")
    parser.add_argument(
        "--max-mbrola", type=float, default=None, help="choose: only points with MBROLA DER <= this"
    )
    parser.add_argument("--chosen", type=json.loads, default={}, help="JSON: marked values")
    parser.add_argument("--out", type=Path, default=CALIBRATION_DIR / "sweep.json")
    args = parser.parse_args(argv)
    if args.command == "choose":
        rows = json.loads(args.out.read_text())
        if args.max_mbrola is not None:  # the MBROLA target as a constraint
            rows = [r for r in rows if r["mbrola"]["der05"] <= args.max_mbrola]
        print(json.dumps(choose(rows), indent=1))
        return 0
    if args.command == "plot":
        png = RESULTS_DIR / "diarize_corpora_sweep.png"
        plot(json.loads(args.out.read_text()), args.chosen, png)
        print(f"wrote {png}")
        return 0
    if args.command == "grid":
        rows = grid(args.quick, args.grid, args.offline)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"wrote {args.out}")
        return 0
    res = sweep(args.quick, args.only, args.base)
    old: dict[str, Any] = {}
    if args.out.is_file() and args.only:
        old = json.loads(args.out.read_text())
    old.update(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(old, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
