"""A short spin-wait that releases the GIL: how glassnet's threads hand work over in microseconds.

Waking a sleeping thread (a futex, then the GIL) took 20–60 µs here, as long as a whole
batch-32 pooling; :mod:`glassnet.parallel` would lose to it on every op of a small batch. Waiting
threads therefore first watch a counter in a NumPy array for a while — a numba ``nogil`` loop of
acquire loads and ``sched_yield`` (so a core someone else needs is given up) — and block only
when nothing came. Measured round trip of an empty task: 3–4 µs instead of 20 µs.

Only with numba (extra ``fast``) on POSIX; :data:`AVAILABLE` says whether it is usable.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from glassnet.ops import kernels

AVAILABLE = False
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

    @njit(cache=True, nogil=True)
    def _spin(counters, k, seen, rounds):  # type: ignore[no-untyped-def]
        for _ in range(rounds):
            if _load_acquire(counters, k) != seen:  # type: ignore[call-arg]
                return True
            _sched_yield()
        return False

    AVAILABLE = True


def wait_while(counters: np.ndarray, k: int, seen: int, rounds: int) -> bool:
    """Spin (GIL released) until ``counters[k] != seen``; False if ``rounds`` checks passed first.

    Shapes:
        counters: (K,) int64
    """
    return bool(_spin(counters, k, seen, rounds)) if AVAILABLE else False
