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

    NOTE: one output row at a time, window offsets outside and the row's positions inside, with
    selects instead of branches: the comparisons vectorise and random data mispredicts
    nothing (the per-position scan with an ``if`` was ~10× slower on GoogLeNet's 3×3 pools).
    Offsets are visited row-major with a strict ``>``, so ties keep the first maximum and a
    NaN first value stays, as before.

    Shapes:
        xpad3: (B, Hp, Wp) padded input; out, arg: (B, OH, OW)
    """
    nb, oh, ow = out.shape
    zero = out.dtype.type(0)
    span = (ow - 1) * sw + 1
    for b in range(nb):
        for i in range(oh):
            r0 = i * sh
            best, where = out[b, i], arg[b, i]
            first = xpad3[b, r0, 0:span:sw]
            for j in range(ow):
                best[j] = first[j]
                where[j] = 0
            for u in range(kh):
                row = xpad3[b, r0 + u]
                for v in range(kw):
                    if u == 0 and v == 0:
                        continue
                    k = u * kw + v
                    seg = row[v : v + span : sw]
                    for j in range(ow):
                        val = seg[j]
                        take = val > best[j]  # strict: ties keep the first maximum
                        best[j] = val if take else best[j]
                        where[j] = k if take else where[j]
            if relu:
                for j in range(ow):
                    dead = not best[j] > zero
                    best[j] = zero if dead else best[j]
                    where[j] = sentinel if dead else where[j]


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
