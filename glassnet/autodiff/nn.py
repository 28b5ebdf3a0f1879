"""Network ops as autodiff nodes: convolution, pooling, activations, dropout, dense, batch norm.

Maps are in the compute layout (CNHW, docs/architecture.md). Every wrapper runs an array-level
forward — from :mod:`glassnet.ops`, or through :mod:`glassnet.accel` for the ops that have a
fast drop-in — keeps its cache in a closure and records the matching backward.
"""

from __future__ import annotations

from typing import Any

from glassnet import accel
from glassnet.arith.geometry import PaddingSpec, Pair
from glassnet.autodiff.core import Array, transpose, unary
from glassnet.ops import activation as act_ops
from glassnet.ops import avg_pool as avg_pool_ops
from glassnet.ops import basic as basic_ops
from glassnet.ops import norm as norm_ops
from glassnet.tensor import Tensor


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
    out, cache = accel.conv2d_forward(
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
        dx, dw, db = accel.conv2d_backward(g, cache, need_dx=x.requires_grad)
        return (dx, dw) if b is None else (dx, dw, db)

    return Tensor.from_op(out, parents, backward)


def max_pool2d(
    x: Tensor,
    *,
    pool_size: int | Pair,
    strides: int | Pair | None = None,
    padding: PaddingSpec = "valid",
    ceil_mode: bool = False,
) -> Tensor:
    """Max pooling over the last two axes; the gradient goes to each window's first maximum.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW)
    """
    return unary(
        accel.max_pool2d_forward, accel.max_pool2d_backward, x,
        pool_size=pool_size, strides=strides, padding=padding, ceil_mode=ceil_mode,
    )


def max_pool2d_relu(
    x: Tensor,
    *,
    pool_size: int | Pair,
    strides: int | Pair | None = None,
    padding: PaddingSpec = "valid",
    ceil_mode: bool = False,
) -> Tensor:
    """relu(maxpool(x)) as one node (the fused op :mod:`glassnet.ops.fused`).

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW)
    """
    return unary(
        accel.max_pool2d_relu_forward, accel.max_pool2d_relu_backward, x,
        pool_size=pool_size, strides=strides, padding=padding, ceil_mode=ceil_mode,
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
    return unary(
        avg_pool_ops.avg_pool2d_forward,
        avg_pool_ops.avg_pool2d_backward,
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
    pooled = unary(
        avg_pool_ops.global_avg_pool2d_forward, avg_pool_ops.global_avg_pool2d_backward, x
    )
    return transpose(pooled, (1, 0))


def relu(x: Tensor) -> Tensor:
    """max(x, 0); the gradient passes where x > 0."""
    return unary(accel.relu_forward, accel.relu_backward, x)


def clipped_relu(x: Tensor, max_value: float) -> Tensor:
    """min(max(x, 0), max_value), e.g. ReLU6; the gradient passes where 0 < x < max_value."""
    return unary(accel.clipped_relu_forward, accel.relu_backward, x, max_value=max_value)


def leaky_relu(x: Tensor, alpha: float = 0.01) -> Tensor:
    """X for x > 0, alpha·x otherwise."""
    return unary(act_ops.leaky_relu_forward, act_ops.leaky_relu_backward, x, alpha=alpha)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^(−x)), stable for any x."""
    return unary(act_ops.sigmoid_forward, act_ops.sigmoid_backward, x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return unary(act_ops.tanh_forward, act_ops.tanh_backward, x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """e^(x − max) / Σ e^(x − max) along ``axis``."""
    out = unary(act_ops.softmax_forward, act_ops.softmax_backward, x, axis=axis)
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
    return unary(act_ops.log_softmax_forward, act_ops.log_softmax_backward, x, axis=axis)


ACTIVATIONS = {
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
}


def dropout(
    x: Tensor,
    *,
    rate: float,
    rng: Any,
    training: bool,
    rows: tuple[int, int, int] | None = None,
    batch_axis: int = 0,
) -> Tensor:
    """Inverted dropout: zero a ``rate`` share of values, scale the rest by 1/(1 − rate).

    ``rows``, ``batch_axis``: see :func:`glassnet.ops.norm.dropout_forward` (a shard of a
    larger batch).
    """
    if not training or rate == 0:
        return x
    return unary(
        norm_ops.dropout_forward, norm_ops.dropout_backward, x, rate=rate, rng=rng,
        training=True, rows=rows, batch_axis=batch_axis,
    )


# ----- ops with parameters -------------------------------------------------------------------
def dense(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """X @ w + b.

    Shapes:
        x: (N, in), w: (in, out), b: (out,) -> out: (N, out)
    """
    out, cache = accel.dense_forward(x.data, w.data, None if b is None else b.data)
    parents = (x, w) if b is None else (x, w, b)

    def backward(g: Array) -> tuple[Array | None, ...]:
        dx, dw, db = accel.dense_backward(g, cache)
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
    out, cache = accel.batch_norm_forward(
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
    return Tensor.from_op(out, (x, gamma, beta), lambda g: accel.batch_norm_backward(g, cache))


def concat(xs: list[Tensor], axis: int) -> Tensor:
    """Join tensors along ``axis``; the gradient is split back."""
    out, cache = basic_ops.concat_forward([t.data for t in xs], axis=axis)
    return Tensor.from_op(out, tuple(xs), lambda g: basic_ops.concat_backward(g, cache))


def batch_norm_relu(
    x: Tensor,
    gamma: Tensor,
    beta: Tensor,
    running_mean: Array,
    running_var: Array,
    *,
    relu_cap: float,
    axis: int,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """min(max(batch_norm(x), 0), relu_cap) as ONE node (``relu_cap`` inf: a plain ReLU).

    The numbers of :func:`batch_norm` then :func:`relu` / :func:`clipped_relu`
    (:mod:`glassnet.ops.fused`); the fast path does both in one pass each way.
    """
    out, cache = accel.batch_norm_relu_forward(
        x.data, gamma.data, beta.data, running_mean, running_var, relu_cap=relu_cap,
        axis=axis, training=training, momentum=momentum, eps=eps,
    )
    return Tensor.from_op(out, (x, gamma, beta),
                          lambda g: accel.batch_norm_relu_backward(g, cache))
