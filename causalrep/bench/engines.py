"""Engines that run the tasks of a sweep: a local process pool, or Ray.

Both run :func:`~causalrep.bench.tasks.run_task` with one thread per worker,
which is why they give the same numbers, and yield ``(record, persist)`` as
tasks finish; a worker that dies yields an error record that is not persisted,
so the task runs again when the sweep resumes.
"""

import concurrent.futures
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, Sequence

from .records import blank
from .tasks import error_text, run_task

__all__ = ["worker_init", "watch_parent", "run_local", "run_ray"]


def worker_init(parent: int) -> None:
    """One torch thread, and death with the parent process ``parent`` (a pid)."""
    import torch

    torch.set_num_threads(1)
    # Polling rather than PR_SET_PDEATHSIG, which fires when the thread that
    # started the worker ends, not the process, and exists on Linux only.
    threading.Thread(target=watch_parent, args=(parent,), daemon=True).start()


def watch_parent(parent: int, period: float = 0.5) -> None:
    """End this worker as soon as ``parent`` is no longer its parent (it died)."""
    while os.getppid() == parent:
        time.sleep(period)
    os._exit(1)


def run_local(
    tasks: Sequence[dict], address: str | None = None, workers: int | None = None
) -> Iterator[tuple[dict, bool]]:
    """Yield (record, persist) as tasks finish on a spawn-context process pool."""
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=worker_init, initargs=(os.getpid(),)
    ) as pool:
        futures = {pool.submit(run_task, task): task for task in tasks}
        for future in concurrent.futures.as_completed(futures):
            try:
                yield future.result(), True
            except Exception as err:  # the worker itself died: retry on resume
                yield _lost(futures[future], err), False


def run_ray(
    tasks: Sequence[dict], address: str | None = None, workers: int | None = None
) -> Iterator[tuple[dict, bool]]:
    """Yield (record, persist) as Ray tasks finish; one CPU (and GPU if used) each."""
    try:
        import ray
    except ImportError:
        raise ImportError("engine='ray' needs Ray: pip install causalrep[distributed]") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        remote = {gpus: ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(run_task) for gpus in (0, 1)}
        pending = {remote[int(_uses_cuda(task["method"], has_gpu))].remote(task): task for task in tasks}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ref)
            try:
                yield ray.get(ref), True
            except Exception as err:  # the worker itself died: retry on resume
                yield _lost(task, err), False
    finally:
        if started:
            ray.shutdown()


def _uses_cuda(method, cluster_has_gpu):
    from causalrep.estimators import lookup

    try:
        on_device = lookup(method["estimator"]).device
    except ValueError:  # the task records the unknown name as its error
        return False
    device = str(method["params"].get("device", "auto"))
    return on_device and (device.startswith("cuda") or (device == "auto" and cluster_has_gpu))


def _lost(task, err):
    return {**blank(task), "status": "error", "error": f"worker failed: {error_text(err)}"}
