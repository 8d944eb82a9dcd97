"""Writing every picture a :class:`PlotData` has data for (the drawing modules sit below)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from stream import ParameterError

from ._alignment import _draw_alignment
from ._checks import DEFAULT_HEIGHT_PX, DEFAULT_WIDTH_PX, check_matplotlib, check_names, check_size
from ._data import PlotData
from ._dynamics import _draw_dynamics
from ._rttm import RttmTurn, _reference
from ._timeline import _draw_timeline
from ._types import PathLike

__all__ = ["write_pictures"]


def write_pictures(
    data: PlotData,
    out_dir: PathLike,
    *,
    reference: PathLike | Sequence[RttmTurn] | None = None,
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
    names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the pictures ``data`` has data for into ``out_dir``; returns their paths.

    ``reference`` (an RTTM path or :func:`read_rttm` turns) adds the reference panel
    to the timeline. Nothing to draw writes nothing (an empty list).
    """
    check_size(width_px, height_px)
    files = check_names(names)
    ref = _reference(reference)
    if data.empty:
        return []
    check_matplotlib()

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"output folder {str(out)!r} is a file")
    written: list[Path] = []
    if data.has_timeline:
        written.append(
            _draw_timeline(data, ref, out / files["timeline"], width_px, height_px)
        )
    elif ref is not None:
        warnings.warn(
            "a reference RTTM was given but no speaker_turn events arrived: "
            "no timeline drawn",
            RuntimeWarning,
            stacklevel=2,
        )
    if data.has_alignment:
        written.append(_draw_alignment(data, out / files["alignment"], width_px, height_px))
    if data.has_dynamics:
        written.append(_draw_dynamics(data, out / files["dynamics"], width_px, height_px))
    return written
