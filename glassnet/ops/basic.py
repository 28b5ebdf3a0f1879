"""Small ops as forward/backward pairs: dense (affine), add, mul, concat, reshape, flatten."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from glassnet.backend import get_xp
from glassnet.errors import GlassnetError, ShapeError


class DenseCache(NamedTuple):
    """What ``dense_backward`` needs."""

    x: Any  # (N, in)
    w: Any  # (in, out)
    has_bias: bool


def check_dense_args(x: Any, w: Any, b: Any | None) -> None:
    """Raise ShapeError unless x is (N, in), w (in, out) and b None or (out,)."""
    if w.ndim != 2 or x.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ShapeError(
            f"dense: x has shape {list(x.shape)} and w {list(w.shape)}; expected x (N, in) "
            f"and w (in, out) with the same in"
        )
    if b is not None and tuple(b.shape) != (w.shape[1],):
        raise ShapeError(
            f"dense: b has shape {list(b.shape)} but w has out={w.shape[1]}; "
            f"expected [{w.shape[1]}]"
        )


def dense_forward(x: Any, w: Any, b: Any | None = None) -> tuple[Any, DenseCache]:
    """Return ``x @ w + b``.

    Raises:
        ShapeError: if ``x`` is not ``(N, in)``, ``w`` not ``(in, out)`` or ``b`` not ``(out,)``.

    Shapes:
        x: (N, in), w: (in, out), b: (out,) or None -> out: (N, out).
    """
    check_dense_args(x, w, b)
    out = x @ w
    if b is not None:
        out += b
    return out, DenseCache(x, w, b is not None)


def dense_backward(dout: Any, cache: DenseCache) -> tuple[Any, Any, Any | None]:
    """Return ``(dx, dw, db)``: ``dout @ wᵀ``, ``xᵀ @ dout``, ``Σ_N dout`` (None without bias).

    Shapes:
        dout: (N, out) -> dx: (N, in), dw: (in, out), db: (out,).
    """
    db = dout.sum(axis=0) if cache.has_bias else None
    # NOTE: dot, not @: for N = 1, matmul finds xᵀ's strides unusable by BLAS and runs its own
    # loop, several times slower (docs/performance.md, rules table).
    xp = get_xp(dout)
    return xp.dot(dout, cache.w.T), xp.dot(cache.x.T, dout), db


def _same_shape(op: str, a: Any, b: Any) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ShapeError(
            f"{op}: operands have shapes {list(a.shape)} and {list(b.shape)}; expected equal "
            f"shapes (no broadcasting)"
        )


class AddCache(NamedTuple):
    """What ``add_backward`` needs (nothing but the shape: addition routes gradients as is)."""

    shape: tuple[int, ...]


def add_forward(a: Any, b: Any) -> tuple[Any, AddCache]:
    """Return ``a + b`` (a residual connection's join).

    Raises:
        ShapeError: if the shapes differ.

    Shapes:
        a, b: same shape -> out: same.
    """
    _same_shape("add", a, b)
    return a + b, AddCache(tuple(a.shape))


def add_backward(dout: Any, cache: AddCache) -> tuple[Any, Any]:
    """Return ``(da, db) = (dout, dout)`` (the "add gate: gradient distributor").

    Shapes:
        dout: any -> da, db: same.
    """
    return dout, dout


class MulCache(NamedTuple):
    """What ``mul_backward`` needs."""

    a: Any  # (same as out)
    b: Any  # (same as out)


def mul_forward(a: Any, b: Any) -> tuple[Any, MulCache]:
    """Return ``a·b`` elementwise.

    Raises:
        ShapeError: if the shapes differ.

    Shapes:
        a, b: same shape -> out: same.
    """
    _same_shape("mul", a, b)
    return a * b, MulCache(a, b)


def mul_backward(dout: Any, cache: MulCache) -> tuple[Any, Any]:
    """Return ``(dout·b, dout·a)`` (the "mul gate: gradient switcher").

    Shapes:
        dout: any -> da, db: same.
    """
    return dout * cache.b, dout * cache.a


class ConcatCache(NamedTuple):
    """What ``concat_backward`` needs."""

    sizes: tuple[int, ...]  # extent of each input along axis
    axis: int  # non-negative


def concat_forward(xs: Sequence[Any], *, axis: int) -> tuple[Any, ConcatCache]:
    """Join arrays along ``axis`` (an Inception block's channel concat).

    Raises:
        ShapeError: if ``xs`` is empty, ``axis`` is out of range or the other axes differ.

    Shapes:
        xs[i]: (..., A_i, ...) -> out: (..., Σ A_i, ...).
    """
    if not xs:
        raise ShapeError("concat: xs is empty; expected at least one array")
    nd = xs[0].ndim
    if isinstance(axis, bool) or not isinstance(axis, int) or not -nd <= axis < nd:
        raise ShapeError(f"concat: axis={axis!r} is out of range for {nd}-d arrays")
    axis %= nd
    ref = list(xs[0].shape)
    for i, x in enumerate(xs):
        shape = list(x.shape)
        if len(shape) != nd or shape[:axis] + shape[axis + 1 :] != ref[:axis] + ref[axis + 1 :]:
            raise ShapeError(
                f"concat: xs[{i}] has shape {shape} but xs[0] has {ref}; expected equal shapes "
                f"except on axis {axis}"
            )
    out = get_xp(*xs).concatenate(list(xs), axis=axis)
    return out, ConcatCache(tuple(int(x.shape[axis]) for x in xs), axis)


def concat_backward(dout: Any, cache: ConcatCache) -> list[Any]:
    """Split the gradient back into the inputs' pieces.

    Shapes:
        dout: (..., Σ A_i, ...) -> dxs[i]: (..., A_i, ...).
    """
    dxs, start = [], 0
    for size in cache.sizes:
        index = [slice(None)] * dout.ndim
        index[cache.axis] = slice(start, start + size)
        dxs.append(dout[tuple(index)])
        start += size
    return dxs


class ReshapeCache(NamedTuple):
    """What ``reshape_backward`` needs."""

    x_shape: tuple[int, ...]


def reshape_forward(x: Any, shape: Sequence[int]) -> tuple[Any, ReshapeCache]:
    """Return ``x`` reshaped (row-major order; one entry may be -1).

    Raises:
        GlassnetError: if ``x`` cannot take ``shape``.

    Shapes:
        x: any -> out: shape.
    """
    try:
        out = x.reshape(tuple(shape))
    except (ValueError, TypeError) as exc:
        raise GlassnetError(
            f"reshape: cannot reshape x of shape {list(x.shape)} ({x.size} values) into "
            f"{list(shape)}"
        ) from exc
    return out, ReshapeCache(tuple(x.shape))


def reshape_backward(dout: Any, cache: ReshapeCache) -> Any:
    """Reshape the gradient back to the input's shape.

    Shapes:
        dout: shape -> dx: x's shape.
    """
    return dout.reshape(cache.x_shape)


def flatten_forward(x: Any) -> tuple[Any, ReshapeCache]:
    """Flatten every axis but the first, row-major (NHWC input gives Keras' H, W, C order).

    Raises:
        ShapeError: if ``x`` has no axes.

    Shapes:
        x: (N, ...) -> out: (N, prod(...)).
    """
    if x.ndim < 1:
        raise ShapeError("flatten: x is a scalar; expected shape (N, ...)")
    return reshape_forward(x, (x.shape[0], math.prod(x.shape[1:])))


def flatten_backward(dout: Any, cache: ReshapeCache) -> Any:
    """Reshape the gradient back to the input's shape.

    Shapes:
        dout: (N, prod(...)) -> dx: (N, ...).
    """
    return reshape_backward(dout, cache)


def to_compute_layout(x_nhwc: Any) -> Any:
    """NHWC -> CNHW (contiguous): the compute layout of 4-D maps (docs/architecture.md).

    Shapes:
        x_nhwc: (N, H, W, C) -> (C, N, H, W)
    """
    return get_xp(x_nhwc).ascontiguousarray(x_nhwc.transpose(3, 0, 1, 2))


def to_public_layout(x_cnhw: Any) -> Any:
    """CNHW -> NHWC (contiguous).

    Shapes:
        x_cnhw: (C, N, H, W) -> (N, H, W, C)
    """
    return get_xp(x_cnhw).ascontiguousarray(x_cnhw.transpose(1, 2, 3, 0))


def flatten_maps(a: Any) -> Any:
    """A CNHW map flattened per sample in Keras' (H, W, C) order; a 2-D input as it is.

    NOTE: back to NHWC before the reshape, so a Dense weight trained in Keras order (H, W, C)
    reads the right values; flattening CNHW directly would mix samples.

    Shapes:
        a: (C, N, H, W) -> (N, H·W·C)
    """
    if a.ndim == 2:
        return a
    return to_public_layout(a).reshape(a.shape[1], -1)
