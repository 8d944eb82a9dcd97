"""``mediastream diarize-tune``: the diarizer's thresholds tuned on a user's recordings."""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from mediastream.argtypes import int_at_least

__all__ = ["add_parser"]


def _collar(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seconds >= 0, got {text!r}") from None
    if not (math.isfinite(value) and 0 <= value <= 5):
        raise argparse.ArgumentTypeError(f"collar must be 0-5 s, got {text}")
    return value


def add_parser(sub: Any) -> None:
    """Register ``mediastream diarize-tune`` on the CLI's subparsers."""
    p = sub.add_parser(
        "diarize-tune",
        help="tune the diarizer's thresholds on your own labelled recordings",
        description="Score a grid of clustering thresholds of the streaming diarizer "
        "(segmentation-3.0 + CAM++) on recordings with reference RTTM (DER, "
        "pyannote.metrics, overlap scored), cross-validate the choice over the files, print "
        "the DER curve of each threshold and write a profile TOML for `diarize --profile`. "
        "The models run once per recording; each grid point re-runs only the clustering.",
    )
    p.add_argument("audio", nargs="+", metavar="AUDIO", help="recordings (any format FFmpeg reads)")
    p.add_argument(
        "--reference",
        nargs="+",
        required=True,
        metavar="RTTM",
        help="reference RTTM file(s); a recording's file id is its name without extension",
    )
    p.add_argument("--uem", nargs="+", default=[], metavar="UEM", help="scored regions (optional)")
    p.add_argument("--out", required=True, metavar="PROFILE", help="the profile to write (TOML)")
    p.add_argument(
        "--grid",
        choices=("quick", "standard"),  # operators.speaker.tuning.GRIDS
        default="quick",
        help=(
            "quick: 30 settings (default); standard: 800 settings "
            "(also speaker_separation and recurrence_distance)"
        ),
    )
    p.add_argument(
        "--collar",
        type=_collar,
        default=0.5,
        metavar="S",
        help="forgiveness collar around reference boundaries, s (default 0.5)",
    )
    p.add_argument(
        "--folds",
        type=int_at_least(2),
        default=None,
        metavar="K",
        help="cross-validation folds (default: one recording per fold)",
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--threads", type=int_at_least(1), default=None, help="torch threads")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_cmd)


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f} %"


def _cmd(args: Any) -> int:
    from mediastream.diarize_tune import check_paths, curves, load_recordings, tune
    from operators.speaker.profile import write_profile
    from operators.speaker.tuning import GRIDS

    def say(text: str) -> None:
        if not args.quiet:
            print(text, flush=True)

    check_paths(args.audio, args.reference, args.out)
    # Pair every file with its reference before decoding anything or loading models.
    load_recordings(args.audio, args.reference, args.uem, decode=False)
    recordings = load_recordings(args.audio, args.reference, args.uem)
    if len(recordings) < 2:
        say("warning: one recording: the choice cannot be cross-validated")
    grid = GRIDS[args.grid]
    result = tune(
        recordings,
        grid,
        collar=args.collar,
        folds=args.folds,
        device=args.device,
        threads=args.threads,
        on_progress=say,
    )
    cv = result.cv
    chosen = cv.chosen.params
    say("")
    say(f"DER at collar {args.collar:g} s, each threshold varied, the others as chosen:")
    for name, points in curves(result).items():
        say(f"  {name}:")
        for value, der in points:
            mark = "  <- chosen" if value == chosen[name] else ""
            say(f"    {value:8g}  {_pct(der):>8}{mark}")
        ders = dict(points)
        if len(points) > 1 and chosen[name] in (points[0][0], points[-1][0]):
            inner = points[1][0] if chosen[name] == points[0][0] else points[-2][0]
            if ders[chosen[name]] < ders[inner] - 1e-9:  # still falling towards the edge
                say(f"    (chosen at the edge of the grid: the best {name} may lie beyond it)")
    n = len(cv.folds)
    how = "leave one recording out" if all(len(f[0]) == 1 for f in cv.folds) else f"{n} folds"
    say("")
    say(f"defaults:  DER {_pct(result.default.der())}")
    say(f"chosen:    DER {_pct(cv.chosen.der())} on all {len(recordings)} recordings")
    if n:
        say(f"           DER {_pct(cv.held_out_der)} cross-validated ({how}): the estimate "
            "for recordings like these that it was not tuned on")  # fmt: skip
        changed = sum(1 for _, params, _ in cv.folds if params != chosen)
        if changed:
            say(f"           {changed} of {n} folds chose another setting")
    write_profile(
        args.out,
        chosen,
        {
            "recordings": [r.uri for r in recordings],
            "seconds": round(sum(r.seconds for r in recordings), 1),
            "collar": args.collar,
            "grid": args.grid,
            "der": cv.chosen.der(),
            "cross_validated_der": cv.held_out_der,
            "folds": n,
            "default_der": result.default.der(),
        },
        header=(
            f"Diarizer profile written by `mediastream diarize-tune` on "
            f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC.\n"
            'Use it with `mediastream diarize --profile FILE`, `profile = "FILE"` on a\n'
            "diarizer node of a graph file, or OnlineDiarizer(**read_profile(FILE))."
        ),
    )
    say(f"profile: {args.out}")
    return 0
