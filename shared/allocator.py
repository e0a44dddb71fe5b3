"""The C allocator of a service process: large buffers go back to the system when freed."""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial value, kept fixed


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Keep glibc's mmap threshold fixed; returns whether it was set.

    glibc serves an allocation above the threshold (128 KiB at start) with its own mmap and
    unmaps it when freed, but it raises the threshold to the size of each such block freed (up
    to 32 MiB). A consumer's fetch responses are MBs each: after the first is freed, the next
    ones come from the heap, and small objects allocated after them pin the heap's top, so the
    process keeps the high-water mark of every backlog. Setting the threshold (as
    MALLOC_MMAP_THRESHOLD_ does) switches that adjustment off.

    Not glibc (musl, macOS): nothing to do. An operator's own MALLOC_MMAP_THRESHOLD_ wins.
    """
    # glibc's own variable, read here only to leave an explicit choice alone.
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
