"""GE2E speaker encoder (Resemblyzer's pretrained weights) in plain torch.

The weights are ``pretrained.pt`` inside the ``resemblyzer`` wheel (installed with
``pip install --no-deps resemblyzer``: its librosa/webrtcvad dependencies are not
needed, the frontend is re-implemented here). Network: 3-layer LSTM (40 -> 256) and a
linear layer to 256, ReLU, L2 norm. Frontend: STFT n_fft 400, hop 160 (10 ms), periodic
Hann window, power spectrum, 40 Slaney mel bands, no log; partial utterances of 160
frames (1.6 s) with 50 % overlap are averaged. Volume is raised (never lowered) to
-30 dBFS RMS first, as Resemblyzer does.
"""

from __future__ import annotations

from typing import Any

from .base import PackagedEmbeddingModel

__all__ = ["GE2EEmbedding"]

_N_FFT = 400
_HOP = 160
_PARTIAL = 160  # frames (1.6 s)
_TARGET_DBFS = -30.0


class GE2EEmbedding(PackagedEmbeddingModel):
    """GE2E (Resemblyzer) speaker embeddings: 256-d, 16 kHz, 1.6 s windows.

    Args:
        weights: path to a Resemblyzer-format checkpoint (``{"model_state": ...}``);
            default: the one shipped in the ``resemblyzer`` wheel.
        device, threads, batch_size: see :class:`EmbeddingModel`.
    """

    name = "ge2e"
    sample_rate = 16000
    window_s = 1.6
    dim = 256
    weights_package = "resemblyzer"
    weights_file = ("pretrained.pt",)

    def _load(self, checkpoint: Any) -> None:
        import torch
        import torchaudio  # type: ignore[import-untyped,unused-ignore]

        state = checkpoint["model_state"]
        self.lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        dev = self.torch.torch_device
        self.lstm.eval().to(dev)
        self.linear.eval().to(dev)
        self._window = torch.hann_window(_N_FFT, periodic=True, device=dev)
        self._mel = torchaudio.functional.melscale_fbanks(
            _N_FFT // 2 + 1, 0.0, 8000.0, 40, 16000, norm="slaney", mel_scale="slaney"
        ).to(dev)  # (201, 40)

    def _mels(self, x: Any) -> Any:
        with self.torch.full_precision():
            return self._mels_fp32(x)

    def _mels_fp32(self, x: Any) -> Any:
        import torch

        x = x.float()
        rms = torch.sqrt(torch.mean(x * x, dim=1, keepdim=True))
        gain = torch.where(
            rms > 0, 10.0 ** (_TARGET_DBFS / 20.0) / torch.clamp(rms, min=1e-12), 1.0
        )
        x = x * torch.clamp(gain, min=1.0)
        spec = torch.stft(x, _N_FFT, _HOP, window=self._window, center=False, return_complex=True)
        power = spec.real**2 + spec.imag**2  # (n, 201, frames)
        return torch.matmul(power.transpose(1, 2), self._mel)  # (n, frames, 40)

    def _encode(self, mels: Any) -> Any:
        import torch

        _, (hidden, _) = self.lstm(mels)
        e = torch.relu(self.linear(hidden[-1]))
        return e / torch.clamp(torch.linalg.vector_norm(e, dim=1, keepdim=True), min=1e-12)

    def _forward(self, batch: Any) -> Any:
        import torch

        if batch.shape[1] < _N_FFT:
            batch = torch.nn.functional.pad(batch, (0, _N_FFT - batch.shape[1]))
        mels = self._mels(batch)
        frames = mels.shape[1]
        if frames <= _PARTIAL * 3 // 2:
            return self._encode(mels)
        # Partials of 1.6 s every 0.8 s, the last one ending at the end; averaged.
        starts = list(range(0, frames - _PARTIAL + 1, _PARTIAL // 2))
        if starts[-1] != frames - _PARTIAL:
            starts.append(frames - _PARTIAL)
        parts = torch.stack([mels[:, s : s + _PARTIAL] for s in starts], dim=1)
        n, p = parts.shape[:2]
        e = self._encode(parts.reshape(n * p, _PARTIAL, 40)).reshape(n, p, -1).mean(dim=1)
        return e
