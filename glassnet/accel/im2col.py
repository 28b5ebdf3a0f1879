"""Fast im2col / col2im for batch chunks: numba kernels one image plane at a time.

Drop-ins for :func:`glassnet.ops.im2col.im2col` / :func:`~glassnet.ops.im2col.col2im` that work
on a batch chunk ``[n0, n1)`` of an already padded input and write into given buffers, so each
thread of :mod:`glassnet.accel.parallel` fills its own columns. Without numba (or switched off)
they fall back to the reference's strided slice copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.accel import kernels
from glassnet.arith.geometry import Pair, window_output_size
from glassnet.backend import get_xp
from glassnet.ops.im2col import window_slice

Array = Any


def im2col_padded(
    xpad: Array, kernel_hw: Pair, strides: Pair, dilation: Pair, n0: int, n1: int,
    out_hw: Pair, ones_row: bool = False,
) -> Array:
    """The im2col columns of batch items ``[n0, n1)`` of an already padded input.

    ``ones_row`` appends a row of ones (the bias's input: see :func:`glassnet.accel.conv`).

    Shapes:
        xpad: (C, N, Hp, Wp) -> cols: (C·KH·KW [+ 1], (n1 − n0)·OH·OW)
    """
    xp = get_xp(xpad)
    c = xpad.shape[0]
    kh, kw = kernel_hw
    oh, ow = out_hw
    rows = c * kh * kw
    flat = xp.empty((rows + ones_row, (n1 - n0) * oh * ow), dtype=xpad.dtype)
    if ones_row:
        flat[rows] = 1
    cols = flat[:rows].reshape(c, kh, kw, n1 - n0, oh, ow)  # a view: rows are contiguous
    if kernels.enabled(xpad):
        # The whole (contiguous) input and an offset, not a slice: the kernel stays vectorised.
        kernels.im2col(np.ascontiguousarray(xpad), *strides, *dilation, n0, cols)
        return flat
    xs = xpad[:, n0:n1]
    for u in range(kh):
        for v in range(kw):
            cols[:, u, v] = xs[(..., *window_slice(u, v, strides, dilation, out_hw))]
    return flat


def col2im_into(
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
    if kernels.enabled(cols, dxp):
        kernels.col2im(np.ascontiguousarray(cols6), *strides, *dilation, n0, dxp)
        return
    ds = dxp[:, n0 : n0 + cols6.shape[3]]
    for u in range(kh):
        for v in range(kw):
            ds[(..., *window_slice(u, v, strides, dilation, (oh, ow)))] += cols6[:, u, v]
