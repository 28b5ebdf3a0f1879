"""Tensor-level ops: each wraps an array-level forward/backward pair into the autodiff graph.

Maps are in the compute layout (CNHW, docs/architecture.md); :mod:`glassnet.functional` offers the
same ops on public NHWC tensors. Every wrapper is three steps: run the forward, keep its cache in
a closure, record ``backward`` mapping dL/d(out) to the parents' gradients.
"""

from __future__ import annotations

from typing import Any

from glassnet.arith.geometry import PaddingSpec, Pair
from glassnet.backend import get_xp
from glassnet.errors import GlassnetError, ShapeError
from glassnet.ops import activation as act_ops
from glassnet.ops import basic as basic_ops
from glassnet.ops import conv as conv_ops
from glassnet.ops import loss as loss_ops
from glassnet.ops import norm as norm_ops
from glassnet.ops import pool as pool_ops
from glassnet.tensor import Tensor

Array = Any


def _unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum a broadcast gradient back to ``shape``."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(extra))) if extra else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


# ----- elementwise and linear algebra -------------------------------------------------------------
def add(a: Tensor, b: Tensor) -> Tensor:
    """A + b with NumPy broadcasting; each gradient is dout summed back to its shape."""
    sa, sb = a.shape, b.shape
    return Tensor.from_op(
        a.data + b.data, (a, b), lambda g: (_unbroadcast(g, sa), _unbroadcast(g, sb))
    )


