"""pyannote's PyanNet segmentation network (segmentation-3.0) as the project's own module.

Running segmentation-3.0 through pyannote.audio means importing it (Lightning,
torchmetrics, tensorboard...: about 3 s and 300 MB here) and unpickling its
checkpoint. The network itself is small and fixed: SincNet (an instance norm of the
waveform, 80 parametric sinc band-pass filters of 251 taps, ``|.|``, three blocks of
max-pool 3 / instance norm / leaky ReLU with two 5-tap convolutions between them), a
bidirectional LSTM, linear layers with leaky ReLU and a classifier (log-softmax over
the powerset classes, or sigmoid for multi-label models). This module builds it with
plain torch, with pyannote's parameter names so the checkpoint's ``state_dict`` loads
strictly, and the same operations in the same order, so its output equals pyannote's
``Model`` on the same input (the tests compare them).

:func:`load_pyannet` reads a checkpoint with ``torch.load(weights_only=True)``, pyannote's
three specification types stood in for by inert local classes (so nothing of
pyannote is imported and nothing the file names is executed), and returns None for a
checkpoint of any other architecture or shape; those load through pyannote.audio.
"""

from __future__ import annotations

import io
import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["PyanNetCheckpoint", "load_pyannet", "powerset_mapping", "read_pyannet"]

_ARCHITECTURE = "pyannote.audio.models.segmentation.PyanNet"
_SINC_FILTERS = 80
_SINC_TAPS = 251
_MIN_LOW_HZ = 50.0
_MIN_BAND_HZ = 50.0
# SincNet's kernel sizes and strides after the first convolution (pool, conv, pool, conv, pool).
_LATER_KERNELS = (3, 5, 3, 5, 3)
_LATER_STRIDES = (3, 1, 3, 1, 3)


class _Inert:
    """Stands in for one of pyannote's specification types while unpickling: keeps the
    constructor arguments (an enum's value) or the pickled state, runs nothing."""

    def __init__(self, *args: Any) -> None:
        self.args = args
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = dict(state) if isinstance(state, dict) else {}


class _Specifications(_Inert):
    pass


class _Problem(_Inert):
    pass


class _Resolution(_Inert):
    pass


_STAND_INS = (
    (_Specifications, "pyannote.audio.core.task.Specifications"),
    (_Problem, "pyannote.audio.core.task.Problem"),
    (_Resolution, "pyannote.audio.core.task.Resolution"),
)


@dataclass(frozen=True)
class PyanNetCheckpoint:
    """What :func:`read_pyannet` found in a PyanNet checkpoint.

    Attributes:
        sample_rate: input rate, Hz (16000: SincNet supports nothing else).
        stride: SincNet's first-convolution stride, samples (10 in segmentation-3.0).
        lstm_hidden, lstm_layers, bidirectional: the LSTM's shape.
        linear_hidden, linear_layers: the linear layers after it.
        classes: local speakers (3 in segmentation-3.0).
        powerset_max: most speakers active at once in powerset models (2), 0 when the
            model is multi-label (one sigmoid per speaker).
        duration: the training chunk duration, seconds (10 in segmentation-3.0).
        state_dict: the weights, pyannote's parameter names.
    """

    sample_rate: int
    stride: int
    lstm_hidden: int
    lstm_layers: int
    bidirectional: bool
    linear_hidden: int
    linear_layers: int
    classes: int
    powerset_max: int
    duration: float
    state_dict: dict[str, Any]

    @property
    def outputs(self) -> int:
        """Classifier outputs: powerset classes, or one per speaker."""
        if not self.powerset_max:
            return self.classes
        return sum(math.comb(self.classes, k) for k in range(self.powerset_max + 1))


