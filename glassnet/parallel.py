"""Intra-op parallelism: split an op's batch over a few threads (the BLAS's own thread count).

Why glassnet splits work itself instead of leaving threads to the BLAS: GEMM is only part of a
CNN step; im2col, col2im and pooling are memory-bound loops that a multi-threaded BLAS never
sees, so they ran on one core. Running them on several threads right after a multi-threaded
GEMM does not help either: OpenBLAS's idle workers keep spinning on the cores for a while
after each call (measured here: a 2-thread im2col took 2.48 ms after a GEMM vs 1.49 ms without
one). So, once an op first splits its batch, glassnet sets the BLAS to ONE thread for the rest
of the process and runs every chunk — im2col, the chunk's GEMM, the bias, col2im, pooling — on
its own thread pool; the GEMMs still use every core, one chunk per core. The pool's idle
workers spin a few milliseconds on a counter (:mod:`glassnet.spin`, with numba) before they
sleep, so a hand-off costs microseconds, not the tens a sleeping thread needs to wake up.

Chunks are contiguous ranges of the batch (or of any leading axis) and every chunk writes its
own slice of a preallocated output, so results do not depend on timing; they depend on the
number of threads only where partial sums are added (the weight gradient of a convolution).

``GLASSNET_THREADS`` (or :func:`set_num_threads`) sets the count; the default is the BLAS's own
thread count (the machine's cores); 1 means no splitting and a one-thread BLAS.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any, TypeVar

import numpy as np

from glassnet import spin
from glassnet.errors import GlassnetError

T = TypeVar("T")

# Below this much work per chunk (array elements touched) splitting does not pay: besides the
# hand-off (3-4 µs with the spinning workers, 20-60 µs with a sleeping thread pool) two threads
# share the caches and the memory bus. Swept in-process on both zoo CNNs at batch 32 and 128:
# 64k-256k per chunk within 3% of each other, 32k and 512k+ worse.
MIN_WORK_PER_CHUNK = 131_072

_state: dict[str, Any] = {"threads": None, "pool": None, "blas_limited": False}
_lock = threading.Lock()


def _blas_threads() -> int:
    """The BLAS's thread count as threadpoolctl reports it (the machine's cores by default)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a hard dependency
        return os.cpu_count() or 1
    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    counts = [int(p.get("num_threads", 1)) for p in blas]
    return max(counts) if counts else (os.cpu_count() or 1)


def _env_threads() -> int | None:
    env = os.environ.get("GLASSNET_THREADS", "").strip()
    if not env:
        return None
    if not env.isdigit() or int(env) < 1:
        raise GlassnetError(f"GLASSNET_THREADS={env!r} must be a positive integer")
    return int(env)


def num_threads() -> int:
    """Threads an op may split its work over (decided on first use; see the module docstring)."""
    if _state["threads"] is None:
        with _lock:
            if _state["threads"] is None:
                env = _env_threads()
                _state["threads"] = env if env is not None else _blas_threads()
    return int(_state["threads"])


