"""Keep scrypt's 16 MiB buffers from staying in the appliance's resident memory.

Knows: glibc's malloc tunable M_MMAP_THRESHOLD. Must not know: anything of SMS.

Every password and API-key check runs scrypt with 16 MiB of working memory. glibc serves a
block that large with mmap and returns it on free, but its *dynamic* threshold then rises to
the size just freed, so the next scrypt buffer comes from the heap instead, and a freed heap
block below live allocations is never given back: measured, the demo (which hashes the
first admin password and makes an API key) stayed 16 MiB larger for its whole life (peak RSS
97 MB instead of 81 MB). Setting the threshold explicitly turns the dynamic adjustment off,
so every such buffer is mmapped and unmapped again. On a C library without mallopt (musl)
this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's default starting value, now fixed


def keep_large_buffers_out_of_the_heap() -> bool:
    """True when the C library took the setting."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
