"""Shared model stages: Ray actors holding a speaker model, and the proxies diarizers
use in their place.

One actor holds one model (on a GPU on a real cluster: ``num_gpus``) and serves every
graph of the batch. Requests that arrive while a forward pass runs (from other graphs,
other workers) wait in a queue and go through the next forward pass together, so a
GPU sees full batches even though each graph asks for a few windows at a time:

* embeddings: requests of equal window length are concatenated into one
  ``model.embed`` call (rows are independent: each graph gets its rows back, equal to
  its own call up to the float noise of batch composition);
* segmentation: on CUDA, requests with buffers of one length are concatenated the same
  way; on CPU each request is run on its own, in arrival order, because consecutive
  buffers of one stream share the SincNet front end there (``step``), which is faster
  than a bigger batch without it.

The proxies (:class:`RemoteEmbedding`, :class:`RemoteSegmentation`) have the models'
interfaces, so an ``OnlineDiarizer`` runs unchanged; each call is a ``ray.get`` on the
actor. Ray is imported only inside the methods that talk to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from operators.speaker.backends.base import EmbeddingModel
from operators.speaker.segmentation import SegmentationModel

if TYPE_CHECKING:
    from ._plan import DiarizerModels

__all__ = ["EmbeddingService", "RemoteEmbedding", "RemoteSegmentation", "SegmentationService"]

Array = npt.NDArray[np.float32]


class _Batcher:
    """Runs ``fn`` on the concatenation of the requests queued under one key, one call
    at a time (asyncio; ``fn`` runs in a thread so requests keep arriving)."""

    def __init__(self, fn: Callable[[Array], Array], max_wait_s: float) -> None:
        self._fn = fn
        self._wait = max_wait_s
        self._queue: dict[Hashable, list[tuple[Array, asyncio.Future[Array]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.cpu0 = time.process_time()  # the actor process's CPU, for stats()
        self.requests = 0
        self.calls = 0
        self.rows = 0

    async def __call__(self, key: Hashable, x: Array) -> Array:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Array] = loop.create_future()
        self._queue.setdefault(key, []).append((x, fut))
        self.requests += 1
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._queue:
            if self._wait > 0:
                await asyncio.sleep(self._wait)
            key = next(iter(self._queue))  # the group waiting longest (insertion order)
            reqs = self._queue.pop(key)
            xs = np.concatenate([x for x, _ in reqs]) if len(reqs) > 1 else reqs[0][0]
            try:
                y = await asyncio.to_thread(self._fn, xs)
            except Exception as exc:
                for _, fut in reqs:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.calls += 1
            self.rows += len(xs)
            i = 0
            for x, fut in reqs:
                if not fut.done():
                    fut.set_result(y[i : i + len(x)])
                i += len(x)

    def stats(self) -> dict[str, float]:
        return {
            "cpu_s": time.process_time() - self.cpu0,
            "requests": self.requests,
            "forward_calls": self.calls,
            "rows": self.rows,
            "rows_per_call": self.rows / self.calls if self.calls else 0.0,
        }


def _device(spec: DiarizerModels, gpus: float) -> str:
    """The model's device in the actor: CUDA when the actor was given GPUs."""
    return "cuda" if gpus > 0 and not spec.device.startswith("cuda") else spec.device


class EmbeddingService:
    """Actor body: one speaker-embedding model serving many graphs (see the module).

    Args:
        spec: the model (name/checkpoint, device, threads, batch size).
        gpus: GPUs Ray gave the actor (> 0: the model runs on CUDA).
        max_wait_s: how long a request waits for others before a forward pass starts
            (default 2 ms; requests arriving during a pass join the next one anyway).
    """

    def __init__(self, spec: DiarizerModels, gpus: float = 0.0, max_wait_s: float = 0.002) -> None:
        from operators.speaker import load_embedding_model

        self.model = load_embedding_model(
            spec.embedding, device=_device(spec, gpus), threads=spec.threads or 1,
            batch_size=spec.batch_size,
        )  # fmt: skip
        self._batcher = _Batcher(self.model.embed, max_wait_s)
        self._lock = asyncio.Lock()

    async def describe(self) -> dict[str, Any]:
        m = self.model
        return {
            "name": m.name, "sample_rate": m.sample_rate, "window_s": m.window_s,
            "dim": m.dim, "batch_size": m.batch_size,
        }  # fmt: skip

    async def embed(self, x: Array) -> Array:
        return await self._batcher(x.shape[1], np.array(x, np.float32))

    async def embed_masked(self, x: Array, masks: npt.NDArray[np.bool_]) -> Array:
        async with self._lock:
            out: Array = await asyncio.to_thread(self.model.embed_masked, np.array(x), masks)
            return out

    async def stats(self) -> dict[str, float]:
        return self._batcher.stats()


