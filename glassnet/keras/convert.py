"""Keras layer configs to glassnet layers, and Keras weight arrays to glassnet's layouts.

One converter per supported Keras class. A converter reads only the options glassnet can
honour and refuses any other value with one line naming the layer, the option and what is
supported, so a model is never read into something that computes differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import layers as L
from glassnet.errors import GlassnetError
from glassnet.layers.base import Layer
from glassnet.onnx.layers import LeakyReLU

# Keras activation names glassnet computes identically (see layers.activations).
ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "softmax")


class Options:
    """A Keras layer's config, read option by option, refusing values glassnet cannot honour."""

    def __init__(self, class_name: str, config: dict[str, Any]) -> None:
        self.class_name = class_name
        self.config = config
        self.name = str(config.get("name") or class_name.lower())

    def fail(self, option: str, value: Any, expected: str) -> GlassnetError:
        """The one-line error for an unsupported option value."""
        return GlassnetError(
            f"Keras layer {self.name!r} ({self.class_name}): {option}={value!r} is not "
            f"supported; expected {expected}"
        )

    def get(self, option: str, default: Any = None) -> Any:
        """The option's value (``default`` when absent)."""
        return self.config.get(option, default)

    def require(self, option: str, allowed: tuple[Any, ...], default: Any = None) -> Any:
        """The option's value, which must be one of ``allowed``."""
        value = self.config.get(option, default)
        value = tuple(value) if isinstance(value, list) else value
        if value not in allowed:
            raise self.fail(option, value, " or ".join(repr(a) for a in allowed))
        return value

    def channels_last(self) -> None:
        """Refuse ``data_format="channels_first"`` (glassnet's public layout is NHWC)."""
        self.require("data_format", ("channels_last", None))

    def activation(self) -> str | None:
        """The activation name, mapped to glassnet's (``linear`` -> ``None``)."""
        act = self.config.get("activation", "linear")
        if isinstance(act, dict):  # a serialized built-in: {"class_name": "function", ...}
            act = act.get("config", act.get("class_name"))
        if act not in ACTIVATIONS:
            raise self.fail("activation", act, f"one of {', '.join(ACTIVATIONS)}")
        return None if act == "linear" else act


def _conv_common(o: Options) -> dict[str, Any]:
    o.channels_last()
    return {
        "kernel_size": tuple(o.get("kernel_size")), "strides": tuple(o.get("strides", (1, 1))),
        "padding": o.require("padding", ("valid", "same"), "valid"),
        "dilation_rate": tuple(o.get("dilation_rate", (1, 1))),
        "activation": o.activation(), "use_bias": bool(o.get("use_bias", True)), "name": o.name,
    }


def _conv2d(o: Options) -> Layer:
    return L.Conv2D(int(o.get("filters")), groups=int(o.get("groups", 1)), **_conv_common(o))


def _depthwise(o: Options) -> Layer:
    return L.DepthwiseConv2D(depth_multiplier=int(o.get("depth_multiplier", 1)),
                             **_conv_common(o))


def _separable(o: Options) -> Layer:
    return L.SeparableConv2D(int(o.get("filters")),
                             depth_multiplier=int(o.get("depth_multiplier", 1)),
                             **_conv_common(o))


def _dense(o: Options) -> Layer:
    return L.Dense(int(o.get("units")), activation=o.activation(),
                   use_bias=bool(o.get("use_bias", True)), name=o.name)


def _pool(cls: Callable[..., Layer]) -> Callable[[Options], Layer]:
    # NOTE: "same" follows the TensorFlow rule (DESIGN §2; Keras' TF and JAX backends). Keras'
    # torch backend pads an ASYMMETRIC "same" pooling window by replicating edge values, so
    # its AveragePooling2D differs there (e.g. 3×3, stride 2 on 4×4); glassnet keeps the rule.
    def make(o: Options) -> Layer:
        o.channels_last()
        size = tuple(o.get("pool_size", (2, 2)))
        strides = o.get("strides")
        return cls(size, strides=size if strides is None else tuple(strides),
                   padding=o.require("padding", ("valid", "same"), "valid"), name=o.name)
    return make


def _global(cls: type[Layer]) -> Callable[[Options], Layer]:
    def make(o: Options) -> Layer:
        o.channels_last()
        o.require("keepdims", (False,), False)
        return cls(name=o.name)
    return make


def _batchnorm(o: Options) -> Layer:
    o.require("axis", (-1, 3, (-1,), (3,)), -1)
    o.require("center", (True,), True)
    o.require("scale", (True,), True)
    return L.BatchNormalization(momentum=float(o.get("momentum", 0.99)),
                                epsilon=float(o.get("epsilon", 1e-3)), name=o.name)


def _relu(o: Options) -> Layer:
    o.require("negative_slope", (0, 0.0), 0.0)
    o.require("threshold", (0, 0.0), 0.0)
    top = o.get("max_value")
    return L.ReLU(max_value=None if top is None else float(top), name=o.name)


