"""A convolution as the products of the (output, input) position pairs its taps join.

im2col multiplies every tap of the kernel at every output position, including the taps that
read padding: a 3×3 kernel over a 2×2 map (padding 1) makes 4 · 9 = 36 C×F products per image,
of which 16 read the map (ResNet's third stage and VGG's last convolutions at CIFAR size), and
it first copies each input value KH·KW times into the columns. Here output position o is
Σ over the input positions p it reads of W[t(o, p)]ᵀ·x_p, t(o, p) the one tap that joins them;
only joined pairs are multiplied, each over the whole batch, with no columns built:

* forward: O_o = Σ_p W_tᵀ X_p  (split over the threads by filters);
* dL/dx:   dX_p = Σ_o W_t dO_o (split by input channels);
* dL/dw:   dW_t = Σ X_p dO_oᵀ  (split by filters);

with X the input laid out [H·W·C, N] (rows (p, c); kept for dL/dw) and O, dO laid out
[OH·OW·F, N]. Taps of one kernel row that read consecutive input columns (dilation 1) form a
*run*: its kernel rows (kh, kw, c) and its X rows (p, c) are both contiguous, so a run is ONE
GEMM with K = run·C, M = the thread's filters, N = the batch.

The rule (:func:`applies`) weighs the products saved against the smaller GEMMs: each GEMM here
has the batch as its N where im2col's has batch·OH·OW, and a GEMM re-reads (packs) its kernel
block for every N columns it computes. Measured: docs/performance.md, rules table.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from glassnet.accel import blas, parallel, spin
from glassnet.ops.conv import ConvGeometry

Array = Any
AVAILABLE = blas.AVAILABLE and spin.AVAILABLE


class PairsCache(NamedTuple):
    """What :func:`backward` needs from :func:`forward`."""

    xt: Array  # the input as [H·W·C, N], rows (p, c)
    w: Array  # [KH, KW, C, F], C-contiguous
    runs: Array  # int64 [R, 5]: (o, u, v0, length, p0), see :func:`runs`
    x_shape: tuple[int, int, int, int]  # (C, N, H, W)
    out_hw: tuple[int, int]
    has_bias: bool
    crop: Any = None  # as FastConv2DCache.crop (set by accel.conv when taps were dropped)


# The cost model of :func:`applies`: a GEMM over N columns runs at about N / (N + GEMM_N0) of
# the speed of a long one (it packs its kernel block once per call, whatever N), so a
# convolution's pairs cost live·(1 + N0/n) against im2col's full·(1 + N0/(n·OH·OW)). And a
# run's GEMM is only K = run·C deep: below MIN_CHANNELS input channels (an RGB stem: K = 9
# for a 3×3 kernel, 21 for ResNet's 7×7) OpenBLAS is far from its peak. Measured:
# docs/performance.md, rules table.
GEMM_N0 = 2
MIN_CHANNELS = 16


def usable(x: Array, w: Array, groups: int) -> bool:
    """Whether this path can run at all: ungrouped NumPy float32/64 arrays and NumPy's BLAS.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C, F)
    """
    return (AVAILABLE and groups == 1 and type(x) is np.ndarray and type(w) is np.ndarray
            and x.dtype == w.dtype and x.dtype in (np.float32, np.float64)
            and blas.gemm_address(x.dtype) != 0)


def applies(x: Array, w: Array, geometry: ConvGeometry, groups: int) -> bool:
    """The rule: :func:`usable`, at least MIN_CHANNELS channels, and cheaper by the cost model.

    Cheaper: live·(1 + N0/n) < full·(1 + N0/(n·OH·OW)), where live is the number of joined
    (output, input) pairs (:func:`runs`) and full = OH·OW·KH·KW, im2col's products per image
    and filter. With the padding's taps a third or more of a small map's products, the pairs
    win at any batch; on a large map (few padding taps) only the batch decides.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C, F)
    """
    if not usable(x, w, groups) or x.shape[0] < MIN_CHANNELS or x.shape[1] == 0:
        return False
    n, (oh, ow) = x.shape[1], geometry.out_hw
    live = products(tuple(x.shape[2:]), tuple(w.shape[:2]), geometry)
    full = oh * ow * w.shape[0] * w.shape[1]
    return live * (1 + GEMM_N0 / n) < full * (1 + GEMM_N0 / (n * oh * ow))


def cost(n: int, in_hw: tuple[int, int], kernel_hw: tuple[int, int],
         geometry: ConvGeometry) -> float:
    """Time per image in C×F products: the joined pairs over GEMMs n columns wide.

    The cost model of :func:`applies`.
    """
    return products(in_hw, kernel_hw, geometry) * (1 + GEMM_N0 / n)


def working_set(x_shape: tuple[int, int, int, int], w_shape: tuple[int, ...],
                out_hw: tuple[int, int], itemsize: int) -> int:
    """Bytes one thread's part of :func:`forward` touches.

    All of X ([H·W·C, N]: every thread reads every input position), and its share of the
    kernel and of O ([OH·OW·F, N]): the threads split the filters.
    """
    c, n, h, wd = x_shape
    kh, kw, _, f = w_shape
    parts = max(_parts(x_shape, w_shape, out_hw), 1)
    return itemsize * (h * wd * c * n + (kh * kw * c * f + out_hw[0] * out_hw[1] * f * n) // parts)


@functools.lru_cache(maxsize=1024)
def products(in_hw: tuple[int, int], kernel_hw: tuple[int, int], geometry: ConvGeometry) -> int:
    """The C×F products this path makes per image: the joined (output, input) pairs."""
    return int(runs(in_hw, kernel_hw, geometry)[:, 3].sum())


@functools.lru_cache(maxsize=1024)
def runs(in_hw: tuple[int, int], kernel_hw: tuple[int, int], geometry: ConvGeometry) -> Array:
    """The runs of joined (output, input) pairs: rows (o, u, v0, length, p0).

    Output position o = i·OW + j reads, through taps (u, v0) … (u, v0 + length − 1), the input
    positions p0 … p0 + length − 1 (one input row, consecutive columns). Ordered by o.

    Shapes:
        -> (R, 5) int64
    """
    (h, w), (kh, kw) = in_hw, kernel_hw
    (oh, ow), ((pt, _), (pl, _)), (sh, sw), (dh, dw) = geometry
    out: list[tuple[int, int, int, int, int]] = []
    for i in range(oh):
        for j in range(ow):
            for u in range(kh):
                r = i * sh + u * dh - pt
                if not 0 <= r < h:
                    continue
                for v in range(kw):
                    col = j * sw + v * dw - pl
                    if not 0 <= col < w:
                        continue
                    last = out[-1] if out else None
                    if (last is not None and last[0] == i * ow + j and last[1] == u
                            and dw == 1 and last[2] + last[3] == v):
                        out[-1] = (*last[:3], last[3] + 1, last[4])
                    else:
                        out.append((i * ow + j, u, v, 1, r * w + col))
    table = np.array(out, dtype=np.int64).reshape(-1, 5)
    table.setflags(write=False)
    return table


if AVAILABLE:  # pragma: no branch
    from numba import njit

    @njit(cache=True, nogil=True)
    def _to_rows(a, rows, c0, c1, sync, started, done, post, seen):  # type: ignore[no-untyped-def]
        """rows[p·C + c, n] = a[c, n, p] for channels c0 … c1 − 1 (p = i·W + j).

        NOTE: the images innermost — each row of ``rows`` written in one contiguous pass, its
        values read N strided apart but from the same few cache lines for every (i, j) of a
        plane row: 6× faster than writing plane by plane (8×8×64, batch 128: 2.5 → 0.42 ms).

        Shapes:
            a: (C, N, H, W), any strides; rows: (H·W·C, N)
        """
        spin.signal(sync, started)
        nc, nn, h, w = a.shape
        for c in range(c0, c1):
            for i in range(h):
                for j in range(w):
                    dst = rows[(i * w + j) * nc + c]
                    for n in range(nn):
                        dst[n] = a[c, n, i, j]
        spin.finish(sync, done, post, seen)

    @njit(cache=True, nogil=True)
    def _forward_part(  # type: ignore[no-untyped-def]
        xt, wk, b, runs, c, kw, ot, out3, f0, f1, gemm_at, sync, started, done, post, seen,
    ):
        """Filters f0 … f1 − 1: ot[o·F + f] = Σ over o's runs Wᵀ·X, then out3[f, n, o] (+ b[f]).

        Shapes:
            xt: (HW·C, N); wk: (KH·KW·C, F); b: (F,) or (0,); runs: (R, 5); ot: (OHW·F, N);
            out3: (F, N, OHW)
        """
        spin.signal(sync, started)
        nf, n, nout = wk.shape[1], xt.shape[1], out3.shape[2]
        isz = xt.itemsize
        zero, one = xt.dtype.type(0), xt.dtype.type(1)
        r = 0
        for o in range(nout):
            dst = ot[o * nf + f0 : o * nf + f1]
            if r >= runs.shape[0] or runs[r, 0] != o:  # an output that reads only padding
                dst[:] = zero
                continue
            first = True
            while r < runs.shape[0] and runs[r, 0] == o:
                u, v0, length, p0 = runs[r, 1], runs[r, 2], runs[r, 3], runs[r, 4]
                blas.gemm(gemm_at, blas.TRANS, blas.NO_TRANS, f1 - f0, n, length * c,
                          wk.ctypes.data + ((u * kw + v0) * c * nf + f0) * isz, nf,
                          xt.ctypes.data + p0 * c * n * isz, n, zero if first else one,
                          dst.ctypes.data, n)
                first = False
                r += 1
        biased = b.size > 0
        for f in range(f0, f1):
            shift = b[f] if biased else zero
            dst = out3[f]
            for o in range(nout):
                src = ot[o * nf + f]
                for k in range(n):
                    dst[k, o] = src[k] + shift
        spin.finish(sync, done, post, seen)

    @njit(cache=True, nogil=True)
    def _backward_part(  # type: ignore[no-untyped-def]
        dot, xt, wk, runs, c, kw, dxt, dx3, c0, c1, dwk, db, f0, f1, gemm_at,
        sync, started, done, post, seen,
    ):
        """Input channels c0 … c1 − 1 of dL/dx, filters f0 … f1 − 1 of dL/dw and dL/db.

        dxt[p·C + c] = Σ over the pairs reading p of W_t[c]·dO_o, then dx3[c, n, p]; dwk's
        columns f0 … f1 − 1 = Σ over the runs X_run·dO_oᵀ; db[f] = Σ dO[f]. ``dx3`` with no
        images: dL/dx not wanted.

        Shapes:
            dot: (OHW·F, N); xt: (HW·C, N); wk, dwk: (KH·KW·C, F); runs: (R, 5);
            dxt: (HW·C, N) or (0, N); dx3: (C, N, HW) or (C, 0, HW); db: (F,) or (0,)
        """
        spin.signal(sync, started)
        nf, n = wk.shape[1], dot.shape[1]
        isz = dot.itemsize
        zero, one = dot.dtype.type(0), dot.dtype.type(1)
        if dx3.shape[1] > 0 and c1 > c0:
            hw = dx3.shape[2]
            for p in range(hw):
                dxt[p * c + c0 : p * c + c1] = zero
            for r in range(runs.shape[0]):
                o, u, v0, length, p0 = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3], runs[r, 4]
                for k in range(length):
                    blas.gemm(gemm_at, blas.NO_TRANS, blas.NO_TRANS, c1 - c0, n, nf,
                              wk.ctypes.data + ((u * kw + v0 + k) * c + c0) * nf * isz, nf,
                              dot.ctypes.data + o * nf * n * isz, n, one,
                              dxt.ctypes.data + ((p0 + k) * c + c0) * n * isz, n)
            for ch in range(c0, c1):
                dst = dx3[ch]
                for p in range(hw):
                    src = dxt[p * c + ch]
                    for k in range(n):
                        dst[k, p] = src[k]
        if f1 > f0:
            for row in range(dwk.shape[0]):
                dwk[row, f0:f1] = zero
            for r in range(runs.shape[0]):
                o, u, v0, length, p0 = runs[r, 0], runs[r, 1], runs[r, 2], runs[r, 3], runs[r, 4]
                blas.gemm(gemm_at, blas.NO_TRANS, blas.TRANS, length * c, f1 - f0, n,
                          xt.ctypes.data + p0 * c * n * isz, n,
                          dot.ctypes.data + (o * nf + f0) * n * isz, n, one,
                          dwk.ctypes.data + ((u * kw + v0) * c * nf + f0) * isz, nf)
            if db.size > 0:
                nout = dot.shape[0] // nf
                for f in range(f0, f1):
                    acc = zero
                    for o in range(nout):
                        src = dot[o * nf + f]
                        for k in range(n):
                            acc += src[k]
                    db[f] = acc
        spin.finish(sync, done, post, seen)


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    """``range(n)`` in ``parts`` near-equal contiguous ranges (some may be empty)."""
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def _parts(x_shape: tuple[int, int, int, int], w_shape: tuple[int, ...],
           out_hw: tuple[int, int]) -> int:
    """How many threads split the work: by im2col's measure of it, as :mod:`accel.conv` does.

    :func:`parallel.gemm_work` of the im2col GEMM, over min(C, F) channels.
    """
    c, n = x_shape[:2]
    kh, kw, _, f = w_shape
    work = parallel.gemm_work(c * kh * kw, f, out_hw[0] * out_hw[1] * n)
    return len(parallel.chunks(min(c, f), work))


def forward(x: Array, w: Array, b: Array | None,
            geometry: ConvGeometry) -> tuple[Array, PairsCache]:
    """The convolution of x with w (+ b) as its pairs' products (:func:`applies`), and its cache.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C, F); b: (F,) or None -> out: (F, N, OH, OW)
    """
    c, n, h, wd = x.shape
    kh, kw, _, f = w.shape
    oh, ow = geometry.out_hw
    table = runs((h, wd), (kh, kw), geometry)
    wc = np.ascontiguousarray(w)
    wk = wc.reshape(-1, f)
    xt = np.empty((h * wd * c, n), dtype=x.dtype)
    ot = np.empty((oh * ow * f, n), dtype=x.dtype)
    out = np.empty((f, n, oh, ow), dtype=x.dtype)
    bias = np.empty(0, dtype=x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    gemm_at = blas.gemm_address(x.dtype)
    parts = _parts(x.shape, w.shape, (oh, ow))
    parallel.run_kernel(_to_rows, [(x, xt, c0, c1) for c0, c1 in _split(c, parts)])
    parallel.run_kernel(_forward_part, [
        (xt, wk, bias, table, c, kw, ot, out.reshape(f, n, oh * ow), f0, f1, gemm_at)
        for f0, f1 in _split(f, parts)
    ])
    return out, PairsCache(xt, wc, table, (c, n, h, wd), (oh, ow), b is not None)


def backward(dout: Array, cache: PairsCache,
             need_dx: bool = True) -> tuple[Array | None, Array, Array | None]:
    """Gradients of :func:`forward` with respect to x, w and b.

    Shapes:
        dout: (F, N, OH, OW) -> dx: (C, N, H, W) or None, dw: (KH, KW, C, F), db: (F,) or None
    """
    c, n, h, wd = cache.x_shape
    kh, kw, _, f = cache.w.shape
    oh, ow = cache.out_hw
    dtype = cache.xt.dtype
    dot = np.empty((oh * ow * f, n), dtype=dtype)
    wk = cache.w.reshape(-1, f)
    dwk = np.empty_like(wk)
    db = np.empty(f if cache.has_bias else 0, dtype=dtype)
    dx = np.empty((c, n if need_dx else 0, h, wd), dtype=dtype)
    dxt = np.empty((h * wd * c if need_dx else 0, n), dtype=dtype)
    gemm_at = blas.gemm_address(dtype)
    parts = _parts(cache.x_shape, cache.w.shape, (oh, ow))
    d4 = np.asarray(dout, dtype=dtype)
    parallel.run_kernel(_to_rows, [(d4, dot, f0, f1) for f0, f1 in _split(f, parts)])
    parallel.run_kernel(_backward_part, [
        (dot, cache.xt, wk, cache.runs, c, kw, dxt, dx.reshape(c, dx.shape[1], h * wd), c0, c1,
         dwk, db, f0, f1, gemm_at)
        for (c0, c1), (f0, f1) in zip(_split(c, parts), _split(f, parts), strict=True)
    ])
    return (dx if need_dx else None), dwk.reshape(kh, kw, c, f), (db if cache.has_bias else None)