def read_pyannet(data: bytes) -> PyanNetCheckpoint | None:
    """The PyanNet a checkpoint's bytes hold, or None when it holds something else
    (another architecture, non-monolithic LSTM, more than one channel, not 16 kHz).

    Unpickled with ``weights_only=True``; pyannote's Specifications, Problem and
    Resolution are read into inert stand-ins. Raises what ``torch.load`` raises for a
    file that names any other Python object or is not a torch file.
    """
    import torch
    from torch.torch_version import TorchVersion

    with torch.serialization.safe_globals([*_STAND_INS, TorchVersion]):
        content = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    try:
        meta = content["pyannote.audio"]
        arch = meta["architecture"]
        if (arch["module"], arch["class"]) != (_ARCHITECTURE, "PyanNet"):
            return None
        spec = meta["specifications"]
        hp = content["hyper_parameters"]
        sinc, lstm, linear = hp["sincnet"], hp["lstm"], hp["linear"]
        state = spec.state if isinstance(spec, _Specifications) else None
        if state is None or int(hp.get("num_channels", 1)) != 1:
            return None
        if not (lstm.get("monolithic", True) and lstm.get("batch_first", True)):
            return None
        powerset = bool(state.get("powerset", False))
        found = PyanNetCheckpoint(
            sample_rate=int(hp["sample_rate"]),
            stride=int(sinc["stride"]),
            lstm_hidden=int(lstm["hidden_size"]),
            lstm_layers=int(lstm["num_layers"]),
            bidirectional=bool(lstm["bidirectional"]),
            linear_hidden=int(linear["hidden_size"]),
            linear_layers=int(linear["num_layers"]),
            classes=len(state["classes"]),
            powerset_max=int(state["powerset_max_classes"]) if powerset else 0,
            duration=float(state["duration"]),
            state_dict=dict(content["state_dict"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if found.sample_rate != 16000 or found.stride < 1 or found.classes < 1:
        return None
    return found


def load_pyannet(path: str | os.PathLike[str]) -> Any:
    """The project's own PyanNet module (eval mode, CPU) loaded from a pyannote
    checkpoint file, or None when the file holds another architecture (see
    :func:`read_pyannet`). Raises ValueError/RuntimeError/UnpicklingError from torch
    for a damaged or foreign file, RuntimeError when the weights do not fit."""
    found = read_pyannet(Path(path).read_bytes())
    if found is None:
        return None
    model = _build(found)
    model.load_state_dict(found.state_dict, strict=True)
    model.eval()
    model.sincnet.conv1d[0].freeze()
    return model


def pyannet_geometry(ck: PyanNetCheckpoint) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The kernels and strides of the network's convolutions and poolings, in order
    (what its frame count and receptive-field centres follow from)."""
    return (_SINC_TAPS, *_LATER_KERNELS), (ck.stride, *_LATER_STRIDES)


def _conv_frames(n: int, kernel: int, stride: int) -> int:
    return 1 + (n - kernel) // stride


def _build(ck: PyanNetCheckpoint) -> Any:
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F

    class ParamSincFB(nn.Module):
        """asteroid-filterbanks' ParamSincFB: parameter and buffer names, filter formula."""

        def __init__(self) -> None:
            super().__init__()
            half = _SINC_TAPS // 2
            self.n_filters = _SINC_FILTERS
            self.kernel_size = _SINC_TAPS
            self.low_hz_ = nn.Parameter(torch.zeros(_SINC_FILTERS // 2, 1))
            self.band_hz_ = nn.Parameter(torch.zeros(_SINC_FILTERS // 2, 1))
            window = np.hamming(_SINC_TAPS)[:half]
            self.register_buffer("window_", torch.from_numpy(window).float())
            n = 2 * np.pi * (torch.arange(-half, 0.0).view(1, -1) / ck.sample_rate)
            self.register_buffer("n_", n)

        def filters(self) -> Any:
            low = _MIN_LOW_HZ + torch.abs(self.low_hz_)
            high = torch.clamp(
                low + _MIN_BAND_HZ + torch.abs(self.band_hz_), _MIN_LOW_HZ, ck.sample_rate / 2
            )
            return torch.cat([self._make(low, high, True), self._make(low, high, False)], dim=0)

        def _make(self, low: Any, high: Any, cos: bool) -> Any:
            band = (high - low)[:, 0]
            n_: Any = self.n_
            window: Any = self.window_
            ft_low = torch.matmul(low, n_)
            ft_high = torch.matmul(high, n_)
            if cos:  # even filters (SincNet's)
                left = ((torch.sin(ft_high) - torch.sin(ft_low)) / (n_ / 2)) * window
                centre = 2 * band.view(-1, 1)
                right = torch.flip(left, dims=[1])
            else:  # odd filters (asteroid's extension)
                left = ((torch.cos(ft_low) - torch.cos(ft_high)) / (n_ / 2)) * window
                centre = torch.zeros_like(band.view(-1, 1))
                right = -torch.flip(left, dims=[1])
            bp = torch.cat([left, centre, right], dim=1) / (2 * band[:, None])
            return bp.view(self.n_filters // 2, 1, self.kernel_size)

    class Encoder(nn.Module):
        """asteroid's Encoder over the sinc filterbank: a strided convolution with the
        filters, computed once after loading (:meth:`freeze`)."""

        def __init__(self) -> None:
            super().__init__()
            self.filterbank = ParamSincFB()
            self.stride = ck.stride
            self.padding = 0
            self.is_pinv = False
            # A buffer (not saved in the state dict), so ``.to(device)`` moves it too.
            self.register_buffer("_frozen", None, persistent=False)

        def freeze(self) -> None:
            with torch.no_grad():
                self._frozen = self.filterbank.filters().detach()

        def forward(self, x: Any) -> Any:
            frozen: Any = self._frozen
            filters = frozen if frozen is not None else self.filterbank.filters()
            return F.conv1d(x, filters.to(x.dtype), stride=self.stride)

    class SincNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stride = ck.stride
            self.wav_norm1d = nn.InstanceNorm1d(1, affine=True)
            self.conv1d = nn.ModuleList(
                [
                    Encoder(),
                    nn.Conv1d(_SINC_FILTERS, 60, 5, stride=1),
                    nn.Conv1d(60, 60, 5, stride=1),
                ]
            )
            self.pool1d = nn.ModuleList([nn.MaxPool1d(3, stride=3) for _ in range(3)])
            self.norm1d = nn.ModuleList(
                [nn.InstanceNorm1d(n, affine=True) for n in (_SINC_FILTERS, 60, 60)]
            )

        def forward(self, x: Any) -> Any:
            out = self.wav_norm1d(x)
            for c, (conv, pool, norm) in enumerate(
                zip(self.conv1d, self.pool1d, self.norm1d, strict=True)
            ):
                out = conv(out)
                if c == 0:
                    out = torch.abs(out)
                out = F.leaky_relu(norm(pool(out)))
            return out

    class PyanNet(nn.Module):
        """pyannote.audio's PyanNet in eval mode (same parameter names and forward)."""

        def __init__(self) -> None:
            super().__init__()
            # What pyannote's forward (and SharedSincNet) read of the hyper-parameters.
            self.hparams = SimpleNamespace(
                lstm={"monolithic": True, "num_layers": ck.lstm_layers},
                linear={"num_layers": ck.linear_layers},
            )
            self.sample_rate = ck.sample_rate
            self.checkpoint = ck
            self.sincnet = SincNet()
            self.lstm = nn.LSTM(
                60,
                ck.lstm_hidden,
                num_layers=ck.lstm_layers,
                bidirectional=ck.bidirectional,
                batch_first=True,
            )
            width = ck.lstm_hidden * (2 if ck.bidirectional else 1)
            sizes = [width] + [ck.linear_hidden] * ck.linear_layers
            self.linear = nn.ModuleList([nn.Linear(a, b) for a, b in itertools.pairwise(sizes)])
            self.classifier = nn.Linear(sizes[-1], ck.outputs)
            self.activation = nn.LogSoftmax(dim=-1) if ck.powerset_max else nn.Sigmoid()

        def num_frames(self, num_samples: int) -> int:
            n = _conv_frames(num_samples, _SINC_TAPS, ck.stride)
            for k, s in zip(_LATER_KERNELS, _LATER_STRIDES, strict=True):
                n = _conv_frames(n, k, s)
            return n

        def receptive_field_center(self, frame: int = 0) -> int:
            centre = frame
            kernels = (_SINC_TAPS, *_LATER_KERNELS)
            strides = (ck.stride, *_LATER_STRIDES)
            for k, s in reversed(list(zip(kernels, strides, strict=True))):
                centre = centre * s + (k - 1) // 2
            return centre

        def forward(self, waveforms: Any) -> Any:
            out = self.sincnet(waveforms).transpose(1, 2)  # (batch, frame, feature)
            out, _ = self.lstm(out)
            for linear in self.linear:
                out = F.leaky_relu(linear(out))
            return self.activation(self.classifier(out))

    return PyanNet()


def powerset_mapping(classes: int, max_active: int) -> Any:
    """pyannote's powerset-to-multilabel matrix, ``(powerset classes, classes)`` float32:
    row k marks the speakers of the k-th set (the empty set, then singletons, pairs...
    in ``itertools.combinations`` order)."""
    import torch

    rows = [
        combo
        for size in range(max_active + 1)
        for combo in itertools.combinations(range(classes), size)
    ]
    mapping = torch.zeros(len(rows), classes, dtype=torch.float32)
    for k, combo in enumerate(rows):
        for c in combo:
            mapping[k, c] = 1.0
    return mapping
