"""Generic autodiff ops: elementwise arithmetic, matmul, reshapes and layout changes.

Each op computes its result and records ``backward``, mapping dL/d(out) to its parents'
gradients (see :class:`glassnet.tensor.Tensor`).
"""

from __future__ import annotations

from typing import Any

from glassnet.backend import get_xp
from glassnet.errors import ShapeError
from glassnet.tensor import Tensor

Array = Any


def _unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum a broadcast gradient back to ``shape``."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(extra))) if extra else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


# ----- elementwise and linear algebra -------------------------------------------------------------
def add(a: Tensor, b: Tensor) -> Tensor:
    """A + b with NumPy broadcasting; each gradient is dout summed back to its shape."""
    sa, sb = a.shape, b.shape
    return Tensor.from_op(
        a.data + b.data, (a, b), lambda g: (_unbroadcast(g, sa), _unbroadcast(g, sb))
    )


def mul(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise a·b with broadcasting: d a = dout·b, d b = dout·a."""
    sa, sb, da, db = a.shape, b.shape, a.data, b.data
    return Tensor.from_op(
        da * db, (a, b), lambda g: (_unbroadcast(g * db, sa), _unbroadcast(g * da, sb))
    )


def scale(a: Tensor, k: float) -> Tensor:
    """k·a for a Python number k."""
    return Tensor.from_op(a.data * a.dtype.type(k), (a,), lambda g: (g * g.dtype.type(k),))


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of 2-D tensors: d a = dout @ bᵀ, d b = aᵀ @ dout.

    Shapes:
        a: (M, K), b: (K, N) -> out: (M, N)
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(f"matmul: shapes {list(a.shape)} and {list(b.shape)} do not chain")
    da, db = a.data, b.data
    return Tensor.from_op(da @ db, (a, b), lambda g: (g @ db.T, da.T @ g))


def sum_all(a: Tensor) -> Tensor:
    """Sum of every element: the gradient is dout broadcast to a's shape."""
    shape, xp = a.shape, get_xp(a.data)
    return Tensor.from_op(
        a.data.sum(), (a,), lambda g: (xp.broadcast_to(g, shape).astype(g.dtype, copy=True),)
    )


def reshape(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Row-major reshape; the gradient is reshaped back."""
    old = a.shape
    return Tensor.from_op(a.data.reshape(shape), (a,), lambda g: (g.reshape(old),))


def transpose(a: Tensor, axes: tuple[int, ...]) -> Tensor:
    """Permute axes (contiguous result); the gradient is permuted back."""
    xp = get_xp(a.data)
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    return Tensor.from_op(
        xp.ascontiguousarray(a.data.transpose(axes)),
        (a,),
        lambda g: (xp.ascontiguousarray(g.transpose(inverse)),),
    )


def to_compute(x: Tensor) -> Tensor:
    """NHWC -> CNHW."""
    return transpose(x, (3, 0, 1, 2))


def to_public(x: Tensor) -> Tensor:
    """CNHW -> NHWC."""
    return transpose(x, (1, 2, 3, 0))


# ----- one-input ops: run forward, keep the cache, backward maps dout -> dx -------------------
def unary(forward: Any, backward: Any, x: Tensor, **kw: Any) -> Tensor:
    """Record ``forward(x.data, **kw) -> (out, cache)`` with ``backward(dout, cache) -> dx``."""
    out, cache = forward(x.data, **kw)
    return Tensor.from_op(out, (x,), lambda g: (backward(g, cache),))
