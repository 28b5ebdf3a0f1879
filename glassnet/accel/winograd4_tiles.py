"""Winograd F(4×4, 3×3)'s transforms as numba kernels, images innermost.

The larger tile of :mod:`glassnet.accel.winograd`: each 4×4 block of outputs reads a 6×6 patch
of the padded input, and the channel sums are 36 GEMMs (one per position of the 6×6
transform) of 36·C·F multiply-adds per tile — 2.25 per output against F(2×2, 3×3)'s 4 and
im2col's 9. The matrices come from the interpolation points 0, 1, −1, 2, −½ and ∞ (not the
usual ±2): their float32 error measured 3× smaller (1.2–3.1·10⁻⁶ of the output's magnitude at
16–256 channels, against 2.3–9.8·10⁻⁶ with ±2; F(2×2, 3×3): 0.2–0.8·10⁻⁶), because −½ keeps
the powers in Aᵀ and G small::

    Bᵀ = [1  3/2  −2   −3/2   1    0]   G = [  1      0      0  ]   Aᵀ = [1  1  1  1   1    0]
         [0  −1  −5/2  −1/2   1    0]       [−1/3  −1/3  −1/3 ]        [0  1 −1  2  −1/2  0]
         [0   1   1/2  −5/2   1    0]       [ 1/3  −1/3   1/3 ]        [0  1  1  4   1/4  0]
         [0 −1/2  −1    1/2   1    0]       [1/15  2/15  4/15 ]        [0  1 −1  8  −1/8  1]
         [0   2   −1   −2     1    0]       [−16/15 8/15 −4/15]
         [0   1   3/2  −2   −3/2   1]       [  0      0      1  ]

The vectors run over the images of a thread's part, as in
:func:`glassnet.accel.winograd_tiles.input_by_image`; so this tile serves parts of at least as
many images as there are tiles in a row (:func:`glassnet.accel.winograd.images_inner`).
Defined only where numba is (``kernels.AVAILABLE``).
"""

from __future__ import annotations

import numpy as np

from glassnet.accel import kernels

if kernels.AVAILABLE:  # pragma: no branch
    from glassnet.accel.winograd_tiles import bordered, images_innermost

# The matrices, for the tests and the docs; the kernels below spell them out.
G = np.array([[1, 0, 0], [-1 / 3, -1 / 3, -1 / 3], [1 / 3, -1 / 3, 1 / 3],
              [1 / 15, 2 / 15, 4 / 15], [-16 / 15, 8 / 15, -4 / 15], [0, 0, 1]])
BT = np.array([[1, 1.5, -2, -1.5, 1, 0], [0, -1, -2.5, -0.5, 1, 0], [0, 1, 0.5, -2.5, 1, 0],
               [0, -0.5, -1, 0.5, 1, 0], [0, 2, -1, -2, 1, 0], [0, 1, 1.5, -2, -1.5, 1]])
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -0.5, 0], [0, 1, 1, 4, 0.25, 0],
               [0, 1, -1, 8, -0.125, 1]])


