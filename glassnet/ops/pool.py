"""Max pooling on the last two axes of any ``(..., H, W)`` array (so it serves CNHW and NCHW).

Forward and backward are loops over the KH·KW window offsets of whole-array operations
(:mod:`glassnet.ops.windows`), which is fast in NumPy and handles overlapping windows (pool >
stride) without special cases; with numba, one pass per map (a branch-free kernel for the
common 2×2/stride-2 case), split over :mod:`glassnet.parallel`'s threads.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet import parallel
from glassnet.arith.geometry import PaddingSpec
from glassnet.backend import get_xp
from glassnet.ops import kernels
from glassnet.ops.windows import (
    Geometry,
    _crop,
    _geometry,
    _pad,
    _padded_shape,
    _window,
    pool_geometry,
)

__all__ = [
    "POOL_COST", "MaxPool2DCache", "max_pool2d_backward", "max_pool2d_forward",
    "max_pool2d_resolved", "max_pool2d_values", "pool_geometry",
]

# Per input element a max-pool kernel costs about a quarter of what a convolution's im2col and
# GEMM cost per element they touch (glassnet.parallel weighs splitting by it).
POOL_COST = 0.25


def _sentinel(index_dtype: Any) -> int:
    """The arg-max value meaning "no winner": the index dtype's largest value."""
    return 255 if np.dtype(index_dtype) == np.uint8 else 2**31 - 1


class MaxPool2DCache(NamedTuple):
    """What ``max_pool2d_backward`` needs."""

    argmax: Any  # (..., OH, OW) window offset k = i·KW + j of the first maximum
    x_shape: tuple[int, ...]  # (..., H, W)
    geo: Geometry


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


def max_pool2d_values(x: Any, geo: Geometry, relu: bool = False) -> Any:
    """The output of :func:`max_pool2d_resolved` alone (no arg-max written: for inference).

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    return max_pool2d_resolved(x, geo, relu, argmax=False)[0]


def max_pool2d_resolved(
    x: Any, geo: Geometry, relu: bool = False, argmax: bool = True
) -> tuple[Any, MaxPool2DCache]:
    """:func:`max_pool2d_forward` with the geometry resolved by :func:`pool_geometry`.

    ``argmax=False`` (inference) lets the 2×2 kernel skip the arg-max; the cache then holds
    none and cannot serve a backward pass.

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
        two_by_two = (kh, kw) == geo.strides == (2, 2)  # the common case has its own kernels
        out = np.empty((*lead, oh, ow), dtype=x.dtype)
        arg = np.empty(out.shape, dtype=index_dtype) if argmax or not two_by_two else None
        x3 = np.ascontiguousarray(xpad).reshape(-1, hp, wp)
        out3 = out.reshape(-1, oh, ow)
        arg3: Any = None if arg is None else arg.reshape(-1, oh, ow)

        def part(lo: int, hi: int) -> None:
            if two_by_two and not argmax:
                kernels.max_pool_2x2_values(x3[lo:hi], relu, out3[lo:hi])
            elif two_by_two:
                kernels.max_pool_2x2_forward(x3[lo:hi], relu, out3[lo:hi], arg3[lo:hi], sentinel)
            else:
                kernels.max_pool_forward(
                    x3[lo:hi], kh, kw, *geo.strides, relu, out3[lo:hi], arg3[lo:hi], sentinel
                )

        parallel.run(part, parallel.chunks(len(x3), x3.size, POOL_COST))
        return out, MaxPool2DCache(arg, tuple(x.shape), geo)
    out = _window(xpad, 0, 0, geo).copy()
    arg = xp.zeros(out.shape, dtype=index_dtype)
    for k in range(1, kh * kw):
        cand = _window(xpad, k // kw, k % kw, geo)
        better = cand > out  # strictly: an equal later value leaves the first maximum in place
        xp.copyto(arg, k, where=better)
        xp.maximum(out, cand, out=out)
    if relu:
        dead = ~(out > 0)
        xp.copyto(arg, sentinel, where=dead)
        xp.copyto(out, 0, where=dead)
    return out, MaxPool2DCache(arg, tuple(x.shape), geo)


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
