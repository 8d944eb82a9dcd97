"""``mediastream info``: the streams of media files or URLs."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``info`` on the CLI's subparsers."""
    p = sub.add_parser("info", help="describe the streams of media files or URLs")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    import sys

    from stream import MediaError, probe

    failed = 0
    for path in args.files:
        # Each file is reported: one that cannot be read is named on stderr and the
        # rest still described; the exit status is 1 if any failed.
        try:
            info = probe(path)
        except MediaError as exc:
            failed += 1
            print(f"mediastream info: error: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": path, "error": str(exc)}))
            continue
        if args.json:
            record = {
                "path": info.path,
                "format": info.format,
                "duration_s": info.duration_s,
                "bit_rate": info.bit_rate,
                "size_bytes": info.size_bytes,
                "streams": [
                    {
                        k: (str(v) if k in ("time_base", "frame_rate") and v is not None else v)
                        for k, v in vars(s).items()
                    }
                    for s in info.streams
                ],
            }
            print(json.dumps(record))
        else:
            print(info.describe())
    if failed and len(args.files) > 1:
        print(f"mediastream info: {failed} of {len(args.files)} files could not be read",
              file=sys.stderr)  # fmt: skip
    return 1 if failed else 0
