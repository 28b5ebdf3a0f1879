"""Optional serial numba kernels for the loops NumPy cannot fuse (extra ``fast``).

Each kernel computes exactly what the NumPy path in the calling op computes (the tests run both
and compare); the NumPy path stays complete. Used only for NumPy arrays, only when numba
imports, and never when ``GLASSNET_NUMBA=0``.

NOTE: the kernels are serial on purpose: ``parallel=True`` threads spin against OpenBLAS's own
threads on a 2-core machine and made training 2–3× slower there (docs/performance.md).
"""

from __future__ import annotations

import os
from typing import Any

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
    import numpy as np

    return _state["enabled"] and all(isinstance(a, np.ndarray) for a in arrays)


def set_enabled(flag: bool) -> bool:
    """Switch the kernels on or off (tests compare both paths); return the previous setting."""
    old = _state["enabled"]
    _state["enabled"] = bool(flag) and AVAILABLE
    return old


@njit(cache=True, nogil=True)
def max_pool_forward(xp3, kh, kw, sh, sw, relu, out, arg, sentinel):  # type: ignore[no-untyped-def]
    """out[b,i,j] = max over the window (first maximum's offset in arg); with relu, max(·, 0).

    Shapes:
        xp3: (B, Hp, Wp) padded input; out, arg: (B, OH, OW)
    """
    nb, oh, ow = out.shape
    for b in range(nb):
        for i in range(oh):
            r0 = i * sh
            for j in range(ow):
                c0 = j * sw
                best = xp3[b, r0, c0]
                bk = 0
                for u in range(kh):
                    for v in range(kw):
                        val = xp3[b, r0 + u, c0 + v]
                        if val > best:  # strict: ties keep the first maximum
                            best = val
                            bk = u * kw + v
                if relu and not best > 0:
                    out[b, i, j] = 0
                    arg[b, i, j] = sentinel
                else:
                    out[b, i, j] = best
                    arg[b, i, j] = bk


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
def col2im(cols6, sh, sw, dh, dw, dxp):  # type: ignore[no-untyped-def]
    """dxp[c, n, i·SH + u·DH, j·SW + v·DW] += cols6[c, u, v, n, i, j].

    Shapes:
        cols6: (C, KH, KW, N, OH, OW); dxp: (C, N, Hp, Wp), zero on entry
    """
    nc, kh, kw, nn, oh, ow = cols6.shape
    for c in range(nc):
        for u in range(kh):
            for v in range(kw):
                for n in range(nn):
                    for i in range(oh):
                        r = i * sh + u * dh
                        for j in range(ow):
                            dxp[c, n, r, j * sw + v * dw] += cols6[c, u, v, n, i, j]
