"""The fast drop-in for :mod:`glassnet.ops.pool`: numba kernels, split over the threads.

One pass per map (a branch-free kernel for the common 2×2 / stride-2 case) instead of one
whole-array pass per window offset, the maps split into chunks over
:mod:`glassnet.accel.parallel`'s threads. ``relu=True`` also applies a ReLU to the pooled map:
relu(maxpool(z)) == maxpool(relu(z)) since both are monotone, and the ReLU then touches a map
KH·KW times smaller (the fused node ``ops.fused.max_pool2d_relu``). Needs numba
(:func:`glassnet.accel.kernels.enabled`); the dispatcher never calls it otherwise.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.accel import caches, kernels, parallel
from glassnet.arith.geometry import PaddingSpec
from glassnet.ops.im2col import pad_spatial
from glassnet.ops.windows import Geometry, checked_geometry, crop_padding, padded_shape

# Per input element a max-pool kernel costs about a quarter of what a convolution's im2col and
# GEMM cost per element they touch (glassnet.accel.parallel weighs splitting by it).
POOL_COST = 0.25


def _sentinel(index_dtype: Any) -> int:
    """The arg-max value meaning "no winner": the index dtype's largest value."""
    return 255 if np.dtype(index_dtype) == np.uint8 else 2**31 - 1


class FastMaxPool2DCache(NamedTuple):
    """What :func:`max_pool2d_backward` needs."""

    argmax: Any  # (..., OH, OW) window offset k = i·KW + j of the first maximum, or sentinel
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
) -> tuple[Any, FastMaxPool2DCache]:
    """:func:`glassnet.ops.pool.max_pool2d_forward` (then a ReLU if ``relu``), in one pass.

    A window whose maximum is ≤ 0 under ``relu`` passes no gradient (ReLU's derivative is 0).

    Raises:
        ShapeError, GlassnetError: as the reference does (the same geometry checks).

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    geo = checked_geometry("max_pool2d", x, pool_size, strides, padding, ceil_mode)
    return max_pool2d_resolved(x, geo, relu)


def max_pool2d_values(x: Any, geo: Geometry, relu: bool = False) -> Any:
    """The output of :func:`max_pool2d_resolved` alone (no arg-max written: for inference).

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    return max_pool2d_resolved(x, geo, relu, argmax=False)[0]


def max_pool2d_resolved(
    x: Any, geo: Geometry, relu: bool = False, argmax: bool = True
) -> tuple[Any, FastMaxPool2DCache]:
    """:func:`max_pool2d_forward` with the geometry resolved by ``ops.windows.pool_geometry``.

    ``argmax=False`` (inference) skips the arg-max (the 2×2 kernel, else the two-pass
    :func:`glassnet.accel.kernels.max_pool_values_blocked`, which pads each block of planes
    itself); the cache then holds none and cannot serve a backward pass.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    kh, kw = geo.kernel
    two_by_two = (kh, kw) == geo.strides == (2, 2)  # the common case has its own kernels
    if not argmax and not two_by_two:
        return _values_blocked(x, geo, relu), FastMaxPool2DCache(None, tuple(x.shape), geo)
    xpad = pad_spatial(x, geo.applied, -np.inf)
    # The dtype's largest value marks "no winner" (a window killed by the fused ReLU).
    index_dtype = np.uint8 if kh * kw < 255 else np.int32
    sentinel = _sentinel(index_dtype)
    lead, (hp, wp), (oh, ow) = x.shape[:-2], xpad.shape[-2:], geo.out_hw
    out = np.empty((*lead, oh, ow), dtype=x.dtype)
    arg = np.empty(out.shape, dtype=index_dtype) if argmax else None
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
    return out, FastMaxPool2DCache(arg, tuple(x.shape), geo)


def block_planes(padded_hw: tuple[int, int], itemsize: int) -> int:
    """Planes :func:`_values_blocked` pads and pools at a time: its three copies in half the L2."""
    plane = padded_hw[0] * padded_hw[1] * itemsize
    return max(caches.l2_bytes() // (2 * 3 * plane), 1)


def _values_blocked(x: Any, geo: Geometry, relu: bool) -> Any:
    """Inference's pooled values, each thread padding and pooling its planes block by block."""
    (pt, pb), (pl, pr) = geo.applied
    h, w = x.shape[-2:]
    hp, wp = h + pt + pb, w + pl + pr
    out = np.empty((*x.shape[:-2], *geo.out_hw), dtype=x.dtype)
    x3 = np.ascontiguousarray(x).reshape(-1, h, w)
    out3 = out.reshape(-1, *geo.out_hw)
    block = block_planes((hp, wp), x.dtype.itemsize)
    kh, kw = geo.kernel

    def part(lo: int, hi: int) -> None:
        kernels.max_pool_values_blocked(x3[lo:hi], pt, pl, hp, wp, kh, kw, *geo.strides, relu,
                                        out3[lo:hi], block)

    parallel.run(part, parallel.chunks(len(x3), x3.size, POOL_COST))
    return out


def max_pool2d_backward(dout: Any, cache: FastMaxPool2DCache) -> Any:
    """Route each output gradient, whole, to the input position that won its window.

    Shapes:
        dout: (..., OH, OW) -> dx: (..., H, W).
    """
    geo = cache.geo
    kh, kw = geo.kernel
    dxp = np.empty(padded_shape(cache.x_shape, geo.applied), dtype=dout.dtype)
    (hp, wp), (oh, ow) = dxp.shape[-2:], geo.out_hw
    d3, arg3 = np.ascontiguousarray(dout).reshape(-1, oh, ow), cache.argmax.reshape(-1, oh, ow)
    dx3, sentinel = dxp.reshape(-1, hp, wp), _sentinel(cache.argmax.dtype)

    def part(lo: int, hi: int) -> None:
        if (kh, kw) == geo.strides == (2, 2):  # writes every cell of its maps
            kernels.max_pool_2x2_backward(d3[lo:hi], arg3[lo:hi], dx3[lo:hi], sentinel)
            return
        dx3[lo:hi] = 0
        kernels.max_pool_backward(d3[lo:hi], arg3[lo:hi], kw, *geo.strides, dx3[lo:hi], sentinel)

    parallel.run(part, parallel.chunks(len(dx3), dx3.size, POOL_COST))
    return crop_padding(dxp, cache.x_shape, geo.applied)
