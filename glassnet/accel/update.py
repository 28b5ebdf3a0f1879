"""The optimizers' last step, ``w −= scale·d`` in place, as one pass split over the threads.

NumPy needs two passes and a work array (``t = scale·d``, then ``w −= t``); this kernel reads
``d`` and ``w`` once and writes ``w`` once. The same two roundings per element (no fused
multiply-add: numba does not contract without ``fastmath``), so the same numbers bit for bit
(``tests/test_optim.py``). For C-contiguous NumPy float arrays of one dtype with numba on
(:func:`usable`); the optimizers keep their NumPy code otherwise.
"""

from __future__ import annotations

from typing import Any

from glassnet.accel import kernels, parallel

Array = Any
UPDATE_COST = 0.1  # per element, against a convolution's (glassnet.accel.parallel)

if kernels.AVAILABLE:  # pragma: no branch
    from numba import njit

    @njit(cache=True, nogil=True)
    def _descend(w, d, scale, lo, hi):  # type: ignore[no-untyped-def]
        """w[i] = w[i] − scale·d[i] for i in [lo, hi) (sliced first: a vectorised loop).

        Shapes:
            w, d: (size,)
        """
        ws, ds = w[lo:hi], d[lo:hi]
        for i in range(ws.size):
            ws[i] = ws[i] - scale * ds[i]


def usable(w: Array, d: Array) -> bool:
    """C-contiguous NumPy float arrays of the same dtype and shape, numba on, not reference."""
    from glassnet.accel.mode import reference_active

    return (not reference_active() and kernels.enabled(w, d) and w.dtype == d.dtype
            and w.dtype.kind == "f" and w.shape == d.shape and w.flags.c_contiguous
            and d.flags.c_contiguous)


def descend(w: Array, d: Array, scale: float) -> None:
    """``w −= scale·d`` in place (:func:`usable` must hold).

    Shapes:
        w, d: any, equal
    """
    wf, df = w.reshape(-1), d.reshape(-1)
    s = w.dtype.type(scale)

    def part(lo: int, hi: int) -> None:
        _descend(wf, df, s, lo, hi)

    parallel.run(part, parallel.chunks(wf.size, wf.size, UPDATE_COST))