def set_num_threads(threads: int) -> None:
    """Compute with ``threads`` threads: ops split their batch over them, the BLAS gets one.

    Like ``torch.set_num_threads``; applies at once (so no later op pays for it).

    Raises:
        GlassnetError: if ``threads`` is not a positive integer.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise GlassnetError(f"set_num_threads: threads={threads!r} must be a positive integer")
    with _lock:
        _state["threads"] = threads
        pool = _state["pool"]
        _state["pool"] = None
        _state["blas_limited"] = False
    if isinstance(pool, _Workers):
        pool.close()
    elif pool is not None:
        pool.shutdown(wait=True)
    _single_thread_blas()


def _single_thread_blas() -> None:
    """Limit the BLAS to one thread (once; see the module docstring for why)."""
    if _state["blas_limited"]:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        pass
    else:
        threadpool_limits(limits=1, user_api="blas")  # stays in force: the result is not restored
    _state["blas_limited"] = True


class _Workers:
    """``n`` worker threads fed through queues, woken by counters they spin on (glassnet.spin).

    ``counters[k]`` counts the tasks posted to worker k, ``counters[n + k]`` those it finished;
    each counter has one writer. A worker spins a few milliseconds for the next task before it
    blocks in its queue; the caller spins while waiting for results. Used by one caller at a
    time (a second caller runs its chunks itself).
    """

    WORKER_SPIN = 20_000  # sched_yield rounds a worker waits for more work (~10 ms) before sleeping
    CALLER_SPIN = 400_000  # rounds the caller spins for a chunk's result before blocking

    def __init__(self, n: int) -> None:
        self.n = n
        self.counters = np.zeros(2 * n, dtype=np.int64)
        self.tasks: list[SimpleQueue[Any]] = [SimpleQueue() for _ in range(n)]
        self.results: list[SimpleQueue[Any]] = [SimpleQueue() for _ in range(n)]
        self.busy = threading.Lock()
        for k in range(n):
            threading.Thread(target=self._loop, args=(k,), daemon=True,
                             name=f"glassnet-{k}").start()

    def _loop(self, k: int) -> None:
        seen = 0
        while True:
            spin.wait_while(self.counters, k, seen, self.WORKER_SPIN)
            task = self.tasks[k].get()  # at once after a spin that saw the post; else sleeps
            seen += 1
            if task is None:
                return
            fn, lo, hi = task
            try:
                out = (True, fn(lo, hi))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, re-raised there
                out = (False, exc)
            self.results[k].put(out)
            self.counters[self.n + k] += 1

    def run(self, fn: Callable[[int, int], T], ranges: Sequence[tuple[int, int]]) -> list[T]:
        if len(ranges) > self.n + 1 or not self.busy.acquire(blocking=False):
            return [fn(lo, hi) for lo, hi in ranges]  # in use by another thread: do it here
        try:
            finished = []
            for k, (lo, hi) in enumerate(ranges[1:]):
                finished.append(int(self.counters[self.n + k]))
                self.tasks[k].put((fn, lo, hi))  # the queue first: a worker that sees the count
                self.counters[k] += 1  # finds its task there
            try:
                first = fn(*ranges[0])
            finally:
                outs = []
                for k, before in enumerate(finished):
                    spin.wait_while(self.counters, self.n + k, before, self.CALLER_SPIN)
                    outs.append(self.results[k].get())
        finally:
            self.busy.release()
        for ok, value in outs:
            if not ok:
                raise value
        return [first, *(value for _, value in outs)]

    def close(self) -> None:
        for k in range(self.n):
            self.tasks[k].put(None)
            self.counters[k] += 1


def _pool() -> _Workers | ThreadPoolExecutor:
    with _lock:
        if _state["pool"] is None:
            workers = max(num_threads() - 1, 1)
            _state["pool"] = (
                _Workers(workers) if spin.AVAILABLE
                else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="glassnet")
            )
        return _state["pool"]  # type: ignore[no-any-return]


def _forget_pool_in_child() -> None:
    """After fork() the child has no worker threads: start a new pool when it needs one."""
    _state["pool"] = None


os.register_at_fork(after_in_child=_forget_pool_in_child)


def chunks(n: int, work: int, cost: float = 1.0) -> list[tuple[int, int]]:
    """Split ``range(n)`` into at most ``num_threads()`` near-equal contiguous ranges.

    Args:
        n: the length of the axis to split (a batch).
        work: the op's total work (array elements it touches); no chunk gets less than
            :data:`MIN_WORK_PER_CHUNK`.
        cost: time per element relative to a convolution's (a streaming kernel < 1).

    Returns:
        ``[(lo, hi), ...]`` covering ``range(n)`` in order (one range when splitting does not
        pay).
    """
    parts = min(num_threads(), n, max(int(work * cost) // MIN_WORK_PER_CHUNK, 1))
    if parts <= 1:
        return [(0, n)]
    bounds = [n * k // parts for k in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def run(fn: Callable[[int, int], T], ranges: Sequence[tuple[int, int]]) -> list[T]:
    """Call ``fn(lo, hi)`` for every range, in parallel; return the results in range order.

    The first range runs on the calling thread. ``fn`` must release the GIL for its heavy
    parts (NumPy's GEMMs and copies, the ``nogil`` numba kernels) and write only its own slice
    of any shared output.

    Raises:
        Whatever ``fn`` raises (the first failing range's exception).
    """
    if len(ranges) == 1:
        lo, hi = ranges[0]
        return [fn(lo, hi)]
    _single_thread_blas()
    pool = _pool()
    if isinstance(pool, _Workers):
        return pool.run(fn, ranges)
    futures: list[Future[T]] = [pool.submit(fn, lo, hi) for lo, hi in ranges[1:]]
    try:
        first = fn(*ranges[0])
    finally:
        rest = [f.result() for f in futures]  # wait for every chunk even if the first failed
    return [first, *rest]
