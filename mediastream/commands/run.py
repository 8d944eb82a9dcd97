"""``mediastream run GRAPH.toml``: any graph a graph file describes, with a live view."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mediastream.argtypes import name_value
from mediastream.commands._view import add_view_options, print_outputs, run_live

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``run`` on the CLI's subparsers."""
    p = sub.add_parser(
        "run",
        help="build and run any graph described by a TOML graph file",
        description="Build the graph a TOML file describes (sources, operators, sinks and "
        "their connections; see docs/graph-files.md), run it, and show events live. "
        "Errors in the file name the line and key.",
    )
    p.add_argument("graph", metavar="GRAPH.toml", nargs="?", help="the graph file")
    p.add_argument(
        "--set",
        type=name_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a ${NAME} parameter of the file (repeatable)",
    )
    p.add_argument(
        "--out", default="mediastream-out", help="output folder (default ./mediastream-out)"
    )
    p.add_argument("--check", action="store_true", help="build and validate only; do not run")
    p.add_argument(
        "--types", action="store_true", help="list the node types and their parameters"
    )
    add_view_options(p)
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from mediastream.graphfile import describe_types, load_graph
    from stream import ParameterError

    if args.types:
        print(describe_types())
        return 0
    if args.graph is None:
        raise ParameterError("run: give a graph file (GRAPH.toml), or --types")
    gf = load_graph(args.graph, params=dict(args.set), out_dir=args.out)
    if not args.quiet:
        print(f"graph {args.graph}: {gf.description or ''}".rstrip(": "))
        print(f"  nodes: {', '.join(f'{n} ({t})' for n, t in gf.node_types.items())}")
        print(f"  params: {', '.join(f'{k}={v}' for k, v in gf.params.items()) or 'none'}")
    if args.check:
        print("graph is valid")
        return 0
    stats, _ = run_live(gf, Path(args.graph).name, args)
    if not args.quiet:
        print()
        print(stats.table())
        print(f"outputs in {args.out}/:")
        print_outputs(gf, [])
    return 0
