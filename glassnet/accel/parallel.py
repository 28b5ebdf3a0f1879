"""Intra-op parallelism: split an op's batch over a few threads (the BLAS's own thread count).

Why glassnet splits work itself instead of leaving threads to the BLAS: GEMM is only part of a
CNN step; im2col, col2im and pooling are memory-bound loops that a multi-threaded BLAS never
sees, so they ran on one core. Running them on several threads right after a multi-threaded
GEMM does not help either: OpenBLAS's idle workers keep spinning on the cores for a while
after each call (a 2-thread im2col ran slower right after a GEMM: docs/performance.md, rules table).
So inside :func:`split_scope` — which ``fit``, ``evaluate``, ``predict``, the bench and the CLI
open — glassnet gives the BLAS ONE thread and runs every chunk (im2col, the chunk's GEMM, the
bias, col2im, pooling) on its own thread pool; the GEMMs still use every core, one chunk per
core. Leaving the scope restores the BLAS's thread count. Outside any scope nothing splits.
The pool's idle workers spin a few milliseconds on a counter (:mod:`glassnet.accel.spin`, with
numba) before they sleep, so a hand-off costs microseconds, not the tens a sleeping thread
needs to wake up.

Chunks are contiguous ranges of the batch (or of any leading axis) and every chunk writes its
own slice of a preallocated output, so results do not depend on timing; they depend on the
number of threads only where partial sums are added (the weight gradient of a convolution).

``GLASSNET_THREADS`` (or :func:`set_num_threads`) sets the count; the default is the BLAS's own
thread count (the machine's cores); 1 means no splitting.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from glassnet.accel import spin
from glassnet.accel.workers import Workers
from glassnet.errors import GlassnetError

T = TypeVar("T")

# Below this much work per chunk (array elements touched) splitting does not pay: besides the
# hand-off two threads share the caches and the memory bus. The sweep behind the value:
# docs/performance.md, rules table.
MIN_WORK_PER_CHUNK = 131_072
# A GEMM's multiply-adds per value streamed through memory, at equal time (:func:`gemm_work`):
# what Winograd's transforms measured too (27–39, ``winograd.TRANSFORM_MACS``).
MACS_PER_VALUE = 32

_state: dict[str, Any] = {"threads": None, "pool": None, "depth": 0, "limiter": None}
_lock = threading.RLock()


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
    """Threads an op may split its work over now.

    :func:`configured_threads` inside :func:`split_scope`, else 1 (outside, the BLAS keeps its
    own threads and nothing splits).
    """
    return configured_threads() if _state["depth"] else 1


def configured_threads() -> int:
    """The thread count of :func:`split_scope` (decided on first use; module docstring)."""
    if _state["threads"] is None:
        with _lock:
            if _state["threads"] is None:
                env = _env_threads()
                _state["threads"] = env if env is not None else _blas_threads()
    return int(_state["threads"])


def set_num_threads(threads: int) -> None:
    """Compute with ``threads`` threads inside :func:`split_scope`.

    There (fit, evaluate, predict, the bench) ops split their batch over them and the BLAS gets
    one each. Like ``torch.set_num_threads``; an open scope applies it at once.

    Raises:
        GlassnetError: if ``threads`` is not a positive integer.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise GlassnetError(f"set_num_threads: threads={threads!r} must be a positive integer")
    with _lock:
        _state["threads"] = threads
        pool = _state["pool"]
        _state["pool"] = None
        if _state["depth"] and threads > 1 and _state["limiter"] is None:
            _state["limiter"] = _one_blas_thread()
    if isinstance(pool, Workers):
        pool.close()
    elif pool is not None:
        pool.shutdown(wait=True)


def _one_blas_thread() -> Any:
    """Limit the BLAS to one thread; return the limiter that restores the previous count."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@contextlib.contextmanager
def split_scope() -> Iterator[None]:
    """Inside: ops split their batch over :func:`configured_threads`, the BLAS runs one thread.

    Why one BLAS thread: see the module docstring. On leaving the outermost scope the BLAS gets
    back the thread count it had before, so a user's own ``a @ b`` after ``model.fit`` runs as
    fast as before it. Scopes nest; they count process-wide (the pool's threads are shared).
    """
    with _lock:
        _state["depth"] += 1
        if _state["depth"] == 1 and configured_threads() > 1:
            _state["limiter"] = _one_blas_thread()
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            limiter = _state["limiter"] if _state["depth"] == 0 else None
            if limiter is not None:
                _state["limiter"] = None
                limiter.restore_original_limits()


def _pool() -> Workers | ThreadPoolExecutor:
    with _lock:
        if _state["pool"] is None:
            workers = max(configured_threads() - 1, 1)
            _state["pool"] = (
                Workers(workers) if spin.AVAILABLE
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


def gemm_work(k: int, f: int, positions: int) -> int:
    """The work of a convolution's GEMMs, for :func:`chunks`.

    The values it touches (its columns and outputs, (K + F) per output position), or its
    multiply-adds counted :data:`MACS_PER_VALUE` to a value, whichever is more: on small maps
    with many channels the products, not the copies, take the time (a 3×3 stride-2
    convolution 256 → 512 onto 1×1 maps at batch 128: 196 k values, 67 M multiply-adds —
    2.3 ms on one thread).
    """
    return max((k + f) * positions, k * f * positions // MACS_PER_VALUE)


def run_kernel(kernel: Callable[..., None], parts: Sequence[tuple[Any, ...]]) -> None:
    """Call a nogil numba ``kernel(*part, counters, started, done, post, seen)`` for every part.

    ``kernel`` must call :func:`glassnet.accel.spin.signal` on ``started`` first and end with
    :func:`glassnet.accel.spin.finish` (see :meth:`Workers.run_kernel`), and write only its own
    part of any shared output. The first part runs on the calling thread; without the
    spinning pool the parts run one after another here.

    Raises:
        Whatever ``kernel`` raises (the first failing worker part's exception).
    """
    if len(parts) > 1:
        pool = _pool()
        if isinstance(pool, Workers):
            pool.run_kernel(kernel, parts)
            return
    dummy = np.zeros(1, dtype=np.int64)
    for args in parts:
        kernel(*args, dummy, -1, -1, -1, 0)


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
    pool = _pool()
    if isinstance(pool, Workers):
        return pool.run(fn, ranges)
    futures: list[Future[T]] = [pool.submit(fn, lo, hi) for lo, hi in ranges[1:]]
    try:
        first = fn(*ranges[0])
    finally:
        rest = [f.result() for f in futures]  # wait for every chunk even if the first failed
    return [first, *rest]
