"""The PyTorch twin of a glassnet chain model: same layers, same weights, same FLOPs.

The benchmark compares equal work, so the twin is built from the glassnet model's own layer list
rather than written by hand: each ``Conv2D`` becomes an ``nn.Conv2d`` (kernel ``[KH, KW, C_in, F]``
copied as ``[F, C_in, KH, KW]``), each ``Dense`` an ``nn.Linear`` (weight ``[in, out]`` copied
transposed), and ``Flatten`` permutes NCHW to NHWC first so the first dense layer reads its
inputs in Keras' (H, W, C) order. A final softmax is left out: the twin returns logits, which
``F.cross_entropy`` fuses with the log-softmax as glassnet fuses its softmax head with the loss.

torch is imported lazily, so ``import glassnet.bench`` works without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.arith.geometry import resolve_padding
from glassnet.errors import GlassnetError

SUPPORTED = (
    "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "Dense", "Dropout", "Activation", "ReLU",
)


def _activation(name: str | None, last: bool) -> list[Any]:
    """The torch module(s) for a glassnet activation name (softmax dropped on the last layer)."""
    from torch import nn

    table: dict[str | None, list[Any]] = {
        None: [], "linear": [], "relu": [nn.ReLU()], "tanh": [nn.Tanh()],
        "sigmoid": [nn.Sigmoid()], "softmax": [] if last else [nn.Softmax(dim=1)],
    }
    if name not in table:
        raise GlassnetError(f"bench: activation {name!r} has no torch twin; valid: {list(table)}")
    return table[name]


def _pads(padding: Any, in_hw: tuple[int, int], kernel: tuple[int, int],
          strides: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> list[Any]:
    """A ``ZeroPad2d`` for the explicit padding of a layer, or nothing for no padding."""
    from torch import nn

    (top, bottom), (left, right) = resolve_padding(padding, in_hw, kernel, strides, dilation)
    return [nn.ZeroPad2d((left, right, top, bottom))] if top or bottom or left or right else []


def _flatten_nhwc() -> Any:
    """An ``nn.Module`` flattening NCHW maps in Keras' (H, W, C) order."""
    from torch import nn

    class FlattenNHWC(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.permute(0, 2, 3, 1).flatten(1) if x.ndim == 4 else x

    return FlattenNHWC()


def _layer_modules(layer: Any, last: bool, dtype: Any) -> list[Any]:
    """The torch modules of one glassnet layer, weights copied when it has any."""
    import torch
    from torch import nn

    kind = type(layer).__name__
    shape = tuple(layer.input_shape)
    if kind == "Conv2D":
        if layer.groups != 1:
            raise GlassnetError(f"bench: {layer.label}: grouped convs have no twin yet")
        kh, kw, c_in, filters = layer.weights["kernel"].data.shape
        conv = nn.Conv2d(c_in, filters, (kh, kw), stride=layer.strides,
                         dilation=layer.dilation_rate, bias=layer.use_bias, dtype=dtype)
        with torch.no_grad():
            w = np.ascontiguousarray(layer.weights["kernel"].data.transpose(3, 2, 0, 1))
            conv.weight.copy_(torch.from_numpy(w))
            if layer.use_bias:
                conv.bias.copy_(torch.from_numpy(np.asarray(layer.weights["bias"].data)))
        pad = _pads(layer.padding, shape[:2], (kh, kw), layer.strides, layer.dilation_rate)
        return [*pad, conv, *_activation(layer.activation, last)]
    if kind in ("MaxPool2D", "AvgPool2D"):
        k, s = layer.pool_size, layer.window_strides
        if layer.ceil_mode or (kind == "AvgPool2D" and layer.padding != "valid"):
            raise GlassnetError(f"bench: {layer.label}: this pool has no twin yet")
        pool = nn.MaxPool2d(k, s) if kind == "MaxPool2D" else nn.AvgPool2d(k, s)
        if kind == "MaxPool2D" and layer.padding != "valid":
            (top, bottom), (left, right) = resolve_padding(layer.padding, shape[:2], k, s)
            return [nn.ConstantPad2d((left, right, top, bottom), float("-inf")), pool]
        return [pool]
    if kind == "Dense":
        units_in, units = layer.weights["kernel"].data.shape
        dense = nn.Linear(units_in, units, bias=layer.use_bias, dtype=dtype)
        with torch.no_grad():
            dense.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.weights["kernel"].data.T)))
            if layer.use_bias:
                dense.bias.copy_(torch.from_numpy(np.asarray(layer.weights["bias"].data)))
        return [dense, *_activation(layer.activation, last)]
    if kind == "Flatten":
        return [_flatten_nhwc()]
    if kind == "Dropout":
        return [nn.Dropout(layer.rate)]
    if kind == "Activation":
        return _activation(layer.activation, last)
    if kind == "ReLU" and getattr(layer, "max_value", None) is None:
        return [nn.ReLU()]
    raise GlassnetError(f"bench: {layer.label} ({kind}) has no torch twin; supported: {SUPPORTED}")


def torch_twin(model: Any, dtype: Any = None) -> Any:
    """Build the ``torch.nn.Sequential`` equal to a glassnet chain model, weights copied.

    Args:
        model: a glassnet ``Sequential`` (built here if it is not yet).
        dtype: torch dtype of the twin (default: the glassnet model's, float32 or float64).

    Returns:
        An ``nn.Sequential`` mapping NCHW inputs to logits (the softmax head left out).

    Raises:
        GlassnetError: for a layer type without a twin (listing the supported ones).

    Shapes:
        x: (N, C, H, W) -> logits (N, K).
    """
    import torch
    from torch import nn

    model.build()
    dtype = dtype or getattr(torch, np.dtype(model.dtype).name)
    layers = model.layers
    modules = [m for i, layer in enumerate(layers)
               for m in _layer_modules(layer, last=i == len(layers) - 1, dtype=dtype)]
    return nn.Sequential(*modules)
