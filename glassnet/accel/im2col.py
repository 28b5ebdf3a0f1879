"""Fast im2col / col2im for batch chunks: numba kernels one image plane at a time.

Drop-ins for :func:`glassnet.ops.im2col.im2col` / :func:`~glassnet.ops.im2col.col2im` that work
on a batch chunk ``[n0, n1)`` of the unpadded input (padding read as zeros, never built) and
write into given buffers, so each
thread of :mod:`glassnet.accel.parallel` fills its own columns. Without numba (or switched off)
they fall back to the reference's strided slice copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.accel import kernels
from glassnet.arith.geometry import Pair
from glassnet.backend import get_xp
from glassnet.ops.im2col import pad_spatial, window_slice

Array = Any
Pads = tuple[Pair, Pair]


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


def im2col_cols(
    x: Array, pads: Pads, kernel_hw: Pair, strides: Pair, dilation: Pair, n0: int, n1: int,
    out_hw: Pair, ones_row: bool = False, window_major: bool = False,
) -> Array:
    """The im2col columns of batch items ``[n0, n1)`` of ``x`` under ``pads``.

    ``ones_row`` appends a row of ones (the bias's input: see :func:`glassnet.accel.conv`);
    ``window_major`` orders the rows (kh, kw, c) instead of (c, kh, kw) (:func:`cols_view`).
    The numba kernel reads ``x`` itself and writes zeros for the padding; without it the
    padded input is built and sliced.

    Shapes:
        x: (C, N, H, W) -> cols: (C·KH·KW [+ 1], (n1 − n0)·OH·OW)
    """
    xp = get_xp(x)
    c = x.shape[0]
    kh, kw = kernel_hw
    oh, ow = out_hw
    rows = c * kh * kw
    flat = xp.empty((rows + ones_row, (n1 - n0) * oh * ow), dtype=x.dtype)
    if ones_row:
        flat[rows] = 1
    if kernels.enabled(x):
        # The whole (contiguous) input and an offset, not a slice: the kernel stays vectorised.
        kernels.im2col(np.ascontiguousarray(x), *strides, *dilation, pads[0][0], pads[1][0], n0,
                       kh, kw, oh, ow, window_major, flat[:rows])
        return flat
    cols = cols_view(flat[:rows], c, kernel_hw, out_hw, window_major)  # a view: no copy
    xs = pad_spatial(x[:, n0:n1], pads)
    for u in range(kh):
        for v in range(kw):
            cols[:, u, v] = xs[(..., *window_slice(u, v, strides, dilation, out_hw))]
    return flat


def col2im_into(
    cols: Array, dx: Array, pads: Pads, kernel_hw: Pair, strides: Pair, dilation: Pair,
    n0: int, out_hw: Pair, window_major: bool = False,
) -> None:
    """Add ``cols`` (the columns of batch items ``[n0, n0 + n)``) onto the zeroed gradient.

    Values that fall in the padding are dropped. ``window_major``: the rows of ``cols`` are in
    (kh, kw, c) order (:func:`cols_view`).

    Shapes:
        cols: (C·KH·KW, n·OH·OW); dx: (C, N, H, W), C-contiguous
    """
    c, _, h, w = dx.shape
    kh, kw = kernel_hw
    (pt, pb), (pl, pr) = pads
    cols = get_xp(cols).ascontiguousarray(cols)
    if kernels.enabled(cols, dx):
        kernels.col2im(cols, kh, kw, *out_hw, window_major, *strides, *dilation, pt, pl, n0, dx)
        return
    cols6 = cols_view(cols, c, kernel_hw, out_hw, window_major)
    n = cols6.shape[3]
    dxp = get_xp(dx).zeros((c, n, h + pt + pb, w + pl + pr), dtype=dx.dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[(..., *window_slice(u, v, strides, dilation, out_hw))] += cols6[:, u, v]
    dx[:, n0 : n0 + n] += dxp[:, :, pt : pt + h, pl : pl + w]
