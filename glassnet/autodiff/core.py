"""Generic autodiff ops: elementwise arithmetic, matmul, reshapes and layout changes.

Each op computes its result and records ``backward``, mapping dL/d(out) to its parents'
gradients (see :class:`glassnet.tensor.Tensor`). The elementary arithmetic that Tensor's own
operators (``+``, ``*``, ``@``, ``sum``, ``reshape``) use lives in :mod:`glassnet.tensor` and is
re-exported here: autodiff builds on tensor, never the other way round.
"""

from __future__ import annotations

from typing import Any

from glassnet.backend import get_xp
from glassnet.tensor import Array, Tensor, add, matmul, mul, reshape, scale, sum_all

__all__ = [
    "Array",
    "add",
    "matmul",
    "mul",
    "reshape",
    "scale",
    "sum_all",
    "to_compute",
    "to_public",
    "transpose",
    "unary",
]


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
