"""Fused op pairs that graph rewrites create, each a composition of reference pairs.

Their numbers are, by construction, those of the unfused ops (``models/fusion.py`` rewrites).

* ``max_pool2d_relu``: relu(maxpool(z)). A Conv2D(activation="relu") read only by a MaxPool2D
  becomes a linear Conv2D followed by this op. NOTE: max-pooling and ReLU are both monotone,
  so relu(maxpool(z)) == maxpool(relu(z)), values and gradients alike (ties go to the first
  maximum in both orders: when the maximum is > 0 the same cell wins; when it is ≤ 0 every
  gradient is 0 either way). The ReLU then touches a map KH·KW times smaller.
* ``batch_norm_relu``: relu(batchnorm(z)) (or ReLU6), a ConvBN layer's BatchNorm and ReLU in
  training (``layers/fused.py``): here the two reference pairs one after the other; the fast
  drop-in (:mod:`glassnet.accel.norm`) does both in one pass each way.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from glassnet.arith.geometry import PaddingSpec
from glassnet.ops.activation import (
    clipped_relu_backward,
    clipped_relu_forward,
    relu_backward,
    relu_forward,
)
from glassnet.ops.norm import batch_norm_backward, batch_norm_forward
from glassnet.ops.pool import MaxPool2DCache, max_pool2d_backward, max_pool2d_forward


class MaxPool2DReLUCache(NamedTuple):
    """What :func:`max_pool2d_relu_backward` needs."""

    pool: MaxPool2DCache
    relu: Any  # relu_forward's cache


def max_pool2d_relu_forward(
    x: Any,
    *,
    pool_size: int | tuple[int, int],
    strides: int | tuple[int, int] | None = None,
    padding: PaddingSpec = "valid",
    ceil_mode: bool = False,
) -> tuple[Any, MaxPool2DReLUCache]:
    """relu(maxpool(x)) — arguments as :func:`glassnet.ops.pool.max_pool2d_forward`.

    Shapes:
        x: (..., H, W) -> out: (..., OH, OW).
    """
    pooled, pool_cache = max_pool2d_forward(
        x, pool_size=pool_size, strides=strides, padding=padding, ceil_mode=ceil_mode
    )
    out, relu_cache = relu_forward(pooled)
    return out, MaxPool2DReLUCache(pool_cache, relu_cache)


def max_pool2d_relu_backward(dout: Any, cache: MaxPool2DReLUCache) -> Any:
    """dL/dx of :func:`max_pool2d_relu_forward`: through the ReLU, then the max router.

    Shapes:
        dout: (..., OH, OW) -> dx: (..., H, W).
    """
    return max_pool2d_backward(relu_backward(dout, cache.relu), cache.pool)


class BatchNormReLUCache(NamedTuple):
    """What :func:`batch_norm_relu_backward` needs."""

    norm: Any  # batch_norm_forward's cache
    relu: Any  # relu_forward's or clipped_relu_forward's cache
    capped: bool


def batch_norm_relu_forward(
    x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any, *,
    relu_cap: float, **kw: Any,
) -> tuple[Any, BatchNormReLUCache]:
    """min(max(batchnorm(x), 0), relu_cap) — ``kw`` as :func:`glassnet.ops.norm.batch_norm_forward`.

    ``relu_cap`` inf: a plain ReLU.

    Shapes:
        x: (C, N, H, W) (or as batch_norm_forward); gamma, beta, running_*: (C,) -> out: x's.
    """
    y, norm_cache = batch_norm_forward(x, gamma, beta, running_mean, running_var, **kw)
    capped = relu_cap != float("inf")
    out, relu_cache = (clipped_relu_forward(y, max_value=relu_cap) if capped
                       else relu_forward(y))
    return out, BatchNormReLUCache(norm_cache, relu_cache, capped)


def batch_norm_relu_backward(dout: Any, cache: BatchNormReLUCache) -> tuple[Any, Any, Any]:
    """``(dx, dgamma, dbeta)`` of :func:`batch_norm_relu_forward`: the ReLU's, then the norm's.

    Shapes:
        dout: x's shape -> dx: same, dgamma: (C,), dbeta: (C,).
    """
    back = clipped_relu_backward if cache.capped else relu_backward
    return batch_norm_backward(back(dout, cache.relu), cache.norm)
