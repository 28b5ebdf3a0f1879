"""A short spin-wait that releases the GIL: how glassnet's threads hand work over in microseconds.

Waking a sleeping thread (a futex, then the GIL) takes tens of µs, as long as a whole
batch-32 pooling; :mod:`glassnet.accel.parallel` would lose to it on every op of a small
batch. Waiting threads therefore first watch a counter in a NumPy array for a while — a numba
``nogil`` loop of acquire loads and ``sched_yield`` (so a core someone else needs is given
up) — and block only when nothing came. Round trips measured: docs/performance.md, rules table.

Only with numba (extra ``fast``) on POSIX; :data:`AVAILABLE` says whether it is usable.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from glassnet.accel import kernels

AVAILABLE = False
IDLE_ROUNDS = 20_000  # sched_yield rounds an idle worker spins (~10 ms) before it sleeps
if kernels.AVAILABLE and os.name == "posix":  # pragma: no branch
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def _load_acquire(typingctx: Any, arr: Any, idx: Any) -> Any:
        """``arr[idx]`` as an atomic acquire load (re-read every time, never hoisted)."""
        sig = arr.dtype(arr, types.intp)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            arrty = signature.args[0]
            ary = context.make_array(arrty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
                context, builder, arrty, ary, [args[1]]
            )
            return builder.load_atomic(ptr, "acquire", 8)

        return sig, codegen

    @intrinsic
    def _sched_yield(typingctx: Any) -> Any:
        """Call libc's ``sched_yield()`` (linked by name, so the compiled loop can be cached)."""
        sig = types.int32()

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            fnty = ir.FunctionType(ir.IntType(32), [])
            fn = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
                builder.module, fnty, "sched_yield"
            )
            return builder.call(fn, [])

        return sig, codegen

    @intrinsic
    def _store_release(typingctx: Any, arr: Any, idx: Any, val: Any) -> Any:
        """``arr[idx] = val`` as an atomic release store (every earlier write visible first)."""
        sig = types.void(arr, types.intp, arr.dtype)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            arrty = signature.args[0]
            ary = context.make_array(arrty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
                context, builder, arrty, ary, [args[1]]
            )
            builder.store_atomic(args[2], ptr, "release", 8)
            return context.get_dummy_value()

        return sig, codegen

    @njit(cache=True, nogil=True)
    def signal(counters, k):  # type: ignore[no-untyped-def]
        """Add 1 to ``counters[k]`` from inside a nogil kernel, after all its earlier writes.

        One writer per counter; ``k < 0`` does nothing.
        """
        if k >= 0:
            _store_release(counters, k, counters[k] + 1)  # type: ignore[call-arg]

    @njit(cache=True, nogil=True)
    def _spin(counters, k, seen, rounds):  # type: ignore[no-untyped-def]
        for _ in range(rounds):
            if _load_acquire(counters, k) != seen:  # type: ignore[call-arg]
                return True
            _sched_yield()
        return False

    @njit(cache=True, nogil=True)
    def post_and_wait(counters, first, count, started, seen):  # type: ignore[no-untyped-def]
        """Post tasks, then wait for every one to start.

        :func:`signal` ``counters[first + i]`` for ``i < count``, then wait until every
        ``counters[started + i]`` has moved past ``seen[i]``.

        NOTE: posting from here, GIL already released, matters: a worker that saw a post made
        from Python would find the GIL still held and sleep (tens of µs to wake it again).
        """
        for i in range(count):
            signal(counters, first + i)
        for i in range(count):
            while _load_acquire(counters, started + i) == seen[i]:  # type: ignore[call-arg]
                _sched_yield()

    @njit(cache=True, nogil=True)
    def finish(counters, done, post, seen):  # type: ignore[no-untyped-def]
        """End a worker kernel: signal ``done``, then wait there for the next task.

        Still without the GIL, wait up to :data:`IDLE_ROUNDS` for ``counters[post]`` to move
        past ``seen``. ``post < 0``: the caller's own part, no wait.

        NOTE: a worker that went straight back to Python would race the caller, who just saw
        ``done``, for the GIL; the loser sleeps, and waking it costs tens of µs. Waiting here for
        the next task instead means the worker only takes the GIL while the caller is parked
        in a nogil wait for it.
        """
        signal(counters, done)
        if post >= 0:
            _spin(counters, post, seen, IDLE_ROUNDS)

    AVAILABLE = True


def wait_while(counters: np.ndarray, k: int, seen: int, rounds: int) -> bool:
    """Spin (GIL released) until ``counters[k] != seen``; False if ``rounds`` checks passed first.

    Shapes:
        counters: (K,) int64
    """
    return bool(_spin(counters, k, seen, rounds)) if AVAILABLE else False
