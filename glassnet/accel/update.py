"""Optimizer updates as one pass over the parameters, split over the threads.

* :func:`descend` — every optimizer's last step, ``w −= scale·d``: NumPy needs two passes and a
  work array (``t = scale·d``, then ``w −= t``); this reads ``d`` and ``w`` once, writes ``w``
  once.
* :func:`adam` — a whole Adam step (moments, bias-corrected denominator, descent): NumPy's
  sequence is a dozen whole-array passes; here each element is read and written once.

Each kernel does the NumPy code's operations in its order and dtype (the scalars rounded to the
parameters' dtype first, as NumPy's weak scalars are; no fused multiply-add: numba does not
contract without ``fastmath``), so the numbers are the same bit for bit
(``tests/test_optim.py``). For C-contiguous NumPy float arrays of one dtype with numba on
(:func:`usable`); the optimizers keep their NumPy code otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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


    @njit(cache=True, nogil=True)
    def _adam(w, g, m, v, one_b1, one_b2, b2, bc2, eps, step_size, lo, hi):  # type: ignore[no-untyped-def]
        """One Adam step on [lo, hi) with optim.adam.Adam's operations, in its order.

        Shapes:
            w, g, m, v: (size,); the scalars in w's dtype
        """
        ws, gs, ms, vs = w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]
        for i in range(ws.size):
            d = gs[i]
            mi = ms[i] + (d - ms[i]) * one_b1
            vi = vs[i] * b2 + (d * d) * one_b2
            ms[i] = mi
            vs[i] = vi
            t = mi / (np.sqrt(vi) / bc2 + eps)
            ws[i] = ws[i] - t * step_size


def usable(w: Array, *others: Array) -> bool:
    """C-contiguous NumPy float arrays of one dtype and shape, numba on, not reference mode."""
    from glassnet.accel.mode import reference_active

    arrays = (w, *others)
    return (not reference_active() and kernels.enabled(*arrays) and w.dtype.kind == "f"
            and all(a.dtype == w.dtype and a.shape == w.shape and a.flags.c_contiguous
                    for a in arrays))


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


def adam(w: Array, g: Array, m: Array, v: Array, *, betas: tuple[float, float], eps: float,
         step_size: float, bias_correction2_sqrt: float) -> None:
    """One Adam step in place on ``w``, ``m`` (first moment) and ``v`` (second moment).

    As :meth:`glassnet.optim.Adam._update` without weight decay or amsgrad: ``m += (1 − β1)(g −
    m)``, ``v = β2·v + (1 − β2)·g²``, ``w −= step_size · m / (√v / √(1 − β2ᵗ) + eps)``
    (:func:`usable` must hold for all four arrays).

    Shapes:
        w, g, m, v: any, equal
    """
    dt = w.dtype.type
    flat = [a.reshape(-1) for a in (w, g, m, v)]
    beta1, beta2 = betas
    consts = (dt(1.0 - beta1), dt(1.0 - beta2), dt(beta2), dt(bias_correction2_sqrt), dt(eps),
              dt(step_size))

    def part(lo: int, hi: int) -> None:
        _adam(*flat, *consts, lo, hi)

    parallel.run(part, parallel.chunks(flat[0].size, 4 * flat[0].size, UPDATE_COST))

