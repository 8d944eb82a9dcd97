"""One input of a batch: build its graph, run it, move its outputs into place.

The same function runs in a Ray worker (a task per input) and in this process (the
sequential mode). It never raises for a failure of the input: it returns an
:class:`Outcome` saying what went wrong and whether another attempt could help. An
attempt writes into ``DIR/.partial/<stem>.<attempt>/``; only a finished run is moved
(one rename) to ``DIR/<stem>/``, so a folder there is always complete, and a retry
after a crash starts from nothing.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream import Event, GraphError, Item, MediaError, ParameterError, Sink

if TYPE_CHECKING:
    from operators.speaker import EmbeddingModel, SegmentationModel, SpeakerProfile

    from ._plan import BuiltGraph, DiarizerModels, GraphRecipe

__all__ = ["Job", "Outcome", "SharedModels", "attempt_dir", "partial_root", "run_input"]

PARTIAL = ".partial"


@dataclass(frozen=True)
class SharedModels:
    """Model actors a diarizer node uses instead of loading its own models.

    Attributes:
        embedding: the embedding actor's handle and its model's description
            (``name``, ``sample_rate``, ``window_s``, ``dim``, ``batch_size``), or None.
        segmentation: the segmentation actor's handle and description, or None.
    """

    embedding: tuple[Any, Mapping[str, Any]] | None = None
    segmentation: tuple[Any, Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class Job:
    """One attempt at one input."""

    index: int
    input: str
    stem: str
    out_root: str
    attempt: int
    recipe: GraphRecipe
    shared: Mapping[str, SharedModels] = field(default_factory=dict)


@dataclass
class Outcome:
    """What one attempt gave.

    Attributes:
        ok: the graph ran to the end and its outputs are in ``DIR/<stem>/``.
        error: ``"ExceptionType: message"`` when not ok.
        retry: whether another attempt could succeed (False for errors in the graph
            definition or its parameters, which fail the same way every time).
        media_s, wall_s: media seconds the sources read; seconds the attempt took
            (building the graph included).
        outputs: output files, relative to ``DIR``.
        speakers: diarizer node -> its speakers' profiles (for cross-file linking).
        turns: diarizer node -> its ``speaker_turn`` events.
        pid, host: the process that ran the attempt.
        traceback: the formatted exception, when not ok.
    """

    ok: bool
    error: str | None = None
    retry: bool = False
    media_s: float = 0.0
    wall_s: float = 0.0
    outputs: list[str] = field(default_factory=list)
    speakers: dict[str, list[SpeakerProfile]] = field(default_factory=dict)
    turns: dict[str, list[Event[Any]]] = field(default_factory=dict)
    pid: int = 0
    host: str = ""
    traceback: str | None = None


def partial_root(out_root: str | os.PathLike[str]) -> Path:
    """``DIR/.partial``: where attempts write before their outputs move into place."""
    return Path(out_root) / PARTIAL


def attempt_dir(out_root: str | os.PathLike[str], stem: str, attempt: int) -> Path:
    """The folder attempt ``attempt`` of the input ``stem`` writes into."""
    return partial_root(out_root) / f"{stem}.{attempt}"


# -- models, loaded once per process (a Ray worker keeps them between tasks) ----------

_MODELS: dict[tuple[Any, ...], Any] = {}


def _embedding(spec: DiarizerModels) -> EmbeddingModel:
    from operators.speaker import load_embedding_model

    key = ("embedding", spec.embedding, spec.device, spec.threads, spec.batch_size)
    if key not in _MODELS:
        _MODELS[key] = load_embedding_model(
            spec.embedding, device=spec.device, threads=spec.threads, batch_size=spec.batch_size
        )
    model: EmbeddingModel = _MODELS[key]
    return model


def _segmentation(spec: DiarizerModels) -> SegmentationModel:
    from operators.speaker import SegmentationModel

    key = ("segmentation", spec.segmentation, spec.device, spec.threads, spec.batch_size)
    if key not in _MODELS:
        _MODELS[key] = SegmentationModel(
            spec.segmentation, device=spec.device, threads=spec.threads,
            batch_size=spec.batch_size,
        )  # fmt: skip
    model: SegmentationModel = _MODELS[key]
    return model


def _overrides(job: Job) -> dict[str, dict[str, Any]]:
    """Model objects for every diarizer node: a proxy of a shared actor, or this
    process's own copy of the model (loaded once)."""
    from ._models import RemoteEmbedding, RemoteSegmentation

    out: dict[str, dict[str, Any]] = {}
    for node, spec in job.recipe.diarizers.items():
        shared = job.shared.get(node, SharedModels())
        kw: dict[str, Any] = {}
        if shared.embedding is not None:
            kw["embedding"] = RemoteEmbedding(*shared.embedding)
        else:
            kw["embedding"] = _embedding(spec)
        if spec.mode == "segmentation":
            if shared.segmentation is not None:
                kw["segmentation"] = RemoteSegmentation(*shared.segmentation)
            else:
                kw["segmentation"] = _segmentation(spec)
        out[node] = kw
    return out


