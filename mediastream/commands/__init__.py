"""One module per ``mediastream`` command; each has ``add_parser(subparsers)``.

A command module imports what it runs (operators, models, Ray, matplotlib) inside its
command function, so building the parser stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["COMMANDS", "add_parsers"]

#: The commands, in the order ``mediastream --help`` lists them.
COMMANDS = (
    "info",
    "run",
    "demo",
    "meter",
    "loudness",
    "dynamics",
    "align",
    "devices",
    "live",
    "diarize",
    "diarize_tune",
    "models",
    "batch",
    "plot",
)


def add_parsers(sub: Any) -> None:
    """Register every command on the CLI's subparsers (``argparse`` sub-parser action)."""
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
