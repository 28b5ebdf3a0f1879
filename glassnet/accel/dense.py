"""Dense (affine) layers split over the threads: the drop-in for :mod:`glassnet.ops.basic`'s pair.

Inside the compute scope NumPy's BLAS runs one thread (the threads are glassnet's, each op
splitting its own work), so ``x @ w`` and its two backward products used one core: VGG's
4096-wide classifier is a third of its batch-32 inference and a large part of its training step.
Here each thread takes its own block of the layer — output columns forward, input rows backward
(its columns of dL/dx and its rows of dL/dw) — so the weights are read once in all. Every
output value is the same dot product as in the reference's single product, summed as the BLAS
blocks it (at a split's edge it may block differently: equal to rounding,
``tests/test_accel_differential.py``); the inference step runs this same drop-in, so a model's
inference plan and its graph forward stay equal bit for bit.
A layer too small to split (:func:`glassnet.accel.parallel.chunks` on the values it touches:
the weights, and per image its input and output rows) runs the reference pair unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.accel import parallel
from glassnet.ops import basic as basic_ops
from glassnet.ops.basic import DenseCache, check_dense_args

Array = Any


def touched(x: Array, w: Array) -> int:
    """Values a dense product touches: the weights, and per image an input and an output row."""
    return int(w.size + x.shape[0] * (w.shape[0] + w.shape[1]))


def dense_forward(x: Array, w: Array, b: Array | None = None) -> tuple[Array, DenseCache]:
    """``x @ w + b`` with the output columns split over the threads.

    Raises:
        ShapeError: as :func:`glassnet.ops.basic.dense_forward`.

    Shapes:
        x: (N, in), w: (in, out), b: (out,) or None -> out: (N, out)
    """
    check_dense_args(x, w, b)
    ranges = parallel.chunks(w.shape[1], touched(x, w))
    if len(ranges) == 1:
        return basic_ops.dense_forward(x, w, b)
    out = np.empty((x.shape[0], w.shape[1]), dtype=np.result_type(x, w))

    def part(j0: int, j1: int) -> None:
        cols = out[:, j0:j1]
        np.matmul(x, w[:, j0:j1], out=cols)
        if b is not None:
            cols += b[j0:j1]

    parallel.run(part, ranges)
    return out, DenseCache(x, w, b is not None)


def dense_backward(dout: Array, cache: DenseCache) -> tuple[Array, Array, Array | None]:
    """``(dout @ wᵀ, xᵀ @ dout, Σ_N dout)``, each thread its own input rows i0 … i1 − 1.

    The thread's columns of dL/dx and rows of dL/dw: neither needs the other threads' values.

    Shapes:
        dout: (N, out) -> dx: (N, in), dw: (in, out), db: (out,) or None
    """
    x, w = cache.x, cache.w
    ranges = parallel.chunks(w.shape[0], touched(x, w))
    if len(ranges) == 1:
        return basic_ops.dense_backward(dout, cache)
    db = dout.sum(axis=0) if cache.has_bias else None
    dx = np.empty((dout.shape[0], w.shape[0]), dtype=np.result_type(dout, w))
    dw = np.empty(w.shape, dtype=np.result_type(x, dout))

    def part(i0: int, i1: int) -> None:
        # dot, as the reference (see ops.basic.dense_backward's note on matmul at N = 1)
        dx[:, i0:i1] = np.dot(dout, w[i0:i1].T)
        np.dot(x[:, i0:i1].T, dout, out=dw[i0:i1])

    parallel.run(part, ranges)
    return dx, dw, db