# Marks a folder written by a batch: only such folders are ever replaced.
BATCH_MARK = ".mediastream-batch"


# -- one attempt --------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _retryable(exc: BaseException) -> bool:
    """Whether another attempt could succeed: not for errors in the graph definition
    or its parameters, unless media I/O (a file, a URL) is behind them."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (MediaError, OSError)):
            return True
        cause = cause.__cause__
    return not isinstance(exc, (ParameterError, GraphError))


def run_input(job: Job) -> Outcome:
    """Run one attempt at one input (see the module docstring)."""
    t0 = time.perf_counter()
    pid, host = os.getpid(), socket.gethostname()
    work = attempt_dir(job.out_root, job.stem, job.attempt)
    final = Path(job.out_root) / job.stem
    marker = work.with_name(work.name + ".json")
    try:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        marker.write_text(
            json.dumps(
                {
                    "input": job.input,
                    "attempt": job.attempt,
                    "pid": pid,
                    "host": host,
                    "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                }
            )
            + "\n"
        )
        built = job.recipe.build(job.input, work, _overrides(job))
        root = work.resolve()
        for path in built.outputs:
            if not Path(path).resolve().is_relative_to(root):
                raise ParameterError(
                    f"output {os.fspath(path)!r} is outside the input's output folder: a "
                    "batch graph writes every output inside the folder it is given"
                )
        media_s, speakers, turns = _run(built, job.recipe.diarizers)
        (work / BATCH_MARK).write_text(f"written by mediastream batch for {job.input}\n")
        if final.exists():
            if not (final / BATCH_MARK).is_file():
                raise ParameterError(
                    f"{os.fspath(final)!r} exists and was not written by mediastream batch: "
                    "it is left alone (choose another --out or move it)"
                )
            shutil.rmtree(final)
        os.replace(work, final)
        marker.unlink(missing_ok=True)
        outputs = [
            str(Path(job.stem) / Path(p).resolve().relative_to(root)) for p in built.outputs
        ]
        return Outcome(
            True, media_s=media_s, wall_s=time.perf_counter() - t0, outputs=outputs,
            speakers=speakers, turns=turns, pid=pid, host=host,
        )  # fmt: skip
    except Exception as exc:
        return Outcome(
            False, error=_describe(exc), retry=_retryable(exc),
            wall_s=time.perf_counter() - t0, pid=pid, host=host,
            traceback="".join(traceback.format_exception(exc)),
        )  # fmt: skip


class _Turns(Sink):
    """Keeps the ``speaker_turn`` events of one diarizer (for the global RTTM)."""

    accepts = frozenset({"events"})

    def __init__(self) -> None:
        self.turns: list[Event[Any]] = []

    def open(self) -> None:
        self.turns = []

    def write(self, item: Item) -> None:
        if isinstance(item, Event) and item.kind == "speaker_turn":
            self.turns.append(item)


def _run(
    built: BuiltGraph, diarizers: Mapping[str, DiarizerModels]
) -> tuple[float, dict[str, list[SpeakerProfile]], dict[str, list[Event[Any]]]]:
    """Run the graph; collect the diarizers' turns and, after the end, their speakers."""
    from operators.speaker import OnlineDiarizer

    graph = built.graph
    nodes = [n for n in diarizers if n in graph.node_names]
    sinks: dict[str, _Turns] = {}
    for n in nodes:
        sinks[n] = _Turns()
        name = f"batch-turns:{n}"
        graph.add(sinks[n], name)
        graph.connect(n, name)
    stats = graph.run_sync()
    speakers: dict[str, list[SpeakerProfile]] = {}
    for n in nodes:
        op = graph.node(n)
        if isinstance(op, OnlineDiarizer):
            speakers[n] = op.speaker_profiles()
    return float(stats.media_s), speakers, {n: s.turns for n, s in sinks.items()}
