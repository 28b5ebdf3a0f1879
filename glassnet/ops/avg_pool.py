"""Average pooling (windowed and global) on the last two axes of any ``(..., H, W)`` array.

Windows as in :mod:`glassnet.ops.windows`; the divisor of each output cell counts the window
positions that count (Keras' rule or PyTorch's ``count_include_pad``), computed once per
geometry.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from glassnet.arith.geometry import PaddingSpec
from glassnet.backend import get_xp
from glassnet.errors import ShapeError
from glassnet.ops.im2col import pad_spatial
from glassnet.ops.windows import (
    Geometry,
    checked_geometry,
    crop_padding,
    padded_shape,
    window_view,
)


@lru_cache(maxsize=256)
def _inverse_divisor(geo: Geometry, in_hw: tuple[int, int], incl: bool, dtype: str) -> Any:
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
    geo: Geometry


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
    geo = checked_geometry("avg_pool2d", x, pool_size, strides, padding, ceil_mode)
    xp = get_xp(x)
    xpad = pad_spatial(x, geo.applied, 0.0)
    kh, kw = geo.kernel
    out = window_view(xpad, 0, 0, geo).copy()
    for k in range(1, kh * kw):
        out += window_view(xpad, k // kw, k % kw, geo)
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
    dxp = xp.zeros(padded_shape(cache.x_shape, geo.applied), dtype=dout.dtype)
    for k in range(kh * kw):
        window_view(dxp, k // kw, k % kw, geo)[...] += share
    return crop_padding(dxp, cache.x_shape, geo.applied)


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
