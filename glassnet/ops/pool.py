"""Pooling ops on the last two axes of any ``(..., H, W)`` array (so they serve CNHW and NCHW).

Every window is one strided slice of the (padded) input per window offset ``(i, j)``:
``xp[..., i : i + SH·(OH − 1) + 1 : SH, j : j + SW·(OW − 1) + 1 : SW]`` has shape
``(..., OH, OW)`` and holds, for every output cell, the input value at offset ``(i, j)`` of its
window. Forward and backward are loops over the KH·KW offsets of whole-array operations, which
is fast in NumPy and handles overlapping windows (pool > stride) without special cases.

Sizes and padding come from :mod:`glassnet.arith.geometry` (``"same"`` is the TensorFlow rule).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from glassnet import parallel
from glassnet.arith.geometry import (
    PaddingSpec,
    memo_plain,
    pair,
    resolve_padding,
    window_output_size,
)
from glassnet.backend import get_xp
from glassnet.errors import GlassnetError, ShapeError
from glassnet.ops import kernels

Pads = tuple[tuple[int, int], tuple[int, int]]
# Per input element a max-pool kernel costs about a quarter of what a convolution's im2col and
# GEMM cost per element they touch (glassnet.parallel weighs splitting by it).
POOL_COST = 0.25


class _Geometry(NamedTuple):
    kernel: tuple[int, int]  # (KH, KW)
    strides: tuple[int, int]  # (SH, SW)
    pads: Pads  # ((top, bottom), (left, right)) as resolved from the padding spec
    out_hw: tuple[int, int]  # (OH, OW)
    applied: Pads  # padding actually added: bottom/right cut or extended to what windows reach


def _geometry(
    op: str, x: Any, pool_size: Any, strides: Any, padding: PaddingSpec, ceil_mode: bool
) -> _Geometry:
    if x.ndim < 2 or x.dtype.kind != "f":
        raise ShapeError(
            f"{op}: x must be a floating array of shape (..., H, W); "
            f"received shape {list(x.shape)} dtype {x.dtype}"
        )
    in_hw = (int(x.shape[-2]), int(x.shape[-1]))
    return _window_geometry(op, in_hw, pool_size, strides, padding, ceil_mode)


@memo_plain
def _window_geometry(
    op: str, in_hw: tuple[int, int], pool_size: Any, strides: Any, padding: PaddingSpec,
    ceil_mode: bool,
) -> _Geometry:
    kernel = pair(pool_size, op=op, arg="pool_size")
    stride = kernel if strides is None else pair(strides, op=op, arg="strides")
    pads = resolve_padding(padding, in_hw, kernel, stride, op=op)
    for axis, k, (before, after) in zip("HW", kernel, pads, strict=True):
        # A pad >= K would allow windows made only of padding (-inf max, empty average).
        if max(before, after) >= k:
            raise GlassnetError(
                f"{op}: padding {before}+{after} on {axis} must be smaller than the pool size "
                f"{k} (a window would see only padding)"
            )
    oh, ow = (
        window_output_size(
            in_hw[d], kernel[d], stride[d], pads[d], ceil_mode=ceil_mode, op=op, axis="HW"[d]
        )
        for d in range(2)
    )
    # The last window ends at (O − 1)·S + K in padded coordinates; it may stop short of the
    # bottom/right padding (not added then) or, under ceil_mode, run past it (PyTorch clips it).
    bottom = max((oh - 1) * stride[0] + kernel[0] - in_hw[0] - pads[0][0], 0)
    right = max((ow - 1) * stride[1] + kernel[1] - in_hw[1] - pads[1][0], 0)
    applied = ((pads[0][0], bottom), (pads[1][0], right))
    return _Geometry(kernel, stride, pads, (oh, ow), applied)


def _pad(x: Any, applied: Pads, value: float) -> Any:
    """Pad the last two axes with ``value``; no copy when the windows need no padding."""
    (top, bottom), (left, right) = applied
    if top == bottom == left == right == 0:
        return x
    xp = get_xp(x)
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return xp.pad(x, widths, mode="constant", constant_values=value)


def _padded_shape(x_shape: tuple[int, ...], applied: Pads) -> tuple[int, ...]:
    """The shape ``_pad`` gives an input of ``x_shape``."""
    (top, bottom), (left, right) = applied
    return x_shape[:-2] + (x_shape[-2] + top + bottom, x_shape[-1] + left + right)


def _window(a: Any, i: int, j: int, geo: _Geometry) -> Any:
    """The ``(..., OH, OW)`` strided view of offset ``(i, j)`` of every window."""
    (sh, sw), (oh, ow) = geo.strides, geo.out_hw
    return a[..., i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]


def _crop(dxp: Any, x_shape: tuple[int, ...], applied: Pads) -> Any:
    """Cut the padding off a gradient of the padded input (cells no window reached stay 0)."""
    (top, _), (left, _) = applied
    if dxp.shape == x_shape:
        return dxp
    h, w = x_shape[-2:]
    return get_xp(dxp).ascontiguousarray(dxp[..., top : top + h, left : left + w])


def _sentinel(index_dtype: Any) -> int:
    """The arg-max value meaning "no winner": the index dtype's largest value."""
    return 255 if np.dtype(index_dtype) == np.uint8 else 2**31 - 1


