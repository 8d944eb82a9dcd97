"""Picture options checked before anything is drawn: sizes, file names, matplotlib."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping

from stream import MediaStreamError, ParameterError

DEFAULT_WIDTH_PX = 1600
"""Default picture width, pixels."""
DEFAULT_HEIGHT_PX = 900
"""Default picture height, pixels."""
PICTURES = ("timeline", "alignment", "dynamics")
"""The pictures, in the order they are written."""
DEFAULT_NAMES: Mapping[str, str] = {p: f"{p}.png" for p in PICTURES}
"""File name of each picture in the output folder."""

_MIN_W, _MIN_H, _MAX_PX = 320, 240, 8000


def check_matplotlib() -> None:
    """Raise :class:`stream.MediaStreamError` with the install hint if matplotlib is missing.

    Does not import it (a ``find_spec`` look-up).
    """
    if importlib.util.find_spec("matplotlib") is None:
        raise MediaStreamError(
            "drawing pictures needs matplotlib, which is not installed: "
            "pip install 'mediastream[plot]' (or matplotlib>=3.7)"
        )


def check_size(width_px: int, height_px: int) -> tuple[int, int]:
    """Validate picture sizes (whole pixels, 320..8000 wide, 240..8000 high)."""
    for name, value, low in (("width_px", width_px, _MIN_W), ("height_px", height_px, _MIN_H)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{name} must be a whole number of pixels, got {value!r}")
        if not low <= value <= _MAX_PX:
            raise ParameterError(f"{name} must be {low}..{_MAX_PX} px, got {value} px")
    return width_px, height_px


def check_names(names: Mapping[str, str] | None) -> dict[str, str]:
    """The file name of every picture: :data:`DEFAULT_NAMES` updated with ``names``."""
    out = dict(DEFAULT_NAMES)
    if names is None:
        return out
    if not isinstance(names, Mapping):
        raise ParameterError(
            f"names must map pictures ({', '.join(PICTURES)}) to file names, got "
            f"{type(names).__name__}"
        )
    for key, value in names.items():
        if key not in DEFAULT_NAMES:
            raise ParameterError(
                f"names: unknown picture {key!r}; the pictures are {', '.join(PICTURES)}"
            )
        if not isinstance(value, str) or not value or value in (".", ".."):
            raise ParameterError(f"names[{key!r}] must be a file name, got {value!r}")
        if os.sep in value or (os.altsep and os.altsep in value):
            raise ParameterError(
                f"names[{key!r}] must be a file name inside the output folder, got {value!r}"
            )
        out[key] = value
    if len(set(out.values())) != len(out):
        raise ParameterError(f"names: two pictures would share a file name: {out}")
    return out
