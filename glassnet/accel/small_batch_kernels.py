"""The numba kernels behind :mod:`glassnet.accel.small_batch`: one thread's part in one call.

Window gathering (channel-last or plane by plane), the product written plane by plane (the
GEMM transposed through NumPy's BLAS by address) or streamed over the kernel rows for a few
positions, with the bias / folded BatchNorm / clip, and the optional fused 2×2 max-pool. The
layouts and the rules that choose these kernels are in :mod:`glassnet.accel.small_batch`.
"""

from __future__ import annotations

import numpy as np

from glassnet.accel import blas, kernels, spin

# Output positions (per image and part) up to which a convolution's product streams the kernel
# row by row (:func:`stream_product`) instead of calling the BLAS, for kernels too large to
# stay in cache: with so few positions the product is a read of the weights, which the GEMM's
# packing read twice (cold weights, one thread: 4 positions × (1,440 × 320) 279 → 185 µs);
# kernels that stay in cache lost (docs/performance.md, rules table).
FEW_POSITIONS = 4

AVAILABLE = blas.AVAILABLE and spin.AVAILABLE

if AVAILABLE:  # pragma: no branch
    from numba import njit

    @njit(cache=True, nogil=True)
    def _windows(xpad, kh, kw, sh, sw, dil_h, dil_w, n0, i0, cols4):  # type: ignore[no-untyped-def]
        """cols4[n, i, j, (u, v, c)] = xpad[c, n0 + n, (i0 + i)·SH + u·DH, j·SW + v·DW].

        The input's rows that the windows read are first turned channel-last, so every
        window offset (u, v) is one contiguous run of C values in both arrays: numba
        vectorises it whatever the stride (the channel-first layout gave runs of OW values
        with a stride, and was slower: docs/performance.md).

        Shapes:
            xpad: (C, N, Hp, Wp); cols4: (n, m, OW, KH·KW·C)
        """
        nn, m, ow, _ = cols4.shape
        nc, wp = xpad.shape[0], xpad.shape[3]
        r0 = i0 * sh
        rows = (m - 1) * sh + (kh - 1) * dil_h + 1
        xt = np.empty((nn, rows, wp, nc), dtype=xpad.dtype)
        for c in range(nc):
            for n in range(nn):
                src, dst = xpad[c, n0 + n], xt[n]
                for r in range(rows):
                    srow, drow = src[r0 + r], dst[r]
                    for s in range(wp):
                        drow[s, c] = srow[s]
        for n in range(nn):
            for i in range(m):
                for j in range(ow):
                    out = cols4[n, i, j]
                    for u in range(kh):
                        for v in range(kw):
                            run = xt[n, i * sh + u * dil_h, j * sw + v * dil_w]
                            base = (u * kw + v) * nc
                            for c in range(nc):
                                out[base + c] = run[c]

    @njit(cache=True, nogil=True)
    def _conv_t(xpad, wk, kh, kw, sh, sw, dil_h, dil_w, n0, n1, i0, m, ow, f0, f1, stream,  # type: ignore[no-untyped-def]
                gemm_at, channel_last, live):
        """zt[n, i, j, f]: the conv (no bias) of rows i0 … i0 + m − 1, filters f0 … f1 − 1.

        ``stream``: the kernel streamed once (:func:`stream_product`) instead of the GEMM
        (channel-last windows only), skipping each position's taps that ``live`` marks as
        falling wholly in the padding. ``channel_last``: the windows gathered as rows (runs of C
        values) rather than plane by plane (runs of OW values); ConvRows' rule.

        Shapes:
            xpad: (C, N, Hp, Wp); wk: (KH·KW·C, F) -> zt: (n1 − n0, m, OW, f1 − f0)
        """
        k, ld = wk.shape
        nf = f1 - f0
        nc, nn = xpad.shape[0], n1 - n0
        p = nn * m * ow
        zt = np.empty((nn, m, ow, nf), dtype=xpad.dtype)
        w_at = wk.ctypes.data + f0 * wk.itemsize  # the filters' columns: row stride F
        zero = zt.dtype.type(0)
        if channel_last:  # windows as rows: zt = cols · wk
            rows = np.empty((nn, m, ow, k), dtype=xpad.dtype)
            _windows(xpad, kh, kw, sh, sw, dil_h, dil_w, n0, i0, rows)
            if stream:
                taps = np.ascontiguousarray(live[n0:n1, i0 : i0 + m, :ow]).reshape(p, kh * kw)
                stream_live(rows.reshape(p, k), wk, f0, f1, zt.reshape(p, nf), taps, nc)
            else:
                blas.gemm(gemm_at, blas.NO_TRANS, blas.NO_TRANS, p, nf, k, rows.ctypes.data, k,
                          w_at, ld, zero, zt.ctypes.data, nf)
        else:  # windows as columns, plane by plane (runs of OW values): zt = colsᵀ · wk
            cols = np.empty((kh, kw, nc, nn, m, ow), dtype=xpad.dtype)
            kernels.im2col(xpad, sh, sw, dil_h, dil_w, n0, kh, kw, m, ow, True,
                           cols.reshape(k, nn * m * ow), i0)
            blas.gemm(gemm_at, blas.TRANS, blas.NO_TRANS, p, nf, k, cols.ctypes.data, p,
                      w_at, ld, zero, zt.ctypes.data, nf)
        return zt

    @njit(cache=True, nogil=True)
    def stream_product(rows, wk, f0, f1, acc):  # type: ignore[no-untyped-def]
        """acc[p, f] = Σ_k rows[p, k] · wk[k, f0 + f], reading wk once, row after row.

        Each kernel row is one contiguous run of F values, multiplied into every position's
        accumulator while it is in cache (the accumulators, P·F values, stay in L1).

        Shapes:
            rows: (P, K); wk: (K, F); acc: (P, f1 − f0)
        """
        npos, k = rows.shape
        acc[:] = 0
        for kk in range(k):
            wrow = wk[kk, f0:f1]
            for q in range(npos):
                r = rows[q, kk]
                a = acc[q]
                for f in range(a.size):
                    a[f] += r * wrow[f]

    @njit(cache=True, nogil=True)
    def stream_live(rows, wk, f0, f1, acc, taps, nc):  # type: ignore[no-untyped-def]
        """:func:`stream_product` of convolution windows, each position's dead taps skipped.

        ``taps[p, t]`` is 0 where tap t of position p reads only the zero padding (its window
        entries are structural zeros): those products are not computed, as the live crop drops
        a tap dead for every position (:mod:`glassnet.accel.crop`). A 3×3 'same' convolution
        over a 2×2 map has 4 live taps of 9 at each position.

        Shapes:
            rows: (P, K) with K = T·C in (tap, channel) order; wk: (K, F);
            acc: (P, f1 − f0); taps: (P, T)
        """
        npos, k = rows.shape
        acc[:] = 0
        for kk in range(k):
            t = kk // nc
            wrow = wk[kk, f0:f1]
            for q in range(npos):
                if taps[q, t]:
                    r = rows[q, kk]
                    a = acc[q]
                    for f in range(a.size):
                        a[f] += r * wrow[f]

    @njit(cache=True, nogil=True)
    def _conv_planes(xpad, wk, kh, kw, sh, sw, dil_h, dil_w, n, i0, m, f0, f1, stream, gemm_at,  # type: ignore[no-untyped-def]
                     channel_last, live, out):
        """out[f, n, i0 … i0 + m − 1, :] for filters f0 … f1 − 1, by one GEMM into the planes.

        The product is computed transposed, Kᵀ · windowsᵀ: each filter's rows of image n are
        one contiguous run of its output plane, so the GEMM writes them in place (row stride
        N·OH·OW) and nothing is scattered filter by filter afterwards.

        Shapes:
            xpad: (C, N, Hp, Wp); wk: (KH·KW·C, F); out: (F, N, OH, OW), C-contiguous
        """
        k, ld = wk.shape
        _, nn, oh, ow = out.shape
        p = m * ow
        w_at = wk.ctypes.data + f0 * wk.itemsize
        out_at = out.ctypes.data + ((f0 * nn + n) * oh * ow + i0 * ow) * out.itemsize
        zero = out.dtype.type(0)
        if channel_last and stream:  # the kernel streamed once (FEW_POSITIONS)
            rows = np.empty((1, m, ow, k), dtype=xpad.dtype)
            _windows(xpad, kh, kw, sh, sw, dil_h, dil_w, n, i0, rows)
            acc = np.empty((p, f1 - f0), dtype=out.dtype)
            taps = np.ascontiguousarray(live[n, i0 : i0 + m]).reshape(p, kh * kw)
            stream_live(rows.reshape(p, k), wk, f0, f1, acc, taps, xpad.shape[0])
            for f in range(f1 - f0):
                plane = out[f0 + f, n]
                for q in range(p):
                    plane[i0 + q // ow, q % ow] = acc[q, f]
        elif channel_last:  # windows as rows (p, k): out = wkᵀ · rowsᵀ
            rows = np.empty((1, m, ow, k), dtype=xpad.dtype)
            _windows(xpad, kh, kw, sh, sw, dil_h, dil_w, n, i0, rows)
            blas.gemm(gemm_at, blas.TRANS, blas.TRANS, f1 - f0, p, k, w_at, ld,
                      rows.ctypes.data, k, zero, out_at, nn * oh * ow)
        else:  # windows as columns (k, p): out = wkᵀ · cols
            cols = np.empty((k, p), dtype=xpad.dtype)
            kernels.im2col(xpad, sh, sw, dil_h, dil_w, n, kh, kw, m, ow, True, cols, i0)
            blas.gemm(gemm_at, blas.TRANS, blas.NO_TRANS, f1 - f0, p, k, w_at, ld,
                      cols.ctypes.data, p, zero, out_at, nn * oh * ow)

    @njit(cache=True, nogil=True)
    def conv_rows_kernel(  # type: ignore[no-untyped-def]
        xpad, wk, scale, shift, clip, cap, out, kh, kw, sh, sw, dil_h, dil_w, n0, n1, i0, i1,
        f0, f1, stream, gemm_at, channel_last, planes, live, sync, started, done, post, seen,
    ):
        """Output rows ``[i0, i1)`` of images ``[n0, n1)``, filters ``[f0, f1)``, epilogue on.

        The epilogue as :func:`glassnet.accel.epilogue.finish` applies it, in the same order:
        ``z·scale`` (if a scale), ``+ shift`` (the bias, or a folded BatchNorm's shift), then
        the clip to [0, cap]; on each filter's rows right after the product wrote them. With
        ``planes`` a C-contiguous ``out`` is written in place (:func:`_conv_planes`); otherwise
        (or for any other view: the flattened (N, OH, OW, F) buffer) the product is computed
        positions × filters and scattered (ConvRows' rule).

        Shapes:
            xpad: (C, N, Hp, Wp); wk: (KH·KW·C, F); scale, shift: (F,) or (0,);
            out: (F, N, OH, OW)
        """
        spin.signal(sync, started)
        ow = out.shape[3]
        zero = out.dtype.type(0)
        if planes and out.flags.c_contiguous:
            for n in range(n0, n1):
                _conv_planes(xpad, wk, kh, kw, sh, sw, dil_h, dil_w, n, i0, i1 - i0, f0, f1,
                             stream, gemm_at, channel_last, live, out)
                for f in range(f0, f1):
                    a = scale[f] if scale.size else zero
                    b = shift[f] if shift.size else zero
                    for i in range(i0, i1):
                        run = out[f, n, i]
                        for j in range(ow):
                            z = run[j] * a if scale.size else run[j]
                            z = z + b if shift.size else z
                            if clip:  # comparisons false for NaN: it stays NaN, as in finish()
                                z = zero if z < zero else z
                                z = cap if z > cap else z
                            run[j] = z
        else:
            zt = _conv_t(xpad, wk, kh, kw, sh, sw, dil_h, dil_w, n0, n1, i0, i1 - i0, ow, f0,
                         f1, stream, gemm_at, channel_last, live)
            for n in range(n1 - n0):
                for i in range(i1 - i0):
                    for j in range(ow):
                        cell = zt[n, i, j]
                        for f in range(f1 - f0):
                            z = cell[f] * scale[f0 + f] if scale.size else cell[f]
                            z = z + shift[f0 + f] if shift.size else z
                            if clip:
                                z = zero if z < zero else z
                                z = cap if z > cap else z
                            out[f0 + f, n0 + n, i0 + i, j] = z
        spin.finish(sync, done, post, seen)

    @njit(cache=True, nogil=True)
    def conv_pool_rows_kernel(  # type: ignore[no-untyped-def]
        xpad, wk, bias, out, kh, kw, sh, sw, dil_h, dil_w, n0, n1, a0, a1, f0, f1, stream, gemm_at,
        channel_last, live, sync, started, done, post, seen,
    ):
        """relu(maxpool₂ₓ₂(conv + b)): pooled rows [a0, a1) of images [n0, n1), filters [f0, f1).

        Only the conv cells some window reads are computed (rows 2·a0 … 2·a1 − 1, columns
        0 … 2·PW − 1: an odd last row or column is never read); the pooling reads them while
        they are in cache. The bias is added after the maximum (max(z + b) equals max(z) + b:
        rounding is monotone), on a map four times smaller.

        Shapes:
            xpad: (C, N, Hp, Wp); wk: (KH·KW·C, F); bias: (F,) or (0,); out: (F, N, PH, PW)
        """
        spin.signal(sync, started)
        pw = out.shape[3]
        zt = _conv_t(xpad, wk, kh, kw, sh, sw, dil_h, dil_w, n0, n1, 2 * a0, 2 * (a1 - a0), 2 * pw,
                     f0, f1, stream, gemm_at, channel_last, live)
        zero = out.dtype.type(0)
        for n in range(n1 - n0):
            for r in range(a1 - a0):
                for j in range(pw):
                    # The comparisons of kernels.max_pool_2x2_values, then ReLU.
                    ta, tb = zt[n, 2 * r, 2 * j], zt[n, 2 * r, 2 * j + 1]
                    ba, bb = zt[n, 2 * r + 1, 2 * j], zt[n, 2 * r + 1, 2 * j + 1]
                    for f in range(f1 - f0):
                        a, b1, c, d = ta[f], tb[f], ba[f], bb[f]
                        m1 = b1 if b1 > a else a
                        m2 = d if d > c else c
                        v = (m2 if m2 > m1 else m1) + (bias[f0 + f] if bias.size else zero)
                        out[f0 + f, n0 + n, a0 + r, j] = v if v > 0 else zero
        spin.finish(sync, done, post, seen)
