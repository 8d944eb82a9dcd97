"""Overlapping segmentation buffers with SincNet's first convolution run once.

pyannote's PyanNet (segmentation-3.0) opens with SincNet: an instance norm of each
buffer's waveform, 80 sinc band-pass filters of 251 taps at stride 10, ``|.|`` and a
max-pool of 3. On CPU that convolution is about 40 % of the model's time, and
consecutive buffers (5 s every 0.5 s) share 90 % of their samples. The convolution is
linear, so for a buffer normalised to ``(x - m) / s * g + b``::

    conv(normalised)[k] = (g / s) * conv(x)[k] + (b - g * m / s) * sum(filter)

It therefore runs once over the span the buffers cover; a Numba kernel applies each
buffer's scale and offset, ``|.|`` and the max-pool in one pass, and the rest of the
network runs as pyannote's own ``forward``. The result equals the model's forward
pass up to float32 rounding; :meth:`SharedSincNet.probe` checks that on noise when a
model loads and the path is used only for models that pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["SharedSincNet"]

_PROBE_TOLERANCE = 1e-3  # max |difference| of the log-probabilities on the probe


@njit(cache=True, nogil=True)
def _scale_abs_pool(
    conv: npt.NDArray[np.float32],
    fsum: npt.NDArray[np.float32],
    offsets: npt.NDArray[np.int64],
    scale: npt.NDArray[np.float32],
    shift: npt.NDArray[np.float32],
    out: npt.NDArray[np.float32],
) -> None:
    """out[b, k, j] = max over i < 3 of |scale[b] * conv[k, offsets[b] + 3j + i]
    + shift[b] * fsum[k]|: the normalisation, abs and max-pool(3, 3) of buffer b."""
    n, filters, pooled = out.shape
    for b in range(n):
        a = scale[b]
        o = offsets[b]
        for k in range(filters):
            c = shift[b] * fsum[k]
            row = conv[k]
            for j in range(pooled):
                t = o + 3 * j
                v0 = abs(a * row[t] + c)
                v1 = abs(a * row[t + 1] + c)
                v2 = abs(a * row[t + 2] + c)
                m = v0 if v0 >= v1 else v1
                out[b, k, j] = m if m >= v2 else v2


class SharedSincNet:
    """Runs a PyanNet on consecutive overlapping buffers, sharing the first convolution.

    Build it with :meth:`probe`, which returns None for a model it does not fit.
    """

    def __init__(self, model: Any) -> None:
        import torch

        self.model = model
        sinc = model.sincnet
        enc = sinc.conv1d[0]
        self.stride = int(enc.stride)
        norm = sinc.wav_norm1d
        with torch.inference_mode():
            filters = enc.filterbank.filters().detach().float().contiguous()  # (80, 1, taps)
            self.fsum = filters.sum(dim=(1, 2)).numpy().astype(np.float32)
            self.gain = float(norm.weight.reshape(-1)[0]) if norm.affine else 1.0
            self.bias = float(norm.bias.reshape(-1)[0]) if norm.affine else 0.0
        self.filters = filters
        self.taps = int(filters.shape[-1])
        self.eps = float(norm.eps)

    @classmethod
    def probe(cls, model: Any) -> SharedSincNet | None:
        """A SharedSincNet for ``model`` (a pyannote PyanNet on CPU in eval mode), or
        None when the model is built differently or the shared path does not match
        its own forward pass on a noise probe within float32 rounding."""
        import torch

        try:
            sinc = model.sincnet
            enc = sinc.conv1d[0]
            pool = sinc.pool1d[0]
            fits = (
                type(model).__name__ == "PyanNet"
                and len(sinc.conv1d) == len(sinc.pool1d) == len(sinc.norm1d) == 3
                and int(enc.padding) == 0
                and not enc.is_pinv
                and type(pool).__name__ == "MaxPool1d"
                and (pool.kernel_size, pool.stride, pool.padding, pool.dilation) == (3, 3, 0, 1)
                and not pool.ceil_mode
                and not model.training
            )
            if not fits:
                return None
            shared = cls(model)
            rng = np.random.default_rng(0)
            window, step, n = 16000, 160 * shared.stride, 4
            span = rng.normal(0, 0.1, window + (n - 1) * step).astype(np.float32)
            span[window:] += 0.05  # one buffer with a DC offset
            buffers = np.lib.stride_tricks.sliding_window_view(span, window)[::step][:n]
            with torch.inference_mode():
                ref = model(torch.from_numpy(np.ascontiguousarray(buffers))[:, None, :])
                got = shared(span, n, window, step)
            if ref.shape != got.shape or float((ref - got).abs().max()) > _PROBE_TOLERANCE:
                return None
            return shared
        except (AttributeError, TypeError, ValueError, IndexError, RuntimeError):
            return None

    def supports(self, window: int, step: int) -> bool:
        """Whether buffers of ``window`` samples every ``step`` samples can share."""
        return 0 < step < window and step % self.stride == 0 and window >= self.taps

    def __call__(self, span: npt.NDArray[np.float32], n: int, window: int, step: int) -> Any:
        """The model's output (a torch tensor, ``(n, frames, classes)``) for the ``n``
        buffers of ``window`` samples starting every ``step`` samples in ``span``.
        Call under ``torch.inference_mode``."""
        import torch
        from torch.nn import functional as F

        model, sinc = self.model, self.model.sincnet
        x = torch.from_numpy(np.ascontiguousarray(span, np.float32))[None, None, :]
        conv = F.conv1d(x, self.filters, stride=self.stride)[0].numpy()  # (80, frames)
        starts = np.arange(n, dtype=np.int64) * step
        c1 = np.concatenate([[0.0], np.cumsum(span, dtype=np.float64)])
        c2 = np.concatenate([[0.0], np.cumsum(np.square(span, dtype=np.float64))])
        mean = (c1[starts + window] - c1[starts]) / window
        var = np.maximum((c2[starts + window] - c2[starts]) / window - mean**2, 0.0)
        s = np.sqrt(var + self.eps)
        scale = (self.gain / s).astype(np.float32)
        shift = (self.bias - self.gain * mean / s).astype(np.float32)
        frames = (window - self.taps) // self.stride + 1
        pooled = np.empty((n, conv.shape[0], frames // 3), np.float32)
        _scale_abs_pool(conv, self.fsum, starts // self.stride, scale, shift, pooled)
        out = F.leaky_relu(sinc.norm1d[0](torch.from_numpy(pooled)))
        for conv1d, pool1d, norm1d in zip(
            sinc.conv1d[1:], sinc.pool1d[1:], sinc.norm1d[1:], strict=True
        ):
            out = F.leaky_relu(norm1d(pool1d(conv1d(out))))
        # The rest of PyanNet.forward (pyannote.audio.models.segmentation.PyanNet).
        out = out.transpose(1, 2)  # (batch, frame, feature)
        if model.hparams.lstm["monolithic"]:
            out, _ = model.lstm(out)
        else:
            for lstm in model.lstm:  # dropout between layers is off in eval mode
                out, _ = lstm(out)
        if model.hparams.linear["num_layers"] > 0:
            for linear in model.linear:
                out = F.leaky_relu(linear(out))
        return model.activation(model.classifier(out))
