"""im2col and its adjoint col2im: every receptive window of a CNHW map as one column, and back.

    cols[(c, u, v), (n, i, j)] = Xp[c, n, i·S_h + u·D_h, j·S_w + v·D_w]

With the compute layout CNHW, each kernel offset (u, v) is one strided slice of the padded
input of shape (C, N, OH, OW), so the columns of one offset form a contiguous block; the numba
kernels (``ops.kernels``) do the same copy one image plane at a time. ``col2im`` adds the
columns back (overlapping windows add up: the gradient of a shared input).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.arith.geometry import Pair, window_output_size
from glassnet.backend import get_xp
from glassnet.ops import kernels

Array = Any
Pads = tuple[Pair, Pair]


def _pad(x: Array, pads: Pads) -> Array:
    if pads == ((0, 0), (0, 0)):
        return x
    xp = get_xp(x)
    return xp.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))


def im2col(x: Array, kernel_hw: Pair, strides: Pair, pads: Pads, dilation: Pair = (1, 1)) -> Array:
    """Lay every receptive window of ``x`` out as a column.

    Args:
        x: input maps in the compute layout.
        kernel_hw: (KH, KW).
        strides: (S_h, S_w).
        pads: explicit padding ((top, bottom), (left, right)).
        dilation: (D_h, D_w).

    Returns:
        cols with cols[(c, u, v), (n, i, j)] = Xp[c, n, i·S_h + u·D_h, j·S_w + v·D_w].

    Shapes:
        x: (C, N, H, W) -> cols: (C·KH·KW, N·OH·OW)
    """
    return _im2col_padded(_pad(x, pads), kernel_hw, strides, dilation, 0, x.shape[1])


def _im2col_padded(
    xpad: Array, kernel_hw: Pair, strides: Pair, dilation: Pair, n0: int, n1: int,
    out_hw: Pair | None = None, ones_row: bool = False,
) -> Array:
    """:func:`im2col` of the batch items ``[n0, n1)`` of an already padded input.

    ``out_hw`` (OH, OW), when the caller has resolved it, saves recomputing it. ``ones_row``
    appends a row of ones (the bias's input: see :func:`conv2d_resolved`).

    Shapes:
        xpad: (C, N, Hp, Wp) -> cols: (C·KH·KW [+ 1], (n1 − n0)·OH·OW)
    """
    xp = get_xp(xpad)
    c, _, hp, wp = xpad.shape
    kh, kw = kernel_hw
    sh, sw = strides
    if out_hw is None:
        out_hw = (
            window_output_size(hp, kh, sh, (0, 0), dilation[0]),
            window_output_size(wp, kw, sw, (0, 0), dilation[1]),
        )
    oh, ow = out_hw
    rows = c * kh * kw
    flat = xp.empty((rows + ones_row, (n1 - n0) * oh * ow), dtype=xpad.dtype)
    if ones_row:
        flat[rows] = 1
    cols = flat[:rows].reshape(c, kh, kw, n1 - n0, oh, ow)  # a view: rows are contiguous
    if kernels.enabled(xpad):
        # The whole (contiguous) input and an offset, not a slice: the kernel stays vectorised.
        kernels.im2col(np.ascontiguousarray(xpad), sh, sw, dilation[0], dilation[1], n0, cols)
        return flat
    xs = xpad[:, n0:n1]
    for u in range(kh):
        r0 = u * dilation[0]
        for v in range(kw):
            c0 = v * dilation[1]
            # One strided slice per kernel offset: a contiguous (C, N, OH, OW) block copy.
            cols[:, u, v] = xs[
                :, :, r0 : r0 + sh * (oh - 1) + 1 : sh, c0 : c0 + sw * (ow - 1) + 1 : sw
            ]
    return flat


def col2im(
    cols: Array,
    x_shape: tuple[int, int, int, int],
    kernel_hw: Pair,
    strides: Pair,
    pads: Pads,
    dilation: Pair = (1, 1),
) -> Array:
    """Scatter-add columns back onto the input grid: the adjoint of :func:`im2col`.

    Overlapping windows add up, which is what the gradient of a shared input needs.

    Shapes:
        cols: (C·KH·KW, N·OH·OW) -> out: x_shape = (C, N, H, W)
    """
    xp = get_xp(cols)
    c, n, h, w = x_shape
    (pt, pb), (pl, pr) = pads
    dxp = xp.zeros((c, n, h + pt + pb, w + pl + pr), dtype=cols.dtype)
    _col2im_into(cols, dxp, kernel_hw, strides, dilation, 0)
    return dxp[:, :, pt : pt + h, pl : pl + w]


def _col2im_into(
    cols: Array, dxp: Array, kernel_hw: Pair, strides: Pair, dilation: Pair, n0: int
) -> None:
    """Add ``cols`` (the columns of batch items ``[n0, n0 + n)``) onto the zeroed padded grid.

    Shapes:
        cols: (C·KH·KW, n·OH·OW); dxp: (C, N, Hp, Wp), C-contiguous
    """
    c, _, hp, wp = dxp.shape
    kh, kw = kernel_hw
    oh = window_output_size(hp, kh, strides[0], (0, 0), dilation[0])
    ow = window_output_size(wp, kw, strides[1], (0, 0), dilation[1])
    cols6 = cols.reshape(c, kh, kw, -1, oh, ow)
    sh, sw = strides
    if kernels.enabled(cols, dxp):
        kernels.col2im(np.ascontiguousarray(cols6), sh, sw, dilation[0], dilation[1], n0, dxp)
        return
    ds = dxp[:, n0 : n0 + cols6.shape[3]]
    for u in range(kh):
        r0 = u * dilation[0]
        for v in range(kw):
            c0 = v * dilation[1]
            # Strided slice-add instead of np.add.at: within one (u, v) the targets are distinct.
            ds[:, :, r0 : r0 + sh * (oh - 1) + 1 : sh, c0 : c0 + sw * (ow - 1) + 1 : sw] += cols6[
                :, u, v
            ]
