"""OnlineDiarizer on real speech: DER on pyannote's sample.wav (both modes), chunk
invariance, ordering and latency of the turn events, graph use with an RTTM sink."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from operators.speaker import EmbeddingModel, OnlineDiarizer, SpeakerEmbedding, SpeakerTurn
from operators.speaker.local_speakers import active_cells, local_speakers, needed_windows
from sinks import MemorySink, RttmSink
from stream import ArraySource, AudioSpec, Graph, ParameterError, StreamMismatchError
from tests.chunking import chunk_audio

from .support import RATE, campplus, der, ge2e, sample_audio, sample_reference, segmentation, silero


def _seg(**kw: object) -> OnlineDiarizer:
    return OnlineDiarizer(campplus(), segmentation=segmentation(), **kw)  # type: ignore[arg-type]


def _turns(events: list) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.payload.speaker) for e in events if e.kind == "speaker_turn"]


@pytest.fixture(scope="module")
def seg_events() -> list:
    return _seg().run_all(sample_audio(), RATE, chunk_frames=4096)


def test_segmentation_mode_der_on_sample_wav(seg_events: list) -> None:
    ref = sample_reference()
    d0, d5 = der(ref, seg_events, 0.0), der(ref, seg_events, 0.5)
    print(f"segmentation+CAM++ sample.wav DER collar 0: {d0:.4f}, collar 0.5: {d5:.4f}")
    # Measured: 0.105 and 0.014. Targets: the 5 % at collar 0.5.
    assert d5 <= 0.05
    assert d0 <= 0.15
    assert len({s for *_, s in _turns(seg_events)}) == 2


@pytest.mark.parametrize("model", ["campplus", "ge2e"])
def test_light_mode_der_on_sample_wav(model: str) -> None:
    emb = campplus() if model == "campplus" else ge2e()
    op = OnlineDiarizer(emb, mode="vad", vad=silero())
    events = op.run_all(sample_audio(), RATE, chunk_frames=4096)
    ref = sample_reference()
    d0, d5 = der(ref, events, 0.0), der(ref, events, 0.5)
    print(f"vad+{model} sample.wav DER collar 0: {d0:.4f}, collar 0.5: {d5:.4f}")
    assert d5 <= LIGHT_DER[model]


# Measured at collar 0.5: CAM++ 0.074, GE2E 0.111 (sample.wav switches speakers fast,
# which fixed 2 s windows blur).
LIGHT_DER = {"campplus": 0.10, "ge2e": 0.15}


def test_turns_are_ordered_by_end_and_typed(seg_events: list) -> None:
    ends = [e.end for e in seg_events]
    assert ends == sorted(ends)
    for e in seg_events:
        assert e.kind == "speaker_turn" and isinstance(e.payload, SpeakerTurn)
        assert e.time_base == Fraction(1, RATE) and 0 <= e.start < e.end <= 30 * RATE
        assert 0.0 <= e.payload.confidence <= 1.0 and e.payload.name is None


def test_segmentation_mode_is_chunk_invariant(seg_events: list) -> None:
    x = sample_audio()
    rng = np.random.default_rng(5)
    cuts = sorted(set(rng.integers(1, x.shape[0], 60).tolist()) | set(range(1000, 1010)))
    chunked = _seg().run_all(chunk_audio(x[None, :], RATE, cuts))
    assert _turns(chunked) == _turns(seg_events)
    np.testing.assert_allclose(
        [e.payload.confidence for e in chunked],
        [e.payload.confidence for e in seg_events],
        atol=1e-3,
    )


class CountingEmbedding(EmbeddingModel):
    """The real model of ``inner``, recording every window it is asked to embed."""

    def __init__(self, inner: EmbeddingModel) -> None:
        super().__init__(batch_size=inner.batch_size)
        self.inner = inner
        self.name, self.sample_rate = inner.name, inner.sample_rate
        self.window_s, self.dim = inner.window_s, inner.dim
        self.rows: list[bytes] = []

    def _forward(self, batch: object) -> object:
        return self.inner._forward(batch)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        self.rows += [row.tobytes() for row in batch]
        return self.inner.embed(batch)


@pytest.mark.parametrize("mode", ["segmentation", "vad"])
def test_process_many_equals_process_chunk_by_chunk(mode: str) -> None:
    """Chunks handed over together (as the runtime does with a backlog) give the
    output of processing them one by one: same turns, same speakers, confidences and
    embeddings within the float noise of batching windows differently."""
    x = sample_audio()[: 14 * RATE]
    rng = np.random.default_rng(11)
    cuts = sorted(set(rng.integers(1, x.shape[0], 40).tolist()) | {2000, 2001, 2002})
    chunks = chunk_audio(x[None, :], RATE, cuts)
    groups = sorted(set(rng.integers(1, len(chunks), 12).tolist()))

    def make() -> OnlineDiarizer:
        if mode == "segmentation":
            return _seg(emit_embeddings=True)
        return OnlineDiarizer(campplus(), mode="vad", vad=silero(), emit_embeddings=True)

    one = make()
    expected = [e for c in chunks for e in one.process(c)] + one.flush()
    many = make()  # after `one` is done: both share the session's silero model
    got = []
    for a, b in zip([0, *groups], [*groups, len(chunks)], strict=True):
        got += many.process_many(chunks[a:b])
    got += many.flush()
    assert [(e.kind, e.start, e.end) for e in got] == [(e.kind, e.start, e.end) for e in expected]
    assert _turns(got) == _turns(expected) and _turns(got)
    np.testing.assert_allclose(
        [e.payload.confidence for e in got if e.kind == "speaker_turn"],
        [e.payload.confidence for e in expected if e.kind == "speaker_turn"],
        atol=1e-3,
    )
    vectors = [e.payload.vector for e in got if e.kind == "speaker_embedding"]
    assert vectors
    np.testing.assert_allclose(
        vectors, [e.payload.vector for e in expected if e.kind == "speaker_embedding"], atol=2e-4
    )


def test_process_many_refuses_a_gap_naming_the_frames() -> None:
    x = sample_audio()[: 3 * RATE]
    chunks = chunk_audio(x[None, :], RATE, [8000, 16000])
    op = OnlineDiarizer(campplus(), mode="vad", vad="energy")
    with pytest.raises(ValueError, match="starts at frame 16000, expected frame 8000"):
        op.process_many([chunks[0], chunks[2]])


def test_in_a_graph_the_output_equals_run_all_and_windows_are_embedded_once(
    seg_events: list,
) -> None:
    """Through the runtime (the diarizer gets its queued chunks in process_many calls):
    the events of run_all; each window is embedded at most once, and only the windows
    some local speaker uses (sample.wav: fewer than all of them)."""
    model = CountingEmbedding(campplus())
    op = OnlineDiarizer(model, segmentation=segmentation())
    x = sample_audio()
    g = Graph()
    mem = MemorySink()
    g.chain(g.add(ArraySource.audio(x, RATE, 4096), "src"), g.add(op, "diarize"), g.add(mem))
    g.run_sync()
    assert _turns(mem.events) == _turns(seg_events)
    np.testing.assert_allclose(
        [e.payload.confidence for e in mem.events],
        [e.payload.confidence for e in seg_events],
        atol=1e-3,
    )
    windows = (x.shape[0] - op.settings.window_samples) // op.settings.window_step_samples + 1
    assert len(set(model.rows)) == len(model.rows)
    assert 0 < len(model.rows) < windows


def test_only_the_windows_local_speakers_use_need_an_embedding() -> None:
    """local_speakers gives bit-identical results when every window that
    needed_windows leaves out has a zero embedding."""
    rng = np.random.default_rng(3)
    skipped = 0
    for _ in range(300):
        cells, local = int(rng.integers(1, 400)), int(rng.integers(1, 4))
        n = int(rng.integers(0, 9))
        pc = rng.uniform(0, 1, (cells, local)) ** rng.uniform(0.3, 4)
        pc[rng.uniform(0, 1, cells) < rng.uniform(0, 0.6)] = 0.0  # silent stretches
        lengths = rng.integers(1, 160, n)
        offsets = rng.integers(0, max(cells - 1, 1), n)
        emb = rng.normal(size=(n, 8)).astype(np.float32)
        args = (rng.uniform(0.2, 0.9), rng.choice([0.0, 0.3, 0.6, 1.0]))
        need = needed_windows(pc, offsets, lengths, *args)
        skipped += int((~need).sum())
        full = local_speakers(pc, offsets, lengths, emb, args[0], args[1], 0.2)
        part = local_speakers(pc, offsets, lengths, np.where(need[:, None], emb, 0), *args, 0.2)
        for a, b in zip(full, part, strict=True):
            np.testing.assert_array_equal(a, b)
    assert skipped > 100


def test_light_mode_is_chunk_invariant() -> None:
    x = sample_audio()[: 12 * RATE]
    whole = OnlineDiarizer(campplus(), mode="vad", vad="energy").run_all(x, RATE)
    rng = np.random.default_rng(7)
    cuts = sorted(set(rng.integers(1, x.shape[0], 40).tolist()) | {5, 6, 7, 8})
    op = OnlineDiarizer(campplus(), mode="vad", vad="energy")
    assert _turns(op.run_all(chunk_audio(x[None, :], RATE, cuts))) == _turns(whole)
    assert _turns(whole)


def test_latency_and_bounds_hold_in_a_graph(tmp_path) -> None:
    op = _seg(latency_s=2.0, emit_embeddings=True)
    assert op.latency == Fraction(26, 10)  # latency_s + step_s + min_gap_s
    x = sample_audio()[: 20 * RATE]
    g = Graph()
    mem = MemorySink()
    rttm = tmp_path / "out.rttm"
    src = g.add(ArraySource.audio(x, RATE, 2048), "src")
    d = g.add(op, "diarize")
    g.connect(src, d)
    g.connect(d, g.add(mem, "mem"))
    g.connect(d, g.add(RttmSink(rttm, uri="sample"), "rttm"))
    stats = g.run_sync()
    assert stats.nodes["diarize"].latency_s == pytest.approx(2.6)
    turns = [e for e in mem.events if e.kind == "speaker_turn"]
    embs = [e for e in mem.events if e.kind == "speaker_embedding"]
    assert turns and embs
    assert all(
        isinstance(e.payload, SpeakerEmbedding) and len(e.payload.vector) == 192 for e in embs
    )
    ends = [e.end for e in mem.events]
    assert ends == sorted(ends)
    lines = rttm.read_text().splitlines()
    assert len(lines) == len(turns)
    first = lines[0].split()
    assert first[:3] == ["SPEAKER", "sample", "1"] and first[7] == turns[0].payload.speaker
    assert float(first[3]) == pytest.approx(turns[0].start_s, abs=1e-3)


def test_a_shorter_latency_still_diarizes() -> None:
    events = _seg(latency_s=0.5).run_all(sample_audio(), RATE, chunk_frames=4096)
    ref = sample_reference()
    d5 = der(ref, events, 0.5)
    print(f"segmentation+CAM++ latency 0.5 s DER collar 0.5: {d5:.4f}")
    # Measured 0.072: each cell is decided after 1-2 buffers instead of 10.
    assert d5 <= 0.10


def test_silence_gives_no_turns() -> None:
    out = _seg().run_all(np.zeros(7 * RATE, np.float32), RATE, chunk_frames=3000)
    assert out == []


def test_short_stream_is_flushed() -> None:
    x = sample_audio()[int(22 * RATE) : int(24.5 * RATE)]  # 2.5 s of one speaker
    out = _seg().run_all(x, RATE)
    assert _turns(out) and out[-1].end <= x.shape[0]


def test_rejects_the_wrong_rate_at_build_time() -> None:
    g = Graph()
    src = g.add(ArraySource.audio(np.zeros(48000, np.float32), 48000), "src")
    g.chain(src, g.add(_seg(), "diarize"), g.add(MemorySink(), "sink"))
    with pytest.raises(StreamMismatchError, match="16000 Hz"):
        g.validate()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "fast"},
        {"buffer_s": 0},
        {"step_s": 6.0},
        {"latency_s": 0.1},
        {"latency_s": 9.0},
        {"onset": 1.5},
        {"max_speakers": 0},
        {"speaker_separation": 2.5},
        {"recurrence_distance": 2.5},
        {"clustering": "centroid", "recurrence_distance": 2.5},
        {"clustering": "centroid", "speaker_separation": -1.0},
        {"recurrence_gap_s": 0},
        {"min_gap_s": -1},
        {"reconstruction": "top"},
        {"count_buffer_s": 0},
        {"count_buffer_s": -10.0},
        {"enrolled": {"ann": np.zeros(192, np.float32)}},
        {"enrolled": {"ann": np.ones(10, np.float32)}},
    ],
)
def test_bad_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        _seg(**kwargs)


def test_count_reconstruction_keeps_the_overlaps_second_voice() -> None:
    # Cell 0: one voice. Cell 1: two local speakers active in every buffer, the second
    # one assigned to speaker 1 in some buffers and speaker 2 in others, so both
    # average below the onset; the count (2) still gives the cell two speakers, the
    # highest-scoring ones. Cell 2: nothing active.
    score = np.array([[0.9, 0.0, 0.0], [0.8, 0.4, 0.3], [0.2, 0.1, 0.0]])
    count = np.array([1.0, 2.0, 0.2])
    got = active_cells(score, count, 0.5, "count")
    assert got.tolist() == [[True, False, False], [True, True, False], [False, False, False]]
    assert active_cells(score, count, 0.5, "threshold").tolist() == (score >= 0.5).tolist()
    # Ties keep the lower label; a speaker with no score is never picked.
    tie = active_cells(np.array([[0.5, 0.5, 0.0]]), np.array([3.0]), 0.5, "count")
    assert tie.tolist() == [[True, True, False]]
    assert active_cells(np.zeros((2, 0)), np.ones(2), 0.5, "count").shape == (2, 0)


def test_count_reconstruction_finds_overlap_in_a_real_meeting() -> None:
    # AMI excerpt trn09 (data/ami-train, far field): FEE083 talks from 1.85 s to the
    # end while MEE094 talks over her from 14.20 to 18.22 s. With the count, the
    # diarizer gives that stretch two speakers; with the threshold it gave one.
    from .support import AMI_DIR, read_audio

    path = AMI_DIR / "trn09.wav"
    if not path.exists():
        pytest.skip(f"{path} is not here (the team's data/ beside the repository)")
    audio = read_audio(path)
    overlap = {}
    for rec in ("count", "threshold"):
        turns = _turns(_seg(reconstruction=rec).run_all(audio, RATE, chunk_frames=4096))
        lo, hi = round(14.5 * RATE), round(18.0 * RATE)
        covered = np.zeros(hi - lo, np.int64)
        for start, end, _ in turns:
            a, b = max(start, lo), min(end, hi)
            if b > a:
                covered[a - lo : b - lo] += 1
        overlap[rec] = float(np.mean(covered >= 2))
    assert overlap["count"] >= 0.8, overlap
    assert overlap["threshold"] <= 0.2, overlap


def test_count_buffers_drop_what_five_seconds_of_context_take_for_speech() -> None:
    # AMI excerpt trn04: the reference has no speech before 14.03 s, yet short sounds
    # at about 5-7 s and 9-11 s look like speech to segmentation-3.0 in 5 s buffers.
    # In the 10 s buffers it was trained on they do not: with the count from those
    # (the default) nothing is said there; with the speaker buffers' count it was.
    from .support import AMI_DIR, read_audio

    path = AMI_DIR / "trn04.wav"
    if not path.exists():
        pytest.skip(f"{path} is not here (the team's data/ beside the repository)")
    audio = read_audio(path)
    lo, hi = round(4.0 * RATE), round(12.0 * RATE)
    said = {}
    for count_buffer_s in (10.0, None):
        events = _seg(count_buffer_s=count_buffer_s).run_all(audio, RATE, chunk_frames=4096)
        said[count_buffer_s] = (
            sum(max(0, min(end, hi) - max(start, lo)) for start, end, _ in _turns(events)) / RATE
        )
    assert said[10.0] == 0.0, said
    assert said[None] >= 1.0, said


def test_bad_vad_name() -> None:
    with pytest.raises(ParameterError, match="vad"):
        OnlineDiarizer(campplus(), mode="vad", vad="webrtc")


@pytest.mark.parametrize("mode", ["segmentation", "vad"])
def test_declared_latency_and_bound_hold_for_every_event(mode: str) -> None:
    """Each event leaves at most ``latency`` after the input (chunk start) that completes
    it, and no event ends before a bound the operator gave earlier."""
    x = sample_audio()[: 20 * RATE]
    if mode == "segmentation":
        op = _seg(latency_s=1.0)
    else:
        op = OnlineDiarizer(campplus(), mode="vad", vad="energy", latency_s=1.0)
    op.configure({"in": AudioSpec(RATE, 1)})
    bound = Fraction(0)
    seen = 0
    for chunk in chunk_audio(x[None, :], RATE, list(range(1600, x.shape[0], 1600))):
        for e in op.process(chunk):
            assert e.end_time >= bound
            assert chunk.time - e.end_time <= op.latency, (e, chunk.time)
            seen += 1
        bound = op.bound(chunk.time)
    assert seen > 0


def test_channels_are_averaged() -> None:
    x = sample_audio()[: 12 * RATE]
    mono = OnlineDiarizer(campplus(), mode="vad", vad="energy").run_all(x, RATE)
    stereo = OnlineDiarizer(campplus(), mode="vad", vad="energy").run_all(
        np.stack([x, x]), RATE, chunk_frames=5000
    )
    assert _turns(stereo) == _turns(mono) and _turns(mono)


def test_nan_is_rejected_naming_the_frame() -> None:
    x = sample_audio()[: 3 * RATE].copy()
    x[12345] = np.nan
    with pytest.raises(ValueError, match="frame 12345"):
        OnlineDiarizer(campplus(), mode="vad", vad="energy").run_all(x, RATE, chunk_frames=4000)


def test_the_clustering_hears_each_buffer_at_its_start_in_seconds() -> None:
    """The engine passes every buffer's start (s from the stream's first sample) as the
    clustering's ``time``: on the buffer grid (0.5 s steps), non-decreasing, and the
    same whatever the chunking (what the recurrence rule reads)."""
    from operators.speaker.tuning import cached_models

    emb, seg = cached_models(campplus(), segmentation())
    audio = sample_audio()[: 20 * RATE]
    seen: list[list[float]] = []
    for frames in (4096, 777):
        op = OnlineDiarizer(emb, segmentation=seg)
        times: list[float] = []
        raw = op.clustering.assign

        def record(e: np.ndarray, *, raw=raw, times=times, **kw: object):  # type: ignore[no-untyped-def]
            times.append(float(kw["time"]))  # type: ignore[arg-type]
            return raw(e, **kw)  # type: ignore[arg-type]

        op.clustering.assign = record  # type: ignore[method-assign]
        op.run_all(audio, RATE, chunk_frames=frames)
        seen.append(times)
    assert seen[0] == seen[1] and len(seen[0]) > 10
    t = np.array(seen[0])
    assert (np.diff(t) >= 0).all()
    np.testing.assert_allclose(t * 2, np.round(t * 2), atol=1e-9)  # 0.5 s grid
    assert t.min() >= 0 and t.max() <= 20.0
