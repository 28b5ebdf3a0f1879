"""The one dispatch point: each op runs its fast drop-in or its reference pair, by rule.

Every rule reads only the arrays' types and dtypes and the reference-mode flag
(:mod:`glassnet.accel.mode`) — never a model name or a tuned size:

* **convolution** (:mod:`glassnet.accel.conv`): NumPy arrays of a floating dtype. It splits the
  batch over the threads only where each chunk gets enough work (:func:`parallel.chunks`), and
  runs its numba + BLAS chunk kernels only where those are there (:func:`small_batch.usable`).
  A depthwise convolution (groups == C > 1) with numba runs :mod:`glassnet.accel.depthwise`.
* **max pooling** (:mod:`glassnet.accel.pool`), also fused with a ReLU: NumPy arrays and the
  numba kernels switched on (:func:`kernels.enabled`).
* **dense** (:mod:`glassnet.accel.dense`): NumPy floating arrays; splits a layer over the
  threads where it touches enough values (:func:`parallel.chunks`), else the reference pair.
* anything else, reference mode, CuPy arrays: the reference pair in :mod:`glassnet.ops`.

A backward runs the pair its forward ran: the cache's type says which.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.accel import activation as fast_act
from glassnet.accel import conv as fast_conv
from glassnet.accel import conv_backward, conv_pairs, depthwise, kernels
from glassnet.accel import dense as fast_dense
from glassnet.accel import norm as fast_norm
from glassnet.accel import pool as fast_pool
from glassnet.accel.mode import reference_active
from glassnet.arith.geometry import PaddingSpec, Pair
from glassnet.ops import activation as ref_act
from glassnet.ops import basic as ref_basic
from glassnet.ops import conv as ref_conv
from glassnet.ops import fused as ref_fused
from glassnet.ops import norm as ref_norm
from glassnet.ops import pool as ref_pool

Array = Any


def _fast_arrays(*arrays: Array | None) -> bool:
    """NumPy floating arrays (None entries, e.g. no bias, are fine) and not in reference mode."""
    return not reference_active() and all(
        a is None or (type(a) is np.ndarray and a.dtype.kind == "f") for a in arrays
    )


def conv2d_forward(
    x: Array,
    w: Array,
    b: Array | None = None,
    *,
    strides: int | Pair = 1,
    padding: PaddingSpec = "valid",
    dilation: int | Pair = 1,
    groups: int = 1,
) -> tuple[Array, Any]:
    """:func:`glassnet.ops.conv.conv2d_forward` or its fast drop-in (see the module rules).

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C/G, F); b: (F,) -> out: (F, N, OH, OW)
    """
    impl = fast_conv if _fast_arrays(x, w, b) else ref_conv
    return impl.conv2d_forward(
        x, w, b, strides=strides, padding=padding, dilation=dilation, groups=groups
    )


def dense_forward(x: Array, w: Array, b: Array | None = None) -> tuple[Array, Any]:
    """:func:`glassnet.ops.basic.dense_forward` or its fast drop-in (see the module rules).

    Shapes:
        x: (N, in), w: (in, out), b: (out,) or None -> out: (N, out)
    """
    impl = fast_dense if _fast_arrays(x, w, b) else ref_basic
    return impl.dense_forward(x, w, b)


def dense_backward(dout: Array, cache: Any) -> tuple[Array, Array, Array | None]:
    """The dense backward (either pair: both keep the reference's cache).

    Shapes:
        dout: (N, out) -> dx: (N, in), dw: (in, out), db: (out,) or None
    """
    impl = fast_dense if _fast_arrays(dout, cache.x, cache.w) else ref_basic
    return impl.dense_backward(dout, cache)


def conv2d_backward(
    dout: Array, cache: Any, *, need_dx: bool = True
) -> tuple[Array | None, Array, Array | None]:
    """The backward of whichever pair ran the forward; ``need_dx=False`` may skip dL/dx.

    Shapes:
        dout: (F, N, OH, OW) -> dx: (C, N, H, W) or None, dw: (KH, KW, C/G, F), db: (F,)
    """
    if isinstance(cache, fast_conv.FastConv2DCache | depthwise.DepthwiseCache
                  | conv_pairs.PairsCache):
        return conv_backward.conv2d_backward(dout, cache, need_dx=need_dx)
    dx, dw, db = ref_conv.conv2d_backward(dout, cache)
    return (dx if need_dx else None), dw, db


def _fast_pool(x: Array) -> bool:
    return _fast_arrays(x) and kernels.enabled(x)


def max_pool2d_forward(x: Array, **hyper: Any) -> tuple[Array, Any]:
    """:func:`glassnet.ops.pool.max_pool2d_forward` or its fast drop-in (same keywords).

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW)
    """
    if _fast_pool(x):
        return fast_pool.max_pool2d_forward(x, **hyper)
    return ref_pool.max_pool2d_forward(x, **hyper)


def max_pool2d_backward(dout: Array, cache: Any) -> Array:
    """The backward of whichever pair ran the forward.

    Shapes:
        dout: (..., OH, OW) -> dx: (..., H, W)
    """
    if isinstance(cache, fast_pool.FastMaxPool2DCache):
        return fast_pool.max_pool2d_backward(dout, cache)
    return ref_pool.max_pool2d_backward(dout, cache)


def max_pool2d_relu_forward(x: Array, **hyper: Any) -> tuple[Array, Any]:
    """:func:`glassnet.ops.fused.max_pool2d_relu_forward` or the one-pass kernel with its ReLU.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW)
    """
    if _fast_pool(x):
        return fast_pool.max_pool2d_forward(x, relu=True, **hyper)
    return ref_fused.max_pool2d_relu_forward(x, **hyper)


def max_pool2d_relu_backward(dout: Array, cache: Any) -> Array:
    """The backward of whichever pair ran :func:`max_pool2d_relu_forward`.

    Shapes:
        dout: (..., OH, OW) -> dx: (..., H, W)
    """
    if isinstance(cache, fast_pool.FastMaxPool2DCache):
        return fast_pool.max_pool2d_backward(dout, cache)
    return ref_fused.max_pool2d_relu_backward(dout, cache)


def relu_forward(x: Array) -> tuple[Array, Any]:
    """:func:`glassnet.ops.activation.relu_forward` or its one-pass drop-in.

    Shapes:
        x: any -> out: same.
    """
    if _fast_pool(x):
        return fast_act.relu_forward(x)
    return ref_act.relu_forward(x)


def clipped_relu_forward(x: Array, *, max_value: float) -> tuple[Array, Any]:
    """:func:`glassnet.ops.activation.clipped_relu_forward` or its one-pass drop-in.

    Shapes:
        x: any -> out: same.
    """
    if _fast_pool(x):
        return fast_act.clipped_relu_forward(x, max_value=max_value)
    return ref_act.clipped_relu_forward(x, max_value=max_value)


def relu_backward(dout: Array, cache: Any) -> Array:
    """The backward of whichever ReLU or clipped ReLU ran (the cache's type says which).

    Shapes:
        dout: any -> dx: same.
    """
    if isinstance(cache, fast_act.FastReluCache):
        return fast_act.relu_backward(dout, cache)
    if isinstance(cache, ref_act.ClippedReluCache):
        return ref_act.clipped_relu_backward(dout, cache)
    return ref_act.relu_backward(dout, cache)


def batch_norm_forward(x: Array, gamma: Array, beta: Array, running_mean: Array | None,
                       running_var: Array | None, **kw: Any) -> tuple[Array, Any]:
    """:func:`glassnet.ops.norm.batch_norm_forward` or, for CNHW maps, its drop-in.

    Shapes:
        x: any with C = x.shape[axis]; the per-channel arrays (C,) -> out: x's.
    """
    if _fast_arrays(x) and fast_norm.usable(x, kw["axis"]):
        return fast_norm.batch_norm_forward(x, gamma, beta, running_mean, running_var, **kw)
    return ref_norm.batch_norm_forward(x, gamma, beta, running_mean, running_var, **kw)


def batch_norm_backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
    """The backward of whichever batch normalisation ran: ``(dx, dgamma, dbeta)``.

    Shapes:
        dout: x's shape -> dx: same, dgamma: (C,), dbeta: (C,).
    """
    if isinstance(cache, fast_norm.FastBatchNormCache):
        return fast_norm.batch_norm_backward(dout, cache)
    return ref_norm.batch_norm_backward(dout, cache)



def batch_norm_relu_forward(x: Array, gamma: Array, beta: Array, running_mean: Array | None,
                            running_var: Array | None, *, relu_cap: float,
                            **kw: Any) -> tuple[Array, Any]:
    """relu(batchnorm(x)) (ReLU6 with cap 6): the reference pairs or a one-pass drop-in.

    :func:`glassnet.ops.fused.batch_norm_relu_forward`, or for CNHW maps
    :func:`glassnet.accel.norm.batch_norm_forward` with its ``relu_cap``.

    Shapes:
        x: (C, N, H, W); the per-channel arrays (C,) -> out: x's.
    """
    if _fast_arrays(x) and fast_norm.usable(x, kw["axis"]):
        return fast_norm.batch_norm_forward(x, gamma, beta, running_mean, running_var,
                                            relu_cap=relu_cap, **kw)
    return ref_fused.batch_norm_relu_forward(x, gamma, beta, running_mean, running_var,
                                             relu_cap=relu_cap, **kw)


def batch_norm_relu_backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
    """The backward of whichever :func:`batch_norm_relu_forward` ran: ``(dx, dgamma, dbeta)``.

    Shapes:
        dout: x's shape -> dx: same, dgamma: (C,), dbeta: (C,).
    """
    if isinstance(cache, fast_norm.FastBatchNormCache):
        return fast_norm.batch_norm_backward(dout, cache)
    return ref_fused.batch_norm_relu_backward(dout, cache)
