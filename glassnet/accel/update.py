"""Optimizer updates as one pass over the parameters, split over the threads.

* :func:`descend` — every optimizer's last step, ``w −= scale·d``: NumPy needs two passes and a
  work array (``t = scale·d``, then ``w −= t``); this reads ``d`` and ``w`` once, writes ``w``
  once.
* :func:`adam` — a whole Adam step (weight decay, moments, bias-corrected denominator,
  descent): NumPy's sequence is a dozen whole-array passes (fourteen with weight decay); here
  each element is read and written once.

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


    # error_model="numpy": IEEE division (x/0 is ±inf or NaN, as NumPy's) instead of a
    # ZeroDivisionError check per element, whose branch kept the loop from vectorising.
    @njit(cache=True, nogil=True, error_model="numpy")
    def _adam(w, g, m, v, one_b1, one_b2, b2, bc2, eps, step_size, l2, decay, decoupled,  # type: ignore[no-untyped-def]
              shrink, lo, hi):
        """One Adam step on [lo, hi) with optim.adam.Adam's operations, in its order.

        ``l2``: the gradient becomes w·decay + g (Adam's weight decay); ``decoupled``: w·shrink
        before the step (AdamW's). Flags, not tests of the values: NumPy multiplies even by a
        coefficient that rounds to 0 or 1 (w·0 of an infinite w is NaN, −0 + 0 is +0). Each
        branch is the same for the whole range (LLVM moves it out of the loop).

        Shapes:
            w, g, m, v: (size,); the scalars in w's dtype
        """
        ws, gs, ms, vs = w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]
        for i in range(ws.size):
            wi = ws[i]
            d = gs[i]
            if l2:
                d = wi * decay + d
            if decoupled:
                wi = wi * shrink
            mi = ms[i] + (d - ms[i]) * one_b1
            vi = vs[i] * b2 + (d * d) * one_b2
            ms[i] = mi
            vs[i] = vi
            t = mi / (np.sqrt(vi) / bc2 + eps)
            ws[i] = wi - t * step_size


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
         step_size: float, bias_correction2_sqrt: float, weight_decay: float = 0.0,
         decoupled: bool = False) -> None:
    """One Adam step in place on ``w``, ``m`` (first moment) and ``v`` (second moment).

    As :meth:`glassnet.optim.Adam._update` without amsgrad: with ``d = g`` (plus
    ``weight_decay·w`` for Adam's L2 decay; AdamW's ``decoupled`` decay instead first scales
    ``w`` by ``1 − step_size₀·weight_decay``, ``step_size₀`` = the learning rate, passed as
    ``weight_decay`` already multiplied: see below), ``m += (1 − β1)(d − m)``,
    ``v = β2·v + (1 − β2)·d²``, ``w −= step_size · m / (√v / √(1 − β2ᵗ) + eps)``
    (:func:`usable` must hold for all four arrays).

    Args:
        w: the parameter (updated in place).
        g: its gradient.
        m: the first moment (updated in place).
        v: the second moment (updated in place).
        betas: Adam's (β1, β2).
        eps: added to the denominator.
        step_size: ``lr / (1 − β1ᵗ)``.
        bias_correction2_sqrt: ``√(1 − β2ᵗ)``.
        weight_decay: Adam's L2 coefficient, or (``decoupled``) AdamW's ``lr·weight_decay``:
            the weights are multiplied by ``1 − weight_decay``, rounded to their dtype as
            NumPy rounds the Python float.
        decoupled: AdamW's decay (else Adam's L2).

    Shapes:
        w, g, m, v: any, equal
    """
    dt = w.dtype.type
    flat = [a.reshape(-1) for a in (w, g, m, v)]
    beta1, beta2 = betas
    consts = (dt(1.0 - beta1), dt(1.0 - beta2), dt(beta2), dt(bias_correction2_sqrt), dt(eps),
              dt(step_size), weight_decay != 0 and not decoupled, dt(weight_decay),
              weight_decay != 0 and decoupled, dt(1.0 - weight_decay))

    def part(lo: int, hi: int) -> None:
        _adam(*flat, *consts, lo, hi)

    parallel.run(part, parallel.chunks(flat[0].size, 4 * flat[0].size, UPDATE_COST))

