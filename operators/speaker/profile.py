"""Diarizer profiles: tuned thresholds in a TOML file.

``mediastream diarize-tune`` writes one; ``mediastream diarize --profile FILE``, a
graph file's ``profile = "FILE"`` on a ``diarizer`` node, and
``OnlineDiarizer(**read_profile(FILE))`` load it. The ``[diarizer]`` table holds
:class:`~operators.speaker.diarizer.OnlineDiarizer` parameters (only those in
:data:`~operators.speaker.tuning.TUNABLE`); a ``[tuning]`` table says how they were
chosen and is not read back::

    [diarizer]
    linkage_distance = 0.46
    new_speaker_distance = 0.62
    min_cluster_size = 8.0

Parameters given explicitly (on the command line, in the node, in Python) win over the
profile's.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stream import ParameterError

from .tuning import TUNABLE

__all__ = ["read_profile", "write_profile"]


def read_profile(path: str | os.PathLike[str]) -> dict[str, float]:
    """The ``[diarizer]`` parameters of profile ``path``; ParameterError naming the file
    and the key for anything else."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ParameterError(f"cannot read diarizer profile {name!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"diarizer profile {name!r} is not valid TOML: {exc}") from None
    table = data.get("diarizer")
    if not isinstance(table, dict):
        raise ParameterError(
            f"diarizer profile {name!r} has no [diarizer] table (write one with "
            "`mediastream diarize-tune`)"
        )
    out: dict[str, float] = {}
    for key, value in table.items():
        if key not in TUNABLE:
            near = difflib.get_close_matches(key, TUNABLE, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ParameterError(
                f"diarizer profile {name!r}: unknown parameter {key!r}{hint}; a profile "
                f"sets {', '.join(TUNABLE)}"
            )
        lo, hi = TUNABLE[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not (math.isfinite(value) and lo <= value <= hi):
            raise ParameterError(
                f"diarizer profile {name!r}: {key} must be a number in [{lo:g}, {hi:g}], "
                f"got {value!r}"
            )
        out[key] = float(value)
    return out


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def write_profile(
    path: str | os.PathLike[str],
    params: Mapping[str, float],
    tuning: Mapping[str, Any] | None = None,
    header: str = "",
) -> None:
    """Write ``params`` as profile ``path`` (replaced whole, through a temporary file),
    with ``tuning`` (how they were chosen) as an informational table and ``header`` as
    comment lines."""
    for key in params:
        if key not in TUNABLE:
            raise ParameterError(f"a profile cannot set {key!r}")
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += ["", "[diarizer]"] if lines else ["[diarizer]"]
    lines += [f"{k} = {_toml(v)}" for k, v in params.items()]
    if tuning:
        lines += ["", "[tuning]"]
        lines += [f"{k} = {_toml(v)}" for k, v in tuning.items()]
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, target)
    read_profile(target)  # what was written reads back
