"""The fast convolution's backward pass: dL/dx, dL/dw and dL/db from the forward's cache.

The pair of :func:`glassnet.accel.conv.conv2d_forward` (whose cache says which path ran): a
dropped-tap crop is undone (its taps' and skipped inputs' gradients are zero), a depthwise
forward goes to :mod:`glassnet.accel.depthwise`, an ungrouped one with the chunk kernels runs
each batch chunk as one nogil call (:mod:`glassnet.accel.conv_chunks`), and anything else the
NumPy closures per chunk.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from glassnet.accel import blas, conv_chunks, conv_pairs, depthwise, gemm, parallel, small_batch
from glassnet.accel.conv import ConvCache, FastConv2DCache, batch_slice, bias_folded
from glassnet.accel.im2col import col2im_into
from glassnet.backend import get_xp

Array = Any


def conv2d_backward(
    dout: Array, cache: ConvCache, *, need_dx: bool = True
) -> tuple[Array | None, Array, Array | None]:
    """Gradients of :func:`conv2d_forward` with respect to x, w and b.

    Each batch chunk of the forward pass contributes its partial dL/dw (added in chunk order)
    and writes its own slice of dL/dx.

    Args:
        dout: dL/d(out).
        cache: from the forward pass.
        need_dx: False skips dL/dx (a network's first layer: the input needs no gradient, and
            col2im is a fifth of a training step).

    Returns:
        (dx, dw, db); db is None when the forward had no bias, dx None when not needed.

    Shapes:
        dout: (F, N, OH, OW) -> dx: (C, N, H, W), dw: (KH, KW, C/G, F), db: (F,)
    """
    if cache.crop is not None:  # a dropped tap's gradient, and a skipped input's, is zero
        live, (kh, kw), (h, wd) = cache.crop
        (u0, u1), (v0, v1), (r0, c0), (hk, wk) = live.rows, live.cols, live.start, live.size
        dx_live, dw_live, db = conv2d_backward(dout, cache._replace(crop=None), need_dx=need_dx)
        xp = get_xp(dw_live)
        dw = xp.zeros((kh, kw, *dw_live.shape[2:]), dtype=dw_live.dtype)
        dw[u0:u1, v0:v1] = dw_live
        dx = dx_live
        if dx_live is not None and (hk, wk) != (h, wd):
            dx = xp.zeros((*dx_live.shape[:2], h, wd), dtype=dx_live.dtype)
            dx[:, :, r0 : r0 + hk, c0 : c0 + wk] = dx_live
        return dx, dw, db
    if isinstance(cache, depthwise.DepthwiseCache):
        return depthwise.depthwise_backward(dout, cache, need_dx=need_dx)
    if isinstance(cache, conv_pairs.PairsCache):
        return conv_pairs.backward(dout, cache, need_dx=need_dx)
    xp = get_xp(dout)
    kh, kw, cg, f = cache.w.shape
    groups = cache.groups
    c, n, h, wd = cache.x_shape
    (pt, pb), (pl, pr) = cache.pads
    dout = xp.ascontiguousarray(dout)
    wm = cache.wm
    fold = bias_folded(cache.has_bias, groups) and not cache.pointwise
    if groups == 1 and not cache.pointwise and small_batch.usable(dout, wm, *cache.cols):
        return _backward_chunks(dout, cache, need_dx, fold)
    dxp = xp.zeros((c, n, h + pt + pb, wd + pl + pr), dtype=dout.dtype) if need_dx else None
    index = {r: k for k, r in enumerate(cache.ranges)}

    def part(lo: int, hi: int) -> tuple[Array, Array | None]:
        cols, dmat = cache.cols[index[lo, hi]], batch_slice(dout, lo, hi)
        p = dmat.shape[1]
        db = None
        if groups == 1:
            # (cols·dOᵀ): [KH·KW·C (+ 1), F], dL/dw in the kernel's layout (+ dL/db as last row)
            dwk = gemm.matmul_nt(dmat, cols).T
            if fold:
                dwk, db = dwk[:-1], dwk[-1]
        else:
            dg = dmat.reshape(groups, f // groups, p)
            dwk = xp.matmul(dg, cols.reshape(groups, -1, p).transpose(0, 2, 1)).reshape(f, -1)
        if dxp is not None and cache.pointwise:  # dL/dx = W·dO, straight into its slice
            gemm.matmul_into(wm, dmat, batch_slice(dxp, lo, hi))
        elif dxp is not None:
            if groups == 1:
                dcols = gemm.matmul_into(wm, dmat, xp.empty((wm.shape[0], p), dmat.dtype))
            else:
                dg = dmat.reshape(groups, f // groups, p)
                dcols = xp.matmul(wm.transpose(0, 2, 1), dg).reshape(-1, p)
            col2im_into(dcols, dxp, (kh, kw), cache.strides, cache.dilation, lo,
                        window_major=groups == 1)
        if not fold and cache.has_bias:
            db = dmat.sum(axis=1)
        return dwk, db

    parts = parallel.run(part, cache.ranges)
    dwk, db = parts[0]
    for more_dw, more_db in parts[1:]:
        dwk = dwk + more_dw
        db = None if db is None else db + more_db
    if groups == 1:
        dw = xp.ascontiguousarray(dwk).reshape(kh, kw, cg, f)
    else:
        dw = xp.ascontiguousarray(dwk.reshape(f, cg, kh, kw).transpose(2, 3, 1, 0))
    dx = None if dxp is None else dxp[:, :, pt : pt + h, pl : pl + wd]
    return dx, dw, (xp.ascontiguousarray(db) if cache.has_bias else None)


_SCRATCH = threading.local()


def _scratch(slot: int, shape: tuple[int, int], dtype: Any) -> Array:
    """A C-contiguous work array of ``shape``, reused across calls (per thread, slot, dtype).

    For the backward's dcols, which live only inside one call: a fresh multi-MB array was new
    pages from the OS on every call (resnet18 b128: ≈ 6,500 page faults per training step,
    all in the conv backward), an array kept across calls is already mapped. Holds the
    largest size asked for (the peak memory of a step already includes it).
    """
    pool = getattr(_SCRATCH, "pool", None)
    if pool is None:
        pool = _SCRATCH.pool = {}
    size = shape[0] * shape[1]
    key = (slot, np.dtype(dtype))
    buf = pool.get(key)
    if buf is None or buf.size < size:
        buf = pool[key] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def _backward_chunks(
    dout: Array, cache: FastConv2DCache, need_dx: bool, fold: bool
) -> tuple[Array | None, Array, Array | None]:
    """:func:`conv2d_backward` with each chunk in one nogil call (accel.conv_chunks).

    Each thread computes its share of dL/dw's ROWS over the whole batch (nothing to add up
    after the join: conv_chunks.backward_chunk). Each chunk zeroes its images of the padded
    dL/dx buffer, adds its col2im there and copies their interior into a contiguous dL/dx (no
    zeroing of the whole buffer on the calling thread first, no strided view for the next op
    to copy).
    """
    kh, kw, cg, f = cache.w.shape
    c, n, h, wd = cache.x_shape
    (pt, pb), (pl, pr) = cache.pads
    (oh, ow) = dout.shape[2:]
    wk, k = cache.wm, cg * kh * kw  # groups 1: the kernel as [KH·KW·C, F], a view
    dout2, gemm_at = dout.reshape(f, -1), blas.gemm_address(dout.dtype)
    if need_dx:
        dx = np.empty((c, n, h, wd), dtype=dout.dtype)
        dxp = dx if cache.pads == ((0, 0), (0, 0)) else np.empty(
            (c, n, h + pt + pb, wd + pl + pr), dtype=dout.dtype)
    else:
        dx = dxp = np.empty((c, 0, 1, 1), dtype=dout.dtype)
    flats = tuple(cache.cols)
    k1 = flats[0].shape[0]
    col0s = np.array([lo * oh * ow for lo, _ in cache.ranges], dtype=np.int64)
    rblocks = np.array([conv_chunks.reduce_block(f, k1, fl.shape[1]) for fl in flats],
                       dtype=np.int64)
    dwt = np.empty((k1, f), dtype=dout.dtype)  # dL/dw's rows split over the threads
    parts = len(cache.ranges)
    args = []
    for t, ((lo, hi), flat) in enumerate(zip(cache.ranges, flats, strict=True)):
        dcols = _scratch(t, (k, flat.shape[1] if need_dx else 0), dout.dtype)
        args.append((
            dout2, lo * oh * ow, flats, col0s, rblocks, k1 * t // parts, k1 * (t + 1) // parts,
            wk, dwt, dcols, dxp, pt, pl, dx, kh, kw, oh, ow, *cache.strides, *cache.dilation,
            lo, hi, gemm.BLOCK, gemm_at,
        ))
    parallel.run_kernel(conv_chunks.backward_chunk, args)
    # Rows (kh, kw, c): dL/dw is already [KH, KW, C, F]; with a bias, its row of ones gave dL/db.
    dw = dwt[:k].reshape(kh, kw, cg, f)
    db = dwt[k].copy() if fold else None  # groups 1: fold == has_bias
    return (dx if need_dx else None), dw, db
