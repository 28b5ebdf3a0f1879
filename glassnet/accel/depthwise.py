"""A depthwise convolution computed directly, one channel plane at a time (no im2col).

A depthwise convolution has one input channel per group (groups == C, ``w`` of shape
``[KH, KW, 1, F]`` with F = C·M, M the depth multiplier): filter f reads input channel f // M
only. The grouped im2col path (:mod:`glassnet.accel.conv`) lays out KH·KW copies of the input
and then runs G tiny [M, KH·KW] · [KH·KW, N·OH·OW] products — nine multiply-adds per element it
copied, the rest call overhead and memory traffic. Here, in the compute layout CNHW, a channel's
(N, H, W) block is one contiguous plane, and each tap is one long vectorised loop over it.

How a tap becomes one loop (the "phase planes"): the channel's zero-padded input (Hp × Wp per
image) is split by the row stride into S_h phase planes, ``P[p][n, a, :] = xpad[n, a·S_h + p, :]``,
each (N, HQ, Wp) with HQ = ⌈Hp / S_h⌉, stored flat. Tap (u, v) with u·D_h = α·S_h + p reads,
for output (n, i, j), ``xpad[n, i·S_h + u·D_h, j·S_w + v·D_w]`` = ``P[p][(n·HQ + i + α)·Wp +
j·S_w + v·D_w]``: on a flat (N, HQ, Wp) grid where output (n, i, j) sits at (n·HQ + i)·Wp +
j·S_w, that is the grid position plus a constant shift α·Wp + v·D_w. So each tap is
``grid[0 : L − shift] += w[u, v, f] · P[p][shift : L]`` (L = N·HQ·Wp), and the outputs are
picked from the grid (every S_w-th column of its first OH rows per image) when copying out; the
rest of the grid (padding rows and columns, the columns between strided ones) is computed and
dropped. Stride 1 has one phase plane: the padded copy itself.

* Padding: a padded copy per channel (the phase planes), not bounds in the loops: bounds cut
  each tap into one short loop per output row. Columns are not split by the stride (a strided
  column gather is scalar; the taps over the wider grid are vectorised). Both measured:
  docs/performance.md, rules table.
* The backward runs the same loops transposed: dL/dw[u, v, f] is the dot product of dL/dout
  (placed on the grid, zeros elsewhere) with the shifted phase plane, dL/dx the shifted adds of
  dL/dout · w into phase planes of dL/dxpad, copied back (padding dropped).
* Threads: the input channels split into contiguous ranges (:mod:`glassnet.accel.parallel`),
  one nogil call each (:func:`glassnet.accel.parallel.run_kernel`). A thread owns its channels'
  planes of out, dL/dx, dL/dw and dL/db, so no partial sums are added across threads: the
  results are the same bit for bit whatever the thread count.

Results equal the reference (:mod:`glassnet.ops.conv`) to rounding (sums in another order);
``tests/test_accel_depthwise.py`` checks it over random geometries.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.accel import kernels, parallel, spin
from glassnet.ops.conv import ConvGeometry

Array = Any

AVAILABLE = kernels.AVAILABLE and spin.AVAILABLE
# Grid positions per block of the tap loops: 8–16 KiB of output and of each phase plane stay
# in L1 while all KH·KW taps pass over them.
BLOCK = 2048


class DepthwiseCache(NamedTuple):
    """What :func:`depthwise_backward` needs from :func:`depthwise_forward`."""

    x: Array  # (C, N, H, W), C-contiguous: the input the forward read
    w: Array  # [KH, KW, 1, F], F = C·M
    taps: Array  # (F, KH·KW), C-contiguous: w with each filter's taps together
    geometry: ConvGeometry  # of the convolution that ran (cropped, if crop is set)
    has_bias: bool
    # Set by accel.conv.conv2d_resolved when it dropped dead taps (see FastConv2DCache.crop).
    crop: Any = None


class PhasePlan(NamedTuple):
    """Where each tap reads in the phase planes (module docstring)."""

    hq: int  # phase plane rows per image, ⌈Hp / S_h⌉
    wq: int  # columns, Wp (all of them)
    phase: Array  # (KH·KW,) int64: tap (u, v)'s plane p = (u·D_h) mod S_h
    shift: Array  # (KH·KW,) int64: tap (u, v)'s flat offset α·Wp + v·D_w


def usable(x: Array, w: Array, groups: int) -> bool:
    """Whether :func:`depthwise_forward` runs this convolution: the rule, from shapes alone.

    A grouped convolution with one input channel per group (groups == C > 1), NumPy arrays of
    one float dtype (float32 or float64), numba switched on. An ungrouped one (C = 1 included)
    keeps its GEMM, one product with no per-group overhead.
    """
    return (
        AVAILABLE
        and groups > 1
        and groups == x.shape[0]
        and w.shape[2] == 1
        and kernels.enabled(x, w)
        and x.dtype == w.dtype
        and x.dtype in (np.float32, np.float64)
    )


def phase_plan(in_hw: tuple[int, int], kernel_hw: tuple[int, int],
               geometry: ConvGeometry) -> PhasePlan:
    """The phase planes' size and every tap's plane and shift (module docstring).

    Shapes:
        phase, shift: (KH·KW,), taps in (u, v) order
    """
    (_, ((top, bottom), (left, right)), (sh, _), (dil_h, dil_w)) = geometry
    hq = -(-(in_hw[0] + top + bottom) // sh)
    wq = in_hw[1] + left + right
    phase, shift = [], []
    for u in range(kernel_hw[0]):
        alpha, p = divmod(u * dil_h, sh)
        for v in range(kernel_hw[1]):
            phase.append(p)
            shift.append(alpha * wq + v * dil_w)
    return PhasePlan(hq, wq, np.array(phase, np.int64), np.array(shift, np.int64))


def depthwise_forward(
    x: Array, w: Array, b: Array | None, geometry: ConvGeometry
) -> tuple[Array, DepthwiseCache]:
    """Convolve each channel plane with its own filters, directly (no im2col).

    out[f, n, i, j] = Σ_{u, v} x[f // M, n, i·S_h + u·D_h − top, j·S_w + v·D_w − left] ·
    w[u, v, 0, f] + b[f], the input read as 0 outside its bounds.

    Args:
        x: input maps (checked by the caller: :func:`usable`).
        w: the depthwise kernel.
        b: bias or None.
        geometry: the resolved geometry (:func:`glassnet.ops.conv.conv_geometry`).

    Returns:
        (out, cache for :func:`depthwise_backward`).

    Shapes:
        x: (C, N, H, W); w: (KH, KW, 1, F = C·M); b: (F,) -> out: (F, N, OH, OW)
    """
    x = np.ascontiguousarray(x)
    c, n = x.shape[:2]
    kh, kw, _, f = w.shape
    (oh, ow), ((top, _), (left, _)), (sh, sw), _ = geometry
    plan = phase_plan(x.shape[2:], (kh, kw), geometry)
    taps = np.ascontiguousarray(w.reshape(kh * kw, f).T)
    bias = np.zeros(0, x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    out = np.empty((f, n, oh, ow), dtype=x.dtype)
    # Work (elements touched) per channel: its phase planes, each filter's taps and output.
    grid = n * plan.hq * plan.wq
    ranges = parallel.chunks(c, c * (sh + (kh * kw + 1) * (f // c)) * grid)
    parallel.run_kernel(_forward_planes, [
        (x, taps, bias, out, top, left, sh, sw, *plan, lo, hi)
        for lo, hi in ranges
    ])
    return out, DepthwiseCache(x, w, taps, geometry, b is not None)


def depthwise_backward(
    dout: Array, cache: DepthwiseCache, *, need_dx: bool = True
) -> tuple[Array | None, Array, Array | None]:
    """Gradients of :func:`depthwise_forward` with respect to x, w and b.

    dL/dw[u, v, 0, f] = Σ_{n, i, j} dout[f, n, i, j] · (the input tap (u, v) read for (i, j));
    dL/db[f] = Σ_{n, i, j} dout[f, n, i, j]; dL/dx[c, n, r, s] = Σ of dout[f, n, i, j] ·
    w[u, v, 0, f] over the filters f of c and the (i, j, u, v) whose tap read (r, s).

    Args:
        dout: dL/d(out).
        cache: from the forward pass.
        need_dx: False skips dL/dx.

    Returns:
        (dx, dw, db); dx None when not needed, db None when the forward had no bias.

    Shapes:
        dout: (F, N, OH, OW) -> dx: (C, N, H, W), dw: (KH, KW, 1, F), db: (F,)
    """
    x, taps, geometry = cache.x, cache.taps, cache.geometry
    kh, kw, _, f = cache.w.shape
    dout = np.ascontiguousarray(dout, dtype=x.dtype)
    c = x.shape[0]
    (_, ((top, _), (left, _)), (sh, sw), _) = geometry
    plan = phase_plan(x.shape[2:], (kh, kw), geometry)
    dx = np.empty(x.shape if need_dx else (c, 0, 0, 0), dtype=x.dtype)
    dtaps = np.empty((f, kh * kw), dtype=x.dtype)
    db = np.empty(f, dtype=x.dtype)
    grid = x.shape[1] * plan.hq * plan.wq  # work: the forward's, twice with dL/dx
    ranges = parallel.chunks(c, c * (1 + need_dx) * (sh + (kh * kw + 1) * (f // c)) * grid)
    parallel.run_kernel(_backward_planes, [
        (x, taps, dout, dx, dtaps, db, top, left, sh, sw, *plan, lo, hi)
        for lo, hi in ranges
    ])
    dw = np.ascontiguousarray(dtaps.T).reshape(kh, kw, 1, f)
    return (dx if need_dx else None), dw, (db if cache.has_bias else None)


if AVAILABLE:  # pragma: no branch
    from numba import njit, uint64

    # NOTE on the loops below: the long loops index their arrays by a plain range variable,
    # offsets going into views (a[at:][k], not a[at + k]): numba cannot tell that at + k ≥ 0,
    # adds a negative-index wrap-around to each access, and LLVM then leaves the loop scalar
    # (3–8× slower: docs/performance.md, rules table). Strided picks (every S_w-th column)
    # index flat arrays with unsigned integers instead: no wrap-around there either.

    @njit(cache=True, nogil=True)
    def _copy_rows(maps, planes, fill, top, left, sh, hq, wq):  # type: ignore[no-untyped-def]
        """Copy one channel's input rows into their phase planes (``fill``), or back out.

        Input row r of image n is xpad row r + top = a·S_h + p: plane p, flat place
        (n·HQ + a)·Wp + left on. No division per row: p and a are counted.

        Shapes:
            maps: (N, H, W); planes: (S_h, N·HQ·Wp)
        """
        n, h, wd = maps.shape
        for b in range(n):
            p, a = top % sh, top // sh
            for r in range(h):
                row, plane = maps[b, r], planes[p, (b * hq + a) * wq + left :]
                if fill:
                    for j in range(wd):
                        plane[j] = row[j]
                else:
                    for j in range(wd):
                        row[j] = plane[j]
                p += 1
                if p == sh:
                    p, a = 0, a + 1

    @njit(cache=True, nogil=True)
    def _fill_phases(x, c, top, left, sh, hq, wq, planes):  # type: ignore[no-untyped-def]
        """planes[p][(n·HQ + a)·Wp + s] = xpad[c, n, a·S_h + p, s] (0: padding).

        Shapes:
            x: (C, N, H, W); planes: (S_h, N·HQ·Wp)
        """
        for k in range(planes.shape[0]):
            plane = planes[k]
            for j in range(plane.shape[0]):
                plane[j] = 0
        _copy_rows(x[c], planes, True, top, left, sh, hq, wq)

    @njit(cache=True, nogil=True)
    def _grid_rows(grid, maps, to_grid, sw, hq, wq):  # type: ignore[no-untyped-def]
        """Copy the output positions between the grid and (N, OH, OW) maps, either way.

        Output (n, i, j) sits at grid place (n·HQ + i)·Wp + j·S_w.

        Shapes:
            grid: (N·HQ·Wp,); maps: (N, OH, OW), C-contiguous
        """
        n, oh, ow = maps.shape
        flat = maps.reshape(-1)
        for b in range(n):
            for i in range(oh):
                at, k = (b * hq + i) * wq, (b * oh + i) * ow
                if sw == 1:  # contiguous: views, vectorised
                    g, m = grid[at : at + ow], flat[k : k + ow]
                    if to_grid:
                        for j in range(ow):
                            g[j] = m[j]
                    else:
                        for j in range(ow):
                            m[j] = g[j]
                elif to_grid:
                    for j in range(ow):
                        grid[uint64(at + j * sw)] = flat[uint64(k + j)]
                else:
                    for j in range(ow):
                        flat[uint64(k + j)] = grid[uint64(at + j * sw)]

    @njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    def _dot(a, b):  # type: ignore[no-untyped-def]
        """Σ_q a[q] · b[q] for q < len(b) (≤ len(a)).

        NOTE: reassociation lets the sum run in vector lanes (several partial sums, added at
        the end) instead of one add after another: faster and no less accurate.
        """
        total = a.dtype.type(0)
        for q in range(b.shape[0]):
            total += a[q] * b[q]
        return total

    @njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
    def _total(a):  # type: ignore[no-untyped-def]
        """Σ a, in vector lanes (see :func:`_dot`)."""
        total = a.dtype.type(0)
        for q in range(a.shape[0]):
            total += a[q]
        return total

    @njit(cache=True, nogil=True)
    def _forward_planes(  # type: ignore[no-untyped-def]
        x, taps, bias, out, top, left, sh, sw, hq, wq, phase, shift, c0, c1,
        sync, started, done, post, seen,
    ):
        """The output planes of input channels c0 … c1 − 1 (filters c·M … c·M + M − 1).

        Per filter: the grid starts at the bias, each tap adds w · (its phase plane, shifted),
        then the grid's output positions are copied out.

        Shapes:
            x: (C, N, H, W); taps: (F, KH·KW); bias: (F,) or (0,); out: (F, N, OH, OW)
        """
        spin.signal(sync, started)
        nc, n = x.shape[0], x.shape[1]
        m = taps.shape[0] // nc
        oh, ow = out.shape[2], out.shape[3]
        size = n * hq * wq
        # Unpadded at stride 1 the phase plane is x[c] itself; where the grid has no position
        # besides the outputs (a 1×1 kernel left by the dead-tap crop, unpadded) it is out[f]
        # itself. Then nothing is copied (tiny maps are all per-row overhead).
        own_planes = sh == 1 and hq == x.shape[2] and wq == x.shape[3]
        own_grid = sw == 1 and oh == hq and ow == wq
        planes = np.empty((sh, 0 if own_planes else size), dtype=x.dtype)
        grid = np.empty(0 if own_grid else size, dtype=x.dtype)
        for c in range(c0, c1):
            if own_planes:
                planes = x[c].reshape(1, size)
            else:
                _fill_phases(x, c, top, left, sh, hq, wq, planes)
            for f in range(c * m, c * m + m):
                if own_grid:
                    grid = out[f].reshape(size)
                grid[:] = bias[f] if bias.shape[0] > 0 else 0
                # In blocks of the grid that stay in L1 while every tap adds to them.
                for q0 in range(0, size, BLOCK):
                    part = grid[q0 : q0 + BLOCK]
                    for t in range(taps.shape[1]):
                        wt, src = taps[f, t], planes[phase[t], q0 + shift[t] :]
                        for q in range(min(part.shape[0], src.shape[0])):
                            part[q] += wt * src[q]
                if not own_grid:
                    _grid_rows(grid, out[f], False, sw, hq, wq)
        spin.finish(sync, done, post, seen)

    @njit(cache=True, nogil=True)
    def _backward_planes(  # type: ignore[no-untyped-def]
        x, taps, dout, dx, dtaps, db, top, left, sh, sw, hq, wq, phase, shift, c0, c1,
        sync, started, done, post, seen,
    ):
        """dL/dw, dL/db and (if ``dx`` has a batch axis) dL/dx of input channels c0 … c1 − 1.

        Per filter: dL/dout on the grid (zeros elsewhere); per tap, dL/dw = its dot product
        with the shifted phase plane, and dL/dxpad's plane gets w · it, shifted back.

        Shapes:
            x: (C, N, H, W); taps: (F, KH·KW); dout: (F, N, OH, OW);
            dx: (C, N, H, W) or (C, 0, 0, 0); dtaps: (F, KH·KW); db: (F,)
        """
        spin.signal(sync, started)
        nc, n = x.shape[0], x.shape[1]
        m = taps.shape[0] // nc
        oh, ow = dout.shape[2], dout.shape[3]
        size = n * hq * wq
        need_dx = dx.shape[1] > 0
        own_planes = sh == 1 and hq == x.shape[2] and wq == x.shape[3]  # as the forward
        own_grid = sw == 1 and oh == hq and ow == wq
        planes = np.empty((sh, 0 if own_planes else size), dtype=x.dtype)
        dplanes = np.empty((sh, size if need_dx and not own_planes else 0), dtype=x.dtype)
        grid = np.zeros(0 if own_grid else size, dtype=x.dtype)  # zero off the outputs, always
        for c in range(c0, c1):
            if own_planes:
                planes = x[c].reshape(1, size)
                if need_dx:
                    dplanes = dx[c].reshape(1, size)
            else:
                _fill_phases(x, c, top, left, sh, hq, wq, planes)
            if need_dx:
                for k in range(dplanes.shape[0]):
                    dplane = dplanes[k]
                    for j in range(dplane.shape[0]):
                        dplane[j] = 0
            for f in range(c * m, c * m + m):
                if own_grid:
                    grid = dout[f].reshape(size)
                else:
                    _grid_rows(grid, dout[f], True, sw, hq, wq)
                db[f] = _total(grid)
                dtaps[f, :] = 0
                for q0 in range(0, size, BLOCK):  # blocks as in the forward
                    part = grid[q0 : q0 + BLOCK]
                    for t in range(taps.shape[1]):
                        # the shift in the view: see the forward
                        at = q0 + shift[t]
                        src = planes[phase[t], at : at + part.shape[0]]
                        dtaps[f, t] += _dot(part, src)
                        if need_dx:
                            wt, dst = taps[f, t], dplanes[phase[t], at : at + part.shape[0]]
                            for q in range(dst.shape[0]):
                                dst[q] += wt * part[q]
            if need_dx and not own_planes:
                _copy_rows(dx[c], dplanes, False, top, left, sh, hq, wq)
        spin.finish(sync, done, post, seen)