class SegmentationService:
    """Actor body: one segmentation model serving many graphs (see the module).

    Args:
        spec: the model (checkpoint, device, threads, batch size).
        gpus: GPUs Ray gave the actor (> 0: the model runs on CUDA).
        max_wait_s: as for :class:`EmbeddingService`.
    """

    def __init__(self, spec: DiarizerModels, gpus: float = 0.0, max_wait_s: float = 0.002) -> None:
        self.model = SegmentationModel(
            spec.segmentation, device=_device(spec, gpus), threads=spec.threads or 1,
            batch_size=spec.batch_size,
        )  # fmt: skip
        # Without SincNet sharing (CUDA, or another architecture) nothing is lost by
        # running the buffers of many streams together.
        self.cross = getattr(self.model, "_shared", None) is None
        self._batcher = _Batcher(self.model, max_wait_s)
        self._lock = asyncio.Lock()
        self._alone = 0
        self._rows = 0

    async def describe(self) -> dict[str, Any]:
        m = self.model
        return {
            "sample_rate": m.sample_rate, "num_speakers": m.num_speakers,
            "batch_size": m.batch_size, "checkpoint": m.checkpoint,
        }  # fmt: skip

    async def frame_centers(self, num_samples: int) -> npt.NDArray[np.float64]:
        return self.model.frame_centers(num_samples)

    async def segment(self, x: Array, step: int | None) -> Array:
        x = np.array(x, np.float32)
        if self.cross:
            return await self._batcher(x.shape[1], x)
        async with self._lock:
            self._alone += 1
            self._rows += len(x)
            out: Array = await asyncio.to_thread(self.model, x, step)
            return out

    async def stats(self) -> dict[str, float]:
        out = self._batcher.stats()
        if not self.cross:
            out = {"cpu_s": out["cpu_s"], "requests": self._alone, "forward_calls": self._alone,
                   "rows": self._rows, "rows_per_call": self._rows / max(self._alone, 1)}
        return out


class RemoteEmbedding(EmbeddingModel):
    """An :class:`EmbeddingModel` whose forward passes run in an
    :class:`EmbeddingService` actor (``handle``); ``info`` is the actor's
    ``describe()``. Nothing is loaded here."""

    def __init__(self, handle: Any, info: Mapping[str, Any]) -> None:
        # No EmbeddingModel.__init__: no torch settings in this process.
        self.handle = handle
        self.name = str(info["name"])
        self.sample_rate = int(info["sample_rate"])
        self.window_s = float(info["window_s"])
        self.dim = int(info["dim"])
        self.batch_size = int(info["batch_size"])

    def _forward(self, batch: Any) -> Any:
        import torch

        return torch.from_numpy(self.embed(batch.detach().float().cpu().numpy()))

    def embed(self, batch: Array) -> Array:
        import ray

        x = np.ascontiguousarray(batch, np.float32)
        if x.ndim != 2:
            raise ValueError(f"{self.name}: embed() takes (n, samples) windows, got {x.shape}")
        if x.shape[0] == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.array(ray.get(self.handle.embed.remote(x)), np.float32)

    def embed_masked(self, batch: Array, masks: npt.NDArray[np.bool_]) -> Array:
        import ray

        x = np.ascontiguousarray(batch, np.float32)
        m = np.ascontiguousarray(masks, bool)
        if x.shape != m.shape or x.ndim != 2:
            raise ValueError(f"{self.name}: windows {x.shape} and masks {m.shape} differ")
        return np.array(ray.get(self.handle.embed_masked.remote(x, m)), np.float32)


class RemoteSegmentation(SegmentationModel):
    """A :class:`SegmentationModel` whose forward passes run in a
    :class:`SegmentationService` actor (``handle``); ``info`` is the actor's
    ``describe()``. Nothing is loaded here."""

    def __init__(self, handle: Any, info: Mapping[str, Any]) -> None:
        # No SegmentationModel.__init__: the model lives in the actor.
        self.handle = handle
        self.sample_rate = int(info["sample_rate"])
        self.num_speakers = int(info["num_speakers"])
        self.batch_size = int(info["batch_size"])
        self.checkpoint = str(info["checkpoint"])
        self._centers: dict[int, npt.NDArray[np.float64]] = {}

    def frame_centers(self, num_samples: int) -> npt.NDArray[np.float64]:
        import ray

        if num_samples not in self._centers:
            got = ray.get(self.handle.frame_centers.remote(num_samples))
            self._centers[num_samples] = np.array(got, np.float64)
        return self._centers[num_samples]

    def __call__(self, buffers: Array, step: int | None = None) -> Array:
        import ray

        x = np.ascontiguousarray(buffers, np.float32)
        return np.array(ray.get(self.handle.segment.remote(x, step)), np.float32)
