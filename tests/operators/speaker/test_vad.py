"""Voice activity: the batched silero-vad equals silero's own TorchScript model called
frame by frame, for any chunking; the energy gate's threshold is in dBFS."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from operators.speaker import EnergyVAD
from stream import ParameterError

from .support import RATE, sample_audio, silero


def _run(vad, x: np.ndarray, step: int) -> np.ndarray:
    vad.reset()
    out = [vad.push(x[k : k + step], k)[1] for k in range(0, x.size, step)]
    return np.concatenate([*out, vad.flush()[1]])


def test_silero_matches_its_torchscript_model_frame_by_frame() -> None:
    import torch

    vad = silero()  # loads with one torch thread (as every model in these tests)
    x = sample_audio()[: 8 * RATE]
    spec = importlib.util.find_spec("silero_vad")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.jit"
    model = torch.jit.load(str(path)).eval()
    with torch.inference_mode():
        ref = np.array(
            [
                float(model(torch.from_numpy(x[i : i + 512])[None], 16000))
                for i in range(0, x.size, 512)
            ]
        )
    ours = _run(vad, x, 4096)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert ours.max() > 0.9 and ours[:100].min() < 0.1  # speech, and silence at the start


def test_silero_is_chunk_invariant() -> None:
    x = sample_audio()[5 * RATE : 9 * RATE]
    whole = _run(silero(), x, x.size)
    for step in (97, 511, 777, 4096):
        np.testing.assert_allclose(_run(silero(), x, step), whole, atol=1e-5)
    short = x[: 3 * 512 + 100]
    np.testing.assert_allclose(
        _run(silero(), short, 1), _run(silero(), short, short.size), atol=1e-5
    )


def test_energy_gate() -> None:
    vad = EnergyVAD(160, threshold_db=-30.0)
    x = np.concatenate([np.full(1600, 0.01), np.full(1600, 0.1)]).astype(np.float32)
    probs = _run(vad, x, 1000)
    assert probs.tolist() == [0.0] * 10 + [1.0] * 10  # -40 dBFS below, -20 above
    with pytest.raises(ParameterError):
        EnergyVAD(160, threshold_db=3.0)
