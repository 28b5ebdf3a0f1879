"""Losses as autodiff nodes (scalar results); the fused softmax + cross-entropy of training."""

from __future__ import annotations

from typing import Any

from glassnet.errors import GlassnetError
from glassnet.ops import loss as loss_ops
from glassnet.tensor import Tensor

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
    return Tensor.from_op(value, (y_pred,), lambda g: (backward(g, cache),))


def softmax_cross_entropy(logits: Tensor, labels: Any) -> Tensor:
    """Fused softmax + cross-entropy from logits; gradient (p − y)/N.

    Shapes:
        logits: (N, K); labels: (N,) ints or (N, K) -> scalar
    """
    value, cache = loss_ops.softmax_cross_entropy_forward(logits.data, labels)
    return Tensor.from_op(
        value, (logits,), lambda g: (loss_ops.softmax_cross_entropy_backward(g, cache),)
    )
