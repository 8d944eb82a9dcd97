"""Voice activity for the light diarization mode: silero-vad or an energy gate.

Both report one speech probability per frame of the stream, from frames cut by a
:class:`~operators.speaker.windows.RollingWindows` (so the result does not depend on
the chunking). Silero's recurrent state is carried from frame to frame; its TorchScript
model is loaded from the ``silero-vad`` wheel's data folder without importing the
``silero_vad`` module, which would set torch to one thread for the whole process.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from stream import ParameterError

from .backends.base import TorchSettings, packaged_file
from .windows import RollingWindows

__all__ = ["EnergyVAD", "SileroVAD", "VoiceActivity"]


class VoiceActivity(abc.ABC):
    """Speech probability per ``frame`` samples; ``push`` mono audio, get whole frames.

    Attributes:
        frame: samples per VAD frame.
    """

    frame: int

    def __init__(self, frame: int) -> None:
        self.frame = frame
        self._windows = RollingWindows(frame, frame)

    def reset(self) -> None:
        """Forget the stream."""
        self._windows.reset()
        self._reset_model()

    def _reset_model(self) -> None:  # noqa: B027 - stateless detectors keep it
        """Forget the detector's recurrent state."""

    @abc.abstractmethod
    def _probs(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``(n, frame)`` -> ``(n,)`` speech probabilities, in stream order."""

    def push(
        self, samples: npt.NDArray[np.float32], start: int
    ) -> tuple[int, npt.NDArray[np.float32]]:
        """Add audio; return (first sample of the first frame, per-frame probabilities)."""
        batch = self._windows.push(samples, start)
        return self._cells(batch.samples, batch.starts)

    def flush(self) -> tuple[int, npt.NDArray[np.float32]]:
        """The last partial frame (zero-padded)."""
        batch = self._windows.flush()
        return self._cells(batch.samples, batch.starts)

    def _cells(
        self, frames: npt.NDArray[np.float32], starts: npt.NDArray[np.int64]
    ) -> tuple[int, npt.NDArray[np.float32]]:
        if frames.shape[0] == 0:
            return self._windows.next_start, np.zeros(0, np.float32)
        probs = self._probs(frames)
        return int(starts[0]), probs.astype(np.float32)


class SileroVAD(VoiceActivity):
    """silero-vad at 16 kHz: 512-sample (32 ms) frames with 64 samples of context.

    The weights are read from the TorchScript model in the ``silero-vad`` wheel; the
    network runs here in plain torch so that every frame a chunk completes goes through
    the convolutional front end in one batch and the recurrent state (an LSTM cell,
    carried from frame to frame and across chunks) through one ``nn.LSTM`` call over the
    frame sequence: the same numbers as one TorchScript call per frame, many times
    faster. (Not importing the ``silero_vad`` module also keeps it from setting torch to
    one thread for the whole process.)

    Args:
        device, threads: see :class:`~operators.speaker.backends.base.TorchSettings`.
    """

    sample_rate = 16000
    _CONTEXT = 64

    def __init__(self, *, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(512)
        import torch

        self.torch = TorchSettings(device, threads)
        path = packaged_file(
            "silero_vad", "data", "silero_vad.jit", install="pip install silero-vad"
        )
        jit = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
        sd = {
            k[len("_model.") :]: v for k, v in jit.state_dict().items() if k.startswith("_model.")
        }
        dev = self.torch.torch_device
        self._basis = sd["stft.forward_basis_buffer"].float().to(dev)
        self._convs = [
            (
                sd[f"encoder.{i}.reparam_conv.weight"].float().to(dev),
                sd[f"encoder.{i}.reparam_conv.bias"].float().to(dev),
                stride,
            )
            for i, stride in enumerate((1, 2, 2, 1))
        ]
        lstm: Any = torch.nn.LSTM(128, 128, batch_first=True)
        lstm.weight_ih_l0.data.copy_(sd["decoder.rnn.weight_ih"])
        lstm.weight_hh_l0.data.copy_(sd["decoder.rnn.weight_hh"])
        lstm.bias_ih_l0.data.copy_(sd["decoder.rnn.bias_ih"])
        lstm.bias_hh_l0.data.copy_(sd["decoder.rnn.bias_hh"])
        self._lstm = lstm.eval().to(dev)
        self._out_w = sd["decoder.decoder.2.weight"].float().to(dev)
        self._out_b = sd["decoder.decoder.2.bias"].float().to(dev)
        self._reset_model()

    def _reset_model(self) -> None:
        self._context = np.zeros(self._CONTEXT, np.float32)
        self._state: tuple[Any, Any] | None = None

    def _probs(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        import torch
        from torch.nn import functional as F

        n = frames.shape[0]
        ctx = np.concatenate([self._context[None, :], frames[:-1, -self._CONTEXT :]])
        x = np.concatenate([ctx, frames], axis=1)  # (n, 576)
        self._context = frames[-1, -self._CONTEXT :].copy()
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.torch.torch_device)
            t = F.pad(t[:, None, :], (0, 64), mode="reflect")
            spec = F.conv1d(t, self._basis, stride=128)  # (n, 258, 4)
            y = torch.sqrt(spec[:, :129] ** 2 + spec[:, 129:] ** 2)
            for w, b, stride in self._convs:
                y = torch.relu(F.conv1d(y, w, b, stride=stride, padding=1))
            h, state = self._lstm(y[:, :, 0][None], self._state)  # (1, n, 128)
            self._state = state
            logits = F.conv1d(torch.relu(h[0])[:, :, None], self._out_w, self._out_b)
            out = torch.sigmoid(logits).reshape(n).cpu().numpy()
        return np.asarray(out, np.float32)


class EnergyVAD(VoiceActivity):
    """An energy gate: a frame is speech when its RMS is at least ``threshold_db`` dBFS.

    Args:
        frame: frame length in samples (the diarizer uses 10 ms).
        threshold_db: RMS threshold in dBFS (default -45).
    """

    def __init__(self, frame: int, threshold_db: float = -45.0) -> None:
        if not (math.isfinite(threshold_db) and threshold_db < 0):
            raise ParameterError(
                f"EnergyVAD.threshold_db must be a negative dBFS value, got {threshold_db!r}"
            )
        super().__init__(frame)
        self.threshold_db = float(threshold_db)
        self._thr = 10.0 ** (threshold_db / 10.0)  # mean square

    def _probs(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        ms = np.mean(np.square(frames, dtype=np.float64), axis=1)
        out: npt.NDArray[np.float32] = (ms >= self._thr).astype(np.float32)
        return out
