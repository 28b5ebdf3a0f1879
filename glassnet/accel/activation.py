"""The fast drop-in for ReLU and clipped ReLU (ReLU6) of :mod:`glassnet.ops.activation`.

The reference writes its output and its boolean mask in two NumPy passes (three for the
clipped ReLU) and its backward is ``np.where``; here each direction is one numba pass, split
over the threads in contiguous ranges of the flattened array. The values are the same, bit for
bit (a maximum and a select are exact), NaN included: a NaN input stays NaN and passes no
gradient, as in the reference. Needs numba (:func:`glassnet.accel.kernels.enabled`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.accel import kernels, parallel

Array = Any
# Per element a streaming pass costs about a tenth of a convolution's im2col + GEMM work per
# element (what glassnet.accel.parallel weighs a split by).
STREAM_COST = 0.1

if kernels.AVAILABLE:  # pragma: no branch
    from numba import njit

    # NOTE: the kernels slice their range first: indexing x[i] for i in range(lo, hi) made
    # numba check each index for wraparound, which kept LLVM from vectorising (15× slower).
    @njit(cache=True, nogil=True)
    def _clip_forward(x, cap, capped, lo, hi, out, mask):  # type: ignore[no-untyped-def]
        """Write min(max(x, 0), cap) and the mask 0 < x (< cap if ``capped``) over [lo, hi).

        Selects and bitwise ``&``/``|`` only (no branch to mispredict on random signs), so it
        vectorises; uncapped, an infinite input passes its gradient.

        Shapes:
            x, out, mask: (size,)
        """
        zero = x.dtype.type(0)
        xs, os, ms = x[lo:hi], out[lo:hi], mask[lo:hi]
        for i in range(xs.size):
            v = xs[i]
            t = zero if v <= zero else v  # not max(): a NaN must stay NaN
            os[i] = cap if t >= cap else t
            ms[i] = (v > zero) & ((v < cap) | (not capped))

    @njit(cache=True, nogil=True)
    def _masked(dout, mask, lo, hi, dx):  # type: ignore[no-untyped-def]
        """Write dx = dout where mask, else 0, over [lo, hi).

        Shapes:
            dout, mask, dx: (size,)
        """
        zero = dout.dtype.type(0)
        ds, ms, xs = dout[lo:hi], mask[lo:hi], dx[lo:hi]
        for i in range(ds.size):
            xs[i] = ds[i] if ms[i] else zero


class FastReluCache(NamedTuple):
    """What :func:`relu_backward` needs: where the gradient passes."""

    mask: Array  # (same as x) bool


def _ranges(size: int) -> list[tuple[int, int]]:
    return parallel.chunks(size, size, STREAM_COST)


def clipped_relu_forward(
    x: Array, *, max_value: float | None = None
) -> tuple[Array, FastReluCache]:
    """``min(max(x, 0), max_value)`` (no cap when None: ReLU) and the mask ``0 < x < cap``.

    Shapes:
        x: any -> out: same.
    """
    flat = np.ascontiguousarray(x).reshape(-1)
    cap = flat.dtype.type(np.inf if max_value is None else max_value)
    out, mask = np.empty_like(flat), np.empty(flat.shape, dtype=np.bool_)

    def part(lo: int, hi: int) -> None:
        _clip_forward(flat, cap, max_value is not None, lo, hi, out, mask)

    parallel.run(part, _ranges(flat.size))
    return out.reshape(x.shape), FastReluCache(mask.reshape(x.shape))


def relu_forward(x: Array) -> tuple[Array, FastReluCache]:
    """:func:`glassnet.ops.activation.relu_forward` in one pass.

    Shapes:
        x: any -> out: same.
    """
    return clipped_relu_forward(x, max_value=None)


def relu_backward(dout: Array, cache: FastReluCache) -> Array:
    """The gradient of either forward: ``dout`` where the mask is set, else 0.

    Shapes:
        dout: any -> dx: same.
    """
    flat = np.ascontiguousarray(dout).reshape(-1)
    mask = cache.mask.reshape(-1)
    dx = np.empty_like(flat)

    def part(lo: int, hi: int) -> None:
        _masked(flat, mask, lo, hi, dx)

    parallel.run(part, _ranges(flat.size))
    return dx.reshape(dout.shape)