class MaxPool2DCache(NamedTuple):
    """What ``max_pool2d_backward`` needs."""

    argmax: Any  # (..., OH, OW) window offset k = i·KW + j of the first maximum
    x_shape: tuple[int, ...]  # (..., H, W)
    geo: _Geometry


def max_pool2d_forward(
    x: Any,
    *,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] | None = None,
    padding: PaddingSpec = "valid",
    ceil_mode: bool = False,
    relu: bool = False,
) -> tuple[Any, MaxPool2DCache]:
    """Take the maximum over each pooling window of the last two axes.

    The output is a running ``maximum`` over the KH·KW strided window slices; padding (only
    when needed) is ``-inf`` so it never wins.

    NOTE: ties go to the FIRST maximum in row-major window order (the offset is replaced only
    where a later value is strictly greater). The backward pass is the course's "max gate:
    gradient router": each output's gradient goes, whole, to that one input position.

    Args:
        x: input maps.
        pool_size: window ``K`` or ``(KH, KW)``.
        strides: ``S`` or ``(SH, SW)``; defaults to ``pool_size`` (non-overlapping windows).
        padding: ``"valid"``, ``"same"`` (TensorFlow rule), an int, a pair or a 4-tuple
            ``(top, bottom, left, right)``; every amount must be smaller than the window.
        ceil_mode: round the output size up (PyTorch's ``ceil_mode``).
        relu: return ``relu(maxpool(x))`` — the same as ``maxpool(relu(x))``, since both are
            monotone, but the ReLU then touches a map KH·KW times smaller. A window whose
            maximum is ≤ 0 passes no gradient (ReLU's derivative is 0 there).

    Returns:
        ``(out, cache)``.

    Raises:
        ShapeError: if ``x`` is not a floating array with at least 2 axes, or the window does
            not fit the padded input.
        GlassnetError: for a bad ``pool_size``, ``strides`` or ``padding``.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    geo = _geometry("max_pool2d", x, pool_size, strides, padding, ceil_mode)
    return max_pool2d_resolved(x, geo, relu)


def pool_geometry(
    in_hw: tuple[int, int], pool_size: Any, strides: Any = None, padding: PaddingSpec = "valid",
    ceil_mode: bool = False, *, op: str = "max_pool2d",
) -> _Geometry:
    """The resolved window geometry of a pooling of an (..., H, W) input (for reuse).

    Raises:
        GlassnetError, ShapeError: as the pooling ops do.
    """
    return _window_geometry(op, in_hw, pool_size, strides, padding, ceil_mode)


def max_pool2d_values(x: Any, geo: _Geometry, relu: bool = False) -> Any:
    """The output of :func:`max_pool2d_resolved` alone (no arg-max: for inference).

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    if not (kernels.enabled(x) and geo.kernel == geo.strides == (2, 2)):
        return max_pool2d_resolved(x, geo, relu)[0]
    xpad = _pad(x, geo.applied, -np.inf)
    (hp, wp), (oh, ow) = xpad.shape[-2:], geo.out_hw
    out = np.empty((*x.shape[:-2], oh, ow), dtype=x.dtype)
    x3, out3 = np.ascontiguousarray(xpad).reshape(-1, hp, wp), out.reshape(-1, oh, ow)

    def part(lo: int, hi: int) -> None:
        kernels.max_pool_2x2_values(x3[lo:hi], relu, out3[lo:hi])

    parallel.run(part, parallel.chunks(len(x3), x3.size, POOL_COST))
    return out


