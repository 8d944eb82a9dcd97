"""Hamming distances between packed 64-bit hashes (pHash, aHash) with a Numba kernel.

``hamming_matrix(a, b)[i, j]`` is the number of differing bits between ``a[i]`` and
``b[j]``. The kernel is a branch-free SWAR popcount over ``uint64`` words (serial and
``nogil``: the runtime's worker threads give the parallelism); a hash wider than 64
bits is a trailing axis of words.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["hamming_distance", "hamming_matrix"]

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_S1 = np.uint64(1)
_S2 = np.uint64(2)
_S4 = np.uint64(4)
_S56 = np.uint64(56)


@numba.njit(cache=True, nogil=True, inline="always")
def _popcount64(x: np.uint64) -> np.uint64:
    x = x - ((x >> _S1) & _M1)
    x = (x & _M2) + ((x >> _S2) & _M2)
    x = (x + (x >> _S4)) & _M4
    return (x * _H01) >> _S56


@numba.njit(cache=True, nogil=True)
def _hamming_one_word(
    a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64], out: npt.NDArray[np.uint16]
) -> None:  # pragma: no cover - compiled
    for i in range(a.shape[0]):
        ai = a[i]
        for j in range(b.shape[0]):
            out[i, j] = np.uint16(_popcount64(ai ^ b[j]))


@numba.njit(cache=True, nogil=True)
def _hamming_words(
    a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64], out: npt.NDArray[np.uint16]
) -> None:  # pragma: no cover - compiled
    n, words = a.shape
    for i in range(n):
        for j in range(b.shape[0]):
            acc = np.uint64(0)
            for w in range(words):
                acc += _popcount64(a[i, w] ^ b[j, w])
            out[i, j] = np.uint16(acc)


def _as_words(x: npt.ArrayLike, name: str) -> npt.NDArray[np.uint64]:
    if isinstance(x, np.ndarray):
        arr = x
    else:  # Python ints up to 2**64 - 1
        try:
            arr = np.array(x, dtype=np.uint64)
        except (OverflowError, TypeError, ValueError):
            raise TypeError(f"hamming_matrix: {name} must hold unsigned 64-bit hashes") from None
    if arr.dtype != np.uint64:
        if arr.dtype.kind not in "iu" or (arr.size and int(np.min(arr)) < 0):
            raise TypeError(f"hamming_matrix: {name} must hold unsigned 64-bit hashes")
        arr = arr.astype(np.uint64)
    if arr.ndim == 1:
        arr = arr[:, np.newaxis]
    if arr.ndim != 2:
        raise ValueError(f"hamming_matrix: {name} must be (n,) or (n, words), got {arr.shape}")
    return np.ascontiguousarray(arr)


def hamming_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    """Bit differences between every hash of ``a`` and every hash of ``b``.

    Args:
        a: ``(n,)`` uint64 hashes, or ``(n, words)`` for hashes of ``64 * words`` bits.
        b: ``(m,)`` or ``(m, words)`` likewise (same ``words``).

    Returns:
        ``(n, m)`` uint16 matrix of Hamming distances (0..64 per word).
    """
    wa, wb = _as_words(a, "a"), _as_words(b, "b")
    if wa.shape[1] != wb.shape[1]:
        raise ValueError(
            f"hamming_matrix: a has {wa.shape[1]} words per hash, b has {wb.shape[1]}"
        )
    out = np.empty((wa.shape[0], wb.shape[0]), np.uint16)
    if out.size and wa.shape[1] == 1:
        _hamming_one_word(wa.reshape(-1), wb.reshape(-1), out)
    elif out.size:
        _hamming_words(wa, wb, out)
    return out


def hamming_distance(x: int, y: int) -> int:
    """Bit differences between two 64-bit hashes given as Python ints."""
    return int(x ^ y).bit_count()
