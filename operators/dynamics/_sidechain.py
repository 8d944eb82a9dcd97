"""Pairing the frames of a main input and a sidechain that arrive in any interleaving."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stream import AudioChunk

__all__ = ["PortAligner"]

MAIN, SIDECHAIN = "in", "sidechain"


class PortAligner:
    """Holds the chunks of ports ``"in"`` and ``"sidechain"`` until both cover a frame.

    Each port's chunks must follow each other without gap or overlap, and both ports
    must start at the same frame; both are checked (ValueError). Whatever the
    interleaving of the two ports' chunks, the frames come out in the same order.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._pending: dict[str, list[npt.NDArray[np.float32]]] = {MAIN: [], SIDECHAIN: []}
        self._next: dict[str, int | None] = {MAIN: None, SIDECHAIN: None}
        self._first: dict[str, int | None] = {MAIN: None, SIDECHAIN: None}
        self._held = {MAIN: 0, SIDECHAIN: 0}
        self.next_out: int | None = None  # first main frame not yet handed out

    def push(self, port: str, chunk: AudioChunk) -> None:
        """Hold ``chunk`` of ``port`` (checked for gaps and a common start)."""
        expected = self._next[port]
        if expected is None:
            expected = chunk.start
            self._first[port] = chunk.start
            if port == MAIN:
                self.next_out = chunk.start
            firsts = set(self._first.values())
            if None not in firsts and len(firsts) != 1:
                raise ValueError(
                    f"the sidechain starts at frame {self._first[SIDECHAIN]} but the main "
                    f"input at frame {self._first[MAIN]}; they must start together"
                )
        if chunk.start != expected:
            raise ValueError(
                f"{port!r} input chunk starts at frame {chunk.start}, expected {expected} "
                "(chunks must follow each other without gap or overlap)"
            )
        self._next[port] = chunk.end
        if chunk.frames:
            self._pending[port].append(chunk.data)
            self._held[port] += chunk.frames

    def _take(self, port: str, frames: int) -> npt.NDArray[np.float32]:
        parts = self._pending[port]
        data = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        head, rest = data[:, :frames], data[:, frames:]
        self._pending[port] = [rest] if rest.shape[1] else []
        self._held[port] -= frames
        return np.ascontiguousarray(head)

    def ready(
        self,
    ) -> tuple[int, npt.NDArray[np.float32], npt.NDArray[np.float32]] | None:
        """(start frame, main, sidechain) of the frames both ports cover, or None."""
        frames = min(self._held[MAIN], self._held[SIDECHAIN])
        if frames == 0 or self.next_out is None:
            return None
        start = self.next_out
        self.next_out = start + frames
        return start, self._take(MAIN, frames), self._take(SIDECHAIN, frames)

    def rest(self) -> tuple[int, npt.NDArray[np.float32]] | None:
        """(start frame, main) of the main frames the sidechain never covered, or None."""
        frames = self._held[MAIN]
        if frames == 0 or self.next_out is None:
            return None
        start = self.next_out
        self.next_out = start + frames
        return start, self._take(MAIN, frames)
