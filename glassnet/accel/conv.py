"""The fast drop-in for :mod:`glassnet.ops.conv`: the same contract, chunked over threads.

What it changes against the reference (same arithmetic, another schedule):

* the batch is split into contiguous chunks (:mod:`glassnet.accel.parallel`), each doing its
  own im2col, GEMM and bias into its slice of one output; the chunks' dL/dw shares are added in
  chunk order;
* the GEMMs run in column blocks (:mod:`glassnet.accel.gemm`);
* ungrouped convolutions order the window rows (kh, kw, c) — the kernel's own memory order — so
  ``[KH, KW, C, F]`` IS the GEMM's ``[KH·KW·C, F]`` operand (read transposed by the BLAS) and
  dL/dw comes out of its product already in that layout: no weight is copied or transposed per
  call (re-packing the weights cost half of ResNet-18's batch-32 inference: docs/performance.md);
  grouped ones keep the reference's (c, kh, kw) order, whose rows split into the groups;
* the bias is added to each output block right after its GEMM (still in cache); in the
  backward pass a row of ones in the columns makes dL/db one more row of the dL/dw product;
* with numba and NumPy's BLAS, each chunk is ONE nogil call (:mod:`glassnet.accel.conv_chunks`);
* a depthwise convolution (groups == C > 1, one input channel per group) runs no im2col at all
  but :mod:`glassnet.accel.depthwise`, channel plane by channel plane (its cache says so);
* where its cost model says so (small maps, whose padding taps are a large share of im2col's
  products; a batch long enough for its GEMMs), an ungrouped convolution runs no im2col
  either but :mod:`glassnet.accel.conv_pairs`: only the products that read the map.

Results equal the reference to rounding (sums in another order); ``tests/test_accel_*`` check
it over random geometries.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from glassnet.accel import (
    blas,
    caches,
    conv_chunks,
    conv_pairs,
    depthwise,
    gemm,
    parallel,
    small_batch,
    winograd,
)
from glassnet.accel.crop import live_geometry
from glassnet.accel.epilogue import FINISH_COST, Epilogue, epilogue_args, finish_images
from glassnet.accel.im2col import im2col_padded
from glassnet.arith.geometry import PaddingSpec, Pair
from glassnet.backend import get_xp
from glassnet.ops.conv import ConvGeometry, check_conv_args, conv_geometry, weight_matrix
from glassnet.ops.im2col import pad_spatial

Array = Any  # numpy or cupy ndarray
Pads = tuple[Pair, Pair]


class FastConv2DCache(NamedTuple):
    """What the backward (:mod:`glassnet.accel.conv_backward`) needs from the forward, per chunk."""

    cols: tuple[Array, ...]  # per batch chunk: [C·KH·KW (+ 1), n·OH·OW] (see window_major)
    ranges: tuple[tuple[int, int], ...]  # the batch chunks (lo, hi) of the forward pass
    w: Array  # [KH, KW, C/groups, F]
    wm: Array  # the GEMM's kernel: groups 1 [KH·KW·C, F] (a view of w), else [G, F/G, Cg·KH·KW]
    x_shape: tuple[int, int, int, int]  # (C, N, H, W)
    pads: Pads  # ((top, bottom), (left, right))
    strides: Pair
    dilation: Pair
    groups: int
    has_bias: bool
    # Dead taps dropped by the forward (live_geometry): (its LiveCrop, the full kernel's (KH, KW),
    # the full input's (H, W)), or None; the fields above then describe the cropped convolution.
    crop: Any = None
    # A 1×1 stride-1 unpadded convolution: ``cols`` are views of the input itself.
    pointwise: bool = False


# What a forward returns for its backward: the cache's type says which path ran.
ConvCache = FastConv2DCache | depthwise.DepthwiseCache | conv_pairs.PairsCache


def _cols_buffer(rows: int, ones_row: bool, n: int, out_hw: Pair, dtype: Any) -> Array:
    """An empty [rows (+ 1), n·OH·OW] column matrix; with ``ones_row`` its last row is ones."""
    flat = np.empty((rows + ones_row, n * out_hw[0] * out_hw[1]), dtype=dtype)
    if ones_row:
        flat[rows] = 1
    return flat


def bias_folded(has_bias: bool, groups: int) -> bool:
    """Whether the columns get a row of ones (dL/db as a row of the dL/dw product).

    For ungrouped convolutions with a bias; their window rows are (kh, kw, c) ordered.
    """
    return has_bias and groups == 1


def kernel_matrix(w: Array) -> Array:
    """The ungrouped GEMM operand ``[KH·KW·C, F]``: a view of a C-contiguous kernel.

    Shapes:
        w: (KH, KW, C, F) -> (KH·KW·C, F)
    """
    return get_xp(w).ascontiguousarray(w).reshape(-1, w.shape[3])


def batch_slice(a: Array, lo: int, hi: int) -> Array:
    """``a[:, lo:hi]`` of a C-contiguous (F, N, ...) array as an (F, (hi − lo)·...) VIEW.

    NOTE: the rows stay N·... apart; BLAS reads and writes such a matrix in place (its leading
    dimension), so a chunk's GEMM writes straight into its slice of the shared output.
    """
    if lo == 0 and hi == a.shape[1]:
        return a.reshape(a.shape[0], -1)  # the whole (contiguous) array: always a view
    view = a[:, lo:hi].reshape(a.shape[0], -1)
    if not get_xp(a).may_share_memory(view, a):  # pragma: no cover - such a reshape is a view
        raise AssertionError("conv2d: batch slice reshaped to a copy")
    return view


def conv2d_forward(
    x: Array,
    w: Array,
    b: Array | None = None,
    *,
    strides: int | Pair = 1,
    padding: PaddingSpec = "valid",
    dilation: int | Pair = 1,
    groups: int = 1,
) -> tuple[Array, ConvCache]:
    """:func:`glassnet.ops.conv.conv2d_forward`, batch chunks split over the threads.

    Raises:
        ShapeError, GlassnetError: as the reference does (the same checks).

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C/G, F); b: (F,) -> out: (F, N, OH, OW)
    """
    kh, kw = check_conv_args(x, w, b, groups, "conv2d")
    geometry = conv_geometry(tuple(x.shape[2:]), (kh, kw), strides, padding, dilation)
    return conv2d_resolved(x, w, b, geometry, groups)


def conv2d_resolved(
    x: Array,
    w: Array,
    b: Array | None,
    geometry: ConvGeometry,
    groups: int = 1,
    epilogue: Epilogue | None = None,
) -> tuple[Array, ConvCache]:
    """:func:`conv2d_forward` with arguments already checked and geometry already resolved.

    For callers that run one geometry many times (a model's inference plan): ``geometry`` is
    what :func:`conv_geometry` returned for this input size. Kernel taps that read only
    padding are dropped first (:func:`live_geometry`). With an ``epilogue`` (inference only:
    the cache then does not describe the output) the bias must be None: fold it into the
    epilogue's shift.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C/G, F); b: (F,) -> out: (F, N, OH, OW)
    """
    if epilogue is not None and b is not None:
        raise ValueError("conv2d_resolved: fold the bias into the epilogue's shift")
    live = live_geometry(tuple(x.shape[2:]), tuple(w.shape[:2]), geometry)
    if live is None:
        return _conv2d(x, w, b, geometry, groups, epilogue)
    (u0, u1), (v0, v1), (r0, c0), (hk, wk) = live.rows, live.cols, live.start, live.size
    out, cache = _conv2d(x[:, :, r0 : r0 + hk, c0 : c0 + wk], w[u0:u1, v0:v1], b,
                         live.geometry, groups, epilogue)
    return out, cache._replace(crop=(live, tuple(w.shape[:2]), tuple(x.shape[2:])))


def conv2d_values(
    x: Array,
    w: Array,
    b: Array | None,
    geometry: ConvGeometry,
    groups: int = 1,
    epilogue: Epilogue | None = None,
) -> Array:
    """The output of :func:`conv2d_resolved` alone, for inference (nothing kept for a backward).

    Without a backward pass to feed, a 3×3 stride-1 convolution may run as Winograd
    F(2×2, 3×3) (:mod:`glassnet.accel.winograd`, where :func:`winograd.applies`): 2.25× fewer
    multiplies and no im2col — unless the pairs path makes no more products
    (:func:`_winograd_pays`). Dead taps are dropped first (:func:`live_geometry`), so a 3×3
    kernel over a 1×1 map is a 1×1 product, not a Winograd one.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C/G, F); b: (F,) -> out: (F, N, OH, OW)
    """
    if epilogue is not None and b is not None:
        raise ValueError("conv2d_values: fold the bias into the epilogue's shift")
    live = live_geometry(tuple(x.shape[2:]), tuple(w.shape[:2]), geometry)
    xs, ws, geo = x, w, geometry
    if live is not None:
        (u0, u1), (v0, v1), (r0, c0), (hk, wk) = live.rows, live.cols, live.start, live.size
        xs, ws, geo = x[:, :, r0 : r0 + hk, c0 : c0 + wk], w[u0:u1, v0:v1], live.geometry
    if _winograd_pays(xs, ws, geo, groups):
        ep = epilogue if epilogue is not None else Epilogue(None, b)
        return winograd.conv2d_values(xs, ws, geo, ep.scale, ep.shift, ep.clip, ep.cap)
    return conv2d_resolved(x, w, b, geometry, groups, epilogue)[0]


def _winograd_pays(x: Array, w: Array, geometry: ConvGeometry, groups: int) -> bool:
    """Winograd where it applies, unless the pairs path costs no more.

    Both in C×F products per image: Winograd's 16 per tile plus its transforms
    (:func:`winograd.cost`: as much again at 64 channels), the pairs' joined pairs over GEMMs
    as long as the batch (:func:`conv_pairs.cost`). A 2×2 map makes 16 products either way, so
    the pairs run; 64 channels on 8×8 maps at batch 128: F(4×4, 3×3)'s 144 · 3.5 against
    484 · 1.016, the pairs run; 128 channels on 4×4 maps: 36 · 2.25 against 100 · 1.016,
    Winograd runs (docs/performance.md, rules table).

    Before the costs, the caches: where one thread's part of the pairs fits the core's L2
    (:func:`glassnet.accel.caches.l2_bytes`) and Winograd's does not, the pairs run. Winograd's
    parts split the images, so each reads all of U (16·C·F) and writes its tiles' V and M;
    the pairs' threads split the filters and share X. At batch 32, 64 channels on 8×8 maps:
    0.86 against 2.4 MB per thread; 128 on 4×4: 0.69 against 2.1 MB (1 MB L2). Measured:
    the resnets' inference at batch 32 took 0.79–0.93 of the time; Winograd's own time (not
    the pairs') doubled in the spells when this shared machine's memory was slow.
    """
    if not winograd.applies(x, w, geometry, groups):
        return False
    if not conv_pairs.applies(x, w, geometry, groups):
        return True
    l2, itemsize = caches.l2_bytes(), x.dtype.itemsize
    if conv_pairs.working_set(x.shape, w.shape, geometry.out_hw, itemsize) <= l2 < (
            winograd.working_set(w.shape[2], w.shape[3], x.shape[1], geometry, itemsize)):
        return False  # only the pairs stay in the core's own cache
    in_hw, kernel_hw = tuple(x.shape[2:]), tuple(w.shape[:2])
    return winograd.cost(w.shape[2], w.shape[3], geometry, x.shape[1]) < conv_pairs.cost(
        x.shape[1], in_hw, kernel_hw, geometry)


def _conv2d(
    x: Array, w: Array, b: Array | None, geometry: ConvGeometry, groups: int,
    epilogue: Epilogue | None = None,
) -> tuple[Array, ConvCache]:
    """:func:`conv2d_resolved` with every tap of ``w`` kept."""
    if depthwise.usable(x, w, groups):  # the rule: one input channel per group => direct
        out, dcache = depthwise.depthwise_forward(x, w, b, geometry)
        return _finished(out, epilogue), dcache
    if conv_pairs.applies(x, w, geometry, groups):  # the rule: fewer products, by its cost
        out, pcache = conv_pairs.forward(x, w, b, geometry)
        return _finished(out, epilogue), pcache
    xp = get_xp(x, w)
    c, n, h, wd = x.shape
    kh, kw, _, f = w.shape
    (oh, ow), pads, s, d = geometry
    ungrouped = groups == 1
    wm = kernel_matrix(w) if ungrouped else weight_matrix(w, groups)
    ones = bias_folded(b is not None, groups)
    out = xp.empty((f, n, oh, ow), dtype=xp.result_type(x, w))
    work = parallel.gemm_work(c * kh * kw, f, oh * ow * n)  # products, not only copies
    ranges = parallel.chunks(n, work) if xp is np else [(0, n)]
    if ungrouped and _pointwise(w, geometry):
        # A 1×1 stride-1 unpadded convolution IS a product with the maps: its columns are the
        # input itself, each batch chunk a (C, n·H·W) view (nothing copied).
        xc = xp.ascontiguousarray(x)

        def product(lo: int, hi: int) -> Array:
            cols, o = batch_slice(xc, lo, hi), batch_slice(out, lo, hi)
            gemm.matmul_into(wm.T, cols, o)
            if b is not None:
                o += b[:, None]
            if epilogue is not None:
                finish_images(out, lo, hi, epilogue)
            return cols

        views = tuple(parallel.run(product, ranges))
        return out, FastConv2DCache(views, tuple(ranges), w, wm, (c, n, h, wd), pads, s, d,
                                    groups, b is not None, pointwise=True)
    if ungrouped and small_batch.usable(x, w, out):
        # Each chunk in one nogil call (accel.conv_chunks): no thread waits for the GIL. Each
        # pads its own images (conv_chunks.pad_planes) into one shared buffer.
        # (The padded copy: reading the padding as zeros by bounds in the kernel cost more than
        # the copy — its per-row slices made lenet5's im2col 7× slower, docs/performance.md.)
        xc = np.ascontiguousarray(x)
        (pt, pb), (pl, pr) = pads
        xpad = xc if pads == ((0, 0), (0, 0)) else np.empty(
            (c, n, h + pt + pb, wd + pl + pr), dtype=x.dtype)
        k = c * kh * kw
        flats = [_cols_buffer(k, ones, hi - lo, (oh, ow), x.dtype) for lo, hi in ranges]
        out2, gemm_at = out.reshape(f, -1), blas.gemm_address(x.dtype)
        finish_args = epilogue_args(epilogue, b, x.dtype)
        parallel.run_kernel(conv_chunks.forward_chunk, [
            (xc, pt, pl, xpad, *s, *d, lo, hi, kh, kw, oh, ow, flat, flat[:k], wm, *finish_args,
             out2, lo * oh * ow, gemm.BLOCK, gemm_at)
            for (lo, hi), flat in zip(ranges, flats, strict=True)
        ])
        cache = FastConv2DCache(
            tuple(flats), tuple(ranges), w, wm, (c, n, h, wd), pads, s, d, groups, b is not None
        )
        return out, cache

    xpad = pad_spatial(x, pads)

    def part(lo: int, hi: int) -> Array:
        cols = im2col_padded(xpad, (kh, kw), s, d, lo, hi, (oh, ow), ones_row=ones,
                             window_major=ungrouped)
        o = batch_slice(out, lo, hi)
        if ungrouped:
            gemm.matmul_into(wm.T, cols[: wm.shape[0]], o)
        else:
            o[...] = xp.matmul(wm, cols.reshape(groups, -1, cols.shape[1])).reshape(f, -1)
        if b is not None:
            o += b[:, None]
        if epilogue is not None:
            finish_images(out, lo, hi, epilogue)
        return cols

    cols = tuple(parallel.run(part, ranges))
    cache = FastConv2DCache(
        cols, tuple(ranges), w, wm, (c, n, h, wd), pads, s, d, groups, b is not None
    )
    return out, cache


def _finished(out: Array, epilogue: Epilogue | None) -> Array:
    """``out`` with the inference epilogue applied in place, images split over the threads."""
    if epilogue is not None:
        ep = epilogue
        parallel.run(lambda lo, hi: finish_images(out, lo, hi, ep),
                     parallel.chunks(out.shape[1], out.size, FINISH_COST))
    return out


def _pointwise(w: Array, geometry: ConvGeometry) -> bool:
    """A 1×1 kernel at stride 1 without padding: the output is W·x at every position."""
    return (tuple(w.shape[:2]) == (1, 1) and geometry.strides == (1, 1)
            and geometry.pads == ((0, 0), (0, 0)))
