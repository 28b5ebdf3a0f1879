"""One batch chunk of an im2col convolution, forward or backward, in ONE nogil numba call.

:func:`glassnet.accel.conv.conv2d_resolved` and
:func:`glassnet.accel.conv_backward.conv2d_backward` split the batch over the threads. Written
as Python closures, each chunk crossed between Python and NumPy / numba a dozen times, and at
every crossing a thread may have to wait for the GIL — a waiting thread sleeps, and waking it
costs tens of µs: the worker's chunk started late, every op (docs/performance.md, rules table).
Here a chunk is one call that never holds the GIL (:func:`glassnet.accel.parallel.run_kernel`):
the numba im2col/col2im kernels and NumPy's own BLAS (:mod:`glassnet.accel.blas`), in the same
column blocks as :mod:`glassnet.accel.gemm`, so the same products as the closures, summed alike
but for the weight gradient's blocks (added by the BLAS here, by NumPy there: equal to
rounding).

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
    def pad_planes(x, pt, pl, n0, n1, xpad):  # type: ignore[no-untyped-def]
        """xpad[:, n0:n1] = x[:, n0:n1] with zero borders (``pt`` rows above, ``pl`` columns left).

        Each thread pads its own batch chunk, plane by plane, instead of one np.pad of the
        whole batch on the calling thread before the split.

        Shapes:
            x: (C, N, H, W); xpad: (C, N, Hp, Wp), Hp ≥ pt + H, Wp ≥ pl + W
        """
        nc, _, h, w = x.shape
        hp, wp = xpad.shape[2], xpad.shape[3]
        zero = xpad.dtype.type(0)
        for c in range(nc):
            for n in range(n0, n1):
                src, dst = x[c, n], xpad[c, n]
                for i in range(hp):
                    drow = dst[i]
                    if i < pt or i >= pt + h:
                        for j in range(wp):
                            drow[j] = zero
                        continue
                    srow = src[i - pt]
                    for j in range(pl):
                        drow[j] = zero
                    inner = drow[pl : pl + w]
                    for j in range(w):
                        inner[j] = srow[j]
                    for j in range(pl + w, wp):
                        drow[j] = zero

    @njit(cache=True, nogil=True)
    def crop_planes(dxp, pt, pl, n0, n1, dx):  # type: ignore[no-untyped-def]
        """dx[:, n0:n1] = the (H, W) interior of dxp[:, n0:n1] at (pt, pl): a contiguous dL/dx.

        Shapes:
            dxp: (C, N, Hp, Wp); dx: (C, N, H, W)
        """
        nc, _, h, w = dx.shape
        for c in range(nc):
            for n in range(n0, n1):
                src, dst = dxp[c, n], dx[c, n]
                for i in range(h):
                    srow, drow = src[pt + i, pl : pl + w], dst[i]
                    for j in range(w):
                        drow[j] = srow[j]

    @njit(cache=True, nogil=True)
    def zero_planes(a, n0, n1):  # type: ignore[no-untyped-def]
        """a[:, n0:n1] = 0.

        Shapes:
            a: (C, N, H, W), C-contiguous
        """
        zero = a.dtype.type(0)
        for c in range(a.shape[0]):
            for n in range(n0, n1):
                for i in range(a.shape[2]):
                    row = a[c, n, i]
                    for j in range(row.size):
                        row[j] = zero

    @njit(cache=True, nogil=True)
    def forward_chunk(  # type: ignore[no-untyped-def]
        x, pt, pl, xpad, sh, sw, dil_h, dil_w, n0, n1, kh, kw, oh, ow, flat, cols, wk, scale,
        shift, clip, cap, out2, col0, block, gemm_at, sync, started, done, post, seen,
    ):
        """One chunk's forward: pad, im2col, then the GEMM and its epilogue into its outputs.

        Images n0 … n1 − 1 of ``x`` padded into ``xpad`` (:func:`pad_planes`; skipped when
        ``xpad`` is ``x``: no padding), their im2col into ``flat`` (via ``cols``, its first K
        rows, in (kh, kw, c) order), then out2[:, col0 : col0 + P] = wkᵀ · flat[:K] in column
        blocks of ``block``, each block finished per filter by
        :func:`glassnet.accel.epilogue.finish_row` while it is in cache (``scale``, ``shift``:
        per filter, or empty for none).

        Shapes:
            x: (C, N, H, W); xpad: (C, N, Hp, Wp); flat: (K [+ 1], P); cols: (K, P), flat's
            first K rows; wk: (K, F), the kernel as it is in memory; scale, shift: (F,) or (0,);
            out2: (F, N·OH·OW)
        """
        spin.signal(sync, started)
        if xpad.ctypes.data != x.ctypes.data:
            pad_planes(x, pt, pl, n0, n1, xpad)
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
        dout2, col0, flats, col0s, rblocks, r0, r1, wk, dwt, dcols, dxp, pt, pl, dx, kh, kw, oh,
        ow, sh, sw, dil_h, dil_w, n0, n1, block, gemm_at, sync, started, done, post, seen,
    ):
        """Rows r0 … r1 − 1 of dL/dw (and dL/db: the columns' row of ones), its chunk's dL/dx.

        dL/dw is split over the threads by ROWS, not by batch chunk: dwt[r0:r1] = Σ_j
        flats[j][r0:r1] · dO_jᵀ over every chunk j's columns (the BLAS adding chunk j > 0 onto
        the result: beta 1), each product summed over column blocks of ``rblocks[j]`` (0: one
        product). Per batch chunk, each thread wrote a whole (K + 1)×F partial and the calling
        thread added them; now each writes its rows once and nothing is added after the join.
        With the rows in (kh, kw, c) order the first K rows of dwt are dL/dw in the kernel's
        own layout. If ``dcols`` has columns (the chunk's dO starts at column ``col0``):
        dcols = wk · dO in column blocks of ``block``, then images n0 … n1 − 1 of the padded
        ``dxp`` zeroed and col2im into them, and (when ``dx`` is not ``dxp``: padding) their
        interior copied into ``dx`` (:func:`crop_planes`).

        Shapes:
            dout2: (F, N·OH·OW); flats: per chunk j (K [+ 1], P_j); col0s, rblocks: (chunks,);
            wk: (K, F); dwt: (K [+ 1], F); dcols: (K, P) or (K, 0); dxp: (C, N, Hp, Wp);
            dx: (C, N, H, W)
        """
        spin.signal(sync, started)
        nf = dout2.shape[0]
        ldd, isz = dout2.shape[1], dwt.itemsize
        zero, one = dwt.dtype.type(0), dwt.dtype.type(1)
        rows = r1 - r0
        if rows > 0:
            first = True
            for j in range(len(flats)):
                flat = flats[j]
                pj, rb = flat.shape[1], rblocks[j]
                a0 = flat.ctypes.data + r0 * pj * isz
                dj = dout2.ctypes.data + col0s[j] * isz
                bw_all = pj if rb == 0 else rb
                nblocks = 0 if rb == 0 else pj // rb
                for b in range(nblocks + 1):
                    b0 = b * bw_all
                    bw = bw_all if b < nblocks or rb == 0 else pj - b0
                    if bw > 0:
                        blas.gemm(gemm_at, blas.NO_TRANS, blas.TRANS, rows, nf, bw,
                                  a0 + b0 * isz, pj, dj + b0 * isz, ldd,
                                  zero if first else one, dwt.ctypes.data + r0 * nf * isz, nf)
                        first = False
                    if rb == 0:
                        break
        p = dcols.shape[1]
        d0 = dout2.ctypes.data + col0 * isz
        if dcols.shape[1] > 0:
            k = wk.shape[0]
            nblocks = p // block if p >= 2 * block else 0
            for b in range(nblocks + 1):
                b0 = b * block
                bw = block if b < nblocks else p - b0
                if bw > 0:
                    blas.gemm(gemm_at, blas.NO_TRANS, blas.NO_TRANS, k, bw, nf, wk.ctypes.data,
                              nf, d0 + b0 * isz, ldd, zero, dcols.ctypes.data + b0 * isz, p)
            zero_planes(dxp, n0, n1)
            kernels.col2im(dcols, kh, kw, oh, ow, True, sh, sw, dil_h, dil_w, n0, dxp)
            if dx.ctypes.data != dxp.ctypes.data:
                crop_planes(dxp, pt, pl, n0, n1, dx)
        spin.finish(sync, done, post, seen)


def reduce_block(f: int, k1: int, p: int) -> int:
    """The dL/dw column block of :func:`glassnet.accel.gemm.matmul_nt` (0: one product)."""
    if p // gemm.BLOCK_REDUCE < 2 or f * k1 > gemm.SMALL_OUTPUT:
        return 0
    return gemm.BLOCK_REDUCE
