"""segmentation-3.0 as the project's own torch module (operators/speaker/pyannet.py):
the same output as pyannote.audio's ``Model`` on real speech, no pyannote.audio import
on the diarizer's path, and the checkpoints it does not take left to pyannote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from operators.speaker import SegmentationModel
from operators.speaker.backends.pyannote import load_pyannote_model
from operators.speaker.pyannet import load_pyannet, powerset_mapping, read_pyannet
from stream import ParameterError

from .support import RATE, sample_audio, segmentation

ROOT = Path(__file__).resolve().parents[3]


def _checkpoint_path() -> str:
    return str(segmentation().checkpoint)


def test_the_own_module_equals_pyannotes_model_on_real_speech() -> None:
    import torch

    own = load_pyannet(_checkpoint_path())
    ref = load_pyannote_model(_checkpoint_path())
    assert type(own).__module__ != type(ref).__module__  # two implementations
    x = sample_audio()
    lengths = (RATE, 5 * RATE, 10 * RATE, 5 * RATE + 1234)
    for n in lengths:
        starts = (0, 7 * RATE, 12 * RATE)
        batch = np.stack([x[s : s + n] for s in starts]).astype(np.float32)[:, None, :]
        with torch.inference_mode():
            a = own(torch.from_numpy(batch))
            b = ref(torch.from_numpy(batch))
        assert a.shape == b.shape == (3, ref.num_frames(n), 7)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-5)
        assert own.num_frames(n) == ref.num_frames(n)
        frames = range(0, own.num_frames(n), 7)
        assert [own.receptive_field_center(f) for f in frames] == [
            ref.receptive_field_center(f) for f in frames
        ]
    # Speech was there: some frame is confidently a single speaker (log-probabilities).
    assert float(a.exp()[..., 1:4].max()) > 0.9


def test_the_frozen_filters_move_with_the_module() -> None:
    """The sinc filters are computed once after loading and kept as a (non-persistent)
    buffer: ``.to(device)`` moves them with the weights (CUDA), the state dict stays
    pyannote's."""
    import torch

    own = load_pyannet(_checkpoint_path())
    enc = own.sincnet.conv1d[0]
    assert "sincnet.conv1d.0._frozen" in dict(own.named_buffers())
    assert "sincnet.conv1d.0._frozen" not in own.state_dict()
    own = own.to(torch.float64)
    assert enc._frozen.dtype == torch.float64


def test_the_powerset_mapping_is_pyannotes() -> None:
    from pyannote.audio.utils.powerset import Powerset

    for classes, most in ((3, 2), (4, 2), (3, 3), (2, 1)):
        np.testing.assert_array_equal(
            powerset_mapping(classes, most).numpy(), Powerset(classes, most).mapping.numpy()
        )


def test_the_checkpoint_is_read_as_segmentation_3() -> None:
    found = read_pyannet(Path(_checkpoint_path()).read_bytes())
    assert found is not None
    assert (found.sample_rate, found.stride, found.classes, found.powerset_max) == (
        16000,
        10,
        3,
        2,
    )
    assert (found.lstm_hidden, found.lstm_layers, found.bidirectional) == (128, 4, True)
    assert found.outputs == 7 and found.duration == 10.0


_NO_PYANNOTE = """
import sys
from operators.speaker import SegmentationModel
seg = SegmentationModel(threads=1)
import numpy as np
x = np.random.default_rng(0).normal(0, 0.1, (2, 80000)).astype(np.float32)
p = seg(x)
assert p.shape == (2, 293, 3), p.shape
print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('pyannote', 'lightning'))}))
"""


def test_segmentation_3_loads_and_runs_without_importing_pyannote_audio() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _NO_PYANNOTE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _other_architecture(tmp_path: Path) -> Path:
    """A real pyannote segmentation model the own module does not build: a PyanNet with
    a non-monolithic LSTM (random weights, seed 0), saved as pyannote saves it."""
    import lightning
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(0)
    model = PyanNet(lstm={"monolithic": False, "num_layers": 2}).eval()
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=5.0,
        classes=["a", "b", "c"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    model.build()
    ck: dict[str, Any] = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(ck)
    path = tmp_path / "pytorch_model.bin"
    torch.save(ck, path)
    return path


def test_other_architectures_are_left_to_pyannote(tmp_path: Path) -> None:
    path = _other_architecture(tmp_path)
    assert read_pyannet(path.read_bytes()) is None
    seg = SegmentationModel(path, threads=1)
    assert type(seg.model).__module__.startswith("pyannote.audio")
    x = sample_audio()[: 5 * RATE][None, :].astype(np.float32)
    assert seg(x).shape[-1] == 3


class _Touch:
    """Unpickling this runs ``Path.touch(target)``: a stand-in for arbitrary code."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.target,))


def test_a_pyannet_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    import pickle

    import torch

    content = torch.load(_checkpoint_path(), map_location="cpu", weights_only=False)
    content["hyper_parameters"]["payload"] = _Touch(tmp_path / "ran")
    path = tmp_path / "evil.bin"
    torch.save(content, path)
    with pytest.raises(pickle.UnpicklingError):
        load_pyannet(path)
    with pytest.raises(ParameterError, match=r"refusing to load.*weights_only"):
        SegmentationModel(path, threads=1)
    assert not (tmp_path / "ran").exists()


def test_offline_segmentation_equals_pyannotes_inference() -> None:
    """The offline mode's sliding buffers (its own, no pyannote.audio) against pyannote's
    ``Inference`` over the same model: a length that leaves a padded last buffer, and
    one shorter than a buffer."""
    import torch
    from pyannote.audio import Inference

    from operators.speaker import OnlineDiarizer
    from operators.speaker.offline import _segment

    from .support import campplus

    op = OnlineDiarizer(campplus(), segmentation=segmentation())
    cfg = op.settings
    ref_model = load_pyannote_model(_checkpoint_path())
    inference = Inference(
        ref_model,
        window="sliding",
        duration=cfg.buffer_s,
        step=cfg.step_s,
        skip_aggregation=True,
        skip_conversion=True,
        batch_size=32,
    )
    mapping = powerset_mapping(3, 2).numpy()
    for n in (12 * RATE + 4321, 3 * RATE):
        x = sample_audio()[6 * RATE : 6 * RATE + n].astype(np.float32)
        probs, starts = _segment(op, x)
        out = inference({"waveform": torch.from_numpy(x[None, :]), "sample_rate": RATE})
        expected = np.exp(np.asarray(out.data, np.float32)) @ mapping
        assert probs.shape == expected.shape
        np.testing.assert_allclose(probs, expected, atol=1e-4)
        np.testing.assert_array_equal(
            starts, [round(out.sliding_window[c].start * RATE) for c in range(len(starts))]
        )
