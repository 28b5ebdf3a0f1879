"""Small-batch inference kernels: a convolution split by output rows or filters.

At batch 1 the batch paths (:func:`glassnet.accel.conv.conv2d_resolved`,
:func:`glassnet.ops.basic.dense_forward`) spend as long around their products as in them, and a
batch of one image cannot be split over threads by images. Here:

* **convolution** — the output ROWS are split instead: each thread lays out the windows of its
  rows and multiplies them by the whole kernel, writing its own columns of the output, with
  nothing returning to Python in between, so the threads never wait for the GIL
  (:func:`glassnet.accel.parallel.run_kernel`). The window rows are ordered (kh, kw, c) — the
  kernel's own memory order — so ``[KH, KW, C, F]`` is the GEMM's ``[KH·KW·C, F]`` operand as
  it is (transposed by the BLAS), with no copy per call::

      cols[(u, v, c), (n, i, j)] = Xp[c, n, i·S_h + u·D_h, j·S_w + v·D_w]
      O[F, N·OH·OW]             = K[(u, v, c), F]ᵀ · cols + b

Over a few positions with a large kernel the product streams the kernel instead
(:func:`glassnet.accel.small_batch_kernels.stream_product`, also what
:mod:`glassnet.accel.small_dense` uses for Dense layers). The kernels themselves are in
:mod:`glassnet.accel.small_batch_kernels`. The output is written plane by plane (the GEMM
transposed: Kᵀ · windowsᵀ), with the bias or a folded BatchNorm and clip applied in the same
call.

The sums run in another order than the batch paths' (other window-row order, other BLAS
calls), so results agree with them to rounding, not bit for bit. Only with numba and NumPy's
own BLAS reachable (:func:`glassnet.accel.blas.gemm_address`); :func:`usable` says when.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.accel import blas, kernels, parallel, spin
from glassnet.accel.epilogue import Epilogue
from glassnet.accel.small_batch_kernels import (
    FEW_POSITIONS,
)
from glassnet.arith.geometry import Pair

Array = Any
Pads = tuple[Pair, Pair]
NO_PADS: Pads = ((0, 0), (0, 0))

# Multiply-adds a thread's part must reach before the rows are split: below, the hand-off
# (a few µs) and two threads sharing the core's caches cost more than they save (0.6 M in
# one part: 1.35× slower split; 0.5 M per part and up: 0.58–0.85× on maps of 16×16 and more,
# docs/performance.md, rules table).
MIN_MACS_PER_PART = 500_000
# Where the row-split kernels beat the batch path (im2col + blocked GEMM, Winograd) at batch 1,
# measured per layer (docs/performance.md, rules table): up to this many output positions,
# whatever the filter count (the product written into the planes runs well from 4 filters on);
# for large maps the batch path's blocked GEMM wins.
MAX_POSITIONS = 4096
STREAM_MIN_VALUES = 262_144  # ... for kernels of at least this many values (1 MiB in float32)
# The windows are gathered channel-last (runs of C values) when C exceeds this many times OW
# (the plane-by-plane runs): channel-last copies twice (a transposed copy of the input rows,
# then the gather), so its runs must be the longer ones by that much; at C = 10, OW = 60 it
# was 2.8× slower, at C = 32, OW = 6 1.3× faster (docs/performance.md, rules table).
CHANNEL_LAST_RUNS = 2

AVAILABLE = blas.AVAILABLE and spin.AVAILABLE
if AVAILABLE:  # pragma: no branch
    from glassnet.accel.small_batch_kernels import conv_pool_rows_kernel, conv_rows_kernel
_NO_SYNC = np.zeros(1, dtype=np.int64)  # the counters of a part run without a worker

def supports(dtype: Any) -> bool:
    """Whether the kernels can run on arrays of ``dtype``.

    True with numba switched on and the dtype's GEMM found by :mod:`glassnet.accel.blas`
    (float32, float64).
    """
    return AVAILABLE and kernels.enabled() and blas.gemm_address(dtype) != 0


def pays(n: int, out_hw: Pair) -> bool:
    """Whether the kernels here beat the batch path for this convolution.

    ``n`` images, ``out_hw`` output maps: at most :data:`MAX_POSITIONS` output positions.
    """
    return n * out_hw[0] * out_hw[1] <= MAX_POSITIONS


def channel_last(channels: int, out_w: int) -> bool:
    """Whether the windows are gathered channel-last (runs of C values) for this convolution.

    Channel-last copies twice (a transposed copy of the input rows, then the gather), plane by
    plane once (runs of OW values), so channel-last needs runs :data:`CHANNEL_LAST_RUNS` times
    as long: C > CHANNEL_LAST_RUNS · OW.
    """
    return channels > CHANNEL_LAST_RUNS * out_w


def usable(*arrays: Array) -> bool:
    """Whether the numba + BLAS kernels can run on ``arrays``: NumPy, one supported dtype.

    For the kernels here and in :mod:`glassnet.accel.conv_chunks`.
    """
    dt = arrays[0].dtype
    return (
        all(type(a) is np.ndarray and a.dtype == dt for a in arrays) and supports(dt)
    )


def contiguous(a: Array) -> Array:
    """``a`` itself when C-contiguous, else a C-contiguous copy (what the kernels need)."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _zero_padded(x: Array, pads: Pads) -> Array:
    """:func:`glassnet.ops.im2col.pad_spatial` of (C, N, H, W) maps with zeros, C-contiguous.

    A zeroed array and one slice assignment: ``np.pad`` spent 23–32 µs on each batch-1 map
    (its per-axis bookkeeping), this 2–7 µs (docs/performance.md, rules table).
    """
    (top, bottom), (left, right) = pads
    c, n, h, w = x.shape
    out = np.zeros((c, n, h + top + bottom, w + left + right), dtype=x.dtype)
    out[:, :, top : top + h, left : left + w] = x
    return out


