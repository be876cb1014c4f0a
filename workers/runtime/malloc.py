"""glibc ``malloc`` as seen from the worker: what is in use, what is free but still held, and giving it back.

A worker's native memory (the SDK core's per-run state, protobuf arenas) comes from glibc's ``malloc``, which
keeps freed memory in its arenas instead of returning it to the system. ``stats`` separates the two;
``trim`` returns the free pages (``malloc_trim(0)``). Off glibc both are no-ops (``None``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from dataclasses import dataclass


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


@dataclass(frozen=True)
class MallocStats:
    """Bytes obtained from the system by ``malloc`` (heap arenas and its own mmaps), in use, and free but held."""

    arenas: int
    mmapped: int
    in_use: int
    free: int


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        return libc
    except (OSError, AttributeError):  # not glibc, or glibc older than 2.33
        return None


_LIBC = _libc()


def stats() -> MallocStats | None:
    """Totals over every arena (``mallinfo2``)."""
    if _LIBC is None:
        return None
    info = _LIBC.mallinfo2()
    return MallocStats(arenas=info.arena, mmapped=info.hblkhd, in_use=info.uordblks + info.hblkhd,
                       free=info.fordblks)


def trim() -> bool | None:
    """Return the free memory of every arena to the system; whether some was returned."""
    if _LIBC is None:
        return None
    return bool(_LIBC.malloc_trim(0))
