"""How many CPU threads an estimator uses, applied only while it runs.

torch's default is one intra-op thread per core, and its threads spin-wait:
on a 2-core CPU that other jobs shared, a fit of 48 CPU-seconds with one
thread burned 603 with two and slowed to a crawl. Small networks gain nothing
from a second thread, so ``n_threads="auto"`` uses one thread unless a layer is large enough
to split, and never more threads than the cores this process may run on.
"""

import contextlib
import numbers
import os
from collections.abc import Iterator

import torch

__all__ = ["WORK_PER_THREAD", "available_cores", "resolve_threads", "thread_scope"]

WORK_PER_THREAD = 2**26
"""Multiply-adds of one layer on one batch that justify one more thread
(a 512 x 512 layer on a batch of 256)."""


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_threads(n_threads: int | str | None, layer_work: int = 0) -> int | None:
    """The thread count ``n_threads`` asks for.

    Arguments:
        n_threads: ``"auto"``, a positive int, or None (leave torch's setting).
        layer_work: Multiply-adds of the largest layer on one batch, used by
            ``"auto"``.

    Returns:
        int, or None for "leave as is".

    Raises:
        ValueError: for any other ``n_threads``.

    Example:
        >>> resolve_threads("auto", layer_work=1000)
        1
        >>> resolve_threads(3)
        3
    """
    if n_threads is None:
        return None
    if n_threads == "auto":
        wanted = max(1, int(layer_work // WORK_PER_THREAD))
        return max(1, min(wanted, available_cores(), torch.get_num_threads()))
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or n_threads < 1:
        raise ValueError(f"n_threads must be 'auto', a positive int or None, got {n_threads!r}")
    return int(n_threads)


@contextlib.contextmanager
def thread_scope(threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)`` and numpy's BLAS
    limited alike; restore both after. ``threads=None`` changes nothing.

    Inter-op threads are left alone: torch cannot change them once used.
    """
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)
