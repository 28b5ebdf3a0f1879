"""Activation functions by name, as layers apply them (after Conv2D/Dense, or as a layer).

All but softmax are elementwise, hence layout-free. Softmax normalises over the channel axis of
maps (the last public axis, axis 0 in CNHW) or the feature axis of ``(N, F)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet import autodiff as A
from glassnet.accel.infer import softmax_rows
from glassnet.errors import GlassnetError
from glassnet.tensor import Tensor

ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "softmax")


def check_activation(name: str | None, where: str) -> str | None:
    """Return ``name`` if it is a known activation (``None`` and ``"linear"`` mean identity).

    Raises:
        GlassnetError: naming the layer and listing the valid names.
    """
    if name is None or name in ACTIVATIONS:
        return name
    raise GlassnetError(
        f"{where}: activation={name!r} is unknown; valid: {', '.join(ACTIVATIONS)} or None"
    )


def apply_activation(name: str | None, x: Tensor) -> Tensor:
    """Apply the activation ``name`` to a compute-layout tensor.

    Shapes:
        x: (C, N, H, W) or (N, F) -> out: same.
    """
    if name is None or name == "linear":
        return x
    if name == "relu":
        return A.relu(x)
    if name == "relu6":
        return clipped_relu(x, 6.0)
    if name == "leaky_relu":
        return A.leaky_relu(x, 0.2)  # Keras' LeakyReLU default slope
    if name == "sigmoid":
        return A.sigmoid(x)
    if name == "tanh":
        return A.tanh(x)
    if name == "softmax":
        return A.softmax(x, axis=0 if x.ndim == 4 else -1)
    raise GlassnetError(f"activation {name!r} is unknown")  # guarded by check_activation


def clipped_relu(x: Tensor, max_value: float) -> Tensor:
    """min(max(x, 0), max_value), e.g. ReLU6 (MobileNetV2): one op (``ops.activation``).

    Shapes:
        x: any -> out: same.
    """
    return A.clipped_relu(x, float(max_value))


def activate_values(name: str | None, a: Any) -> Any:
    """The activation ``name`` on a step's own fresh output array (inference steps).

    ReLU and a row softmax work in place on ``a``; the others go through their tensor op.

    Shapes:
        a: (C, N, H, W) or (N, F) -> same.
    """
    if name is None or name == "linear":
        return a
    if name == "relu" and type(a) is np.ndarray:
        return np.maximum(a, 0, out=a)
    if name == "softmax" and a.ndim == 2:
        return softmax_rows(a)
    return apply_activation(name, Tensor(a)).data