def _parts(n: int, oh: int, f: int, parts: int, by_filters: bool) -> list[tuple[int, ...]]:
    """``parts`` pieces (n0, n1, i0, i1, f0, f1) of the output.

    Whole images, or one image's rows, all filters; or (``by_filters``) all images and rows,
    a block of filters each.
    """
    if by_filters:
        cuts = [f * k // parts for k in range(parts + 1)]
        return [(0, n, 0, oh, lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
    if n >= parts:
        cuts = [n * k // parts for k in range(parts + 1)]
        return [(lo, hi, 0, oh, 0, f) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
    per = max(parts // n, 1)
    return [(img, img + 1, oh * k // per, oh * (k + 1) // per, 0, f)
            for img in range(n) for k in range(per)]


def _live_taps(
    x_shape: tuple[int, ...], k_hw: Pair, geometry: tuple[Pair, Pads, Pair, Pair]
) -> Array:
    """live[n, i, j, u·KW + v] = 1 where tap (u, v) of output (i, j) reads the input itself.

    0 where it reads only the zero padding (the streamed product skips it).

    Shapes:
        -> (N, OH, OW, KH·KW) uint8
    """
    n, (h, w) = x_shape[1], x_shape[2:]
    (oh, ow), ((top, _), (left, _)), (sh, sw), (dh, dw) = geometry
    kh, kw = k_hw
    rows = np.arange(oh)[:, None] * sh + np.arange(kh)[None, :] * dh - top  # (OH, KH)
    cols = np.arange(ow)[:, None] * sw + np.arange(kw)[None, :] * dw - left  # (OW, KW)
    r_ok, c_ok = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    live = r_ok[:, None, :, None] & c_ok[None, :, None, :]  # (OH, OW, KH, KW)
    return np.ascontiguousarray(
        np.broadcast_to(live.reshape(oh, ow, kh * kw), (n, oh, ow, kh * kw)), dtype=np.uint8
    )


_NO_TAPS = np.zeros((0, 0, 0, 0), dtype=np.uint8)


class ConvRows:
    """:func:`conv2d_rows` for one input shape, kernel shape and geometry, planned once.

    A model's inference plan keeps one per layer call and batch size: at batch 1 the
    per-call arithmetic (parts, padding, argument lists) cost a third of a small convolution.
    ``relu_pool=True`` returns ``relu(maxpool(conv + b))`` for 2×2 / stride-2 windows without
    padding instead (the output shape (F, N, OH // 2, OW // 2)): the pooling the model would
    run next, on the map while it is in cache. ``flat=True`` returns the output flattened in
    (OH, OW, F) order, as a Flatten layer after it would (shape (N, OH·OW·F)).
    """

    def __init__(
        self, x_shape: tuple[int, ...], w_shape: tuple[int, ...],
        geometry: tuple[Pair, Pads, Pair, Pair], dtype: Any, relu_pool: bool = False,
        flat: bool = False,
    ) -> None:
        c, n = x_shape[:2]
        kh, kw, _, f = w_shape
        (oh, ow), self.pads, (sh, sw), (dil_h, dil_w) = geometry
        self.dtype = np.dtype(dtype)
        self.k_shape = (kh * kw * c, f)
        self.no_bias = np.zeros(0, dtype=self.dtype)
        self.inf = self.dtype.type(np.inf)
        self.padded = self.pads != NO_PADS
        self.flat = flat
        gemm = blas.gemm_address(self.dtype)
        if relu_pool:  # only the conv cells some window reads: an odd last row/column not
            oh, ow = 2 * (oh // 2), 2 * (ow // 2)
        # Split by filters when the kernel is larger than the windows (more filters than
        # output positions): each thread then reads its own columns of the weights instead of
        # all of them (a batch-1 3×3 conv over a 2×2 map reads 9.4 MB of VGG weights for 4
        # positions: memory-bound; docs/performance.md, rules table).
        self.by_filters = f >= n * oh * ow
        most = f if self.by_filters else n * oh // (1 + relu_pool)
        parts = max(min(parallel.num_threads(), most,
                        f * kh * kw * c * n * oh * ow // MIN_MACS_PER_PART), 1)
        big = kh * kw * c * f >= STREAM_MIN_VALUES  # for the FEW_POSITIONS rule
        if big and n * oh * ow <= FEW_POSITIONS:
            # Streamed whole by one thread: two threads streaming half of each kernel row
            # were slower than one (512→512 over 2×2: 1.59 ms vs 0.91; docs/performance.md).
            parts = 1
        self.channel_last = channel_last(c, ow)  # the streamed product reads them so anyway
        # Each position's live taps, for the streamed product (a dummy when nothing streams).
        self.live = _live_taps(x_shape, (kh, kw), geometry) if big else _NO_TAPS
        if relu_pool:  # split the rows of the pooled output
            self.kernel, self.out_shape = conv_pool_rows_kernel, (f, n, oh // 2, ow // 2)
            streams = [big and (part[1] - part[0]) * (part[3] - part[2]) * 2 * ow
                       <= FEW_POSITIONS for part in _parts(n, oh // 2, f, parts, self.by_filters)]
            self.parts = [(kh, kw, sh, sw, dil_h, dil_w, *part, st, gemm,
                           self.channel_last or st, self.live)
                          for part, st in zip(_parts(n, oh // 2, f, parts, self.by_filters),
                                              streams, strict=True)]
        else:
            self.kernel, self.out_shape = conv_rows_kernel, (f, n, oh, ow)
            streams = [big and (part[3] - part[2]) * ow <= FEW_POSITIONS
                       for part in _parts(n, oh, f, parts, self.by_filters)]
            # The product written straight into the planes (kernelᵀ · windowsᵀ) unless the
            # kernel is the larger operand (split by filters): then positions × filters, the
            # kernel read as the BLAS's B in its own row order, and the few positions scattered
            # (cold VGG kernels over 8×8 / 4×4 maps: docs/performance.md, rules table).
            planes = not self.by_filters
            self.parts = [(kh, kw, sh, sw, dil_h, dil_w, *part, st, gemm,
                           self.channel_last or st, planes, self.live)
                          for part, st in zip(_parts(n, oh, f, parts, self.by_filters), streams,
                                              strict=True)]
        self.relu_pool = relu_pool

    def __call__(
        self, x: Array, w: Array, b: Array | None, epilogue: Epilogue | None = None
    ) -> Array:
        """The output for ``x`` (the planned shape and dtype).

        ``epilogue`` (not with ``relu_pool``; with ``b`` None: its shift holds the bias): a
        folded BatchNorm and clip applied as each output cell is written.

        Shapes:
            x: (C, N, H, W); w: (KH, KW, C, F); b: (F,) -> out: (F, N, OH, OW)
        """
        xpad = _zero_padded(x, self.pads) if self.padded else contiguous(x)
        wk = contiguous(w).reshape(self.k_shape)
        bias = self.no_bias if b is None else contiguous(b)
        if self.relu_pool:
            if epilogue is not None:
                raise ValueError("ConvRows: no epilogue with the fused pool")
            head: tuple[Any, ...] = (xpad, wk, bias)
        elif epilogue is None:
            head = (xpad, wk, self.no_bias, bias, False, self.inf)
        else:
            if b is not None:
                raise ValueError("ConvRows: fold the bias into the epilogue's shift")
            scale, shift = (self.no_bias if a is None else contiguous(a)
                            for a in (epilogue.scale, epilogue.shift))
            head = (xpad, wk, scale, shift, bool(epilogue.clip), self.dtype.type(epilogue.cap))
        f, n, oh, ow = self.out_shape
        if self.flat:  # written in (N, OH, OW, F) order, through an (F, N, OH, OW) view
            buffer = np.empty((n, oh, ow, f), dtype=self.dtype)
            out = buffer.transpose(3, 0, 1, 2)
        else:
            out = np.empty(self.out_shape, dtype=self.dtype)
        if len(self.parts) == 1:
            self.kernel(*head, out, *self.parts[0], _NO_SYNC, -1, -1, -1, 0)
        else:
            parallel.run_kernel(self.kernel, [(*head, out, *p) for p in self.parts])
        return buffer.reshape(n, -1) if self.flat else out


def conv2d_rows(
    x: Array, w: Array, b: Array | None, geometry: tuple[Pair, Pads, Pair, Pair]
) -> Array:
    """The convolution's output, its (image, output row) pairs split over the threads.

    Args:
        x: input maps, compute layout (:func:`usable` true for x and w).
        w: kernel [KH, KW, C, F] (groups 1).
        b: bias (F,) or None.
        geometry: what :func:`glassnet.ops.conv.conv_geometry` returned for this input.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C, F); b: (F,) -> out: (F, N, OH, OW)
    """
    return ConvRows(x.shape, w.shape, geometry, x.dtype)(x, w, b)
