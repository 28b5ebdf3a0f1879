"""The ops on public NHWC tensors (what users and the trace call).

Each spatial op transposes to the compute layout (CNHW), runs the autodiff op from
:mod:`glassnet.autodiff` and transposes back, so the layout never leaks. Layout-free ops
(activations, dense, losses) are re-exported unchanged.
"""

from __future__ import annotations

from typing import Any

from glassnet import autodiff as A
from glassnet.arith.geometry import PaddingSpec, Pair
from glassnet.autodiff import (  # noqa: F401  (re-exported: layout-free)
    add,
    concat,
    dense,
    dropout,
    leaky_relu,
    log_softmax,
    loss,
    matmul,
    mul,
    relu,
    reshape,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    tanh,
)
from glassnet.tensor import Tensor


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _on_maps(op: Any, x: Any, *args: Any, **kw: Any) -> Tensor:
    """Run a compute-layout op on NHWC maps: transpose in, apply, transpose back if still maps."""
    out = op(A.to_compute(_as_tensor(x)), *args, **kw)
    return A.to_public(out) if out.ndim == 4 else out


def conv2d(
    x: Any,
    w: Any,
    b: Any = None,
    *,
    strides: int | Pair = 1,
    padding: PaddingSpec = "valid",
    dilation: int | Pair = 1,
    groups: int = 1,
) -> Tensor:
    """Cross-correlation + bias on NHWC maps (see :func:`glassnet.ops.conv.conv2d_forward`).

    Shapes:
        x: (N, H, W, C); w: (KH, KW, C/G, F); b: (F,) -> out: (N, OH, OW, F)
    """
    return _on_maps(
        A.conv2d,
        x,
        _as_tensor(w),
        None if b is None else _as_tensor(b),
        strides=strides,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )


def max_pool2d(
    x: Any,
    pool_size: int | Pair,
    strides: int | Pair | None = None,
    padding: PaddingSpec = "valid",
    *,
    ceil_mode: bool = False,
) -> Tensor:
    """Max pooling of NHWC maps; ties route the gradient to the first maximum.

    Shapes:
        x: (N, H, W, C) -> out: (N, OH, OW, C)
    """
    return _on_maps(
        A.max_pool2d,
        x,
        pool_size=pool_size,
        strides=strides,
        padding=padding,
        ceil_mode=ceil_mode,
    )


def avg_pool2d(
    x: Any,
    pool_size: int | Pair,
    strides: int | Pair | None = None,
    padding: PaddingSpec = "valid",
    *,
    ceil_mode: bool = False,
    count_include_pad: bool = False,
) -> Tensor:
    """Average pooling of NHWC maps.

    Shapes:
        x: (N, H, W, C) -> out: (N, OH, OW, C)
    """
    return _on_maps(
        A.avg_pool2d,
        x,
        pool_size=pool_size,
        strides=strides,
        padding=padding,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )


def global_avg_pool2d(x: Any) -> Tensor:
    """Mean over H and W.

    Shapes:
        x: (N, H, W, C) -> out: (N, C)
    """
    return _on_maps(A.global_avg_pool2d, x)


def flatten(x: Any) -> Tensor:
    """Row-major flatten of everything after the batch axis (over H, W, C for NHWC maps).

    Shapes:
        x: (N, ...) -> out: (N, prod(...))
    """
    t = _as_tensor(x)
    return A.reshape(t, (t.shape[0], -1))


def batch_norm(
    x: Any,
    gamma: Any,
    beta: Any,
    running_mean: Any,
    running_var: Any,
    *,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over the last axis (channels of NHWC, features of (N, F))."""
    t = _as_tensor(x)
    if t.ndim == 4:
        out = A.batch_norm(
            A.to_compute(t),
            _as_tensor(gamma),
            _as_tensor(beta),
            running_mean,
            running_var,
            axis=0,
            training=training,
            momentum=momentum,
            eps=eps,
        )
        return A.to_public(out)
    return A.batch_norm(
        t,
        _as_tensor(gamma),
        _as_tensor(beta),
        running_mean,
        running_var,
        axis=t.ndim - 1,
        training=training,
        momentum=momentum,
        eps=eps,
    )
