"""plot_results: every picture of JSON Lines result files, read line by line."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stream import ParameterError

from ._checks import DEFAULT_HEIGHT_PX, DEFAULT_WIDTH_PX, check_names, check_size
from ._data import PlotData
from ._rttm import RttmTurn, _reference
from ._types import PathLike
from ._write import write_pictures


def _result_files(inputs: PathLike | Iterable[PathLike]) -> list[Path]:
    given = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not given:
        raise ParameterError("no results given: name JSON Lines files or folders of them")
    files: list[Path] = []
    for item in given:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.glob("*.jsonl") if q.is_file())
            if not found:
                raise ParameterError(f"results folder {str(p)!r} holds no .jsonl files")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ParameterError(f"results {str(p)!r}: no such file or folder")
    return files


def _read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` of each non-blank line, read one at a time.

    A line that is not JSON raises :class:`stream.ParameterError` naming the file and
    line, unless it is the last one (a run cut off while writing it): that one is
    skipped with a ``RuntimeWarning``.
    """
    broken: tuple[int, str] | None = None
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                if broken is not None:
                    raise ParameterError(
                        f"{path}:{broken[0]}: not a JSON event line ({broken[1]}); only the "
                        "last line of an interrupted run may be cut short"
                    )
                try:
                    value = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    broken = (lineno, str(exc))
                    continue
                yield lineno, value
    except OSError as exc:
        raise ParameterError(f"results {str(path)!r} cannot be read: {exc}") from None
    if broken is not None:
        warnings.warn(
            f"{path}:{broken[0]}: skipped the last line, which is cut short (an interrupted "
            f"run?): {broken[1]}",
            RuntimeWarning,
            stacklevel=2,
        )


def plot_results(
    inputs: PathLike | Iterable[PathLike],
    out_dir: PathLike,
    reference: PathLike | Sequence[RttmTurn] | None = None,
    *,
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
    names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Draw every picture the JSON Lines results have data for; returns the PNGs written.

    ``inputs``: JSON Lines files (:class:`sinks.JsonLinesSink` output) or folders (every
    ``*.jsonl`` in them, sorted by name), read line by line; their events are drawn
    together. ``timeline.png`` needs ``"speaker_turn"`` events, ``alignment.png``
    ``"align_pair"``/``"align_band"``, ``dynamics.png`` ``"dynamics"`` (file names can be
    changed with ``names``). A cut-off last line is skipped with a warning; a broken line
    anywhere else, a missing file or nothing to plot is a :class:`stream.ParameterError`
    naming the file (and line).
    """
    check_size(width_px, height_px)
    check_names(names)
    ref = _reference(reference)
    files = _result_files(inputs)
    data = PlotData()
    for path in files:
        for lineno, value in _read_lines(path):
            data.add(value, f"{path}:{lineno}")
    if data.empty:
        raise ParameterError(
            f"nothing to plot in {', '.join(str(p) for p in files)}: no speaker_turn, "
            f"align_pair or dynamics events ({data.describe_kinds()})"
        )
    return write_pictures(data,
        out_dir, reference=ref, width_px=width_px, height_px=height_px, names=names
    )
