"""What the page needs to know about one layer to recompute a clicked cell.

:func:`describe` returns a small JSON-able dict: ``kind`` (``conv``, ``pool``, ``gap``,
``dense``, ``flatten``, ``elementwise``, ``identity`` or ``other``) and that kind's geometry
(strides, dilation, the explicit padding ``[[top, bottom], [left, right]]`` resolved by
:func:`glassnet.arith.geometry.resolve_padding`, groups, activation). The weights themselves
are added by :mod:`glassnet.explain.pagedata`, which decides whether they fit the page.
"""

from __future__ import annotations

from typing import Any

from glassnet.arith.geometry import resolve_padding
from glassnet.layers import (
    Activation,
    AvgPool2D,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Layer,
    MaxPool2D,
    ReLU,
)

# Activations the page can apply to one number (softmax needs the whole vector).
ELEMENTWISE = ("linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh")
LEAKY_SLOPE = 0.2  # glassnet's leaky_relu slope (Keras' LeakyReLU default)


def _pads(layer: Layer, in_shape: Any, kernel: tuple[int, int], strides: tuple[int, int],
          dilation: tuple[int, int]) -> list[list[int]]:
    (top, bottom), (left, right) = resolve_padding(
        layer.padding, (in_shape[0], in_shape[1]), kernel, strides, dilation, op=layer.label
    )
    return [[top, bottom], [left, right]]


def _activation(name: str | None) -> str:
    return "linear" if name is None else name


def conv_info(layer: Conv2D | DepthwiseConv2D, in_shape: Any) -> dict[str, Any]:
    """Geometry of a (grouped or depthwise) convolution.

    Shapes:
        in_shape (H, W, C_in); the kernel is [KH, KW, C_in/groups, F].
    """
    groups = layer.groups if isinstance(layer, Conv2D) else int(in_shape[2])
    return {
        "kind": "conv",
        "kernel_size": list(layer.kernel_size),
        "strides": list(layer.strides),
        "dilation": list(layer.dilation_rate),
        "pads": _pads(layer, in_shape, layer.kernel_size, layer.strides, layer.dilation_rate),
        "groups": groups,
        "activation": _activation(layer.activation),
        "leaky_slope": LEAKY_SLOPE,
    }


def pool_info(layer: MaxPool2D | AvgPool2D, in_shape: Any) -> dict[str, Any]:
    """Geometry of a max or average pool (padding never wins a max)."""
    strides = layer.window_strides
    return {
        "kind": "pool",
        "op": "max" if isinstance(layer, MaxPool2D) else "avg",
        "pool_size": list(layer.pool_size),
        "strides": list(strides),
        "pads": _pads(layer, in_shape, layer.pool_size, strides, (1, 1)),
        "count_include_pad": bool(getattr(layer, "count_include_pad", False)),
    }


def describe(layer: Layer, in_shape: Any) -> dict[str, Any]:
    """Return the kind and geometry of ``layer`` for an input of shape ``in_shape``.

    Args:
        layer: the layer.
        in_shape: its input shape (HWC or (F,); a tuple of shapes for merge layers).

    Returns:
        A JSON-able dict with at least ``kind``.
    """
    if isinstance(layer, Conv2D | DepthwiseConv2D):
        return conv_info(layer, in_shape)
    if isinstance(layer, MaxPool2D | AvgPool2D):
        return pool_info(layer, in_shape)
    if isinstance(layer, GlobalAvgPool2D):
        return {"kind": "gap"}
    if isinstance(layer, Dense):
        return {"kind": "dense", "activation": _activation(layer.activation),
                "leaky_slope": LEAKY_SLOPE}
    if isinstance(layer, Flatten):
        return {"kind": "flatten"}
    if isinstance(layer, Dropout):
        return {"kind": "identity", "why": "dropout is the identity at inference"}
    if isinstance(layer, ReLU):
        cap = layer.max_value
        name = "relu" if cap is None else ("relu6" if cap == 6 else "relu_cap")
        return {"kind": "elementwise", "activation": name, "cap": cap}
    if isinstance(layer, Activation) and _activation(layer.activation) in ELEMENTWISE:
        return {"kind": "elementwise", "activation": _activation(layer.activation),
                "leaky_slope": LEAKY_SLOPE}
    return {"kind": "other"}
