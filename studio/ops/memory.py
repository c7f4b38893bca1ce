"""Keep freed memory for reuse: glibc's malloc otherwise hands every large block back to the
kernel when it is freed and faults fresh zeroed pages in for the next one.

A cut allocates and frees the same few sizes thousands of times (each segment's encoder and
pictures, each sound piece's samples): with the defaults a fifth of a segment's CPU went to
page faults. Blocks up to MMAP_LIMIT come from the heap, and up to TRIM_LIMIT of freed heap
is kept, so a process holds at most that much unused.
"""

from __future__ import annotations

import ctypes
import logging

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's malloc.h
MMAP_LIMIT = 32 << 20
TRIM_LIMIT = 64 << 20
TOP_PAD = 16 << 20

log = logging.getLogger(__name__)


def keep_freed_memory() -> bool:
    """Tune this process's malloc (glibc only); False where there is no mallopt."""
    try:
        # The process's own symbols: libc is among them, found without find_library's
        # ldconfig subprocess (this runs as the bot and each worker start).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # musl, macOS: their allocators keep their own counsel
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = all(mallopt(option, value) == 1 for option, value in (
        (M_MMAP_THRESHOLD, MMAP_LIMIT), (M_TRIM_THRESHOLD, TRIM_LIMIT), (M_TOP_PAD, TOP_PAD)))
    if not done:
        log.debug("mallopt refused a setting; malloc keeps its defaults")
    return done
