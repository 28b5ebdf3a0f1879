"""What the page needs to know about one layer: to recompute a clicked cell, and to run it.

:func:`describe` returns a small JSON-able dict: ``kind`` and that kind's geometry (strides,
dilation, the explicit padding ``[[top, bottom], [left, right]]`` resolved by
:func:`glassnet.arith.geometry.resolve_padding`, groups, activation, axes). The in-page engine
(``assets/engine.js``) switches on ``kind``:

==============  ==========================================================================
``conv``        Conv2D and DepthwiseConv2D (``groups`` = C_in): kernel [KH, KW, C_in/G, F]
``separable``   SeparableConv2D: depthwise [KH, KW, 1, C·M], then pointwise [1, 1, C·M, F]
``dense``       Dense: kernel [F_in, units]
``pool``        MaxPool2D / AvgPool2D (``op``), padding and ceil_mode via the output shape
``gap``/``gmp`` GlobalAvgPool2D / GlobalMaxPool2D
``batchnorm``   BatchNormalization at inference (moving statistics)
``flatten``     Flatten (``order`` ``hwc``: Keras) and the ONNX channel-first one (``chw``)
``reshape``     Reshape (row-major values unchanged)
``identity``    Dropout (off at inference)
``elementwise`` ReLU (``cap``), Activation, LeakyReLU (``leaky_slope``)
``softmax``     Softmax / Activation("softmax") over ``axis`` (of one sample's shape)
``add``         Add; ``concat``: Concatenate over ``axis``
``zeropad``     ZeroPadding2D (``pads``); ``rescaling``: x·scale + offset
``other``       anything else (the page shows it but cannot run it)
==============  ==========================================================================

The weights themselves are added by :mod:`glassnet.explain.pagedata`.
"""

from __future__ import annotations

from typing import Any

from glassnet.arith.geometry import resolve_padding
from glassnet.layers import (
    Activation,
    Add,
    AvgPool2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    Layer,
    MaxPool2D,
    ReLU,
    Rescaling,
    Reshape,
    SeparableConv2D,
    Softmax,
    ZeroPadding2D,
)
from glassnet.onnx.layers import FlattenCHW, LeakyReLU

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


def conv_info(layer: Conv2D | DepthwiseConv2D | SeparableConv2D,
              in_shape: Any) -> dict[str, Any]:
    """Geometry of a (grouped or depthwise) convolution.

    Shapes:
        in_shape (H, W, C_in); the kernel is [KH, KW, C_in/groups, F].
    """
    groups = layer.groups if isinstance(layer, Conv2D) else int(in_shape[2])
    separable = isinstance(layer, SeparableConv2D)
    extra = {"depth_multiplier": layer.depth_multiplier} if separable else {}
    return {
        **extra,
        "kind": "separable" if separable else "conv",
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


def _sample_axis(axis: int, rank: int) -> int:
    """The axis within one sample's shape of a public (batch-first) ``axis``."""
    return axis % (rank + 1) - 1


def describe(layer: Layer, in_shape: Any) -> dict[str, Any]:
    """Return the kind and geometry of ``layer`` for an input of shape ``in_shape``.

    Args:
        layer: the layer.
        in_shape: its input shape (HWC or (F,); a tuple of shapes for merge layers).

    Returns:
        A JSON-able dict with at least ``kind`` (see the module docstring).
    """
    if isinstance(layer, Conv2D | DepthwiseConv2D | SeparableConv2D):
        return conv_info(layer, in_shape)
    if isinstance(layer, MaxPool2D | AvgPool2D):
        return pool_info(layer, in_shape)
    if isinstance(layer, GlobalAvgPool2D):
        return {"kind": "gap"}
    if isinstance(layer, GlobalMaxPool2D):
        return {"kind": "gmp"}
    if isinstance(layer, Dense):
        return {"kind": "dense", "activation": _activation(layer.activation),
                "leaky_slope": LEAKY_SLOPE}
    if isinstance(layer, Flatten):  # FlattenCHW is a Flatten with another order
        return {"kind": "flatten", "order": "chw" if isinstance(layer, FlattenCHW) else "hwc"}
    if isinstance(layer, Reshape):
        return {"kind": "reshape"}
    if isinstance(layer, Dropout):
        return {"kind": "identity", "why": "dropout is the identity at inference"}
    if isinstance(layer, ReLU):
        cap = layer.max_value
        name = "relu" if cap is None else ("relu6" if cap == 6 else "relu_cap")
        return {"kind": "elementwise", "activation": name, "cap": cap}
    if isinstance(layer, LeakyReLU):
        return {"kind": "elementwise", "activation": "leaky_relu", "leaky_slope": layer.alpha}
    if isinstance(layer, Activation) and _activation(layer.activation) in ELEMENTWISE:
        return {"kind": "elementwise", "activation": _activation(layer.activation),
                "leaky_slope": LEAKY_SLOPE}
    if isinstance(layer, Activation | Softmax):  # Activation("softmax"): over the last axis
        axis = layer.axis if isinstance(layer, Softmax) else -1
        return {"kind": "softmax", "axis": _sample_axis(axis, len(in_shape))}
    if isinstance(layer, BatchNormalization):
        return {"kind": "batchnorm", "epsilon": layer.epsilon}
    if isinstance(layer, Add):
        return {"kind": "add"}
    if isinstance(layer, Concatenate):
        return {"kind": "concat", "axis": _sample_axis(layer.axis, len(in_shape[0]))}
    if isinstance(layer, ZeroPadding2D):
        (t, b), (left, r) = layer.padding
        return {"kind": "zeropad", "pads": [[t, b], [left, r]]}
    if isinstance(layer, Rescaling):
        return {"kind": "rescaling", "scale": layer.scale, "offset": layer.offset}
    return {"kind": "other"}