def mul(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise a·b with broadcasting: d a = dout·b, d b = dout·a."""
    sa, sb, da, db = a.shape, b.shape, a.data, b.data
    return Tensor.from_op(
        da * db, (a, b), lambda g: (_unbroadcast(g * db, sa), _unbroadcast(g * da, sb))
    )


def scale(a: Tensor, k: float) -> Tensor:
    """k·a for a Python number k."""
    return Tensor.from_op(a.data * a.dtype.type(k), (a,), lambda g: (g * g.dtype.type(k),))


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of 2-D tensors: d a = dout @ bᵀ, d b = aᵀ @ dout.

    Shapes:
        a: (M, K), b: (K, N) -> out: (M, N)
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(f"matmul: shapes {list(a.shape)} and {list(b.shape)} do not chain")
    da, db = a.data, b.data
    return Tensor.from_op(da @ db, (a, b), lambda g: (g @ db.T, da.T @ g))


def sum_all(a: Tensor) -> Tensor:
    """Sum of every element: the gradient is dout broadcast to a's shape."""
    shape, xp = a.shape, get_xp(a.data)
    return Tensor.from_op(
        a.data.sum(), (a,), lambda g: (xp.broadcast_to(g, shape).astype(g.dtype, copy=True),)
    )


def reshape(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Row-major reshape; the gradient is reshaped back."""
    old = a.shape
    return Tensor.from_op(a.data.reshape(shape), (a,), lambda g: (g.reshape(old),))


def transpose(a: Tensor, axes: tuple[int, ...]) -> Tensor:
    """Permute axes (contiguous result); the gradient is permuted back."""
    xp = get_xp(a.data)
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    return Tensor.from_op(
        xp.ascontiguousarray(a.data.transpose(axes)),
        (a,),
        lambda g: (xp.ascontiguousarray(g.transpose(inverse)),),
    )


def to_compute(x: Tensor) -> Tensor:
    """NHWC -> CNHW."""
    return transpose(x, (3, 0, 1, 2))


def to_public(x: Tensor) -> Tensor:
    """CNHW -> NHWC."""
    return transpose(x, (1, 2, 3, 0))


# ----- convolution --------------------------------------------------------------------------------
def conv2d(
    x: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    *,
    strides: int | Pair = 1,
    padding: PaddingSpec = "valid",
    dilation: int | Pair = 1,
    groups: int = 1,
) -> Tensor:
    """Cross-correlation + bias (see :func:`glassnet.ops.conv.conv2d_forward`).

    Shapes:
        x: (C, N, H, W); w: (KH, KW, C/G, F); b: (F,) -> out: (F, N, OH, OW)
    """
    out, cache = conv_ops.conv2d_forward(
        x.data,
        w.data,
        None if b is None else b.data,
        strides=strides,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    parents = (x, w) if b is None else (x, w, b)

    def backward(g: Array) -> tuple[Array | None, ...]:
        dx, dw, db = conv_ops.conv2d_backward(g, cache, need_dx=x.requires_grad)
        return (dx, dw) if b is None else (dx, dw, db)

    return Tensor.from_op(out, parents, backward)


# ----- one-input ops: run forward, keep the cache, backward maps dout -> dx -------------------
def _unary(forward: Any, backward: Any, x: Tensor, **kw: Any) -> Tensor:
    out, cache = forward(x.data, **kw)
    return Tensor.from_op(out, (x,), lambda g: (backward(g, cache),))


def max_pool2d(
    x: Tensor,
    *,
    pool_size: int | Pair,
    strides: int | Pair | None = None,
    padding: PaddingSpec = "valid",
    ceil_mode: bool = False,
    relu: bool = False,
) -> Tensor:
    """Max pooling over the last two axes; the gradient goes to each window's first maximum.

    With ``relu=True`` the result is relu(maxpool(x)) = maxpool(relu(x)) in one op.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW)
    """
    return _unary(
        pool_ops.max_pool2d_forward,
        pool_ops.max_pool2d_backward,
        x,
        pool_size=pool_size,
        strides=strides,
        padding=padding,
        ceil_mode=ceil_mode,
        relu=relu,
    )


def avg_pool2d(
    x: Tensor,
    *,
    pool_size: int | Pair,
    strides: int | Pair | None = None,
    padding: PaddingSpec = "valid",
    ceil_mode: bool = False,
    count_include_pad: bool = False,
) -> Tensor:
    """Average pooling over the last two axes.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW)
    """
    return _unary(
        pool_ops.avg_pool2d_forward,
        pool_ops.avg_pool2d_backward,
        x,
        pool_size=pool_size,
        strides=strides,
        padding=padding,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )


def global_avg_pool2d(x: Tensor) -> Tensor:
    """Mean over H and W of CNHW maps, returned as (N, C).

    Shapes:
        x: (C, N, H, W) -> out: (N, C)
    """
    pooled = _unary(pool_ops.global_avg_pool2d_forward, pool_ops.global_avg_pool2d_backward, x)
    return transpose(pooled, (1, 0))


def relu(x: Tensor) -> Tensor:
    """max(x, 0); the gradient passes where x > 0."""
    return _unary(act_ops.relu_forward, act_ops.relu_backward, x)


def leaky_relu(x: Tensor, alpha: float = 0.01) -> Tensor:
    """X for x > 0, alpha·x otherwise."""
    return _unary(act_ops.leaky_relu_forward, act_ops.leaky_relu_backward, x, alpha=alpha)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^(−x)), stable for any x."""
    return _unary(act_ops.sigmoid_forward, act_ops.sigmoid_backward, x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return _unary(act_ops.tanh_forward, act_ops.tanh_backward, x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """e^(x − max) / Σ e^(x − max) along ``axis``."""
    out = _unary(act_ops.softmax_forward, act_ops.softmax_backward, x, axis=axis)
    out.name = "softmax" if axis in (-1, x.ndim - 1) and x.ndim == 2 else out.name
    return out


def softmax_input(probs: Tensor) -> Tensor | None:
    """The logits a recorded (N, K) softmax was applied to, or None.

    Training fuses a softmax output with cross-entropy: it takes the loss from these logits
    (see :func:`softmax_cross_entropy`) and never backpropagates through the softmax itself.
    """
    if probs.name == "softmax" and probs._parents:
        return probs._parents[0]
    return None


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """X − max − log Σ e^(x − max) along ``axis``."""
    return _unary(act_ops.log_softmax_forward, act_ops.log_softmax_backward, x, axis=axis)


ACTIVATIONS = {
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
}


def dropout(x: Tensor, *, rate: float, rng: Any, training: bool) -> Tensor:
    """Inverted dropout: zero a ``rate`` share of values, scale the rest by 1/(1 − rate)."""
    if not training or rate == 0:
        return x
    return _unary(
        norm_ops.dropout_forward, norm_ops.dropout_backward, x, rate=rate, rng=rng, training=True
    )


# ----- ops with parameters -------------------------------------------------------------------
def dense(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """X @ w + b.

    Shapes:
        x: (N, in), w: (in, out), b: (out,) -> out: (N, out)
    """
    out, cache = basic_ops.dense_forward(x.data, w.data, None if b is None else b.data)
    parents = (x, w) if b is None else (x, w, b)

    def backward(g: Array) -> tuple[Array | None, ...]:
        dx, dw, db = basic_ops.dense_backward(g, cache)
        return (dx, dw) if b is None else (dx, dw, db)

    return Tensor.from_op(out, parents, backward)


def batch_norm(
    x: Tensor,
    gamma: Tensor,
    beta: Tensor,
    running_mean: Array,
    running_var: Array,
    *,
    axis: int,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over every axis but ``axis`` (0 for CNHW maps, 1 for (N, F)).

    In training the running statistics (plain arrays) are updated in place.
    """
    out, cache = norm_ops.batch_norm_forward(
        x.data,
        gamma.data,
        beta.data,
        running_mean,
        running_var,
        axis=axis,
        training=training,
        momentum=momentum,
        eps=eps,
    )
    return Tensor.from_op(out, (x, gamma, beta), lambda g: norm_ops.batch_norm_backward(g, cache))


def concat(xs: list[Tensor], axis: int) -> Tensor:
    """Join tensors along ``axis``; the gradient is split back."""
    out, cache = basic_ops.concat_forward([t.data for t in xs], axis=axis)
    return Tensor.from_op(out, tuple(xs), lambda g: basic_ops.concat_backward(g, cache))


# ----- losses (scalar results) ---------------------------------------------------------------
LOSSES = (
    "mse",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
)


def loss(name: str, y_pred: Tensor, y_true: Any, *, from_logits: bool = False) -> Tensor:
    """The mean loss ``name`` of ``y_pred`` against plain-array targets ``y_true``.

    Raises:
        GlassnetError: for an unknown loss name (the valid ones are listed).
    """
    if name not in LOSSES:
        raise GlassnetError(f"loss: name={name!r} is not one of {list(LOSSES)}")
    forward = getattr(loss_ops, f"{name}_forward")
    backward = getattr(loss_ops, f"{name}_backward")
    kw = {} if name == "mse" else {"from_logits": from_logits}
    value, cache = forward(y_pred.data, y_true, **kw)
    return Tensor.from_op(value, (y_pred,), lambda g: (backward(cache, g),))


def softmax_cross_entropy(logits: Tensor, labels: Any) -> Tensor:
    """Fused softmax + cross-entropy from logits; gradient (p − y)/N.

    Shapes:
        logits: (N, K); labels: (N,) ints or (N, K) -> scalar
    """
    value, cache = loss_ops.softmax_cross_entropy_forward(logits.data, labels)
    return Tensor.from_op(
        value, (logits,), lambda g: (loss_ops.softmax_cross_entropy_backward(cache, g),)
    )
