"""The records of a batch: its settings (:class:`BatchSettings`), what became of each
input (:class:`InputResult`), progress snapshots (:class:`BatchProgress`) and the
final :class:`BatchReport`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream import ParameterError

if TYPE_CHECKING:
    from operators.speaker import SpeakerProfile
    from stream import Event

__all__ = ["BatchProgress", "BatchReport", "BatchSettings", "InputResult"]

SHARED_MODELS = ("none", "embedding", "all")


@dataclass(frozen=True)
class BatchSettings:
    """How a batch runs.

    Attributes:
        ray: run each input as a Ray task (default); False runs them one after the
            other in this process (no Ray needed).
        address: a Ray cluster to join (``ray://...`` or ``host:port``; ``"auto"``);
            None starts a local Ray instance on this machine.
        num_cpus: CPUs of the local instance (default: all); not with ``address``.
        cpus_per_input: CPUs Ray reserves for each input's task (default 1).
        retries: further attempts after a failed one (default 2): a crash of the
            worker, a media or processing error; errors in the graph definition or its
            parameters are not retried (they fail the same way every time).
        shared_models: ``"none"`` (default: every worker loads its own models, once),
            ``"embedding"`` (speaker embeddings run in shared model actors) or
            ``"all"`` (segmentation too).
        model_actors: actors per shared model (default 1); inputs use them in turn.
        num_gpus_per_model: GPUs per model actor (default 0: CPU); > 0 runs the
            actors' models on CUDA.
        model_cpus: CPUs Ray reserves per model actor (default 0: they share the
            inputs' CPUs, as a model called in-process would).
        object_store_mb: object store size of a local instance, MB (default Ray's).
        link: link speakers across inputs when the graph has a diarizer (default).
        link_distance: linking cut, a cosine distance (default per model; CAM++ 0.25).

    When Ray is already initialised in this process (a notebook, a test), the batch
    runs in that session: ``address``, ``num_cpus`` and ``object_store_mb`` are not
    used, and the session stays up afterwards.
    """

    ray: bool = True
    address: str | None = None
    num_cpus: int | None = None
    cpus_per_input: float = 1.0
    retries: int = 2
    shared_models: str = "none"
    model_actors: int = 1
    num_gpus_per_model: float = 0.0
    model_cpus: float = 0.0
    object_store_mb: int | None = None
    link: bool = True
    link_distance: float | None = None

    def __post_init__(self) -> None:
        def positive(name: str, value: float, zero: bool = False) -> None:
            ok = isinstance(value, (int, float)) and math.isfinite(value)
            if not ok or value < 0 or (value == 0 and not zero):
                bound = ">= 0" if zero else "> 0"
                raise ParameterError(f"BatchSettings.{name} must be {bound}, got {value!r}")

        if self.num_cpus is not None:
            if not isinstance(self.num_cpus, int) or self.num_cpus < 1:
                raise ParameterError(f"BatchSettings.num_cpus must be >= 1, got {self.num_cpus!r}")
            if self.address is not None:
                raise ParameterError("BatchSettings.num_cpus is for a local instance, not with "
                                     "address (the cluster has its own CPUs)")  # fmt: skip
        positive("cpus_per_input", self.cpus_per_input)
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ParameterError(f"BatchSettings.retries must be an int >= 0, got {self.retries!r}")
        if self.shared_models not in SHARED_MODELS:
            raise ParameterError(
                f"BatchSettings.shared_models must be one of {', '.join(SHARED_MODELS)}, "
                f"got {self.shared_models!r}"
            )
        if not isinstance(self.model_actors, int) or self.model_actors < 1:
            raise ParameterError(
                f"BatchSettings.model_actors must be an int >= 1, got {self.model_actors!r}"
            )
        positive("num_gpus_per_model", self.num_gpus_per_model, zero=True)
        positive("model_cpus", self.model_cpus, zero=True)
        if self.object_store_mb is not None:
            positive("object_store_mb (MB)", self.object_store_mb)
        if self.link_distance is not None and not (
            isinstance(self.link_distance, (int, float)) and 0 < self.link_distance < 2
        ):
            raise ParameterError(
                "BatchSettings.link_distance must be a cosine distance in (0, 2), "
                f"got {self.link_distance!r}"
            )
        if self.num_gpus_per_model > 0 and self.shared_models == "none":
            raise ParameterError(
                "BatchSettings.num_gpus_per_model gives GPUs to model actors: set "
                "shared_models to 'embedding' or 'all'"
            )


@dataclass
class InputResult:
    """What became of one input.

    Attributes:
        status: ``"ok"`` or ``"failed"`` (after ``attempts`` attempts).
        errors: the error of each failed attempt, in order.
        partial: for a failed input, the folder with what its last attempt wrote (a
            crashed attempt may have written part of its outputs), relative to the
            batch's folder; None otherwise.
        traceback: the last failed attempt's formatted exception (None when the worker
            died: Ray's error is in ``errors``).
        speakers, turns: diarizer node -> speakers / speaker turns (ok inputs).
    """

    index: int
    input: str
    stem: str
    status: str = "pending"
    attempts: int = 0
    media_s: float = 0.0
    wall_s: float = 0.0
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    errors: list[str] = field(default_factory=list)
    partial: str | None = None
    pid: int = 0
    host: str = ""
    traceback: str | None = None
    speakers: dict[str, list[SpeakerProfile]] = field(default_factory=dict)
    turns: dict[str, list[Event[Any]]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The input's entry in ``summary.json``."""
        return {
            "input": self.input,
            "stem": self.stem,
            "status": self.status,
            "attempts": self.attempts,
            "media_s": round(self.media_s, 3),
            "wall_s": round(self.wall_s, 3),
            "outputs": self.outputs,
            "error": self.error,
            "errors": self.errors,
            "partial_outputs": self.partial,
            "worker": {"pid": self.pid, "host": self.host} if self.pid else None,
            "traceback": self.traceback,
        }


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot for progress displays: inputs finished (ok or failed) of ``total``,
    attempts retried so far, media seconds of the finished inputs, wall seconds."""

    total: int
    done: int
    failed: int
    retried: int
    media_s: float
    wall_s: float

    @property
    def realtime_factor(self) -> float:
        """Media seconds done per wall second (aggregate x real time)."""
        return self.media_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def files_per_minute(self) -> float:
        return 60.0 * (self.done - self.failed) / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class BatchReport:
    """The results of :func:`run_batch`, and the summary written to ``summary.json``."""

    results: list[InputResult]
    summary: dict[str, Any]
    summary_path: Path

    @property
    def ok(self) -> bool:
        """Whether every input succeeded."""
        return all(r.status == "ok" for r in self.results)

    @property
    def failed(self) -> list[InputResult]:
        return [r for r in self.results if r.status != "ok"]
