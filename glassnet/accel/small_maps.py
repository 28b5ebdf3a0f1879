"""Batch-1 kernels for small maps, channel-last inside: a depthwise convolution, a max-pool.

At batch 1 the maps of a small network are small (MobileNetV2 at 32×32 ends on 2×2 and 1×1
maps of 576–960 channels): the multiply-adds of a depthwise layer are a few tens of thousands,
and the batch path (:mod:`glassnet.accel.depthwise`: a zero-padded phase-plane copy per
channel, an output grid copied out, then the folded BatchNorm and ReLU6 as four NumPy passes)
spent 60–100 µs per layer around them. Here one kernel call per thread reads the input where
it is — a tap that falls in the padding is skipped by its bounds, not multiplied by a zero —
and applies the epilogue (bias, or folded BatchNorm scale and shift, then the clip) to each
output cell while it is in cache::

    out[f, n, i, j] = clip(scale[f] · Σ_{u, v} x[f // M, n, i·S_h + u·D_h − top,
                                               j·S_w + v·D_w − left] · w[u, v, 0, f]
                           + shift[f])

the sum over the taps that land inside the input, in (u, v) order. The max-pool is the same
loop with a maximum (NaN wins, as ``np.maximum``'s in :func:`glassnet.ops.pool.max_pool2d_forward`)
and no padding copy either (the ``-inf`` padding never wins, so it is skipped): GoogLeNet's
3×3 stride-1 pools on 4×4 … 1×1 maps cost 70–120 µs each through the padded batch path.

Inside, a thread copies its channels channel-last, so each (output cell, tap) pair is one
contiguous run of C values, vectorised: a plane per channel gives runs of OW ≤ 16 values on
these maps, each with its own loop overhead. The channels are split over the threads
(:func:`glassnet.accel.parallel.chunks`); each thread owns its channels' output, so the result
is the same bit for bit whatever the thread count. The depthwise sums run in another order than
the reference's (:func:`glassnet.ops.conv.conv2d_forward`): equal to rounding; the pool's
maxima are exact.

:func:`pays` holds the rule (output positions, measured: docs/performance.md, rules table).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.accel import kernels, parallel, spin
from glassnet.accel.epilogue import Epilogue
from glassnet.ops.conv import ConvGeometry
from glassnet.ops.windows import Geometry

Array = Any

AVAILABLE = kernels.AVAILABLE and spin.AVAILABLE
# Output positions per image up to which these kernels beat the batch paths: at 16×16 and
# below they won on every shape measured; at 28×28 they tied, at 56×56 and 112×112 the plane
# kernels (long vectorised runs per channel) won (docs/performance.md, rules table).
MAX_POSITIONS = 256

if AVAILABLE:  # pragma: no branch
    from numba import njit

    @njit(cache=True, nogil=True)
    def _channel_last(x, n, c0, xt):  # type: ignore[no-untyped-def]
        """xt[r, q, c] = x[c0 + c, n, r, q].

        Shapes:
            x: (C, N, H, W); xt: (H, W, c1 − c0)
        """
        for c in range(xt.shape[2]):
            plane = x[c0 + c, n]
            for r in range(xt.shape[0]):
                for q in range(xt.shape[1]):
                    xt[r, q, c] = plane[r, q]

    @njit(cache=True, nogil=True)
    def _channel_first(ot, n, c0, out):  # type: ignore[no-untyped-def]
        """out[c0 + c, n, i, j] = ot[i, j, c].

        Shapes:
            ot: (OH, OW, c1 − c0); out: (C, N, OH, OW)
        """
        for c in range(ot.shape[2]):
            plane = out[c0 + c, n]
            for i in range(ot.shape[0]):
                for j in range(ot.shape[1]):
                    plane[i, j] = ot[i, j, c]

    @njit(cache=True, nogil=True)
    def depthwise_kernel(  # type: ignore[no-untyped-def]
        x, taps, scale, shift, clip, cap, out, sh, sw, dil_h, dil_w, top, left, c0, c1,
        sync, started, done, post, seen,
    ):
        """Output planes of the channels [c0, c1) (module docstring).

        Shapes:
            x: (C, N, H, W); taps: (KH, KW, C); scale, shift: (C,) or (0,);
            out: (C, N, OH, OW)
        """
        spin.signal(sync, started)
        _, nn, oh, ow = out.shape
        h, wd = x.shape[2], x.shape[3]
        kh, kw = taps.shape[0], taps.shape[1]
        nc = c1 - c0
        dt = out.dtype.type
        zero = dt(0)
        a = np.ones(nc, dtype=out.dtype) if scale.size == 0 else scale[c0:c1]
        s = np.zeros(nc, dtype=out.dtype) if shift.size == 0 else shift[c0:c1]
        xt = np.empty((h, wd, nc), dtype=x.dtype)
        ot = np.empty((oh, ow, nc), dtype=out.dtype)
        for n in range(nn):
            _channel_last(x, n, c0, xt)
            for i in range(oh):
                for j in range(ow):
                    acc = ot[i, j]
                    for c in range(nc):
                        acc[c] = zero
                    for u in range(kh):
                        r = i * sh + u * dil_h - top
                        if r < 0 or r >= h:
                            continue
                        for v in range(kw):
                            q = j * sw + v * dil_w - left
                            if q < 0 or q >= wd:
                                continue
                            src, wt = xt[r, q], taps[u, v, c0:c1]
                            for c in range(nc):
                                acc[c] += wt[c] * src[c]
                    for c in range(nc):
                        z = acc[c] * a[c] + s[c] if scale.size else acc[c] + s[c]
                        if clip:  # comparisons false for NaN: it stays NaN, as in finish()
                            z = zero if z < zero else z
                            z = cap if z > cap else z
                        acc[c] = z
            _channel_first(ot, n, c0, out)
        spin.finish(sync, done, post, seen)

    @njit(cache=True, nogil=True)
    def max_pool_kernel(  # type: ignore[no-untyped-def]
        x, out, kh, kw, sh, sw, top, left, relu, c0, c1, sync, started, done, post, seen,
    ):
        """Max-pooled planes of the channels [c0, c1), then max(·, 0) if ``relu``.

        Shapes:
            x: (C, N, H, W); out: (C, N, OH, OW)
        """
        spin.signal(sync, started)
        _, nn, oh, ow = out.shape
        h, wd = x.shape[2], x.shape[3]
        nc = c1 - c0
        zero, low = out.dtype.type(0), out.dtype.type(-np.inf)
        xt = np.empty((h, wd, nc), dtype=x.dtype)
        ot = np.empty((oh, ow, nc), dtype=out.dtype)
        for n in range(nn):
            _channel_last(x, n, c0, xt)
            for i in range(oh):
                for j in range(ow):
                    best = ot[i, j]
                    for c in range(nc):
                        best[c] = low  # the padding's value: what an empty window gives
                    for u in range(kh):
                        r = i * sh + u - top
                        if r < 0 or r >= h:
                            continue
                        for v in range(kw):
                            q = j * sw + v - left
                            if q < 0 or q >= wd:
                                continue
                            src = xt[r, q]
                            for c in range(nc):
                                val = src[c]
                                # np.maximum: the larger, and NaN wherever either is NaN.
                                best[c] = val if (val > best[c] or val != val) else best[c]
                    if relu:
                        for c in range(nc):
                            best[c] = zero if best[c] < zero else best[c]
            _channel_first(ot, n, c0, out)
        spin.finish(sync, done, post, seen)


def pays(n: int, out_hw: tuple[int, int]) -> bool:
    """Whether these kernels beat the batch paths for ``n`` images of ``out_hw`` outputs.

    One image (a batch splits over threads by images on the batch paths) with at most
    :data:`MAX_POSITIONS` output positions.
    """
    return n == 1 and out_hw[0] * out_hw[1] <= MAX_POSITIONS


def usable(x: Array, w: Array, groups: int) -> bool:
    """Whether :func:`depthwise_values` can run this convolution: depthwise, multiplier 1.

    One input channel per group and one filter per channel, NumPy arrays of one float dtype,
    numba switched on.
    """
    return (
        AVAILABLE and groups > 1 and groups == x.shape[0] == w.shape[3] and w.shape[2] == 1
        and kernels.enabled(x, w) and x.dtype == w.dtype and x.dtype in (np.float32, np.float64)
    )


def depthwise_values(
    x: Array, w: Array, b: Array | None, geometry: ConvGeometry,
    epilogue: Epilogue | None = None,
) -> Array:
    """A depthwise convolution's output with its bias or epilogue applied (:func:`usable`).

    Args:
        x: input maps.
        w: the depthwise kernel (F = C·M filters, M per input channel).
        b: bias or None (None when ``epilogue`` is given: its shift holds the bias).
        geometry: the resolved geometry (:func:`glassnet.ops.conv.conv_geometry`).
        epilogue: a folded BatchNorm and clip (:class:`glassnet.accel.epilogue.Epilogue`).

    Raises:
        ValueError: for both a bias and an epilogue.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, 1, F); b: (F,) -> out: (F, N, OH, OW)
    """
    if epilogue is not None and b is not None:
        raise ValueError("depthwise_values: fold the bias into the epilogue's shift")
    dt = x.dtype
    none = np.zeros(0, dt)
    if epilogue is None:
        scale, shift, clip, cap = none, none if b is None else b, False, np.inf
    else:
        scale = none if epilogue.scale is None else epilogue.scale
        shift = none if epilogue.shift is None else epilogue.shift
        clip, cap = bool(epilogue.clip), epilogue.cap
    scale, shift = (np.ascontiguousarray(a, dtype=dt) for a in (scale, shift))
    kh, kw, _, f = w.shape
    taps = np.ascontiguousarray(w.reshape(kh, kw, f))
    (oh, ow), ((top, _), (left, _)), (sh, sw), (dil_h, dil_w) = geometry
    x = np.ascontiguousarray(x)
    c, n = x.shape[:2]
    out = np.empty((f, n, oh, ow), dtype=dt)
    ranges = parallel.chunks(c, f * n * oh * ow * kh * kw)  # work: the multiply-adds
    parallel.run_kernel(depthwise_kernel, [
        (x, taps, scale, shift, clip, dt.type(cap), out, sh, sw, dil_h, dil_w, top, left,
         lo, hi) for lo, hi in ranges
    ])
    return out


def pool_usable(x: Array) -> bool:
    """Whether :func:`max_pool_values` can run on ``x``: NumPy float32/float64, numba on."""
    return AVAILABLE and kernels.enabled(x) and x.dtype in (np.float32, np.float64)


def max_pool_values(x: Array, geo: Geometry, relu: bool = False) -> Array:
    """Max pooling's output (then max(·, 0) if ``relu``) without a padded copy.

    Args:
        x: input maps (:func:`pool_usable`).
        geo: the resolved window geometry (:func:`glassnet.ops.windows.pool_geometry`).
        relu: apply a ReLU to the pooled map.

    Shapes:
        x: (C, N, H, W) -> out: (C, N, OH, OW)
    """
    x = np.ascontiguousarray(x)
    c, n = x.shape[:2]
    (kh, kw), (sh, sw), (oh, ow) = geo.kernel, geo.strides, geo.out_hw
    (top, _), (left, _) = geo.applied
    out = np.empty((c, n, oh, ow), dtype=x.dtype)
    ranges = parallel.chunks(c, c * n * oh * ow * kh * kw)  # work: the comparisons
    parallel.run_kernel(max_pool_kernel, [
        (x, out, kh, kw, sh, sw, top, left, relu, lo, hi) for lo, hi in ranges
    ])
    return out
