"""Running a batch: every input's graph as a Ray task (or one after the other in this
process), bounded retries, model actors, progress, the summary and speaker linking."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stream import ParameterError

from ._plan import GraphFileRecipe, GraphRecipe, input_stems
from ._records import BatchProgress, BatchReport, BatchSettings, InputResult
from ._task import (
    BATCH_MARK,
    Job,
    Outcome,
    SharedModels,
    attempt_dir,
    partial_root,
    run_input,
)

__all__ = ["run_batch"]

SUMMARY_EVERY_S = 5.0  # the summary is rewritten at most this often while running


def _absolute(text: str) -> str:
    """A local path made absolute (a worker's current folder may be another); URLs and
    other FFmpeg inputs (``proto:...``) as they are."""
    if "://" in text or (":" in text.split("/", 1)[0] and not os.path.exists(text)):
        return text
    return os.path.abspath(text)


class _Run:
    """Book-keeping shared by the two executors."""

    def __init__(
        self,
        recipe: GraphRecipe,
        inputs: Sequence[str],
        out_dir: Path,
        settings: BatchSettings,
        progress: Callable[[BatchProgress], None] | None,
        on_result: Callable[[InputResult], None] | None,
    ) -> None:
        self.recipe = recipe
        self.out = out_dir
        self.settings = settings
        self.progress = progress
        self.on_result = on_result
        self.results = [
            InputResult(i, text, stem) for i, (text, stem) in
            enumerate(zip(inputs, input_stems(inputs), strict=True))
        ]  # fmt: skip
        self.t0 = time.perf_counter()
        self.started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self.executor: dict[str, Any] = {}
        self.model_stats: dict[str, Any] = {}
        self.retried = 0
        self._last_summary = 0.0

    def job(self, index: int, attempt: int, shared: Mapping[str, SharedModels]) -> Job:
        r = self.results[index]
        return Job(index, _absolute(r.input), r.stem, os.fspath(self.out), attempt,
                   self.recipe, shared)  # fmt: skip

    def settle(self, index: int, attempt: int, outcome: Outcome) -> bool:
        """Record an attempt; True when the input needs another one."""
        r = self.results[index]
        r.attempts = attempt
        r.pid, r.host = outcome.pid, outcome.host
        if outcome.ok:
            r.status, r.error, r.traceback = "ok", None, None
            r.media_s, r.outputs = outcome.media_s, outcome.outputs
            r.wall_s += outcome.wall_s  # every attempt's time, as for failed inputs
            r.speakers, r.turns = outcome.speakers, outcome.turns
            self._clean(r, keep=None)
            self._finished(r)
            return False
        r.errors.append(outcome.error or "unknown error")
        r.traceback = outcome.traceback
        r.wall_s += outcome.wall_s
        if outcome.retry and attempt <= self.settings.retries:
            self.retried += 1
            self._finished(None)
            return True
        r.status, r.error = "failed", r.errors[-1]
        keep: Path | None = attempt_dir(self.out, r.stem, attempt)
        assert keep is not None
        if keep.is_dir() and any(keep.iterdir()):
            r.partial = os.fspath(keep.relative_to(self.out))
        else:
            keep = None
        self._clean(r, keep=keep)
        self._finished(r)
        return False

    def _clean(self, r: InputResult, keep: Path | None) -> None:
        """Remove the attempt folders and markers of ``r`` (but ``keep``)."""
        root = partial_root(self.out)
        if not root.exists():
            return
        for path in root.glob(f"{r.stem}.*"):
            if keep is not None and path == keep:
                continue
            tail = path.name[len(r.stem) + 1 :].removesuffix(".json")
            if not tail.isdigit():  # another input whose stem starts like this one
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def snapshot(self) -> BatchProgress:
        done = [r for r in self.results if r.status != "pending"]
        return BatchProgress(
            total=len(self.results),
            done=len(done),
            failed=sum(r.status == "failed" for r in done),
            retried=self.retried,
            media_s=sum(r.media_s for r in done),
            wall_s=time.perf_counter() - self.t0,
        )

    def _finished(self, r: InputResult | None) -> None:
        if r is not None and self.on_result is not None:
            self.on_result(r)
        self.tick()
        if time.perf_counter() - self._last_summary >= SUMMARY_EVERY_S:
            self.write_summary(None, final=False)

    def tick(self) -> None:
        if self.progress is not None:
            self.progress(self.snapshot())

    def write_summary(
        self, speakers: dict[str, Any] | None, final: bool, status: str | None = None
    ) -> dict[str, Any]:
        p = self.snapshot()
        ok = p.done - p.failed
        if status is None:
            status = ("ok" if p.failed == 0 else "failed") if final else "running"
        summary = {
            "status": status,
            "graph": self.recipe.name,
            "out_dir": os.fspath(self.out),
            "started": self.started,
            "executor": self.executor,
            "totals": {
                "inputs": p.total,
                "ok": ok,
                "failed": p.failed,
                "pending": p.total - p.done,
                "retried_attempts": p.retried,
                "media_s": round(p.media_s, 3),
                "wall_s": round(p.wall_s, 3),
                "files_per_minute": round(p.files_per_minute, 3),
                "x_real_time": round(p.realtime_factor, 3),
            },
            "model_actors": self.model_stats,
            "speakers": speakers,
            "inputs": [r.record() for r in self.results],
        }
        path = self.out / "summary.json"
        tmp = path.with_name(".summary.json.tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, path)
        self._last_summary = time.perf_counter()
        return summary


def _run_local(run: _Run) -> None:
    run.executor = {"kind": "local", "pid": os.getpid()}
    for r in run.results:
        attempt = 1
        while run.settle(r.index, attempt, run_input(run.job(r.index, attempt, {}))):
            attempt += 1


@contextlib.contextmanager
def _ray_session(settings: BatchSettings) -> Iterator[Any]:
    try:
        import ray
    except ImportError:
        raise ParameterError(
            "mediastream batch runs on Ray, which is not installed: pip install "
            "'mediastream[ray]' (or run the inputs one after the other in this process: "
            "--sequential)"
        ) from None
    if ray.is_initialized():  # the caller's session (a notebook, a test): leave it up
        yield ray
        return
    import logging

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,  # not Ray's start-up notices under the bar
    }
    if settings.address is not None:
        kwargs["address"] = settings.address
    else:
        kwargs["num_cpus"] = settings.num_cpus
        if settings.object_store_mb is not None:
            kwargs["object_store_memory"] = int(settings.object_store_mb * 1024 * 1024)
    ray.init(**kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def _start_actors(
    ray: Any, run: _Run
) -> tuple[list[dict[str, SharedModels]], list[tuple[str, Any]]]:
    """Model actors for every diarizer node (one set per distinct model); returns the
    ``shared`` mapping of each actor copy and every actor with a name."""
    from ._models import EmbeddingService, SegmentationService

    s = run.settings
    copies: list[dict[str, SharedModels]] = [{} for _ in range(s.model_actors)]
    actors: list[tuple[str, Any]] = []
    if s.shared_models == "none" or not run.recipe.diarizers:
        return copies, actors
    options = {"num_cpus": s.model_cpus, "num_gpus": s.num_gpus_per_model, "max_restarts": 3}
    made: dict[tuple[Any, ...], list[tuple[Any, Mapping[str, Any]]]] = {}

    def start(kind: str, service: type, spec: Any, key: tuple[Any, ...]) -> list[Any]:
        if key not in made:
            cls = ray.remote(service).options(**options)
            handles = [cls.remote(spec, s.num_gpus_per_model) for _ in range(s.model_actors)]
            try:
                infos = ray.get([h.describe.remote() for h in handles])
            except ray.exceptions.RayError as exc:
                raise ParameterError(f"the shared {kind} model did not load: {exc}") from None
            made[key] = list(zip(handles, infos, strict=True))
            actors.extend((f"{kind}:{key[1]}#{i}", h) for i, h in enumerate(handles))
        return made[key]

    for node, spec in run.recipe.diarizers.items():
        emb = start("embedding", EmbeddingService, spec,
                    ("embedding", spec.embedding, spec.device, spec.threads, spec.batch_size))
        seg: list[Any] = [None] * s.model_actors
        if s.shared_models == "all" and spec.mode == "segmentation":
            seg = start("segmentation", SegmentationService, spec,
                        ("segmentation", spec.segmentation, spec.device, spec.threads,
                         spec.batch_size))  # fmt: skip
        for i in range(s.model_actors):
            copies[i][node] = SharedModels(embedding=emb[i], segmentation=seg[i])
    return copies, actors


def _run_ray(run: _Run) -> None:
    s = run.settings
    with _ray_session(s) as ray:
        from ray.exceptions import RayError

        resources = ray.cluster_resources()
        run.executor = {
            "kind": "ray",
            "address": ray.get_runtime_context().gcs_address,
            "cluster_cpus": resources.get("CPU", 0.0),
            "cluster_gpus": resources.get("GPU", 0.0),
            "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
            "cpus_per_input": s.cpus_per_input,
            "shared_models": s.shared_models,
            "model_actors": s.model_actors,
            "num_gpus_per_model": s.num_gpus_per_model,
        }
        copies, actors = _start_actors(ray, run)
        task = ray.remote(run_input).options(num_cpus=s.cpus_per_input, max_retries=0)
        pending: dict[Any, tuple[int, int]] = {}

        def submit(index: int, attempt: int) -> None:
            shared = copies[index % len(copies)]
            pending[task.remote(run.job(index, attempt, shared))] = (index, attempt)

        try:
            for r in run.results:
                submit(r.index, 1)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
                for ref in ready:
                    index, attempt = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except RayError as exc:  # the worker died (killed, out of memory...)
                        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                        outcome = Outcome(False, error=f"{type(exc).__name__}: {first}",
                                          retry=True)  # fmt: skip
                    if run.settle(index, attempt, outcome):
                        submit(index, attempt + 1)
                if not ready:
                    run.tick()
            for name, handle in actors:
                with contextlib.suppress(RayError):
                    run.model_stats[name] = ray.get(handle.stats.remote(), timeout=10)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            for _, handle in actors:
                ray.kill(handle)


def run_batch(
    graph: str | os.PathLike[str] | GraphRecipe,
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    settings: BatchSettings | None = None,
    *,
    params: Mapping[str, str] | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    on_result: Callable[[InputResult], None] | None = None,
) -> BatchReport:
    """Run ``graph`` on every input; outputs per input under ``out_dir/<stem>/``.

    Args:
        graph: a graph file (TOML; its ``input`` parameter is set to each input) or a
            :class:`GraphRecipe` (e.g. :class:`PythonRecipe`).
        inputs: media files or URLs.
        out_dir: the batch's folder: ``<stem>/`` per input (a unique safe name from
            the input's file name), ``summary.json``, ``speakers.json`` (graphs with a
            diarizer). On a cluster it must be the same shared folder on every node.
        settings: :class:`BatchSettings` (default: Ray on this machine).
        params: values for the graph file's ``${name}`` placeholders.
        progress: called with a :class:`BatchProgress` as inputs finish (and about
            every 0.25 s on Ray).
        on_result: called with each input's :class:`InputResult` once it is final.

    Returns:
        A :class:`BatchReport`; failed inputs are in it (and in ``summary.json``) with
        their errors, never dropped.
    """
    settings = settings or BatchSettings()
    texts = [os.fspath(x) for x in inputs]
    if not texts:
        raise ParameterError("no inputs given")
    if isinstance(graph, (str, os.PathLike)):
        recipe: GraphRecipe = GraphFileRecipe.open(graph, params)
    else:
        if params:
            raise ParameterError("params are for graph files; a recipe takes its own")
        recipe = graph
    out = Path(out_dir).resolve()  # workers may run elsewhere: no relative paths
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(
            f"cannot use {os.fspath(out_dir)!r} as the output folder: {exc}"
        ) from None
    foreign = [
        stem for stem in input_stems(texts)
        if (out / stem).exists() and not (out / stem / BATCH_MARK).is_file()
    ]  # fmt: skip
    if foreign:
        raise ParameterError(
            f"{os.fspath(out)!r} already holds {', '.join(foreign)}, not written by "
            "mediastream batch: they are left alone (choose another --out or move them)"
        )
    run = _Run(recipe, texts, out, settings, progress, on_result)
    try:
        if settings.ray:
            _run_ray(run)
        else:
            _run_local(run)
    except BaseException:  # Ctrl-C, or the cluster went away: say what was done
        with contextlib.suppress(OSError):
            run.write_summary(None, final=True, status="interrupted")
        raise
    with contextlib.suppress(OSError):
        partial_root(out).rmdir()  # only when empty: failed inputs keep their attempt
    speakers = None
    if settings.link and recipe.diarizers:
        from ._speakers import link_batch

        speakers = link_batch(run.results, recipe.diarizers, out, settings.link_distance)
    summary = run.write_summary(speakers, final=True)
    return BatchReport(run.results, summary, out / "summary.json")
