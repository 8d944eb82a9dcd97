"""Make a WAV or AIFF header tell the truth after a write failed part way.

When the disk fills up, FFmpeg's muxers finish the header with the byte counts they
*meant* to write (or never get to write them: 0xFFFFFFFF, 0), and the data may stop
inside a sample frame. :func:`repair_pcm_header` cuts the file after its last whole
sample frame and writes the RIFF/``data`` (WAV) or ``FORM``/``COMM``/``SSND`` (AIFF)
sizes for exactly what is there. Rewriting header bytes that are already on disk and
shortening the file need no free space, so this works on a full disk.

RF64 (WAV files past 4 GiB) and a header that did not reach the disk whole are left
as they are.
"""

from __future__ import annotations

import os
import struct

__all__ = ["repair_pcm_header"]

_HEAD = 1 << 16  # the header and the chunks before the audio data


def _chunks(head: bytes, pos: int, big_endian: bool) -> list[tuple[bytes, int, int]]:
    """(tag, offset of the chunk's header, declared size) of the chunks from ``pos``."""
    out = []
    fmt = ">I" if big_endian else "<I"
    while pos + 8 <= len(head):
        tag = head[pos : pos + 4]
        (size,) = struct.unpack(fmt, head[pos + 4 : pos + 8])
        out.append((tag, pos, size))
        if tag in (b"data", b"SSND"):
            break
        pos += 8 + size + (size & 1)
    return out


def repair_pcm_header(fd: int, format_name: str) -> None:
    """Truncate the file open on ``fd`` to whole sample frames and rewrite its header
    sizes (``format_name``: ``"wav"`` or ``"aiff"``). Raises OSError if the file
    cannot be read, written or truncated."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, _HEAD, 0)
    if format_name == "wav":
        _repair_wav(fd, head, size)
    elif format_name == "aiff":
        _repair_aiff(fd, head, size)


def _repair_wav(fd: int, head: bytes, size: int) -> None:
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return  # RF64 or a header that never reached the disk
    block_align = 0
    for tag, at, _ in _chunks(head, 12, big_endian=False):
        if tag == b"fmt " and at + 22 <= len(head):
            (block_align,) = struct.unpack("<H", head[at + 20 : at + 22])
        elif tag == b"data" and block_align:
            start = at + 8
            if size < start:
                return
            data = (size - start) // block_align * block_align
            end = start + data
            if end & 1:  # RIFF chunks are word-aligned: drop the odd frame
                data -= block_align
                end = start + data
            os.ftruncate(fd, end)
            os.pwrite(fd, struct.pack("<I", data), at + 4)
            os.pwrite(fd, struct.pack("<I", end - 8), 4)
            os.fsync(fd)
            return


def _repair_aiff(fd: int, head: bytes, size: int) -> None:
    if head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
        return
    comm: int | None = None
    frame_bytes = 0
    for tag, at, _ in _chunks(head, 12, big_endian=True):
        if tag == b"COMM" and at + 16 <= len(head):
            channels, _, bits = struct.unpack(">HIH", head[at + 8 : at + 16])
            comm, frame_bytes = at, channels * ((bits + 7) // 8)
        elif tag == b"SSND" and comm is not None and frame_bytes:
            if at + 16 > len(head):
                return
            (offset,) = struct.unpack(">I", head[at + 8 : at + 12])
            start = at + 16 + offset
            if size < start:
                return
            data = (size - start) // frame_bytes * frame_bytes
            if data & 1:  # IFF chunks are word-aligned: drop the odd frame
                data -= frame_bytes
            end = start + data
            os.ftruncate(fd, end)
            os.pwrite(fd, struct.pack(">I", 8 + offset + data), at + 4)
            os.pwrite(fd, struct.pack(">I", data // frame_bytes), comm + 10)
            os.pwrite(fd, struct.pack(">I", end - 8), 4)
            os.fsync(fd)
            return