if kernels.AVAILABLE:  # pragma: no branch
    from numba import njit

    @njit(cache=True, nogil=True, inline="always")
    def _g(g0, g1, g2):  # type: ignore[no-untyped-def]
        """G·g for one column of three float64 values."""
        third, fifteenth = 1 / 3, 1 / 15  # products, not divisions: a division is ~10× slower
        return (g0, -(g0 + g1 + g2) * third, (g0 - g1 + g2) * third,
                (g0 + 2 * g1 + 4 * g2) * fifteenth, (8 * g1 - 16 * g0 - 4 * g2) * fifteenth, g2)

    @njit(cache=True, nogil=True)
    def kernel_tiles(g, u, lo, hi):  # type: ignore[no-untyped-def]
        """u[6a + b, k] = (G g_k Gᵀ)[a, b] for the columns lo ≤ k < hi, k = (c, f).

        In float64, rounded once to ``u``'s dtype (1/3 and 1/15 are not binary fractions).
        Blocks of columns: G g into a small float64 block (six store streams), then its rows
        times Gᵀ (six more), each a vector over the block's columns.

        Shapes:
            g: (9, C·F), row 3i + j = tap (i, j); u: (36, C·F)
        """
        step = 512
        h = np.empty((6, 3, step), dtype=np.float64)  # G g: rows a, columns j
        for k0 in range(lo, hi, step):
            k1 = min(hi, k0 + step)
            for j in range(3):
                r0, r1, r2 = g[j, k0:k1], g[3 + j, k0:k1], g[6 + j, k0:k1]
                h0, h1, h2, h3, h4, h5 = h[0, j], h[1, j], h[2, j], h[3, j], h[4, j], h[5, j]
                for k in range(k1 - k0):
                    h0[k], h1[k], h2[k], h3[k], h4[k], h5[k] = _g(
                        np.float64(r0[k]), np.float64(r1[k]), np.float64(r2[k]))
            for a in range(6):
                c0, c1, c2 = h[a, 0], h[a, 1], h[a, 2]
                u0, u1, u2 = u[6 * a, k0:k1], u[6 * a + 1, k0:k1], u[6 * a + 2, k0:k1]
                u3, u4, u5 = u[6 * a + 3, k0:k1], u[6 * a + 4, k0:k1], u[6 * a + 5, k0:k1]
                for k in range(k1 - k0):
                    u0[k], u1[k], u2[k], u3[k], u4[k], u5[k] = _g(c0[k], c1[k], c2[k])

    @njit(cache=True, nogil=True, inline="always")
    def _bt(d0, d1, d2, d3, d4, d5, one5, two, two5, half):  # type: ignore[no-untyped-def]
        """Bᵀ·d for one column of six values (the constants in the data's dtype)."""
        p, q = d1 - d3, d4 - d2
        return (d0 - two * d2 + d4 + one5 * p,
                d4 - d1 - two5 * d2 - half * d3,
                d4 + d1 + half * d2 - two5 * d3,
                q - half * p,
                q + two * p,
                d5 + d1 + one5 * d2 - two * d3 - one5 * d4)

    @njit(cache=True, nogil=True, inline="always")
    def _at(m0, m1, m2, m3, m4, m5, two, four, eight, half, quarter, eighth):  # type: ignore[no-untyped-def]
        """Aᵀ·m for one column of six values."""
        s, d = m1 + m2, m1 - m2
        return (s + m0 + m3 + m4, d + two * m3 - half * m4, s + four * m3 + quarter * m4,
                d + eight * m3 - eighth * m4 + m5)

    @njit(cache=True, nogil=True)
    def input_by_image(x, pt, pl, n0, n1, th, tw, v):  # type: ignore[no-untyped-def]
        """v[ξ, c, t] = (Bᵀ d B)[ξ] with tile t = (ty·TW + tx)·NB + (n − n0).

        Each channel's planes are first copied image-innermost into a zero-bordered buffer
        (Hp, Wp, NB); a row of tiles is transformed row-wise (Bᵀ d, whole vectors), then
        column-wise into a small block (36, TW, NB) copied out as 36 contiguous runs.

        Shapes:
            x: (C, N, H, W); v: (36, C, TH·TW·(n1 − n0))
        """
        dt = v.dtype.type
        one5, two, two5, half = dt(1.5), dt(2), dt(2.5), dt(0.5)
        nc, h, w = x.shape[0], x.shape[2], x.shape[3]
        nb, hp, wp = n1 - n0, 4 * th + 2, 4 * tw + 2
        buf, (r0, r1), (q0, q1) = bordered(h, w, pt, pl, nb, hp, wp, v.dtype)
        flat_rows = buf.reshape(hp, wp * nb)
        e = np.empty((6, wp, nb), dtype=v.dtype)  # Bᵀ d of a row of tiles, every column
        block = np.empty((36, tw, nb), dtype=v.dtype)
        runs = block.reshape(36, tw * nb)
        span = tw * nb
        for c in range(nc):
            images_innermost(x[c, n0:n1], pt, pl, r0, r1, q0, q1, buf)
            for ty in range(th):
                d0, d1, d2 = flat_rows[4 * ty], flat_rows[4 * ty + 1], flat_rows[4 * ty + 2]
                d3, d4, d5 = flat_rows[4 * ty + 3], flat_rows[4 * ty + 4], flat_rows[4 * ty + 5]
                e0, e1, e2 = e[0].reshape(wp * nb), e[1].reshape(wp * nb), e[2].reshape(wp * nb)
                e3, e4, e5 = e[3].reshape(wp * nb), e[4].reshape(wp * nb), e[5].reshape(wp * nb)
                for q in range(wp * nb):
                    e0[q], e1[q], e2[q], e3[q], e4[q], e5[q] = _bt(
                        d0[q], d1[q], d2[q], d3[q], d4[q], d5[q], one5, two, two5, half)
                for a in range(6):
                    for tx in range(tw):
                        for k in range(nb):
                            q = 4 * tx
                            (block[6 * a, tx, k], block[6 * a + 1, tx, k],
                             block[6 * a + 2, tx, k], block[6 * a + 3, tx, k],
                             block[6 * a + 4, tx, k], block[6 * a + 5, tx, k]) = _bt(
                                e[a, q, k], e[a, q + 1, k], e[a, q + 2, k], e[a, q + 3, k],
                                e[a, q + 4, k], e[a, q + 5, k], one5, two, two5, half)
                for xi in range(36):
                    v[xi, c, ty * span : (ty + 1) * span] = runs[xi]

    @njit(cache=True, nogil=True)
    def output_by_image(m, n0, n1, th, tw, scale, shift, scaled, shifted, clip, cap, out):  # type: ignore[no-untyped-def]
        """out[f, n, 4ty + i, 4tx + j] = (Aᵀ m A)[i, j] of tile t, then the epilogue.

        The tiles of :func:`input_by_image`. ``scale``/``shift`` per filter when
        ``scaled``/``shifted``; ``clip``: min(max(·, 0), cap), NaN kept. One loop over the
        images per tile: its 36 values in, its 16 outputs into a small block (vectors over the
        images), which is then scattered into the maps' rows.

        Shapes:
            m: (36, F, TH·TW·(n1 − n0)); out: (F, N, 4·TH, 4·TW)
        """
        dt = out.dtype.type
        two, four, eight = dt(2), dt(4), dt(8)
        half, quarter, eighth = dt(0.5), dt(0.25), dt(0.125)
        zero = dt(0)
        nf = out.shape[0]
        nb = n1 - n0
        m5 = m.reshape(36, nf, th, tw, nb)
        y = np.empty((16, tw, nb), dtype=out.dtype)  # y[4i + j, tx, n]: output (4ty+i, 4tx+j)
        s = np.empty((4, 6, nb), dtype=out.dtype)  # Aᵀ m of one tile: rows i, columns b
        for f in range(nf):
            sf = scale[f] if scaled else zero
            hf = shift[f] if shifted else zero
            ob = out[f, n0:n1]
            for ty in range(th):
                for tx in range(tw):
                    # Aᵀ m, column by column: six loads and four stores per vector (1-D views:
                    # more streams per loop defeat the vectoriser's overlap checks)
                    for b in range(6):
                        p0, p1, p2 = m5[b, f, ty, tx], m5[6 + b, f, ty, tx], m5[12 + b, f, ty, tx]
                        p3, p4 = m5[18 + b, f, ty, tx], m5[24 + b, f, ty, tx]
                        p5 = m5[30 + b, f, ty, tx]
                        s0, s1, s2, s3 = s[0, b], s[1, b], s[2, b], s[3, b]
                        for k in range(nb):
                            s0[k], s1[k], s2[k], s3[k] = _at(
                                p0[k], p1[k], p2[k], p3[k], p4[k], p5[k],
                                two, four, eight, half, quarter, eighth)
                    # ... then (Aᵀ m) A, row by row, with the epilogue
                    for i in range(4):
                        q0, q1, q2 = s[i, 0], s[i, 1], s[i, 2]
                        q3, q4, q5 = s[i, 3], s[i, 4], s[i, 5]
                        y0, y1 = y[4 * i, tx], y[4 * i + 1, tx]
                        y2, y3 = y[4 * i + 2, tx], y[4 * i + 3, tx]
                        for k in range(nb):
                            v0, v1, v2, v3 = _at(q0[k], q1[k], q2[k], q3[k], q4[k], q5[k],
                                                 two, four, eight, half, quarter, eighth)
                            if scaled:
                                v0, v1, v2, v3 = v0 * sf, v1 * sf, v2 * sf, v3 * sf
                            if shifted:
                                v0, v1, v2, v3 = v0 + hf, v1 + hf, v2 + hf, v3 + hf
                            if clip:  # two selects each (NaN kept): nested ones did not vectorise
                                v0 = zero if v0 <= zero else v0
                                v1 = zero if v1 <= zero else v1
                                v2 = zero if v2 <= zero else v2
                                v3 = zero if v3 <= zero else v3
                                v0 = cap if v0 >= cap else v0
                                v1 = cap if v1 >= cap else v1
                                v2 = cap if v2 >= cap else v2
                                v3 = cap if v3 >= cap else v3
                            y0[k], y1[k], y2[k], y3[k] = v0, v1, v2, v3
                for i in range(4):
                    for tx in range(tw):
                        for j in range(4):
                            src = y[4 * i + j, tx]
                            for k in range(nb):
                                ob[k, 4 * ty + i, 4 * tx + j] = src[k]
