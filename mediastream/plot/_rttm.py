"""The reference of the timeline: RTTM files read into :class:`RttmTurn`."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stream import ParameterError

from ._types import PathLike


@dataclass(frozen=True, slots=True)
class RttmTurn:
    """One reference turn: ``label`` speaks from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    label: str


def read_rttm(path: PathLike) -> list[RttmTurn]:
    """The ``SPEAKER`` lines of an RTTM file of one recording, as :class:`RttmTurn`.

    Lines are ``SPEAKER <uri> <channel> <onset s> <duration s> <NA> <NA> <speaker> ...``;
    blank lines, comments (``;;``, ``#``) and other RTTM line types are skipped. Raises
    :class:`stream.ParameterError` naming the file and line for a malformed line, for a
    file of several recordings (uris) or without any SPEAKER line.
    """
    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"reference RTTM {str(p)!r}: no such file")
    turns: list[RttmTurn] = []
    uris: set[str] = set()
    try:
        with open(p, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields or fields[0].startswith((";", "#")) or fields[0] != "SPEAKER":
                    continue
                where = f"reference RTTM {str(p)!r} line {lineno}"
                if len(fields) < 8:
                    raise ParameterError(
                        f"{where}: a SPEAKER line has at least 8 fields (SPEAKER uri channel "
                        f"onset duration <NA> <NA> speaker), got {len(fields)}"
                    )
                try:
                    onset, duration = float(fields[3]), float(fields[4])
                except ValueError:
                    raise ParameterError(
                        f"{where}: onset {fields[3]!r} and duration {fields[4]!r} must be "
                        "seconds"
                    ) from None
                if not (math.isfinite(onset) and math.isfinite(duration)) or duration < 0:
                    raise ParameterError(
                        f"{where}: onset {onset} s and duration {duration} s must be finite, "
                        "the duration >= 0"
                    )
                uris.add(fields[1])
                turns.append(RttmTurn(onset, onset + duration, fields[7]))
    except UnicodeDecodeError as exc:
        raise ParameterError(f"reference RTTM {str(p)!r} is not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise ParameterError(f"reference RTTM {str(p)!r} cannot be read: {exc}") from None
    if not turns:
        raise ParameterError(f"reference RTTM {str(p)!r} holds no SPEAKER lines")
    if len(uris) > 1:
        raise ParameterError(
            f"reference RTTM {str(p)!r} holds {len(uris)} recordings "
            f"({', '.join(sorted(uris)[:5])}...): give the RTTM of one recording"
        )
    return turns


def _reference(reference: PathLike | Sequence[RttmTurn] | None) -> list[RttmTurn] | None:
    if reference is None:
        return None
    if isinstance(reference, str | os.PathLike):
        return read_rttm(reference)
    turns = list(reference)
    if not turns or not all(isinstance(t, RttmTurn) for t in turns):
        raise ParameterError(
            "reference must be an RTTM path or a non-empty list of RttmTurn (read_rttm)"
        )
    return turns
