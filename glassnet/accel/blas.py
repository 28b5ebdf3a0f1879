"""NumPy's own BLAS GEMM, called from inside numba kernels (no return to Python in between).

Why: a kernel that must not touch the GIL (a batch-1 convolution split over two threads: see
:mod:`glassnet.accel.small_batch`) has to multiply its matrices itself. numba's ``np.dot`` calls
SciPy's bundled OpenBLAS, which was slower than NumPy's on the same product
(docs/performance.md, rules table); so the kernels call NumPy's ``cblas_?gemm`` by address instead.

Only ILP64 builds whose symbols carry the ``64_`` suffix are used (NumPy's PyPI wheels:
``scipy_cblas_sgemm64_``), so the integer width is never guessed, and each function found is
checked on a small product with transposes and a leading dimension before it is trusted.
:func:`gemm_address` returns 0 where none qualifies; callers then keep their NumPy path.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from glassnet.accel import kernels

# CBLAS enum values (cblas.h).
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_SYMBOLS = ("scipy_cblas_{t}gemm64_", "cblas_{t}gemm64_")  # ILP64 only: 64-bit dimensions
_LETTER = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}
_found: dict[np.dtype[Any], int] = {}

AVAILABLE = False
if kernels.AVAILABLE:  # pragma: no branch
    from llvmlite import ir
    from numba import njit, types
    from numba.extending import intrinsic

    @intrinsic
    def _call_gemm(  # type: ignore[no-untyped-def]
        typingctx, addr, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc
    ):
        """Call ``cblas_?gemm`` at ``addr``: C = op(A)·op(B) + beta·C, row-major, alpha 1.

        ``a``, ``b``, ``c`` are addresses; ``beta``'s type (float32/float64) picks s or d.
        """
        if beta not in (types.float32, types.float64):
            return None
        sig = types.void(
            types.int64, types.int64, types.int64, types.int64, types.int64, types.int64,
            types.uintp, types.int64, types.uintp, types.int64, beta, types.uintp, types.int64,
        )

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            i32, i64 = ir.IntType(32), ir.IntType(64)
            fl = ir.FloatType() if signature.args[10] == types.float32 else ir.DoubleType()
            ptr = fl.as_pointer()
            fnty = ir.FunctionType(
                ir.VoidType(), [i32, i32, i32, i64, i64, i64, fl, ptr, i64, ptr, i64, fl, ptr, i64]
            )
            (f, ta, tb, mm, nn, kk, pa, la, pb, lb, bt, pc, lc) = args
            fn = builder.inttoptr(f, fnty.as_pointer())
            builder.call(fn, [
                ir.Constant(i32, ROW_MAJOR), builder.trunc(ta, i32), builder.trunc(tb, i32),
                mm, nn, kk, ir.Constant(fl, 1.0), builder.inttoptr(pa, ptr), la,
                builder.inttoptr(pb, ptr), lb, bt, builder.inttoptr(pc, ptr), lc,
            ])
            return context.get_dummy_value()

        return sig, codegen

    @njit(cache=True, nogil=True)
    def gemm(addr, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc):  # type: ignore[no-untyped-def]
        """C = op(A)·op(B) + beta·C through the ``cblas_?gemm`` at ``addr`` (row-major).

        For numba kernels: ``a``, ``b``, ``c`` are data addresses (``arr.ctypes.data``, plus an
        offset for a sub-block), ``lda``/``ldb``/``ldc`` the distances between rows in elements,
        ``trans_a``/``trans_b`` :data:`NO_TRANS` or :data:`TRANS`, ``beta`` a float32 or float64
        (it picks ``sgemm`` or ``dgemm``: the address must match).
        """
        _call_gemm(addr, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc)  # type: ignore[call-arg]

    @njit(cache=True, nogil=True)
    def _check_call(addr, a, b, c):  # type: ignore[no-untyped-def]
        # c[:, 1:] = aᵀ · bᵀ with c's rows one longer than the product: exercises the
        # transposes and the leading dimension the kernels use.
        k, m = a.shape
        n = b.shape[0]
        beta = c.dtype.type(0)
        gemm(addr, TRANS, TRANS, m, n, k, a.ctypes.data, m, b.ctypes.data, k, beta,
             c.ctypes.data + c.itemsize, c.shape[1])

    AVAILABLE = True


def _candidate_libraries() -> list[str]:
    """Loaded BLAS libraries, NumPy's own (inside the numpy package tree) first."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a hard dependency
        return []
    paths = [p["filepath"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return sorted(paths, key=lambda p: "numpy" not in p)  # numpy.libs/, numpy/.dylibs/


def _works(addr: int, dtype: np.dtype[Any]) -> bool:
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 3)).astype(dtype), rng.random((4, 5)).astype(dtype)
    c = np.full((3, 5), -7.0, dtype=dtype)
    _check_call(addr, a, b, c)
    return bool(np.allclose(c[:, 1:], a.T @ b.T, rtol=1e-5) and np.all(c[:, 0] == -7.0))


def gemm_address(dtype: Any) -> int:
    """Address of NumPy's BLAS ``cblas_?gemm`` (ILP64) for ``dtype``, or 0 if none is usable."""
    dt = np.dtype(dtype)
    if dt in _found:
        return _found[dt]
    addr = 0
    if AVAILABLE and dt in _LETTER:
        for path in _candidate_libraries():
            try:
                lib = ctypes.CDLL(path)
            except OSError:  # pragma: no cover
                continue
            for pattern in _SYMBOLS:
                fn = getattr(lib, pattern.format(t=_LETTER[dt]), None)
                if fn is not None:
                    addr = ctypes.cast(fn, ctypes.c_void_p).value or 0
                    break
            if addr:
                break
        if addr and not _works(addr, dt):  # pragma: no cover - a mislabelled build
            addr = 0
    _found[dt] = addr
    return addr
