"""Bounded storage of numeric rows: neighbours merged two by two past a cap."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._types import FloatArray


class _Rows:
    """float64 rows of ``len(rules)`` columns, at most ``cap`` stored (None: no bound).

    Past ``cap``, neighbouring stored rows are merged two by two and ``stride`` (events
    per stored row) doubles. ``rules`` says how a column merges: ``f`` first, ``l``
    last, ``M`` largest, ``m`` smallest (NaN ignored).
    """

    def __init__(self, rules: str, cap: int | None) -> None:
        if cap is not None and (cap < 2 or cap % 2):
            raise ValueError(f"cap must be an even number >= 2, got {cap}")
        self.rules = rules
        self.cap = cap
        cols = len(rules)
        self._data = np.empty((16, cols), np.float64)
        self.n = 0  # stored rows
        self.stride = 1
        self.count = 0  # rows added
        self._acc = np.empty(cols, np.float64)
        self._acc_n = 0
        r = np.frombuffer(rules.encode(), np.uint8)
        self._last = r == ord("l")
        self._max = r == ord("M")
        self._min = r == ord("m")

    def _merge(self, a: FloatArray, b: FloatArray) -> FloatArray:
        out = np.where(self._last, b, a)
        out = np.where(self._max, np.fmax(a, b), out)
        return np.where(self._min, np.fmin(a, b), out)

    def add(self, row: Sequence[float] | FloatArray) -> None:
        """Add one row (``len(rules)`` numbers)."""
        self.count += 1
        if self._acc_n == 0:
            self._acc[:] = row
        else:
            self._acc[:] = self._merge(self._acc, np.asarray(row, np.float64))
        self._acc_n += 1
        if self._acc_n >= self.stride:
            self._push()

    def _push(self) -> None:
        if self.cap is not None and self.n == self.cap:
            d, half = self._data, self.n // 2
            d[:half] = self._merge(d[0 : self.n : 2], d[1 : self.n : 2])
            self.n = half
            self.stride *= 2
            if self._acc_n < self.stride:  # the row stays open in the doubled stride
                return
        if self.n == self._data.shape[0]:
            size = 2 * self.n if self.cap is None else min(2 * self.n, self.cap)
            grown = np.empty((size, self._data.shape[1]), np.float64)
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n] = self._acc
        self.n += 1
        self._acc_n = 0

    def rows(self) -> FloatArray:
        """Every stored row, the open one (fewer than ``stride`` events) last."""
        if self._acc_n:
            return np.concatenate([self._data[: self.n], self._acc[np.newaxis]])
        return self._data[: self.n].copy()
