"""Winograd F(2×2, 3×3)'s transforms as numba kernels: kernel, input and output tiles.

The arithmetic behind :mod:`glassnet.accel.winograd` (which states the algorithm and chooses
the tile order): U = G g Gᵀ per (c, f) column, V = Bᵀ d B per (c, tile), and the output
Aᵀ m A of each tile with its epilogue. Two tile orders, each with its input and output kernel:
the tiles of a row innermost (:func:`input_rows`, :func:`output_rows`; a part is a range of
images and of tile rows) and the images of a thread's part innermost (:func:`input_by_image`,
:func:`output_by_image`). Defined only where numba is (``kernels.AVAILABLE``).
"""

from __future__ import annotations

import numpy as np

from glassnet.accel import kernels

if kernels.AVAILABLE:  # pragma: no branch
    from numba import njit

    @njit(cache=True, nogil=True)
    def kernel_tiles(g, u, lo, hi):  # type: ignore[no-untyped-def]
        """u[4a + b, k] = (G g_k Gᵀ)[a, b] for the columns lo ≤ k < hi, k = (c, f).

        G's rows are (1, 0, 0), (½, ½, ½), (½, −½, ½), (0, 0, 1): each output is a signed half
        sum of kernel values, one vectorised pass over the (c, f) pairs per output.

        Shapes:
            g: (9, C·F), row 3i + j = tap (i, j); u: (16, C·F)
        """
        half = u.dtype.type(0.5)
        h = np.empty((4, 3, hi - lo), dtype=u.dtype)  # G g: rows a, columns j
        for j in range(3):
            r0, r1, r2 = g[j, lo:hi], g[3 + j, lo:hi], g[6 + j, lo:hi]
            h0, h1, h2, h3 = h[0, j], h[1, j], h[2, j], h[3, j]
            for k in range(hi - lo):
                h0[k] = r0[k]
                h1[k] = half * (r0[k] + r1[k] + r2[k])
                h2[k] = half * (r0[k] - r1[k] + r2[k])
                h3[k] = r2[k]
        for a in range(4):  # (G g) Gᵀ
            c0, c1, c2 = h[a, 0], h[a, 1], h[a, 2]
            u0, u1 = u[4 * a, lo:hi], u[4 * a + 1, lo:hi]
            u2, u3 = u[4 * a + 2, lo:hi], u[4 * a + 3, lo:hi]
            for k in range(hi - lo):
                u0[k] = c0[k]
                u1[k] = half * (c0[k] + c1[k] + c2[k])
                u2[k] = half * (c0[k] - c1[k] + c2[k])
                u3[k] = c2[k]

    @njit(cache=True, nogil=True)
    def input_rows(x, pt, pl, n0, n1, ty0, ty1, tw, v):  # type: ignore[no-untyped-def]
        """v[ξ, c, t] = (Bᵀ d B)[ξ] of the 4×4 patch of tile t (zeros outside the input).

        The part's tiles: images n0 … n1 − 1, tile rows ty0 … ty1 − 1. Tile
        t = ((n − n0)·R + ty − ty0)·TW + tx (R = ty1 − ty0) reads input rows 2·ty − pt … + 3,
        columns 2·tx − pl … + 3. One row of tiles at a time: its four input rows are copied into a
        zero-padded buffer, combined row-wise (Bᵀ d) as whole vectors, then column-wise with
        stride-2 reads, so both passes vectorise over the tiles.

        Shapes:
            x: (C, N, H, W); v: (16, C, (n1 − n0)·R·TW)
        """
        nc, h, w = x.shape[0], x.shape[2], x.shape[3]
        nr = ty1 - ty0
        wp = 2 * tw + 2
        rows = np.zeros((4, wp), dtype=v.dtype)
        e = np.empty((4, wp), dtype=v.dtype)
        lo = max(0, -pl)  # columns of the buffer that hold input: [pl + lo, pl + hi)
        hi = min(w, wp - pl)
        for c in range(nc):
            for n in range(n0, n1):
                plane = x[c, n]
                for j in range(nr):
                    ty = ty0 + j
                    for a in range(4):
                        r = 2 * ty - pt + a
                        buf = rows[a]
                        buf[:] = 0
                        if 0 <= r < h and lo < hi:
                            buf[pl + lo : pl + hi] = plane[r, lo:hi]
                    r0, r1, r2, r3 = rows[0], rows[1], rows[2], rows[3]
                    e0, e1, e2, e3 = e[0], e[1], e[2], e[3]
                    for q in range(wp):  # Bᵀ d: whole rows
                        e0[q] = r0[q] - r2[q]
                        e1[q] = r1[q] + r2[q]
                        e2[q] = r2[q] - r1[q]
                        e3[q] = r1[q] - r3[q]
                    t0 = ((n - n0) * nr + j) * tw
                    for k in range(4):  # (Bᵀ d) B: columns 2tx … 2tx + 3 of row k
                        ek = e[k]
                        o0 = v[4 * k, c, t0 : t0 + tw]
                        o1 = v[4 * k + 1, c, t0 : t0 + tw]
                        o2 = v[4 * k + 2, c, t0 : t0 + tw]
                        o3 = v[4 * k + 3, c, t0 : t0 + tw]
                        for tx in range(tw):
                            q = 2 * tx
                            o0[tx] = ek[q] - ek[q + 2]
                            o1[tx] = ek[q + 1] + ek[q + 2]
                            o2[tx] = ek[q + 2] - ek[q + 1]
                            o3[tx] = ek[q + 1] - ek[q + 3]

    @njit(cache=True, nogil=True)
    def output_rows(m, n0, n1, ty0, ty1, tw, scale, shift, scaled, shifted, clip, cap, out):  # type: ignore[no-untyped-def]
        """out[f, n, 2ty + i, 2tx + j] = (Aᵀ m A)[i, j] of tile t, then the epilogue.

        The tiles of :func:`input_rows` (images n0 … n1 − 1, tile rows ty0 … ty1 − 1).

        ``scale``/``shift`` per filter when ``scaled``/``shifted``; ``clip``: min(max(·, 0),
        cap), NaN kept. Positions past OH, OW (an odd output size) are not written. One row of
        tiles at a time, as whole vectors over the tiles.

        Shapes:
            m: (16, F, (n1 − n0)·(ty1 − ty0)·TW); out: (F, N, OH, OW)
        """
        nf, oh, ow = out.shape[0], out.shape[2], out.shape[3]
        nr = ty1 - ty0
        zero = out.dtype.type(0)
        s = np.empty((2, 4, tw), dtype=out.dtype)  # Aᵀ m: 2 rows × 4 columns of every tile
        y = np.empty((2, 2 * tw), dtype=out.dtype)  # the tiles' two output rows, side by side
        for f in range(nf):
            sf = scale[f] if scaled else zero
            hf = shift[f] if shifted else zero
            for n in range(n0, n1):
                for jr in range(nr):
                    ty = ty0 + jr
                    t0 = ((n - n0) * nr + jr) * tw
                    for b in range(4):
                        m0, m1 = m[b, f, t0 : t0 + tw], m[4 + b, f, t0 : t0 + tw]
                        m2, m3 = m[8 + b, f, t0 : t0 + tw], m[12 + b, f, t0 : t0 + tw]
                        s0, s1 = s[0, b], s[1, b]
                        for tx in range(tw):
                            s0[tx] = m0[tx] + m1[tx] + m2[tx]
                            s1[tx] = m1[tx] - m2[tx] - m3[tx]
                    for i in range(2):
                        a0, a1, a2, a3 = s[i, 0], s[i, 1], s[i, 2], s[i, 3]
                        yi = y[i]
                        for tx in range(tw):
                            yi[2 * tx] = a0[tx] + a1[tx] + a2[tx]
                            yi[2 * tx + 1] = a1[tx] - a2[tx] - a3[tx]
                        if scaled:
                            for q in range(2 * tw):
                                yi[q] *= sf
                        if shifted:
                            for q in range(2 * tw):
                                yi[q] += hf
                        if clip:
                            for q in range(2 * tw):
                                t = zero if yi[q] <= zero else yi[q]
                                yi[q] = cap if t >= cap else t
                        row = 2 * ty + i
                        if row < oh:
                            out[f, n, row, :] = yi[:ow]