def _leaky(o: Options) -> Layer:
    # Keras 3 calls the slope negative_slope, Keras 2 alpha; both default to 0.3.
    return LeakyReLU(float(o.get("negative_slope", o.get("alpha", 0.3))), name=o.name)


def _softmax(o: Options) -> Layer:
    axis = o.require("axis", (-1, (-1,)), -1)
    return L.Softmax(axis=-1 if axis == (-1,) else axis, name=o.name)


def _rescaling(o: Options) -> Layer:
    for option in ("scale", "offset"):
        value = o.get(option, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise o.fail(option, value, "a number (per-channel values are not supported)")
    return L.Rescaling(float(o.get("scale")), float(o.get("offset", 0.0)), name=o.name)


def _concatenate(o: Options) -> Layer:
    return L.Concatenate(axis=int(o.get("axis", -1)), name=o.name)


def _flatten(o: Options) -> Layer:
    o.channels_last()
    return L.Flatten(name=o.name)


def _zero_padding(o: Options) -> Layer:
    o.channels_last()
    pad = o.get("padding", 1)
    pad = [list(p) if isinstance(p, list | tuple) else p for p in pad] if isinstance(
        pad, list | tuple) else pad
    return L.ZeroPadding2D(pad, name=o.name)


CONVERTERS: dict[str, Callable[[Options], Layer]] = {
    "Conv2D": _conv2d,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv2D": _separable,
    "Dense": _dense,
    "MaxPooling2D": _pool(L.MaxPool2D),
    "AveragePooling2D": _pool(L.AvgPool2D),
    "GlobalAveragePooling2D": _global(L.GlobalAvgPool2D),
    "GlobalMaxPooling2D": _global(L.GlobalMaxPool2D),
    "BatchNormalization": _batchnorm,
    "Dropout": lambda o: L.Dropout(float(o.get("rate")), name=o.name),
    "Flatten": _flatten,
    "Reshape": lambda o: L.Reshape(tuple(o.get("target_shape")), name=o.name),
    "Activation": lambda o: L.Activation(o.activation() or "linear", name=o.name),
    "ReLU": _relu,
    "LeakyReLU": _leaky,
    "Softmax": _softmax,
    "Add": lambda o: L.Add(name=o.name),
    "Concatenate": _concatenate,
    "ZeroPadding2D": _zero_padding,
    "Rescaling": _rescaling,
}
# Aliases Keras writes for the same classes.
CONVERTERS["MaxPool2D"] = CONVERTERS["MaxPooling2D"]
CONVERTERS["AvgPool2D"] = CONVERTERS["AveragePooling2D"]
CONVERTERS["GlobalAvgPool2D"] = CONVERTERS["GlobalAveragePooling2D"]
CONVERTERS["GlobalMaxPool2D"] = CONVERTERS["GlobalMaxPooling2D"]
CONVERTERS["Convolution2D"] = CONVERTERS["Conv2D"]

SUPPORTED = ("InputLayer", *CONVERTERS)


def to_layer(class_name: str, config: dict[str, Any]) -> Layer:
    """Return the glassnet layer for one Keras layer config.

    Raises:
        GlassnetError: naming the Keras class (and the supported list) or the bad option.
    """
    make = CONVERTERS.get(class_name)
    name = config.get("name", "?")
    if make is None:
        raise GlassnetError(
            f"Keras layer {name!r} is a {class_name}, which glassnet does not read; "
            f"supported: {', '.join(SUPPORTED)}"
        )
    options = Options(class_name, config)
    # A frozen layer's weights would count as trainable here and train: say so instead.
    options.require("trainable", (True,), True)
    return make(options)


def weight_arrays(layer: Layer, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Map a Keras layer's weights (``layer.weights`` order) to glassnet's keys and layouts.

    Depthwise kernels go from Keras' ``[KH, KW, C, M]`` to ``[KH, KW, 1, C·M]`` (channel
    ``c·M + m`` in both); BatchNorm's moving statistics become the layer's buffers.

    Raises:
        GlassnetError: if the number of arrays is not what the layer holds.
    """
    if isinstance(layer, L.BatchNormalization):
        keys = ["gamma", "beta", "moving_mean", "moving_variance"]
    elif isinstance(layer, L.SeparableConv2D):
        keys = ["depthwise_kernel", "pointwise_kernel"] + (["bias"] if layer.use_bias else [])
    elif isinstance(layer, L.Conv2D | L.DepthwiseConv2D | L.Dense):
        keys = ["kernel"] + (["bias"] if layer.use_bias else [])
    else:
        keys = []
    if len(arrays) != len(keys):
        raise GlassnetError(
            f"Keras layer {layer.label!r}: the file holds {len(arrays)} weight arrays; "
            f"expected {len(keys)} ({', '.join(keys) or 'none'})"
        )
    out = dict(zip(keys, arrays, strict=True))
    for key in ("kernel", "depthwise_kernel"):
        if key in out and (key == "depthwise_kernel" or isinstance(layer, L.DepthwiseConv2D)):
            kh, kw, c, m = out[key].shape
            out[key] = out[key].reshape(kh, kw, 1, c * m)
    return out