def max_pool2d_resolved(x: Any, geo: _Geometry, relu: bool = False) -> tuple[Any, MaxPool2DCache]:
    """:func:`max_pool2d_forward` with the geometry resolved by :func:`pool_geometry`.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    xp = get_xp(x)
    xpad = _pad(x, geo.applied, -np.inf)
    kh, kw = geo.kernel
    # The dtype's largest value marks "no winner" (a window killed by the fused ReLU).
    index_dtype = np.uint8 if kh * kw < 255 else np.int32
    sentinel = _sentinel(index_dtype)
    if kernels.enabled(x):
        lead, (hp, wp), (oh, ow) = x.shape[:-2], xpad.shape[-2:], geo.out_hw
        out = np.empty((*lead, oh, ow), dtype=x.dtype)
        argmax = np.empty(out.shape, dtype=index_dtype)
        x3 = np.ascontiguousarray(xpad).reshape(-1, hp, wp)
        out3, arg3 = out.reshape(-1, oh, ow), argmax.reshape(-1, oh, ow)

        def part(lo: int, hi: int) -> None:
            if (kh, kw) == geo.strides == (2, 2):  # the common case has its own kernel
                kernels.max_pool_2x2_forward(x3[lo:hi], relu, out3[lo:hi], arg3[lo:hi], sentinel)
            else:
                kernels.max_pool_forward(
                    x3[lo:hi], kh, kw, *geo.strides, relu, out3[lo:hi], arg3[lo:hi], sentinel
                )

        parallel.run(part, parallel.chunks(len(x3), x3.size, POOL_COST))
        return out, MaxPool2DCache(argmax, tuple(x.shape), geo)
    out = _window(xpad, 0, 0, geo).copy()
    argmax = xp.zeros(out.shape, dtype=index_dtype)
    for k in range(1, kh * kw):
        cand = _window(xpad, k // kw, k % kw, geo)
        better = cand > out  # strictly: an equal later value leaves the first maximum in place
        xp.copyto(argmax, k, where=better)
        xp.maximum(out, cand, out=out)
    if relu:
        dead = ~(out > 0)
        xp.copyto(argmax, sentinel, where=dead)
        xp.copyto(out, 0, where=dead)
    return out, MaxPool2DCache(argmax, tuple(x.shape), geo)


def max_pool2d_backward(dout: Any, cache: MaxPool2DCache) -> Any:
    """Route each output gradient, whole, to the input position that won its window.

    Shapes:
        dout: (..., OH, OW) -> dx: (..., H, W).
    """
    geo = cache.geo
    xp = get_xp(dout)
    kh, kw = geo.kernel
    shape = _padded_shape(cache.x_shape, geo.applied)
    if kernels.enabled(dout):
        dxp = np.empty(shape, dtype=dout.dtype)  # every cell written below
        (hp, wp), (oh, ow) = dxp.shape[-2:], geo.out_hw
        d3, arg3 = np.ascontiguousarray(dout).reshape(-1, oh, ow), cache.argmax.reshape(-1, oh, ow)
        dx3, sentinel = dxp.reshape(-1, hp, wp), _sentinel(cache.argmax.dtype)

        def part(lo: int, hi: int) -> None:
            if (kh, kw) == geo.strides == (2, 2):
                kernels.max_pool_2x2_backward(d3[lo:hi], arg3[lo:hi], dx3[lo:hi], sentinel)
                return
            dx3[lo:hi] = 0
            kernels.max_pool_backward(
                d3[lo:hi], arg3[lo:hi], kw, *geo.strides, dx3[lo:hi], sentinel
            )

        parallel.run(part, parallel.chunks(len(dx3), dx3.size, POOL_COST))
        return _crop(dxp, cache.x_shape, geo.applied)
    dxp = xp.zeros(shape, dtype=dout.dtype)
    for k in range(kh * kw):
        # Overlapping windows make slices overlap, so accumulate (+=) offset by offset.
        _window(dxp, k // kw, k % kw, geo)[...] += xp.where(cache.argmax == k, dout, 0)
    return _crop(dxp, cache.x_shape, geo.applied)


@lru_cache(maxsize=256)
def _inverse_divisor(geo: _Geometry, in_hw: tuple[int, int], incl: bool, dtype: str) -> Any:
    """``1 / divisor`` per output cell (OH, OW), counted per axis (the window is separable)."""
    counts = []
    for d in range(2):
        (before, after), size = geo.pads[d], in_hw[d]
        lo, hi = (-before, size + after) if incl else (0, size)  # where positions count
        starts = np.arange(geo.out_hw[d]) * geo.strides[d] - before
        counts.append(np.minimum(starts + geo.kernel[d], hi) - np.maximum(starts, lo))
    inv = (1.0 / np.outer(counts[0], counts[1])).astype(dtype)
    inv.setflags(write=False)  # shared between calls through the cache
    return inv


class AvgPool2DCache(NamedTuple):
    """What ``avg_pool2d_backward`` needs."""

    inv_divisor: Any  # (OH, OW) 1 / number of positions counted in each window
    x_shape: tuple[int, ...]  # (..., H, W)
    geo: _Geometry


def avg_pool2d_forward(
    x: Any,
    *,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] | None = None,
    padding: PaddingSpec = "valid",
    ceil_mode: bool = False,
    count_include_pad: bool = False,
) -> tuple[Any, AvgPool2DCache]:
    """Average each pooling window of the last two axes.

    The divisor of each output cell is the number of window positions that count:
    with ``count_include_pad=True`` those inside the explicitly padded input
    ``[−pad_before, I + pad_after)`` (PyTorch's rule, also under ``ceil_mode``); with ``False``
    only those inside the real input (the Keras/TensorFlow ``"same"`` rule). The divisor map is
    computed once per geometry and cached.

    Args:
        x: input maps.
        pool_size: window ``K`` or ``(KH, KW)``.
        strides: ``S`` or ``(SH, SW)``; defaults to ``pool_size``.
        padding: ``"valid"``, ``"same"``, an int, a pair or a 4-tuple (zeros; each amount
            smaller than the window).
        ceil_mode: round the output size up (PyTorch's ``ceil_mode``).
        count_include_pad: count padded positions in the divisor.

    Returns:
        ``(out, cache)``.

    Raises:
        ShapeError: if ``x`` is not a floating array with at least 2 axes, or the window does
            not fit the padded input.
        GlassnetError: for a bad ``pool_size``, ``strides`` or ``padding``.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    geo = _geometry("avg_pool2d", x, pool_size, strides, padding, ceil_mode)
    xp = get_xp(x)
    xpad = _pad(x, geo.applied, 0.0)
    kh, kw = geo.kernel
    out = _window(xpad, 0, 0, geo).copy()
    for k in range(1, kh * kw):
        out += _window(xpad, k // kw, k % kw, geo)
    in_hw = (int(x.shape[-2]), int(x.shape[-1]))
    inv = xp.asarray(_inverse_divisor(geo, in_hw, bool(count_include_pad), x.dtype.str))
    out *= inv
    return out, AvgPool2DCache(inv, tuple(x.shape), geo)


def avg_pool2d_backward(dout: Any, cache: AvgPool2DCache) -> Any:
    """Spread each output gradient evenly (``/ divisor``) over its window's input positions.

    Positions in the padding get their share too, but are cropped away.

    Shapes:
        dout: (..., OH, OW) -> dx: (..., H, W).
    """
    geo = cache.geo
    xp = get_xp(dout)
    kh, kw = geo.kernel
    share = dout * cache.inv_divisor
    dxp = xp.zeros(_padded_shape(cache.x_shape, geo.applied), dtype=dout.dtype)
    for k in range(kh * kw):
        _window(dxp, k // kw, k % kw, geo)[...] += share
    return _crop(dxp, cache.x_shape, geo.applied)


class GlobalAvgPool2DCache(NamedTuple):
    """What ``global_avg_pool2d_backward`` needs."""

    x_shape: tuple[int, ...]  # (..., H, W)


def global_avg_pool2d_forward(x: Any) -> tuple[Any, GlobalAvgPool2DCache]:
    """Average over the last two axes.

    Raises:
        ShapeError: if ``x`` has fewer than 2 axes.

    Shapes:
        x: (..., H, W) -> out: (...).
    """
    if x.ndim < 2:
        raise ShapeError(
            f"global_avg_pool2d: x must have shape (..., H, W); received shape {list(x.shape)}"
        )
    return x.mean(axis=(-2, -1)), GlobalAvgPool2DCache(tuple(x.shape))


def global_avg_pool2d_backward(dout: Any, cache: GlobalAvgPool2DCache) -> Any:
    """Give every position ``dout / (H·W)``.

    Shapes:
        dout: (...) -> dx: (..., H, W).
    """
    xp = get_xp(dout)
    h, w = cache.x_shape[-2:]
    share = dout[..., None, None] * dout.dtype.type(1.0 / (h * w))
    return xp.broadcast_to(share, cache.x_shape).copy()
