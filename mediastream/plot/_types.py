"""Type aliases shared by the picture modules."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

PathLike: TypeAlias = "str | os.PathLike[str]"
EventDict: TypeAlias = Mapping[str, Any]
FloatArray: TypeAlias = npt.NDArray[np.float64]
