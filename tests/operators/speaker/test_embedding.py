"""Embedding backends on real speech (pyannote's sample.wav): shape, determinism,
same speaker closer than different speakers, and the model-loading errors."""

from __future__ import annotations

import numpy as np
import pytest

from operators.speaker import EmbeddingModel, PyannoteEmbedding
from stream import ParameterError

from .support import RATE, campplus, ge2e, sample_audio

# sample.rttm: speaker90 speaks alone over 10.57-14.49 s, speaker91 over 21.78-27.85 s.
SAME_A = (11.0, 12.8)
SAME_B = (22.0, 24.0, 26.0)
MODELS = {"campplus": campplus, "campplus_torch": lambda: campplus("torch"), "ge2e": ge2e}


def _windows(starts: tuple[float, ...], seconds: float = 1.5) -> np.ndarray:
    x = sample_audio()
    n = int(seconds * RATE)
    return np.stack([x[int(s * RATE) : int(s * RATE) + n] for s in starts])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shape_norm_and_determinism(name: str) -> None:
    model: EmbeddingModel = MODELS[name]()
    x = _windows(SAME_A + SAME_B)
    e1 = model.embed(x)
    e2 = model.embed(x)
    assert e1.shape == (5, model.dim) and e1.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e1, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(e1, e2)
    # Batch composition does not change a window's embedding beyond float noise.
    single = np.concatenate([model.embed(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(single, e1, atol=2e-4)
    assert model.embed(np.zeros((0, 100), np.float32)).shape == (0, model.dim)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_speaker_windows_are_closer_than_different_speakers(name: str) -> None:
    model = MODELS[name]()
    a = model.embed(_windows(SAME_A))
    b = model.embed(_windows(SAME_B))
    within = np.concatenate([(a @ a.T)[np.triu_indices(2, 1)], (b @ b.T)[np.triu_indices(3, 1)]])
    across = (a @ b.T).ravel()
    assert within.mean() - across.mean() > 0.08, (within, across)
    # Leave-one-out: every window is nearer (mean similarity) to its own speaker's
    # other windows than to the other speaker's.
    e = np.concatenate([a, b])
    who = np.array([0] * len(a) + [1] * len(b))
    sim = e @ e.T
    for i in range(len(e)):
        others = np.arange(len(e)) != i
        own = sim[i, others & (who == who[i])].mean()
        other = sim[i, who != who[i]].mean()
        assert own > other, (name, i, own, other)


def test_masked_embedding_uses_only_the_masked_samples() -> None:
    model = campplus()
    x = _windows((11.0, 22.0), seconds=3.0)
    full = np.ones(x.shape, bool)
    np.testing.assert_allclose(model.embed_masked(x, full), model.embed(x), atol=2e-4)
    # Speaker A's audio followed by B's; masking B's half leaves A's embedding.
    mixed = np.concatenate([x[0, : 2 * RATE], x[1, :RATE]])[None, :]
    mask = np.zeros(mixed.shape, bool)
    mask[0, : 2 * RATE] = True
    only_a = model.embed_masked(mixed, mask)
    np.testing.assert_allclose(only_a, model.embed(x[:1, : 2 * RATE]), atol=2e-4)
    assert not model.embed_masked(mixed, np.zeros_like(mask)).any()


def test_silence_gives_a_finite_embedding() -> None:
    e = ge2e().embed(np.zeros((1, 24000), np.float32))
    assert np.isfinite(e).all()


def test_pyannote_backend_rejects_a_model_that_is_not_an_embedding() -> None:
    from .support import segmentation

    with pytest.raises(ParameterError, match="not a speaker-embedding model"):
        PyannoteEmbedding(segmentation().checkpoint, threads=1)


def test_pyannote_backend_names_a_checkpoint_it_cannot_load(tmp_path) -> None:
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(ParameterError, match="cannot load pyannote model"):
        PyannoteEmbedding(missing, threads=1)


@pytest.mark.parametrize(
    "kwargs", [{"device": "tpu"}, {"threads": 0}, {"batch_size": 0}, {"device": "cuda:7"}]
)
def test_bad_settings(kwargs: dict[str, object]) -> None:
    from operators.speaker import GE2EEmbedding

    with pytest.raises(ParameterError):
        GE2EEmbedding(**kwargs)  # type: ignore[arg-type]
