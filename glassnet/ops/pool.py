"""Max pooling on the last two axes of any ``(..., H, W)`` array (so it serves CNHW and NCHW).

This is the REFERENCE pair (NumPy only): forward and backward are loops over the KH·KW window
offsets of whole-array operations (:mod:`glassnet.ops.windows`), which handles overlapping
windows (pool > stride) without special cases. The fast drop-in is :mod:`glassnet.accel.pool`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.arith.geometry import PaddingSpec
from glassnet.backend import get_xp
from glassnet.ops.im2col import pad_spatial
from glassnet.ops.windows import (
    Geometry,
    checked_geometry,
    crop_padding,
    padded_shape,
    pool_geometry,
    window_view,
)

__all__ = ["MaxPool2DCache", "max_pool2d_backward", "max_pool2d_forward", "pool_geometry"]


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

    Returns:
        ``(out, cache)``.

    Raises:
        ShapeError: if ``x`` is not a floating array with at least 2 axes, or the window does
            not fit the padded input.
        GlassnetError: for a bad ``pool_size``, ``strides`` or ``padding``.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    geo = checked_geometry("max_pool2d", x, pool_size, strides, padding, ceil_mode)
    xp = get_xp(x)
    xpad = pad_spatial(x, geo.applied, -np.inf)
    kh, kw = geo.kernel
    out = window_view(xpad, 0, 0, geo).copy()
    argmax = xp.zeros(out.shape, dtype=np.uint8 if kh * kw <= 255 else np.int32)
    for k in range(1, kh * kw):
        cand = window_view(xpad, k // kw, k % kw, geo)
        better = cand > out  # strictly: an equal later value leaves the first maximum in place
        xp.copyto(argmax, k, where=better)
        xp.maximum(out, cand, out=out)
    return out, MaxPool2DCache(argmax, tuple(x.shape), geo)


def max_pool2d_backward(dout: Any, cache: MaxPool2DCache) -> Any:
    """Route each output gradient, whole, to the input position that won its window.

    Shapes:
        dout: (..., OH, OW) -> dx: (..., H, W).
    """
    geo = cache.geo
    xp = get_xp(dout)
    kh, kw = geo.kernel
    dxp = xp.zeros(padded_shape(cache.x_shape, geo.applied), dtype=dout.dtype)
    for k in range(kh * kw):
        # Overlapping windows make slices overlap, so accumulate (+=) offset by offset.
        window_view(dxp, k // kw, k % kw, geo)[...] += xp.where(cache.argmax == k, dout, 0)
    return crop_padding(dxp, cache.x_shape, geo.applied)