if kernels.AVAILABLE:  # pragma: no branch

    @njit(cache=True, nogil=True, inline="always")
    def bordered(h, w, pt, pl, nb, hp, wp, dtype):  # type: ignore[no-untyped-def]
        """A zeroed (Hp, Wp, NB) buffer for padded planes, and the input's rows and columns in it.

        The rows [r0, r1) and columns [q0, q1) of an H × W input that land inside the buffer
        once shifted by the padding pt, pl.
        """
        buf = np.zeros((hp, wp, nb), dtype=dtype)
        return buf, (max(0, -pt), min(h, hp - pt)), (max(0, -pl), min(w, wp - pl))

    @njit(cache=True, nogil=True, inline="always")
    def images_innermost(xb, pt, pl, r0, r1, q0, q1, buf):  # type: ignore[no-untyped-def]
        """buf[r + pt, q + pl, k] = xb[k, r, q]: a channel's planes, images innermost.

        Input rows r0 … r1 − 1, columns q0 … q1 − 1, into a zero-bordered buffer (the border
        stays zero: only the input's positions change).

        Shapes:
            xb: (NB, H, W); buf: (Hp, Wp, NB)
        """
        for r in range(r0, r1):
            for q in range(q0, q1):
                dst = buf[r + pt, q + pl]
                for k in range(xb.shape[0]):
                    dst[k] = xb[k, r, q]

    @njit(cache=True, nogil=True)
    def input_by_image(x, pt, pl, n0, n1, th, tw, v):  # type: ignore[no-untyped-def]
        """v[ξ, c, t] = (Bᵀ d B)[ξ] with tile t = (ty·TW + tx)·NB + (n − n0): images innermost.

        For maps of a few tiles per row the per-row loops of :func:`input_rows` are all
        overhead; here the vectors run over the part's images instead. Each channel's planes
        are first copied image-innermost into a zero-bordered buffer (Hp, Wp, NB), so every
        one of a tile's 16 inputs is a contiguous vector over the images; a row of tiles is
        transformed into a small block (16, TW, NB) and then copied out as 16 contiguous runs —
        writing the 16 rows of ``v`` directly would put 16 store streams C·tiles apart, a
        power of two apart for usual sizes, into one cache set. Measured per call (16 images,
        against the row kernel): 64 channels on 8×8 maps 731 → 272 µs, 128 on 4×4 384 → 96,
        256 on 2×2 319 → 65.

        Shapes:
            x: (C, N, H, W); v: (16, C, TH·TW·(n1 − n0))
        """
        nc, h, w = x.shape[0], x.shape[2], x.shape[3]
        nb, hp, wp = n1 - n0, 2 * th + 2, 2 * tw + 2
        buf, (r0, r1), (q0, q1) = bordered(h, w, pt, pl, nb, hp, wp, v.dtype)
        flat_rows = buf.reshape(hp, wp * nb)
        e = np.empty((4, wp, nb), dtype=v.dtype)  # Bᵀ d of a row of tiles, every column
        flat_e = e.reshape(4, wp * nb)
        block = np.empty((16, tw, nb), dtype=v.dtype)
        runs = block.reshape(16, tw * nb)
        span = tw * nb
        for c in range(nc):
            images_innermost(x[c, n0:n1], pt, pl, r0, r1, q0, q1, buf)
            for ty in range(th):
                # Bᵀ d: whole rows (every column, every image) as one vector each
                d0, d1 = flat_rows[2 * ty], flat_rows[2 * ty + 1]
                d2, d3 = flat_rows[2 * ty + 2], flat_rows[2 * ty + 3]
                e0, e1, e2, e3 = flat_e[0], flat_e[1], flat_e[2], flat_e[3]
                for q in range(wp * nb):
                    e0[q] = d0[q] - d2[q]
                    e1[q] = d1[q] + d2[q]
                    e2[q] = d2[q] - d1[q]
                    e3[q] = d1[q] - d3[q]
                # (Bᵀ d) B: columns 2tx … 2tx + 3 of each row a; four store streams per loop
                # (sixteen defeated the vectoriser's overlap checks)
                for a in range(4):
                    for tx in range(tw):
                        for k in range(nb):
                            s0, s1 = e[a, 2 * tx, k], e[a, 2 * tx + 1, k]
                            s2, s3 = e[a, 2 * tx + 2, k], e[a, 2 * tx + 3, k]
                            block[4 * a, tx, k] = s0 - s2
                            block[4 * a + 1, tx, k] = s1 + s2
                            block[4 * a + 2, tx, k] = s2 - s1
                            block[4 * a + 3, tx, k] = s1 - s3
                for xi in range(16):
                    v[xi, c, ty * span : (ty + 1) * span] = runs[xi]

    @njit(cache=True, nogil=True, inline="always")
    def _clip(val, zero, cap):  # type: ignore[no-untyped-def]
        """min(max(val, 0), cap) with NaN kept (as the other epilogues)."""
        val = zero if val <= zero else val
        return cap if val >= cap else val

    @njit(cache=True, nogil=True)
    def output_by_image(m, n0, n1, th, tw, scale, shift, scaled, shifted, clip, cap, out):  # type: ignore[no-untyped-def]
        """:func:`output_rows` for the tile order of :func:`input_by_image`.

        Vectors over the images, a row of tiles at a time into a small block, then scattered
        into the maps' rows (positions past OH, OW not written).

        Shapes:
            m: (16, F, TH·TW·(n1 − n0)); out: (F, N, OH, OW)
        """
        nf, oh, ow = out.shape[0], out.shape[2], out.shape[3]
        nb = n1 - n0
        m5 = m.reshape(16, nf, th, tw, nb)
        zero = out.dtype.type(0)
        y = np.empty((4, tw, nb), dtype=out.dtype)  # y[2i + j, tx, n]: output (2ty + i, 2tx + j)
        whole = oh == 2 * th and ow == 2 * tw
        for f in range(nf):
            sf = scale[f] if scaled else zero
            hf = shift[f] if shifted else zero
            ob = out[f, n0:n1]
            for ty in range(th):
                for tx in range(tw):
                    for k in range(nb):
                        # Aᵀ m: rows 0 + 1 + 2 and 1 − 2 − 3 of the 4×4 tile, per column
                        a0 = m5[0, f, ty, tx, k] + m5[4, f, ty, tx, k] + m5[8, f, ty, tx, k]
                        a1 = m5[1, f, ty, tx, k] + m5[5, f, ty, tx, k] + m5[9, f, ty, tx, k]
                        a2 = m5[2, f, ty, tx, k] + m5[6, f, ty, tx, k] + m5[10, f, ty, tx, k]
                        a3 = m5[3, f, ty, tx, k] + m5[7, f, ty, tx, k] + m5[11, f, ty, tx, k]
                        b0 = m5[4, f, ty, tx, k] - m5[8, f, ty, tx, k] - m5[12, f, ty, tx, k]
                        b1 = m5[5, f, ty, tx, k] - m5[9, f, ty, tx, k] - m5[13, f, ty, tx, k]
                        b2 = m5[6, f, ty, tx, k] - m5[10, f, ty, tx, k] - m5[14, f, ty, tx, k]
                        b3 = m5[7, f, ty, tx, k] - m5[11, f, ty, tx, k] - m5[15, f, ty, tx, k]
                        y00, y01 = a0 + a1 + a2, a1 - a2 - a3
                        y10, y11 = b0 + b1 + b2, b1 - b2 - b3
                        if scaled:
                            y00, y01, y10, y11 = y00 * sf, y01 * sf, y10 * sf, y11 * sf
                        if shifted:
                            y00, y01, y10, y11 = y00 + hf, y01 + hf, y10 + hf, y11 + hf
                        if clip:
                            y00, y01 = _clip(y00, zero, cap), _clip(y01, zero, cap)
                            y10, y11 = _clip(y10, zero, cap), _clip(y11, zero, cap)
                        y[0, tx, k], y[1, tx, k], y[2, tx, k], y[3, tx, k] = y00, y01, y10, y11
                if whole:
                    for k in range(nb):
                        for tx in range(tw):
                            ob[k, 2 * ty, 2 * tx] = y[0, tx, k]
                            ob[k, 2 * ty, 2 * tx + 1] = y[1, tx, k]
                            ob[k, 2 * ty + 1, 2 * tx] = y[2, tx, k]
                            ob[k, 2 * ty + 1, 2 * tx + 1] = y[3, tx, k]
                else:  # an odd size: the last tile row / column keeps what lies inside
                    for k in range(nb):
                        for tx in range(tw):
                            for i in range(2):
                                for j in range(2):
                                    if 2 * ty + i < oh and 2 * tx + j < ow:
                                        ob[k, 2 * ty + i, 2 * tx + j] = y[2 * i + j, tx, k]
