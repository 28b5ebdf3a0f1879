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


def cols_view(block: Array, channels: int, kernel_hw: Pair, out_hw: Pair,
              window_major: bool) -> Array:
    """The (C, KH, KW, n, OH, OW) view of a contiguous [C·KH·KW, n·OH·OW] column block.

    ``window_major``: the block's rows are in (kh, kw, c) order — the kernel's own memory
    order, so the GEMM reads ``[KH, KW, C, F]`` as its ``[KH·KW·C, F]`` operand with no copy —
    else in (c, kh, kw) order (the reference's, needed where channels form groups).
    """
    kh, kw = kernel_hw
    if window_major:
        return block.reshape(kh, kw, channels, -1, *out_hw).transpose(2, 0, 1, 3, 4, 5)
    return block.reshape(channels, kh, kw, -1, *out_hw)


def im2col_padded(
    xpad: Array, kernel_hw: Pair, strides: Pair, dilation: Pair, n0: int, n1: int,
    out_hw: Pair, ones_row: bool = False, window_major: bool = False,
) -> Array:
    """The im2col columns of batch items ``[n0, n1)`` of an already padded input.

    ``ones_row`` appends a row of ones (the bias's input: see :func:`glassnet.accel.conv`);
    ``window_major`` orders the rows (kh, kw, c) instead of (c, kh, kw) (:func:`cols_view`).

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
    if kernels.enabled(xpad):
        # The whole (contiguous) input and an offset, not a slice: the kernel stays vectorised.
        kernels.im2col(np.ascontiguousarray(xpad), *strides, *dilation, n0, kh, kw, oh, ow,
                       window_major, flat[:rows])
        return flat
    cols = cols_view(flat[:rows], c, kernel_hw, out_hw, window_major)  # a view: no copy
    xs = xpad[:, n0:n1]
    for u in range(kh):
        for v in range(kw):
            cols[:, u, v] = xs[(..., *window_slice(u, v, strides, dilation, out_hw))]
    return flat


def col2im_into(
    cols: Array, dxp: Array, kernel_hw: Pair, strides: Pair, dilation: Pair, n0: int,
    window_major: bool = False,
) -> None:
    """Add ``cols`` (the columns of batch items ``[n0, n0 + n)``) onto the zeroed padded grid.

    ``window_major``: the rows of ``cols`` are in (kh, kw, c) order (:func:`cols_view`).

    Shapes:
        cols: (C·KH·KW, n·OH·OW); dxp: (C, N, Hp, Wp), C-contiguous
    """
    c, _, hp, wp = dxp.shape
    kh, kw = kernel_hw
    oh = window_output_size(hp, kh, strides[0], (0, 0), dilation[0])
    ow = window_output_size(wp, kw, strides[1], (0, 0), dilation[1])
    cols = get_xp(cols).ascontiguousarray(cols)
    if kernels.enabled(cols, dxp):
        kernels.col2im(cols, kh, kw, oh, ow, window_major, *strides, *dilation, n0, dxp)
        return
    cols6 = cols_view(cols, c, kernel_hw, (oh, ow), window_major)
    ds = dxp[:, n0 : n0 + cols6.shape[3]]
    for u in range(kh):
        for v in range(kw):
            ds[(..., *window_slice(u, v, strides, dilation, (oh, ow)))] += cols6[:, u, v]
