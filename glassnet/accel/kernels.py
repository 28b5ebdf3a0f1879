"""Optional serial numba kernels for the loops NumPy cannot fuse (extra ``fast``).

Each kernel computes exactly what the NumPy path in the calling op computes (the tests run both
and compare); the NumPy path stays complete. Used only for NumPy arrays, only when numba
imports, and never when ``GLASSNET_NUMBA=0``.

NOTE: the kernels are serial on purpose: ``parallel=True`` threads spin against OpenBLAS's own
threads on a 2-core machine and made training slower there (docs/performance.md, rules table).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

try:  # pragma: no cover - exercised when the `fast` extra is installed
    if os.environ.get("GLASSNET_NUMBA", "1") == "0":
        raise ImportError("disabled by GLASSNET_NUMBA=0")
    from numba import njit

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

    def njit(*args: Any, **kwargs: Any) -> Any:
        """Stand-in decorator so the module imports without numba; the kernels stay unused."""
        return lambda f: f


_state = {"enabled": AVAILABLE}


def enabled(*arrays: Any) -> bool:
    """True when the kernels may run on ``arrays`` (numba present and switched on, NumPy data)."""
    return _state["enabled"] and all(type(a) is np.ndarray for a in arrays)


def set_enabled(flag: bool) -> bool:
    """Switch the kernels on or off (tests compare both paths); return the previous setting."""
    old = _state["enabled"]
    _state["enabled"] = bool(flag) and AVAILABLE
    return old


@njit(cache=True, nogil=True)
def max_pool_forward(xpad3, kh, kw, sh, sw, relu, out, arg, sentinel):  # type: ignore[no-untyped-def]
    """out[b,i,j] = max over the window (first maximum's offset in arg); with relu, max(·, 0).

    :func:`max_pool_two_pass` with the arg-max.

    Shapes:
        xpad3: (B, Hp, Wp) padded input, C-contiguous; out, arg: (B, OH, OW)
    """
    _max_pool_two_pass(xpad3, kh, kw, sh, sw, relu, out, arg, sentinel, True)


@njit(cache=True, nogil=True)
def max_pool_values_blocked(x3, pt, pl, hp, wp, kh, kw, sh, sw, relu, out, block):  # type: ignore[no-untyped-def]
    """:func:`max_pool_forward`'s output alone (inference), of the unpadded planes ``x3``.

    ``block`` planes at a time are copied into a −inf-bordered buffer and pooled while they
    are in cache: over the whole range at once, the padded copy and the two passes' two
    copies each made a trip through memory (docs/performance.md, rules table). The same
    comparisons in the same order: the same values.

    Shapes:
        x3: (B, H, W); out: (B, OH, OW); the padded planes (Hp, Wp) hold x at (pt, pl)
    """
    nb, h, w = x3.shape
    m = max(min(block, nb), 1)
    buf = np.full((m, hp, wp), -np.inf, dtype=x3.dtype)  # the border stays −inf
    none = np.zeros((1, 1, 1), dtype=np.uint8)
    for b0 in range(0, nb, m):
        k = min(nb - b0, m)
        for b in range(k):
            for i in range(h):
                src, dst = x3[b0 + b, i], buf[b, pt + i, pl : pl + w]
                for j in range(w):
                    dst[j] = src[j]
        _max_pool_two_pass(buf[:k], kh, kw, sh, sw, relu, out[b0 : b0 + k], none, 0, False)


@njit(cache=True, nogil=True)
def _max_pool_two_pass(xpad3, kh, kw, sh, sw, relu, out, arg, sentinel, with_arg):  # type: ignore[no-untyped-def]
    """Max pooling as two 1-D max passes over the whole block (arg-max when ``with_arg``).

    A window's maximum is the maximum over its rows of each row's maximum. Both passes run over
    the (B, Hp, Wp) block as one flat vector at stride 1: the row pass compares each value with
    the KW − 1 values after it (keeping the offset v of the row's first maximum), the column pass
    each row maximum with those Wp, 2·Wp, … after it (keeping u·KW + v); the window starts
    (i·SH, j·SW) are then read out. Positions whose window would run past a row or plane end
    are computed and never read. No per-row loops or views: the per-row scan this replaced was
    overhead-bound on small maps (GoogLeNet's 3×3 pools on 8×8 maps: 13.4 → 2.9 ms per call,
    docs/performance.md rules table).

    Strict ``>`` selects in row-major order, as a scan of the window: ties keep the first
    maximum (the first row holding it, its first position), a NaN first value stays and a later
    NaN is never taken; with ``relu`` a window whose maximum is not > 0 gives 0 and ``sentinel``.

    Shapes:
        xpad3: (B, Hp, Wp) padded input, C-contiguous; out, arg: (B, OH, OW)
    """
    nb, hp, wp = xpad3.shape
    oh, ow = out.shape[1], out.shape[2]
    flat = xpad3.reshape(nb * hp * wp)
    n = flat.size
    zero = out.dtype.type(0)
    rows = flat.copy()  # rows[k] = max(flat[k], …, flat[k + KW − 1])
    rarg = np.zeros(n if with_arg else 1, dtype=arg.dtype)  # its v
    span = n - (kw - 1)
    for v in range(1, kw):
        seg, best = flat[v : v + span], rows[:span]
        if with_arg:
            where, tag = rarg[:span], arg.dtype.type(v)
            for k in range(span):
                take = seg[k] > best[k]
                best[k] = seg[k] if take else best[k]
                where[k] = tag if take else where[k]
        else:
            for k in range(span):
                best[k] = seg[k] if seg[k] > best[k] else best[k]
    full = rows.copy()  # full[k] = max(rows[k], rows[k + Wp], …)
    farg = rarg.copy()  # its u·KW + v
    span = n - (kh - 1) * wp
    for u in range(1, kh):
        seg, best = rows[u * wp : u * wp + span], full[:span]
        if with_arg:
            where, offs = farg[:span], rarg[u * wp : u * wp + span]
            base = arg.dtype.type(u * kw)
            for k in range(span):
                take = seg[k] > best[k]
                best[k] = seg[k] if take else best[k]
                where[k] = base + offs[k] if take else where[k]
        else:
            for k in range(span):
                best[k] = seg[k] if seg[k] > best[k] else best[k]
    starts = full.reshape(nb, hp, wp)
    offsets = farg.reshape(nb, hp, wp) if with_arg else farg.reshape(1, 1, 1)
    for b in range(nb):
        for i in range(oh):
            for j in range(ow):
                top = starts[b, i * sh, j * sw]
                dead = relu and not top > zero
                out[b, i, j] = zero if dead else top
                if with_arg:
                    arg[b, i, j] = sentinel if dead else offsets[b, i * sh, j * sw]


@njit(cache=True, nogil=True)
def max_pool_backward(dout3, arg, kw, sh, sw, dxp3, sentinel):  # type: ignore[no-untyped-def]
    """dxp3[b, i·SH + u, j·SW + v] += dout3[b, i, j] for the winning offset k = u·KW + v.

    Shapes:
        dout3, arg: (B, OH, OW); dxp3: (B, Hp, Wp), zero on entry
    """
    nb, oh, ow = dout3.shape
    for b in range(nb):
        for i in range(oh):
            for j in range(ow):
                k = arg[b, i, j]
                if k != sentinel:
                    dxp3[b, i * sh + k // kw, j * sw + k % kw] += dout3[b, i, j]


@njit(cache=True, nogil=True)
def max_pool_2x2_forward(xpad3, relu, out, arg, sentinel):  # type: ignore[no-untyped-def]
    """The 2×2 / stride-2 case of :func:`max_pool_forward`, branch-free (faster: rules table).

    The window's first maximum is max(first of row 0, first of row 1), each a strict
    comparison, which picks the same offset as the row-major scan for any non-NaN input.

    Shapes:
        xpad3: (B, Hp, Wp) with Hp >= 2·OH, Wp >= 2·OW; out, arg: (B, OH, OW)
    """
    nb, oh, ow = out.shape
    for b in range(nb):
        for i in range(oh):
            top, bot = xpad3[b, 2 * i], xpad3[b, 2 * i + 1]
            orow, arow = out[b, i], arg[b, i]
            for j in range(ow):
                a, b1, c, d = top[2 * j], top[2 * j + 1], bot[2 * j], bot[2 * j + 1]
                g1, g2 = b1 > a, d > c
                m1, k1 = (b1, 1) if g1 else (a, 0)
                m2, k2 = (d, 3) if g2 else (c, 2)
                m, k = (m2, k2) if m2 > m1 else (m1, k1)
                if relu and not m > 0:
                    m, k = 0, sentinel
                orow[j] = m
                arow[j] = k


@njit(cache=True, nogil=True)
def max_pool_2x2_values(xpad3, relu, out):  # type: ignore[no-untyped-def]
    """:func:`max_pool_2x2_forward` without the arg-max (inference needs no backward).

    The same comparisons in the same order, so the same values (NaN included).

    Shapes:
        xpad3: (B, Hp, Wp) with Hp >= 2·OH, Wp >= 2·OW; out: (B, OH, OW)
    """
    nb, oh, ow = out.shape
    for b in range(nb):
        for i in range(oh):
            top, bot = xpad3[b, 2 * i], xpad3[b, 2 * i + 1]
            orow = out[b, i]
            for j in range(ow):
                a, b1, c, d = top[2 * j], top[2 * j + 1], bot[2 * j], bot[2 * j + 1]
                m1 = b1 if b1 > a else a
                m2 = d if d > c else c
                m = m2 if m2 > m1 else m1
                if relu and not m > 0:
                    m = 0
                orow[j] = m


@njit(cache=True, nogil=True)
def max_pool_2x2_backward(dout3, arg, dxp3, sentinel):  # type: ignore[no-untyped-def]
    """The 2×2 / stride-2 case of :func:`max_pool_backward`; writes EVERY cell of dxp3.

    Shapes:
        dout3, arg: (B, OH, OW); dxp3: (B, Hp, Wp), any content on entry
    """
    nb, oh, ow = dout3.shape
    hp, wp = dxp3.shape[1], dxp3.shape[2]
    for b in range(nb):
        for i in range(oh):
            top, bot = dxp3[b, 2 * i], dxp3[b, 2 * i + 1]
            drow, arow = dout3[b, i], arg[b, i]
            for j in range(ow):
                g, k = drow[j], arow[j]
                top[2 * j] = g if k == 0 else 0
                top[2 * j + 1] = g if k == 1 else 0
                bot[2 * j] = g if k == 2 else 0
                bot[2 * j + 1] = g if k == 3 else 0
            for j in range(2 * ow, wp):  # columns no window reaches
                top[j] = 0
                bot[j] = 0
        for r in range(2 * oh, hp):  # rows no window reaches
            for j in range(wp):
                dxp3[b, r, j] = 0


@njit(cache=True, nogil=True)
def _row(c, u, v, nc, kh, kw, window_major):  # type: ignore[no-untyped-def]
    """The column matrix's row of channel c at window offset (u, v)."""
    return (u * kw + v) * nc + c if window_major else (c * kh + u) * kw + v


@njit(cache=True, nogil=True)
def im2col(xpad, sh, sw, dil_h, dil_w, n0, kh, kw, oh, ow, window_major, cols, i0=0):  # type: ignore[no-untyped-def]
    """cols[row(c, u, v), (n, i, j)] = xpad[c, n0 + n, (i0 + i)·SH + u·D_h, j·SW + v·D_w].

    row(c, u, v) = (u·KW + v)·C + c when ``window_major`` (the kernel's own memory order), else
    (c·KH + u)·KW + v (the reference's). ``i0`` > 0: the windows of output rows i0, i0 + 1, …
    only (a small batch split by rows).

    NOTE: one image plane at a time (it stays in L1) and plain ``i + u`` indices in the unit
    stride case: faster than looping (u, v) outside or testing the stride inside
    (docs/performance.md, rules table). ``cols`` is a C-contiguous 2-D array, so numba
    vectorises the copies whichever the row order (a strided 6-D view of it was up to 2.5×
    slower).

    Shapes:
        xpad: (C, N, Hp, Wp) padded input; cols: (C·KH·KW, n·OH·OW) for a batch chunk
        (OH: the rows wanted)
    """
    nc = xpad.shape[0]
    plane = oh * ow
    nn = cols.shape[1] // plane
    unit = sh == 1 and sw == 1 and dil_h == 1 and dil_w == 1
    for c in range(nc):
        for n in range(nn):
            src = xpad[c, n0 + n, i0 * sh :]
            for u in range(kh):
                for v in range(kw):
                    dst = cols[_row(c, u, v, nc, kh, kw, window_major)]
                    at = n * plane
                    if unit:
                        for i in range(oh):
                            srow = src[i + u]
                            for j in range(ow):
                                dst[at + j] = srow[j + v]
                            at += ow
                    else:
                        for i in range(oh):
                            srow = src[i * sh + u * dil_h]
                            for j in range(ow):
                                dst[at + j] = srow[j * sw + v * dil_w]
                            at += ow


@njit(cache=True, nogil=True)
def col2im(cols, kh, kw, oh, ow, window_major, sh, sw, dil_h, dil_w, n0, dxp):  # type: ignore[no-untyped-def]
    """dxp[c, n0 + n, i·SH + u·D_h, j·SW + v·D_w] += cols[row(c, u, v), (n, i, j)].

    The inverse gather of :func:`im2col` (same ``row`` order).

    Shapes:
        cols: (C·KH·KW, n·OH·OW) for a batch chunk, C-contiguous; dxp: (C, N, Hp, Wp), zero on
        entry
    """
    nc = dxp.shape[0]
    plane = oh * ow
    nn = cols.shape[1] // plane
    unit = sh == 1 and sw == 1 and dil_h == 1 and dil_w == 1
    for c in range(nc):
        for n in range(nn):
            dst = dxp[c, n0 + n]
            for u in range(kh):
                for v in range(kw):
                    src = cols[_row(c, u, v, nc, kh, kw, window_major)]
                    at = n * plane
                    if unit:
                        for i in range(oh):
                            drow = dst[i + u]
                            for j in range(ow):
                                drow[j + v] += src[at + j]
                            at += ow
                    else:
                        for i in range(oh):
                            drow = dst[i * sh + u * dil_h]
                            for j in range(ow):
                                drow[j * sw + v * dil_w] += src[at + j]
                            at += ow
