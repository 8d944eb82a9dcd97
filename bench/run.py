"""Run a registered benchmark: ``python bench/run.py NAME [--repeats N] [--quick]``.

Prints median/min/max of each metric and writes ``bench/results/NAME.json``.
``python bench/run.py --list`` lists the benchmarks. See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

# Run as a script, bench/ is on sys.path; imported (tests), make sure it is.
_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from harness import BENCHMARKS, RESULTS_DIR, Options, format_table, run_benchmark  # noqa: E402

# Modules whose import registers benchmarks.
BENCHMARK_MODULES = (
    "runtime_overhead",
    "dynamics",
    "loudness",
    "align",
    "align_composite",
    "diarize",
    "diarize_synthetic",
    "diarize_corpora",
    "diarize_startup",
    "live_soak",
    "live_diarize_soak",
    "long_rss",
    "batch",
)


def load_benchmarks() -> None:
    """Import every benchmark module (each registers itself)."""
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)


# trio is a dev dependency: measured as a second backend when installed.
DEFAULT_BACKENDS = ("asyncio", "trio") if importlib.util.find_spec("trio") else ("asyncio",)


def _backends(text: str) -> tuple[str, ...]:
    names = tuple(b.strip() for b in text.split(",") if b.strip())
    bad = [b for b in names if b not in ("asyncio", "trio")]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"backends are asyncio and/or trio, got {text!r}")
    return names


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    load_benchmarks()
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Run a benchmark; print median/min/max and write bench/results/NAME.json.",
    )
    parser.add_argument("name", nargs="?", help="benchmark to run (see --list)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--all", action="store_true", help="run every benchmark, one after the other"
    )
    parser.add_argument(
        "--repeats", type=_positive_int, default=5, help="measured repetitions (default 5)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="discarded warm-up repetitions (default 1)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny input for smoke tests; numbers not meaningful"
    )
    parser.add_argument(
        "--backends",
        type=_backends,
        default=DEFAULT_BACKENDS,
        help="comma-separated anyio backends (default asyncio,trio; trio when installed)",
    )
    parser.add_argument(
        "--seconds",
        type=_positive_float,
        default=None,
        help="media seconds pushed through per run (default: the benchmark's own)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=RESULTS_DIR,
        help=f"where NAME.json goes (default {RESULTS_DIR})",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also write NAME.profile.txt: cProfile of one run of the measured code",
    )
    args = parser.parse_args(argv)

    if args.list:
        for bench in BENCHMARKS.values():
            print(f"{bench.name}: {bench.description}")
        return 0
    if args.all == (args.name is not None):
        parser.error("give one benchmark name or --all (see --list)")
    names = list(BENCHMARKS) if args.all else [args.name]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")

    options = Options(quick=args.quick, backends=args.backends, seconds=args.seconds)
    full_argv = ["bench/run.py", *(sys.argv[1:] if argv is None else argv)]
    for name in names:
        result, path = run_benchmark(
            BENCHMARKS[name],
            options,
            repeats=args.repeats,
            warmup=args.warmup,
            argv=full_argv,
            out_dir=args.out_dir,
            profile=args.profile,
            log=lambda msg: print(msg, file=sys.stderr),
        )
        print(f"{result['benchmark']}: {result['command']}")
        print(format_table(result))
        print(f"wrote {path}")
        if "profile_file" in result:
            print(f"wrote {result['profile_file']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
