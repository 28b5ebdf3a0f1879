"""One batch chunk of an im2col convolution, forward or backward, in ONE nogil numba call.

:func:`glassnet.accel.conv.conv2d_resolved` and :func:`glassnet.accel.conv.conv2d_backward` split
the batch over the threads. Written as Python closures, each chunk crossed between Python and
NumPy / numba a dozen times, and at every crossing a thread may have to wait for the GIL —
a waiting thread sleeps, and waking it costs tens of µs: the worker's chunk started late,
every op (docs/performance.md, rules table). Here a chunk is one
call that never holds the GIL (:func:`glassnet.accel.parallel.run_kernel`): the numba im2col/col2im
kernels and NumPy's own BLAS (:mod:`glassnet.accel.blas`), in the same column blocks as
:mod:`glassnet.accel.gemm`, so the same products as the closures, summed alike but for the
weight gradient's blocks (added by the BLAS here, by NumPy there: equal to rounding).

Only for ungrouped convolutions of NumPy float arrays with numba and that BLAS present
(:func:`glassnet.accel.small_batch.usable`); otherwise the closures run.
"""

from __future__ import annotations

from glassnet.accel import blas, gemm, kernels, spin

AVAILABLE = blas.AVAILABLE and spin.AVAILABLE

if AVAILABLE:  # pragma: no branch
    from numba import njit

    from glassnet.accel.epilogue import finish_row

    @njit(cache=True, nogil=True)
    def forward_chunk(  # type: ignore[no-untyped-def]
        xpad, sh, sw, dil_h, dil_w, n0, kh, kw, oh, ow, flat, cols, wk, scale, shift, clip, cap,
        out2, col0, block, gemm_at, sync, started, done, post, seen,
    ):
        """One chunk's forward: im2col, then the GEMM and its epilogue into its output columns.

        im2col of images n0 … into ``flat`` (via ``cols``, its first K rows, in (kh, kw, c)
        order), then out2[:, col0 : col0 + P] = wkᵀ · flat[:K] in column blocks of ``block``,
        each block finished per filter by :func:`glassnet.accel.epilogue.finish_row` while it
        is in cache (``scale``, ``shift``: per filter, or empty for none).

        Shapes:
            xpad: (C, N, Hp, Wp); flat: (K [+ 1], P); cols: (K, P), flat's first K rows;
            wk: (K, F), the kernel as it is in memory; scale, shift: (F,) or (0,);
            out2: (F, N·OH·OW)
        """
        spin.signal(sync, started)
        kernels.im2col(xpad, sh, sw, dil_h, dil_w, n0, kh, kw, oh, ow, True, cols)
        k, nf = wk.shape
        p, ldc, isz = flat.shape[1], out2.shape[1], flat.itemsize
        zero = flat.dtype.type(0)
        nblocks = p // block if p >= 2 * block else 0  # as gemm.matmul_into
        for b in range(nblocks + 1):
            b0 = b * block
            bw = block if b < nblocks else p - b0
            if bw > 0:
                blas.gemm(gemm_at, blas.TRANS, blas.NO_TRANS, nf, bw, k, wk.ctypes.data, nf,
                          flat.ctypes.data + b0 * isz, p, zero,
                          out2.ctypes.data + (col0 + b0) * isz, ldc)
                scaled, shifted = scale.size > 0, shift.size > 0
                if scaled or shifted or clip:
                    for f in range(nf):
                        finish_row(out2[f, col0 + b0 : col0 + b0 + bw],
                                 scale[f] if scaled else cap, shift[f] if shifted else cap,
                                 scaled, shifted, clip, cap)
        spin.finish(sync, done, post, seen)

    @njit(cache=True, nogil=True)
    def backward_chunk(  # type: ignore[no-untyped-def]
        dout2, col0, flat, wk, dwt, dcols, dxp, kh, kw, oh, ow, sh, sw, dil_h, dil_w, n0, block,
        reduce_block, gemm_at, sync, started, done, post, seen,
    ):
        """The chunk's share of dL/dw (and dL/db: flat's row of ones) and its slice of dL/dx.

        dwt = flat · dOᵀ (summed over column blocks of ``reduce_block``, 0: one product): with
        flat's rows in (kh, kw, c) order its first K rows are dL/dw in the kernel's own layout;
        if ``dcols`` has columns: dcols = wk · dO in column blocks of ``block``, then col2im
        into dxp.

        Shapes:
            dout2: (F, N·OH·OW); flat: (K [+ 1], P); wk: (K, F); dwt: (K [+ 1], F);
            dcols: (K, P) or (K, 0); dxp: (C, N, Hp, Wp)
        """
        spin.signal(sync, started)
        nf = dout2.shape[0]
        k1, p = flat.shape
        ldd, isz = dout2.shape[1], flat.itemsize
        zero, one = flat.dtype.type(0), flat.dtype.type(1)
        d0 = dout2.ctypes.data + col0 * isz
        if reduce_block == 0:
            blas.gemm(gemm_at, blas.NO_TRANS, blas.TRANS, k1, nf, p, flat.ctypes.data, p, d0, ldd,
                      zero, dwt.ctypes.data, nf)
        else:
            nblocks = p // reduce_block
            for b in range(nblocks + 1):
                b0 = b * reduce_block
                bw = reduce_block if b < nblocks else p - b0
                if bw > 0:
                    blas.gemm(gemm_at, blas.NO_TRANS, blas.TRANS, k1, nf, bw,
                              flat.ctypes.data + b0 * isz, p, d0 + b0 * isz, ldd,
                              zero if b == 0 else one, dwt.ctypes.data, nf)
        if dcols.shape[1] > 0:
            k = wk.shape[0]
            nblocks = p // block if p >= 2 * block else 0
            for b in range(nblocks + 1):
                b0 = b * block
                bw = block if b < nblocks else p - b0
                if bw > 0:
                    blas.gemm(gemm_at, blas.NO_TRANS, blas.NO_TRANS, k, bw, nf, wk.ctypes.data,
                              nf, d0 + b0 * isz, ldd, zero, dcols.ctypes.data + b0 * isz, p)
            kernels.col2im(dcols, kh, kw, oh, ow, True, sh, sw, dil_h, dil_w, n0, dxp)
        spin.finish(sync, done, post, seen)


def reduce_block(f: int, k1: int, p: int) -> int:
    """The dL/dw column block of :func:`glassnet.accel.gemm.matmul_nt` (0: one product)."""
    if p // gemm.BLOCK_REDUCE < 2 or f * k1 > gemm.SMALL_OUTPUT:
        return 0
    return gemm.BLOCK_REDUCE
