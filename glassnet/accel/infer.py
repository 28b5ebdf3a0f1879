"""Inference steps: array in, array out, no caches — what a layer's ``inference_step`` calls.

Under ``no_grad()`` in inference mode nothing needs the autodiff tape, yet a forward pass on
tensors still wraps every result, re-checks every argument and re-resolves every geometry: at
batch 1 that bookkeeping cost as much as the arithmetic (docs/performance.md, rules table).
These steps resolve their geometry once and call the array-level code directly:

* from :data:`SMALL_BATCH` images up, the same fast drop-ins a training forward runs
  (:mod:`glassnet.accel.conv`, :mod:`glassnet.accel.pool`) in the same order, so the same
  numbers, bit for bit;
* below it, where numba and NumPy's BLAS are there, the kernels of
  :mod:`glassnet.accel.small_batch` (a convolution split by output rows, optionally with the
  ReLU, 2×2 max-pool and Flatten after it in the same call; dense + softmax in one call). They
  sum in another order: equal to rounding;
* in reference mode, the reference pairs of :mod:`glassnet.ops` (their outputs only).

Rules (shapes and dtypes only): small-batch kernels for a convolution when groups = 1, the
kernel's dtype is the input's, and :func:`small_batch.pays` (≤ 4,096 output positions, any
number of filters); the fused pool only for 2×2 / stride-2 windows without padding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.accel import conv as fast_conv
from glassnet.accel import dense as fast_dense
from glassnet.accel import kernels, parallel, small_batch, small_dense, small_maps
from glassnet.accel import pool as fast_pool
from glassnet.accel.crop import LiveCrop, live_geometry
from glassnet.accel.epilogue import Epilogue
from glassnet.accel.mode import reference_active
from glassnet.ops import activation as act_ops
from glassnet.ops import basic as basic_ops
from glassnet.ops import conv as ref_conv
from glassnet.ops import fused as ref_fused
from glassnet.ops import pool as ref_pool
from glassnet.ops.conv import ConvGeometry
from glassnet.ops.windows import pool_geometry

Array = Any

# Below this many images the small-batch kernels run (whole-image splitting has nothing to
# split, and the per-call bookkeeping is as long as the arithmetic).
SMALL_BATCH = 2


def _fast(x: Array) -> bool:
    return not reference_active() and type(x) is np.ndarray and x.dtype.kind == "f"


def folds(x: Array) -> bool:
    """Whether a step may fold what follows a convolution into its epilogue for ``x``.

    Not in reference mode (which runs the reference pairs one by one) nor for non-NumPy data.
    """
    return _fast(x)


def _pads4(pads: Any) -> tuple[int, int, int, int]:
    (top, bottom), (left, right) = pads
    return top, bottom, left, right


class PoolStep:
    """Max pooling's output (then a ReLU if ``relu``) for one layer call's input size.

    Args:
        in_hw: the input's (H, W).
        pool_size, strides, padding, ceil_mode: the layer's arguments
            (:func:`glassnet.ops.pool.max_pool2d_forward`).
        relu: apply a ReLU to the pooled map (the fused ``max_pool2d_relu``).

    Shapes:
        x: (..., H, W) -> (..., OH, OW)
    """

    def __init__(
        self, in_hw: tuple[int, int], pool_size: Any, strides: Any, padding: Any,
        ceil_mode: bool, relu: bool = False,
    ) -> None:
        self.hyper = dict(pool_size=pool_size, strides=strides, padding=padding,
                          ceil_mode=ceil_mode)
        self.geo = pool_geometry(in_hw, pool_size, strides, padding, ceil_mode)
        self.relu = relu
        # A 2×2 / stride-2 unpadded window has its own one-pass kernel (no padded copy, no
        # transposition): it beat small_maps' 3–4× there (docs/performance.md, rules table).
        g = self.geo
        self.small_maps = not (g.kernel == g.strides == (2, 2) and g.applied == ((0, 0), (0, 0)))

    def __call__(self, x: Array) -> Array:
        """The pooled map of ``x``."""
        if _fast(x) and kernels.enabled(x):
            if self.small_maps and x.ndim == 4 and small_maps.pays(x.shape[1], self.geo.out_hw):
                return small_maps.max_pool_values(x, self.geo, self.relu)
            return fast_pool.max_pool2d_values(x, self.geo, self.relu)
        reference = ref_fused.max_pool2d_relu_forward if self.relu else ref_pool.max_pool2d_forward
        return reference(x, **self.hyper)[0]


class ConvStep:
    """A convolution's output for one layer call, optionally with ReLU + max-pool + Flatten.

    Args:
        geometry: the call's resolved geometry (:func:`glassnet.ops.conv.conv_geometry`).
        groups: channel groups.
        pool: a max-pool (with its ReLU) applied to the output, or None.
        flatten: flatten the (pooled) output in (H, W, C) order.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C/G, F); b: (F,) -> (F, N, OH, OW) [pooled] or (N, ·)
    """

    def __init__(
        self, geometry: ConvGeometry, groups: int, pool: PoolStep | None = None,
        flatten: bool = False,
    ) -> None:
        self.geometry, self.groups, self.pool, self.flatten = geometry, groups, pool, flatten
        # The small kernels fuse only a 2×2 / stride-2 unpadded pool that covers the map.
        geo = None if pool is None else pool.geo
        self.pool_fusable = geo is not None and (
            geo.kernel == geo.strides == (2, 2) and geo.applied == ((0, 0), (0, 0))
            and geo.out_hw == tuple(s // 2 for s in geometry.out_hw)
        )
        self._small: dict[tuple[Any, ...], Any] = {}
        self._small_maps: dict[tuple[Any, ...], bool] = {}

    def __call__(
        self, x: Array, w: Array, b: Array | None, epilogue: Epilogue | None = None
    ) -> Array:
        """The step's output for ``x`` with the layer's current weights.

        ``epilogue`` (only where :func:`folds`, with ``b`` None and no pool or Flatten): a
        folded BatchNorm / ReLU applied as the output leaves the GEMM
        (:class:`glassnet.accel.epilogue.Epilogue`).
        """
        if epilogue is not None and (self.pool is not None or self.flatten or not _fast(x)):
            raise ValueError("ConvStep: an epilogue needs the fast path, no pool, no Flatten")
        if _fast(x):
            if self._depthwise(x, w):
                return small_maps.depthwise_values(x, w, b, self.geometry, epilogue)
            small = self._small_kernel(x, w)
            if small is not None:
                rows, live = small
                if live is not None:  # dead taps dropped, as the batch path does
                    x, w = _live_part(x, w, live)
                return rows(x, w, b, epilogue)
            out = fast_conv.conv2d_values(x, w, b, self.geometry, self.groups, epilogue)
        else:
            geo = self.geometry
            out, _ = ref_conv.conv2d_forward(
                x, w, b, strides=geo.strides, padding=_pads4(geo.pads),
                dilation=geo.dilation, groups=self.groups,
            )
        if self.pool is not None:
            out = self.pool(out)
        return basic_ops.flatten_maps(out) if self.flatten else out

    def _depthwise(self, x: Array, w: Array) -> bool:
        """Whether :func:`glassnet.accel.small_maps.depthwise_values` runs for this input."""
        key = (x.shape, x.dtype, w.shape, w.dtype)
        ok = self._small_maps.get(key)
        if ok is None:
            ok = self._small_maps[key] = (
                self.groups > 1 and self.pool is None and not self.flatten
                and small_maps.pays(x.shape[1], self.geometry.out_hw)
                and small_maps.usable(x, w, self.groups)
            )
        return ok

    def _small_kernel(self, x: Array, w: Array) -> Any:
        """The planned ``(small-batch kernel, live crop or None)`` for this input shape.

        None where the small-batch kernels do not pay.
        """
        n = x.shape[1]
        if n >= SMALL_BATCH or self.groups != 1 or w.dtype != x.dtype:
            return None
        key = (x.shape, x.dtype, parallel.num_threads())  # the rows are split per thread count
        if key not in self._small:
            ok = small_batch.usable(x, w) and small_batch.pays(
                n, self.geometry.out_hw
            ) and (self.pool is None or self.pool_fusable)
            live = live_geometry(tuple(x.shape[2:]), tuple(w.shape[:2]), self.geometry)
            x_shape, w_shape, geometry = x.shape, w.shape, self.geometry
            if live is not None:
                (u0, u1), (v0, v1) = live.rows, live.cols
                x_shape = (*x.shape[:2], *live.size)
                w_shape, geometry = (u1 - u0, v1 - v0, *w.shape[2:]), live.geometry
            self._small[key] = (small_batch.ConvRows(
                x_shape, w_shape, geometry, x.dtype, relu_pool=self.pool is not None,
                flat=self.flatten,
            ), live) if ok else None
        return self._small[key]


def _live_part(x: Array, w: Array, live: LiveCrop) -> tuple[Array, Array]:
    """The input rows/columns and the kernel taps a convolution's live crop keeps.

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C, F) -> the cropped views
    """
    (u0, u1), (v0, v1), (r0, c0), (hk, wk) = live.rows, live.cols, live.start, live.size
    return x[:, :, r0 : r0 + hk, c0 : c0 + wk], w[u0:u1, v0:v1]


def dense_values(x: Array, w: Array, b: Array | None, softmax: bool = False) -> Array:
    """``x·w + b``, then a softmax over each row if asked.

    Shapes:
        x: (N, in); w: (in, out); b: (out,) -> (N, out)
    """
    if (_fast(x) and x.shape[0] < SMALL_BATCH and w.dtype == x.dtype
            and small_batch.usable(x, w)):
        return small_dense.dense(x, w, b, softmax)
    if _fast(x) and type(w) is np.ndarray and w.dtype.kind == "f":
        # Split over the threads where it pays (accel.dense): NumPy's x @ w alone ran on one
        # core inside the compute scope (vgg11's classifier: 20 of ~55 ms of a batch-32 pass).
        out, _ = fast_dense.dense_forward(x, w, b)
    else:
        out, _ = basic_ops.dense_forward(x, w, b)
    return softmax_rows(out) if softmax else out


def softmax_rows(a: Array) -> Array:
    """:func:`glassnet.ops.activation.softmax_forward` along the last axis, in place in ``a``.

    The same operations in the same order (exp(a − max) / Σ), so the same numbers; ``a`` must
    be the step's own fresh output (no new arrays: five NumPy calls instead of eight).

    Shapes:
        a: (N, K) -> (N, K)
    """
    if not _fast(a):
        return act_ops.softmax_forward(a, axis=-1)[0]
    np.subtract(a, a.max(axis=-1, keepdims=True), out=a)
    np.exp(a, out=a)
    a /= a.sum(axis=-1, keepdims=True)
    return a
