"""A service process keeps glibc's mmap threshold fixed, so large buffers are unmapped when freed."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shared import allocator

ROOT = Path(__file__).resolve().parents[3]

# Frees a 4 MiB block, then allocates another and prints the bytes glibc holds in mmapped blocks.
PROBE = textwrap.dedent("""
    import ctypes, sys
    from shared import allocator
    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                    "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = Mallinfo2
    if sys.argv[1] == "fixed":
        print(allocator.fix_mmap_threshold(), end=" ")
    first = bytearray(4 << 20)
    del first
    second = bytearray(4 << 20)
    print(libc.mallinfo2().hblkhd >= 4 << 20)
""")

glibc = pytest.mark.skipif(not sys.platform.startswith("linux")
                           or os.confstr("CS_GNU_LIBC_VERSION") is None, reason="glibc only")


def _probe(mode: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    return subprocess.run([sys.executable, "-c", PROBE, mode], env={**environ, **env},
                          capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()


@glibc
def test_a_large_block_allocated_after_one_was_freed_is_still_mmapped() -> None:
    assert _probe("fixed") == "True True"


@glibc
def test_by_default_glibc_serves_it_from_the_heap_once_one_was_freed() -> None:
    # What the fix is for: the dynamic threshold rose to 4 MiB at the first free.
    assert _probe("default") == "False"


@glibc
def test_an_operators_own_malloc_threshold_is_left_alone() -> None:
    assert _probe("fixed", MALLOC_MMAP_THRESHOLD_="262144") == "False True"


def test_without_mallopt_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)

    class NoMallopt:
        def __init__(self, _name: object) -> None:
            pass

    monkeypatch.setattr(allocator.ctypes, "CDLL", NoMallopt)
    assert allocator.fix_mmap_threshold() is False
