"""``mediastream batch``: a graph file over many inputs, on Ray (or one after another)."""

from __future__ import annotations

import argparse
import sys
from types import TracebackType
from typing import Any

from mediastream.argtypes import int_at_least, name_value, non_negative_float, positive_float

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``mediastream batch`` on the CLI's subparsers."""
    p = sub.add_parser(
        "batch",
        help="run a graph file on many inputs: a Ray task per input, shared model actors",
        description="Runs GRAPH.toml once per input (its ${input} parameter set to the "
        "input) as a Ray task, on this machine (a local Ray instance) or on a cluster "
        "(--ray ADDRESS). Outputs go to DIR/<name of the input>/ (complete folders only), "
        "a summary to DIR/summary.json; with a diarizer in the graph, speakers are linked "
        "across inputs (DIR/speakers.json, DIR/<name>/speakers.global.rttm). Exit 1 when "
        "an input failed after its retries (the others' outputs stay).",
    )
    p.add_argument("graph", metavar="GRAPH.toml", help="the graph file")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="media files or URLs")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--ray", metavar="ADDRESS", default=None,
        help="join this Ray cluster (host:port, ray://host:10001 or auto); default: start "
        "a local Ray instance",
    )  # fmt: skip
    p.add_argument(
        "--num-cpus", type=int_at_least(1), default=None, metavar="N",
        help="CPUs of the local Ray instance (default: all of this machine's)",
    )  # fmt: skip
    p.add_argument(
        "--cpus-per-input", type=positive_float, default=1.0, metavar="C",
        help="CPUs reserved for each input's task (default 1)",
    )  # fmt: skip
    p.add_argument(
        "--retries", type=int_at_least(0), default=2, metavar="N",
        help="attempts after a failed one, per input (default 2)",
    )  # fmt: skip
    p.add_argument(
        "--shared-models", choices=("none", "embedding", "all"), default=None,
        help="run diarizer models in shared actors that batch the requests of every "
        "graph: embedding, or all (segmentation too); default none (each worker loads its "
        "own, once), or all with --num-gpus-per-model",
    )  # fmt: skip
    p.add_argument(
        "--num-gpus-per-model", type=non_negative_float, default=0.0, metavar="G",
        help="GPUs per shared model actor (default 0: CPU); > 0 runs the models on CUDA",
    )  # fmt: skip
    p.add_argument(
        "--model-actors", type=int_at_least(1), default=1, metavar="K",
        help="actors per shared model (default 1)",
    )  # fmt: skip
    p.add_argument(
        "--model-cpus", type=non_negative_float, default=0.0, metavar="C",
        help="CPUs reserved per model actor (default 0: shares the inputs' CPUs)",
    )  # fmt: skip
    p.add_argument(
        "--object-store-mb", type=positive_float, default=None, metavar="MB",
        help="object store size of the local Ray instance (default Ray's)",
    )  # fmt: skip
    p.add_argument(
        "--set", dest="params", type=name_value, action="append", default=[],
        metavar="NAME=VALUE", help="a graph file parameter (repeatable)",
    )  # fmt: skip
    p.add_argument("--no-link", action="store_true", help="do not link speakers across inputs")
    p.add_argument(
        "--link-distance", type=positive_float, default=None, metavar="D",
        help="speaker linking cut, a cosine distance (default per model: CAM++ 0.25)",
    )  # fmt: skip
    p.add_argument(
        "--sequential", action="store_true",
        help="no Ray: run the inputs one after the other in this process",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_batch)


class _Display:
    """A rich progress bar over inputs: done/total, failures, media time, x real time."""

    def __init__(self, total: int, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        err = Console(stderr=True)
        self.out = Console(highlight=False)
        self._bar = Progress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=err, disable=not enabled or not err.is_terminal,
        )  # fmt: skip
        self._task = self._bar.add_task("batch", total=total, info="")

    def __enter__(self) -> _Display:
        self._bar.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def update(self, p: Any) -> None:
        failed = f"  {p.failed} failed" if p.failed else ""
        retried = f"  {p.retried} retried" if p.retried else ""
        info = f"{p.media_s:9.1f} s media  {p.realtime_factor:7.1f}x real time{failed}{retried}"
        self._bar.update(self._task, completed=p.done, info=info)

    def print(self, line: str) -> None:
        self.out.print(line, markup=False, highlight=False, soft_wrap=True)


def _cmd_batch(args: argparse.Namespace) -> int:
    from mediastream.batch import BatchSettings, run_batch

    shared = args.shared_models or ("all" if args.num_gpus_per_model > 0 else "none")
    settings = BatchSettings(
        ray=not args.sequential,
        address=args.ray,
        num_cpus=args.num_cpus,
        cpus_per_input=args.cpus_per_input,
        retries=args.retries,
        shared_models=shared,
        model_actors=args.model_actors,
        num_gpus_per_model=args.num_gpus_per_model,
        model_cpus=args.model_cpus,
        object_store_mb=args.object_store_mb,
        link=not args.no_link,
        link_distance=args.link_distance,
    )
    quiet = args.quiet

    with _Display(len(args.inputs), enabled=not quiet and not args.no_progress) as shown:

        def on_result(r: Any) -> None:
            if quiet:
                return
            if r.status == "ok":
                again = f", attempt {r.attempts}" if r.attempts > 1 else ""
                shown.print(
                    f"ok      {r.input} -> {args.out}/{r.stem}/ ({r.media_s:.1f} s of media "
                    f"in {r.wall_s:.1f} s{again})"
                )
            else:
                shown.print(f"FAILED  {r.input} after {r.attempts} attempt(s): {r.error}")

        report = run_batch(
            args.graph, args.inputs, args.out, settings, params=dict(args.params),
            progress=shown.update, on_result=on_result,
        )  # fmt: skip
    totals = report.summary["totals"]
    if not quiet:
        print(
            f"{totals['ok']} of {totals['inputs']} inputs done: {totals['media_s']:.1f} s of "
            f"media in {totals['wall_s']:.1f} s ({totals['x_real_time']:.1f}x real time, "
            f"{totals['files_per_minute']:.1f} files/min)"
        )
        speakers = report.summary.get("speakers")
        if speakers and speakers.get("linked"):
            print(
                f"speakers linked across inputs: {speakers['global_speakers']} "
                f"(distance {speakers['distance']:g}) -> {args.out}/speakers.json"
            )
        elif speakers:
            print(f"speakers not linked: {speakers['reason']}")
        print(f"summary: {report.summary_path}")
    if not report.ok:
        failed = report.failed
        print(
            f"mediastream batch: error: {len(failed)} of {len(report.results)} inputs failed "
            f"(first: {failed[0].input}: {failed[0].error}); see {report.summary_path}",
            file=sys.stderr,
        )
        return 1
    return 0
