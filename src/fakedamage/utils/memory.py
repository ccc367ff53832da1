"""Process-wide allocator settings that keep tensor work from page-faulting on every operation.

glibc's ``malloc`` returns large blocks (above its *mmap threshold*, which adapts upward from
128 KiB) to the kernel with ``munmap`` as soon as they are freed, and trims the top of the heap
above 128 KiB. Deep-learning code allocates and frees many tensors of a few to tens of MB per
step, so every step maps fresh pages and faults on each of them. On virtual machines whose host
reclaims freed guest memory (virtio balloon with free-page reporting, DAMON reclaim), a fault
can be very expensive: on this project's 2-core VM, while other processes were also churning
memory, one training step of ``tf_efficientnet_lite0`` (forward and backward, 32 tiles of
128 px) took 7.7 s with glibc's defaults and 0.7 s with these settings. On a quiet machine the
gain is small (0.79 s against 0.77 s; ``scripts/benchmark_malloc.py`` measures it). Serving
such blocks from the heap and keeping freed memory there removes the faults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["tune_malloc", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: Blocks up to this size come from the heap (32 MiB is the most glibc accepts on 64-bit).
MMAP_THRESHOLD = 32 << 20
#: Freed heap memory up to this size stays with the process instead of going back to the kernel.
TRIM_THRESHOLD = 1 << 30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_done: bool | None = None


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds once per process (Linux with glibc; elsewhere a no-op).

    Call it early in an entry point, before large allocations. Memory freed by the process is
    then kept (up to :data:`TRIM_THRESHOLD`) for reuse, which raises resident memory by at most
    that much.

    Returns:
        True if both settings were applied.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return _done
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
