"""Any pyannote.audio embedding model a user has (WeSpeaker ResNet, x-vector...).

``checkpoint`` is a local checkpoint file (``pytorch_model.bin``, a Lightning
checkpoint with pyannote's ``"pyannote.audio"`` entry), a directory holding one, or a
Hugging Face hub id (e.g. ``"pyannote/wespeaker-voxceleb-resnet34-LM"``). The hub needs
network access and, for gated models, a token (``token=`` or the ``HF_TOKEN``
environment variable); this project never downloads at run time by itself.

Loading is safe with untrusted files: pyannote's own loader (``Model.from_pretrained``)
unpickles with ``weights_only=False``, which runs whatever code a crafted file names.
Here the file's bytes are read once and first unpickled with ``torch.load(...,
weights_only=True)``, allowing only tensors, plain containers and pyannote's
specification types (:data:`SAFE_GLOBALS`); a file that names anything else is refused
with a :class:`~stream.ParameterError`, and so is an architecture outside
``pyannote.audio.``. Only then are the same bytes handed to ``Model.from_pretrained``.

pyannote's usage telemetry is turned off unless ``PYANNOTE_METRICS_ENABLED=true`` is
set: importing this module sets the variable to ``false`` if it is unset (pyannote reads
it when a model is loaded). pyannote itself sets it (to ``true``, its default) when
``pyannote.audio`` is imported first; a program that imports pyannote.audio before
``operators`` should set the variable itself.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path
from typing import Any

from stream import ParameterError

from .base import EmbeddingModel, pyannote_quiet

__all__ = [
    "SAFE_GLOBALS",
    "PyannoteEmbedding",
    "checkpoint_file",
    "load_pyannote_model",
    "read_checkpoint",
]

pyannote_quiet()  # before anything imports pyannote.audio (which would set its default)

# Non-tensor, non-container types a pyannote checkpoint may hold, as "module.name".
SAFE_GLOBALS = (
    "pyannote.audio.core.task.Specifications",
    "pyannote.audio.core.task.Problem",
    "pyannote.audio.core.task.Resolution",
    "torch.torch_version.TorchVersion",
    "lightning.fabric.utilities.data.AttributeDict",
)
_MODEL_FILE = "pytorch_model.bin"  # pyannote's AssetFileName.Model


def _safe_globals() -> list[Any]:
    import importlib

    out: list[Any] = []
    for dotted in SAFE_GLOBALS:
        module, _, name = dotted.rpartition(".")
        out.append(getattr(importlib.import_module(module), name))
    return out


def checkpoint_file(checkpoint: str | Path, token: str | None) -> Path:
    """The local file of ``checkpoint``: itself, ``DIR/pytorch_model.bin``, or the hub's
    cached download of a hub id ``owner/name``."""
    text = os.fspath(checkpoint)
    path = Path(text)
    if path.is_dir():
        path = path / _MODEL_FILE
    if path.is_file():
        return path
    looks_local = (
        isinstance(checkpoint, Path)
        or os.path.isabs(text)
        or text.startswith(".")
        or text.count("/") != 1
        or path.suffix in (".bin", ".ckpt", ".pt", ".pth")
    )
    if looks_local:
        raise ParameterError(f"cannot load pyannote model {text!r}: no such file")
    from pyannote.audio.utils.hf_hub import AssetFileName, download_from_hf_hub

    try:
        downloaded = download_from_hf_hub(text, AssetFileName.Model, token=token)
    except Exception as exc:  # hub/network errors come in many kinds; name the id
        raise ParameterError(
            f"cannot load pyannote model {text!r} from the Hugging Face hub: "
            f"{type(exc).__name__}: {exc} (needs network access and, for gated models, "
            "a token)"
        ) from exc
    if downloaded is None:
        raise ParameterError(f"cannot load pyannote model {text!r} from the Hugging Face hub")
    return Path(downloaded)


def read_checkpoint(path: str | Path) -> tuple[bytes, dict[str, Any]]:
    """Read a pyannote checkpoint file once and unpickle it safely.

    Returns the file's bytes and its content, loaded with ``weights_only=True`` and
    only :data:`SAFE_GLOBALS` allowed. Raises :class:`~stream.ParameterError` when the
    file names any other Python object, is not a pyannote checkpoint, or names an
    architecture outside ``pyannote.audio.``.
    """
    import torch

    name = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot load pyannote model {name!r}: {exc}") from exc
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            content = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for foreign objects, others for junk
        lines = str(exc).strip().splitlines() or [""]
        detail = next((ln.strip() for ln in lines if "Unsupported" in ln), lines[-1])
        raise ParameterError(
            f"refusing to load pyannote model {name!r}: it is not a checkpoint that loads "
            f"with weights_only=True and pyannote's own types ({type(exc).__name__}: "
            f"{detail[:300]})"
        ) from exc
    meta = content.get("pyannote.audio") if isinstance(content, dict) else None
    arch = meta.get("architecture") if isinstance(meta, dict) else None
    if not isinstance(arch, dict) or "state_dict" not in content:
        raise ParameterError(
            f"{name!r} is not a pyannote.audio model checkpoint (no 'pyannote.audio' "
            "architecture entry or no state_dict)"
        )
    module = arch.get("module")
    if not (isinstance(module, str) and module.startswith("pyannote.audio.")):
        raise ParameterError(
            f"refusing to load pyannote model {name!r}: its architecture module "
            f"{module!r} is not part of pyannote.audio"
        )
    return data, content


def load_pyannote_model(checkpoint: str | Path, token: str | None = None) -> Any:
    """A pyannote.audio ``Model`` from a checkpoint path, directory or hub id, loaded
    safely (see the module docstring), telemetry off, in eval mode on the CPU."""
    pyannote_quiet()
    path = checkpoint_file(checkpoint, token)
    data, _ = read_checkpoint(path)
    from pyannote.audio import Model

    try:
        # The same bytes that passed the weights_only check, never the file again.
        model = Model.from_pretrained(io.BytesIO(data), map_location="cpu")
    except Exception as exc:  # pyannote/lightning raise many kinds; name the checkpoint
        raise ParameterError(
            f"cannot load pyannote model {os.fspath(checkpoint)!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if model is None:
        raise ParameterError(f"cannot load pyannote model {os.fspath(checkpoint)!r}")
    return model.eval()


class PyannoteEmbedding(EmbeddingModel):
    """A pyannote.audio speaker-embedding model (WeSpeaker ResNet, x-vector...).

    Args:
        checkpoint: local file or directory, or hub id, of the model (see the module
            docstring: loaded with ``weights_only=True`` first).
        window_s: the window length to use with it, seconds (default 1.5).
        token: Hugging Face token for gated hub models (default None).
        device, threads, batch_size: see :class:`EmbeddingModel`.

    Attributes:
        min_samples: the shortest input the model embeds (found at load: x-vector's
            convolutions need about 0.3 s, a WeSpeaker ResNet two output frames);
            shorter windows are repeated (tiled) to that length.

    On CUDA the model runs under fp16 autocast except WeSpeaker's filterbank features
    (its power spectra overflow fp16), which are computed in fp32. Overlap-aware use
    (:meth:`EmbeddingModel.embed_masked`): when the model's ``forward`` takes
    ``weights`` (pyannote's WeSpeaker and x-vector models do), a mask becomes per-frame
    weights of its statistics pooling (the fraction of each output frame's samples the
    mask selects) instead of the masked samples being cut out and concatenated.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        window_s: float = 1.5,
        token: str | None = None,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__(device=device, threads=threads, batch_size=batch_size)
        import inspect

        import torch

        if not (isinstance(window_s, (int, float)) and math.isfinite(window_s) and window_s > 0):
            raise ParameterError(f"PyannoteEmbedding.window_s must be > 0 s, got {window_s!r}")
        self.model = load_pyannote_model(checkpoint, token).to(self.torch.torch_device)
        self.name = f"pyannote:{os.fspath(checkpoint)}"
        self.sample_rate = int(self.model.audio.sample_rate)
        self.window_s = float(window_s)
        from pyannote.audio.models.embedding.wespeaker import BaseWeSpeakerResNet

        self._wespeaker = isinstance(self.model, BaseWeSpeakerResNet) and not getattr(
            self.model, "fbank_only", False
        )
        self._weights = "weights" in inspect.signature(self.model.forward).parameters
        self.min_samples = 1
        self._probe_error = ""
        window = max(1, round(self.sample_rate * self.window_s))
        with torch.inference_mode():
            out = self._probe(window)
            if out is None:
                raise ParameterError(
                    f"{os.fspath(checkpoint)!r} gives no finite output for a {self.window_s} s "
                    f"window ({self._probe_error or 'NaN or inf'})"
                )
            if not isinstance(out, torch.Tensor) or out.ndim != 2:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ParameterError(
                    f"{os.fspath(checkpoint)!r} is not a speaker-embedding model: it outputs "
                    f"{shape} for one window, not (1, dim)"
                )
            self.dim = int(out.shape[-1])
            with warnings.catch_warnings():  # too-short probes warn (std of one frame...)
                warnings.simplefilter("ignore")
                self.min_samples = self._shortest(window)

    # -- set-up --------------------------------------------------------------------------

    def _probe(self, samples: int) -> Any:
        """The raw model output for ``samples`` of fixed noise, or None when the model
        fails on that length or gives a non-finite output."""
        import torch

        gen = torch.Generator().manual_seed(0)
        x = (0.1 * torch.randn(1, samples, generator=gen)).to(self.torch.torch_device)
        try:
            out = self._run(x)
        except Exception as exc:  # too short: torch/torchaudio raise several kinds
            self._probe_error = f"{type(exc).__name__}: {exc}"
            return None
        if not isinstance(out, torch.Tensor):
            return out  # not an embedding model: __init__ says so
        return out if bool(torch.isfinite(out).all()) else None

    def _shortest(self, window: int) -> int:
        """Fewest samples the model embeds: doubling from 256, then bisection (short
        probes are cheap; ``window`` is known to work)."""
        lo, hi = 0, window  # lo fails (or is 0), hi works
        n = 256
        while n < hi:
            if self._probe(n) is not None:
                hi = n
                break
            lo, n = n, 2 * n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._probe(mid) is None:
                lo = mid
            else:
                hi = mid
        return hi

    # -- forward -------------------------------------------------------------------------

    def _run(self, batch: Any, weights: Any = None) -> Any:
        """``(n, samples)`` -> model output; WeSpeaker's features outside fp16 autocast."""
        import torch

        x = batch[:, None, :]
        kwargs = {} if weights is None else {"weights": weights}
        if not self._wespeaker:
            return self.model(x, **kwargs)
        with torch.autocast(x.device.type, enabled=False):
            fbank = self.model.compute_fbank(x.float())
        return self.model.resnet(fbank, **kwargs)[1]

    def _tile(self, x: Any) -> Any:
        """Repeat the last axis up to ``min_samples`` (inputs too short for the model)."""
        n = x.shape[-1]
        if n >= self.min_samples or n == 0:
            return x
        reps = -(-self.min_samples // n)
        return x.repeat(*([1] * (x.ndim - 1)), reps)[..., : self.min_samples]

    def _forward(self, batch: Any) -> Any:
        return self._run(self._tile(batch))

    def _forward_masked(self, samples: Any, mask: Any) -> Any:
        if not self._weights:
            return super()._forward_masked(samples, mask)
        import torch

        x, m = self._tile(samples[None, :]), self._tile(mask[None, :])
        frames = self._frames(x.shape[-1])
        # Fraction of each output frame's samples that the mask selects.
        w = torch.nn.functional.adaptive_avg_pool1d(m[:, None, :].float(), frames)[:, 0, :]
        return self._run(x, weights=w)

    def _frames(self, samples: int) -> int:
        """Output frames (statistics-pooling inputs) of the model for ``samples``."""
        try:
            return max(1, int(self.model.num_frames(samples)))
        except (AttributeError, NotImplementedError, TypeError):
            return samples
