"""A depthwise convolution computed directly, one channel plane at a time (no im2col).

A depthwise convolution has one input channel per group (groups == C, ``w`` of shape
``[KH, KW, 1, F]`` with F = C·M, M the depth multiplier): filter f reads input channel f // M
only. The grouped im2col path (:mod:`glassnet.accel.conv`) lays out KH·KW copies of the input
and then runs G tiny [M, KH·KW] · [KH·KW, N·OH·OW] products — nine multiply-adds per element it
copied, the rest call overhead and memory traffic. Here every output row is the sum of KH·KW
input rows, each scaled by one tap and shifted, added in place (a loop over the row that numba
vectorises). In the compute layout CNHW a channel's (N, H, W) block is contiguous, so a channel
is one contiguous plane in, one out.

* Padding is handled by bounds: a tap adds only the part of the row that falls on the input,
  so no padded copy of x (nor a padded dL/dx to crop) is made (measured against a padded copy:
  docs/performance.md, rules table).
* Threads: the input channels split into contiguous ranges (:mod:`glassnet.accel.parallel`),
  one nogil call each (:func:`glassnet.accel.parallel.run_kernel`). A thread owns its channels'
  planes of out, dL/dx, dL/dw and dL/db, so no partial sums are added across threads: the
  results are the same bit for bit whatever the thread count.
* dL/dw and dL/db sum each tap's products into a vector as long as an output row (vectorised
  adds, and each element sums only N·OH products), then add that vector up.

Results equal the reference (:mod:`glassnet.ops.conv`) to rounding (sums in another order);
``tests/test_accel_depthwise.py`` checks it over random geometries.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.accel import kernels, parallel, spin
from glassnet.ops.conv import ConvGeometry

Array = Any

AVAILABLE = kernels.AVAILABLE and spin.AVAILABLE


class DepthwiseCache(NamedTuple):
    """What :func:`depthwise_backward` needs from :func:`depthwise_forward`."""

    x: Array  # (C, N, H, W), C-contiguous: the input the forward read
    w: Array  # [KH, KW, 1, F], F = C·M
    taps: Array  # (F, KH, KW), C-contiguous: w with each filter's taps together
    geometry: ConvGeometry  # of the convolution that ran (cropped, if crop is set)
    has_bias: bool
    # Set by accel.conv.conv2d_resolved when it dropped dead taps (see FastConv2DCache.crop).
    crop: Any = None


def usable(x: Array, w: Array, groups: int) -> bool:
    """Whether :func:`depthwise_forward` runs this convolution: the rule, from shapes alone.

    A grouped convolution with one input channel per group (groups == C > 1), NumPy arrays of
    one floating dtype, numba switched on. An ungrouped one (C = 1 included) keeps its GEMM,
    which is one product with no per-group overhead.
    """
    return (
        AVAILABLE
        and groups > 1
        and groups == x.shape[0]
        and w.shape[2] == 1
        and kernels.enabled(x, w)
        and x.dtype == w.dtype
        and x.dtype in (np.float32, np.float64)
    )


def _ranges(c: int, work: int) -> list[tuple[int, int]]:
    """Contiguous ranges of input channels, one per thread where the work pays for a split."""
    return parallel.chunks(c, work)


def depthwise_forward(
    x: Array, w: Array, b: Array | None, geometry: ConvGeometry
) -> tuple[Array, DepthwiseCache]:
    """Convolve each channel plane with its own filters, directly (no im2col).

    out[f, n, i, j] = Σ_{u, v} x[f // M, n, i·S_h + u·D_h − top, j·S_w + v·D_w − left] ·
    w[u, v, 0, f] + b[f], the input read as 0 outside its bounds.

    Args:
        x: input maps (checked by the caller: :func:`usable`).
        w: the depthwise kernel.
        b: bias or None.
        geometry: the resolved geometry (:func:`glassnet.ops.conv.conv_geometry`).

    Returns:
        (out, cache for :func:`depthwise_backward`).

    Shapes:
        x: (C, N, H, W); w: (KH, KW, 1, F = C·M); b: (F,) -> out: (F, N, OH, OW)
    """
    x = np.ascontiguousarray(x)
    c, n = x.shape[:2]
    kh, kw, _, f = w.shape
    (oh, ow), ((top, _), (left, _)), (sh, sw), (dil_h, dil_w) = geometry
    taps = np.ascontiguousarray(w[:, :, 0, :].transpose(2, 0, 1))
    bias = np.zeros(0, x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    out = np.empty((f, n, oh, ow), dtype=x.dtype)
    ranges = _ranges(c, (kh * kw + 1) * out.size)
    parallel.run_kernel(_forward_planes, [
        (x, taps, bias, out, f // c, sh, sw, dil_h, dil_w, top, left, lo, hi)
        for lo, hi in ranges
    ])
    return out, DepthwiseCache(x, w, taps, geometry, b is not None)


def depthwise_backward(
    dout: Array, cache: DepthwiseCache, *, need_dx: bool = True
) -> tuple[Array | None, Array, Array | None]:
    """Gradients of :func:`depthwise_forward` with respect to x, w and b.

    dL/dx[c, n, r, s] = Σ over the filters f of c and the (i, j, u, v) that read (r, s) of
    dout[f, n, i, j]·w[u, v, 0, f]; dL/dw[u, v, 0, f] = Σ_{n, i, j} dout[f, n, i, j] · (the
    input tap (u, v) read for (i, j)); dL/db[f] = Σ_{n, i, j} dout[f, n, i, j].

    Args:
        dout: dL/d(out).
        cache: from the forward pass.
        need_dx: False skips dL/dx.

    Returns:
        (dx, dw, db); dx None when not needed, db None when the forward had no bias.

    Shapes:
        dout: (F, N, OH, OW) -> dx: (C, N, H, W), dw: (KH, KW, 1, F), db: (F,)
    """
    x, taps = cache.x, cache.taps
    dout = np.ascontiguousarray(dout, dtype=x.dtype)
    c = x.shape[0]
    f, kh, kw = taps.shape
    (_, ((top, _), (left, _)), (sh, sw), (dil_h, dil_w)) = cache.geometry
    dx = np.empty(x.shape if need_dx else (c, 0, 0, 0), dtype=x.dtype)
    dtaps = np.empty((f, kh, kw), dtype=x.dtype)
    db = np.empty(f, dtype=x.dtype)
    ranges = _ranges(c, (2 * kh * kw + 1) * dout.size)
    parallel.run_kernel(_backward_planes, [
        (x, taps, dout, dx, dtaps, db, f // c, sh, sw, dil_h, dil_w, top, left, lo, hi)
        for lo, hi in ranges
    ])
    dw = np.ascontiguousarray(dtaps.transpose(1, 2, 0)).reshape(kh, kw, 1, f)
    return (dx if need_dx else None), dw, (db if cache.has_bias else None)


if AVAILABLE:  # pragma: no branch
    from numba import njit

    @njit(cache=True, nogil=True)
    def _cols(off, sw, ow, wd):  # type: ignore[no-untyped-def]
        """The output columns [lo, hi) whose input column j·SW + off lies in [0, wd)."""
        lo = max(0, (sw - 1 - off) // sw)  # the first j with j·SW + off >= 0 (floor division)
        hi = min(ow, (wd - 1 - off) // sw + 1)  # past the last j with j·SW + off <= wd − 1
        return lo, hi

    @njit(cache=True, nogil=True)
    def _forward_planes(  # type: ignore[no-untyped-def]
        x, taps, bias, out, m, sh, sw, dil_h, dil_w, top, left, c0, c1,
        sync, started, done, post, seen,
    ):
        """The output planes of input channels c0 … c1 − 1 (filters c·M … c·M + M − 1).

        Each output row starts at the bias and gets, per tap (u, v) whose input row exists,
        tap × the part of that input row its columns read.

        Shapes:
            x: (C, N, H, W); taps: (F, KH, KW); bias: (F,) or (0,); out: (F, N, OH, OW)
        """
        spin.signal(sync, started)
        n, h, wd = x.shape[1], x.shape[2], x.shape[3]
        kh, kw = taps.shape[1], taps.shape[2]
        oh, ow = out.shape[2], out.shape[3]
        zero = out.dtype.type(0)
        for c in range(c0, c1):
            for f in range(c * m, c * m + m):
                bf = bias[f] if bias.shape[0] > 0 else zero
                for b in range(n):
                    plane, dst = x[c, b], out[f, b]
                    for i in range(oh):
                        row = dst[i]
                        for j in range(ow):
                            row[j] = bf
                        for u in range(kh):
                            r = i * sh + u * dil_h - top
                            if r < 0 or r >= h:
                                continue
                            src = plane[r]
                            for v in range(kw):
                                t = taps[f, u, v]
                                off = v * dil_w - left
                                lo, hi = _cols(off, sw, ow, wd)
                                if sw == 1:  # plain j + off: numba vectorises the row
                                    for j in range(lo, hi):
                                        row[j] += t * src[j + off]
                                else:
                                    for j in range(lo, hi):
                                        row[j] += t * src[j * sw + off]
        spin.finish(sync, done, post, seen)

    @njit(cache=True, nogil=True)
    def _backward_planes(  # type: ignore[no-untyped-def]
        x, taps, dout, dx, dtaps, db, m, sh, sw, dil_h, dil_w, top, left, c0, c1,
        sync, started, done, post, seen,
    ):
        """dL/dx (if ``dx`` has a batch axis), dL/dw and dL/db of input channels c0 … c1 − 1.

        dL/dx: each dout row, scaled by a tap, is added into the input row that tap read (the
        forward's adds, transposed). dL/dw[f, u, v]: the products dout[f, n, i, j] · input
        summed per column j into ``acc`` (vectorised), then over j; dL/db likewise.

        Shapes:
            x: (C, N, H, W); taps: (F, KH, KW); dout: (F, N, OH, OW);
            dx: (C, N, H, W) or (C, 0, 0, 0); dtaps: (F, KH, KW); db: (F,)
        """
        spin.signal(sync, started)
        n, h, wd = x.shape[1], x.shape[2], x.shape[3]
        kh, kw = taps.shape[1], taps.shape[2]
        oh, ow = dout.shape[2], dout.shape[3]
        zero = x.dtype.type(0)
        acc = np.empty((kh * kw + 1, ow), dtype=x.dtype)  # per tap, then the bias' row
        for c in range(c0, c1):
            if dx.shape[1] > 0:
                for b in range(n):
                    plane = dx[c, b]
                    for r in range(h):
                        for s in range(wd):
                            plane[r, s] = zero
                    for f in range(c * m, c * m + m):
                        grad = dout[f, b]
                        for i in range(oh):
                            drow = grad[i]
                            for u in range(kh):
                                r = i * sh + u * dil_h - top
                                if r < 0 or r >= h:
                                    continue
                                dst = plane[r]
                                for v in range(kw):
                                    t = taps[f, u, v]
                                    off = v * dil_w - left
                                    lo, hi = _cols(off, sw, ow, wd)
                                    if sw == 1:
                                        for j in range(lo, hi):
                                            dst[j + off] += t * drow[j]
                                    else:
                                        for j in range(lo, hi):
                                            dst[j * sw + off] += t * drow[j]
            for f in range(c * m, c * m + m):
                acc[:, :] = zero
                for b in range(n):
                    plane, grad = x[c, b], dout[f, b]
                    for i in range(oh):
                        drow = grad[i]
                        brow = acc[kh * kw]
                        for j in range(ow):
                            brow[j] += drow[j]
                        for u in range(kh):
                            r = i * sh + u * dil_h - top
                            if r < 0 or r >= h:
                                continue
                            src = plane[r]
                            for v in range(kw):
                                arow = acc[u * kw + v]
                                off = v * dil_w - left
                                lo, hi = _cols(off, sw, ow, wd)
                                if sw == 1:
                                    for j in range(lo, hi):
                                        arow[j] += drow[j] * src[j + off]
                                else:
                                    for j in range(lo, hi):
                                        arow[j] += drow[j] * src[j * sw + off]
                for u in range(kh):
                    for v in range(kw):
                        dtaps[f, u, v] = acc[u * kw + v].sum()
                db[f] = acc[kh * kw].sum()
        spin.finish(sync, done, post, seen)
