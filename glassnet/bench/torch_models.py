"""The PyTorch twin of a glassnet model: same graph, same layers, same weights, same FLOPs.

The benchmark compares equal work, so the twin is built from the glassnet model's own graph
rather than written by hand: one torch module per layer call, run in the model's node order,
each intermediate freed after its last use (as glassnet does). Weights are copied — a conv
kernel ``[KH, KW, C/G, F]`` as ``[F, C/G, KH, KW]``, a dense ``[in, out]`` transposed, BatchNorm's
γ, β and moving statistics as they are (its Keras momentum m becomes torch's 1 − m). ``Flatten``
permutes NCHW to NHWC first so a dense layer reads its inputs in Keras' (H, W, C) order. The
output layer's softmax is left out: the twin returns logits, which ``F.cross_entropy`` fuses
with the log-softmax as glassnet fuses its softmax head with the loss.

Padding goes into the conv / pool module where torch can express it (the same on both sides of
each axis), else an explicit pad module before it — torch's fastest form of the same work.

torch is imported lazily, so ``import glassnet.bench`` works without it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from glassnet import layers as L
from glassnet.arith.geometry import resolve_padding
from glassnet.errors import GlassnetError
from glassnet.layers.conv import ConvBase

# The layer types a twin exists for (a subclass is twinned as its base).
SUPPORTED: tuple[type, ...] = (
    L.Conv2D, L.DepthwiseConv2D, L.Dense, L.MaxPool2D, L.AvgPool2D, L.GlobalAvgPool2D,
    L.BatchNormalization, L.Add, L.Concatenate, L.Flatten, L.Dropout, L.Activation, L.ReLU,
    L.Softmax,
)


def _names(types: tuple[type, ...]) -> str:
    return ", ".join(t.__name__ for t in types)


def _activation(name: str | None, last: bool) -> list[Any]:
    """The torch module(s) for a glassnet activation name (softmax dropped on the output)."""
    from torch import nn

    table: dict[str | None, list[Any]] = {
        None: [], "linear": [], "relu": [nn.ReLU()], "relu6": [nn.ReLU6()],
        "leaky_relu": [nn.LeakyReLU(0.2)], "tanh": [nn.Tanh()], "sigmoid": [nn.Sigmoid()],
        "softmax": [] if last else [nn.Softmax(dim=1)],
    }
    if name not in table:
        raise GlassnetError(f"bench: activation {name!r} has no torch twin; valid: {list(table)}")
    return table[name]


def _copy(param: Any, array: Any) -> None:
    import torch

    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def _split_pads(layer: Any, in_hw: tuple[int, int], kernel: Any, strides: Any,
                dilation: Any = (1, 1)) -> tuple[tuple[int, int], list[int] | None]:
    """(symmetric padding for the module, or an explicit ``[left, right, top, bottom]`` pad)."""
    (top, bottom), (left, right) = resolve_padding(layer.padding, in_hw, kernel, strides, dilation)
    if top == bottom and left == right:
        return (top, left), None
    return (0, 0), [left, right, top, bottom]


def _conv(layer: Any, shape: tuple[int, ...], dtype: Any) -> list[Any]:
    from torch import nn

    kh, kw, c_group, filters = layer.weights["kernel"].data.shape
    c_in = shape[-1]
    same, explicit = _split_pads(layer, shape[:2], (kh, kw), layer.strides, layer.dilation_rate)
    conv = nn.Conv2d(c_in, filters, (kh, kw), stride=layer.strides, padding=same,
                     dilation=layer.dilation_rate, groups=c_in // c_group, bias=layer.use_bias,
                     dtype=dtype)
    _copy(conv.weight, layer.weights["kernel"].data.transpose(3, 2, 0, 1))
    if layer.use_bias:
        _copy(conv.bias, layer.weights["bias"].data)
    pad = [nn.ZeroPad2d(explicit)] if explicit else []
    return [*pad, conv]


def _pool(layer: Any, shape: tuple[int, ...]) -> list[Any]:
    from torch import nn

    k, s = layer.pool_size, layer.window_strides
    same, explicit = _split_pads(layer, shape[:2], k, s)
    fits = all(p <= kk // 2 for p, kk in zip(same, k, strict=True))  # torch's limit on padding
    if isinstance(layer, L.MaxPool2D):
        if explicit or not fits:
            (top, bottom), (left, right) = resolve_padding(layer.padding, shape[:2], k, s)
            pad = nn.ConstantPad2d((left, right, top, bottom), float("-inf"))
            return [pad, nn.MaxPool2d(k, s, ceil_mode=layer.ceil_mode)]
        return [nn.MaxPool2d(k, s, padding=same, ceil_mode=layer.ceil_mode)]
    if explicit or not fits:
        raise GlassnetError(f"bench: {layer.label}: average pooling with this padding has no "
                            "torch twin (torch pads both sides alike, at most half the window)")
    return [nn.AvgPool2d(k, s, padding=same, ceil_mode=layer.ceil_mode,
                         count_include_pad=layer.count_include_pad)]


def _batchnorm(layer: Any, shape: tuple[int, ...], dtype: Any) -> list[Any]:
    from torch import nn

    norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    bn = norm(shape[-1], eps=layer.epsilon, momentum=1.0 - layer.momentum, dtype=dtype)
    _copy(bn.weight, layer.weights["gamma"].data)
    _copy(bn.bias, layer.weights["beta"].data)
    _copy(bn.running_mean, layer.buffers["moving_mean"])
    _copy(bn.running_var, layer.buffers["moving_variance"])
    return [bn]


def _channel_dim(axis: int, rank: int) -> int:
    """A public NHWC axis of a rank-``rank`` batch as the twin's NCHW dimension."""
    axis %= rank
    return {1: 2, 2: 3, 3: 1}.get(axis, axis) if rank == 4 else axis


@functools.cache
def _modules() -> Any:
    """The twin's own small modules (defined once torch is imported)."""
    import torch
    from torch import nn

    class FlattenNHWC(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.permute(0, 2, 3, 1).flatten(1) if x.ndim == 4 else x

    class GlobalAvg(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.mean(dim=(2, 3))

    class Sum(nn.Module):
        def forward(self, xs: list[Any]) -> Any:
            out = xs[0] + xs[1]
            for x in xs[2:]:
                out = out + x
            return out

    class Cat(nn.Module):
        def __init__(self, axis: int) -> None:
            super().__init__()
            self.axis = axis

        def forward(self, xs: list[Any]) -> Any:
            return torch.cat(xs, dim=_channel_dim(self.axis, xs[0].ndim))

    class Graph(nn.Module):
        """Runs the per-call modules in node order; frees values after their last read."""

        def __init__(self, calls: list[tuple[int, tuple[int, ...], Any]], first: int,
                     out: int) -> None:
            super().__init__()
            self.blocks = nn.ModuleList(m for _, _, m in calls)
            self.wiring = [(uid, ins) for uid, ins, _ in calls]
            self.first, self.out = first, out
            last_read = {u: i for i, (_, ins) in enumerate(self.wiring) for u in ins}
            self.free = [[u for u in ins if last_read[u] == i and u != out]
                         for i, (_, ins) in enumerate(self.wiring)]

        def forward(self, x: Any) -> Any:
            values = {self.first: x}
            for block, (uid, ins), free in zip(self.blocks, self.wiring, self.free, strict=True):
                args = [values[u] for u in ins]
                values[uid] = block(args[0] if len(args) == 1 else args)
                for u in free:
                    del values[u]
            return values[self.out]

    return FlattenNHWC, GlobalAvg, Sum, Cat, Graph


def _layer_modules(layer: Any, shape: Any, last: bool, dtype: Any) -> list[Any]:
    """The torch modules of one glassnet layer call (weights copied)."""
    flatten, global_avg, add, cat, _ = _modules()
    if isinstance(layer, ConvBase):
        return [*_conv(layer, shape, dtype), *_activation(layer.activation, last)]
    if isinstance(layer, L.Dense):
        from torch import nn

        units_in, units = layer.weights["kernel"].data.shape
        dense = nn.Linear(units_in, units, bias=layer.use_bias, dtype=dtype)
        _copy(dense.weight, layer.weights["kernel"].data.T)
        if layer.use_bias:
            _copy(dense.bias, layer.weights["bias"].data)
        return [dense, *_activation(layer.activation, last)]
    if isinstance(layer, L.MaxPool2D | L.AvgPool2D):
        return _pool(layer, shape)
    if isinstance(layer, L.BatchNormalization):
        return _batchnorm(layer, shape, dtype)
    simple: dict[type, Any] = {
        L.GlobalAvgPool2D: global_avg, L.Add: add, L.Flatten: flatten,
    }
    for kind, make in simple.items():
        if isinstance(layer, kind):
            return [make()]
    return _other(layer, last, cat)


def _other(layer: Any, last: bool, cat: Any) -> list[Any]:
    from torch import nn

    if isinstance(layer, L.Concatenate):
        return [cat(layer.axis)]
    if isinstance(layer, L.Dropout):
        return [nn.Dropout(layer.rate)]
    if isinstance(layer, L.Activation):
        return _activation(layer.activation, last)
    if isinstance(layer, L.ReLU):
        return [nn.ReLU() if layer.max_value is None else nn.Hardtanh(0.0, layer.max_value)]
    if isinstance(layer, L.Softmax):
        return [] if last else [nn.Softmax(dim=_channel_dim(layer.axis, 4))]
    raise GlassnetError(f"bench: {layer.label} ({type(layer).__name__}) has no torch twin; "
                        f"supported: {_names(SUPPORTED)}")


def torch_twin(model: Any, dtype: Any = None) -> Any:
    """Build the ``torch.nn.Module`` equal to a glassnet model (chain or graph), weights copied.

    Args:
        model: a glassnet model (built here if it is not yet).
        dtype: torch dtype of the twin (default: the glassnet model's, float32 or float64).

    Returns:
        A module mapping NCHW inputs to logits (the output softmax left out). ``train()`` /
        ``eval()`` switch BatchNorm and Dropout as glassnet's ``training`` flag does.

    Raises:
        GlassnetError: for a layer type without a twin (listing the supported ones).

    Shapes:
        x: (N, C, H, W) -> logits (N, K).
    """
    import torch
    from torch import nn

    model.build()
    dtype = dtype or getattr(torch, np.dtype(model.dtype).name)
    *_, graph = _modules()
    made: dict[int, Any] = {}  # a layer called twice shares its module (and weights)
    calls = []
    for node in model.nodes:
        if not node.inputs:
            continue
        layer = node.layer
        if id(layer) not in made:
            shape = tuple(node.inputs[0].shape)
            mods = _layer_modules(layer, shape, node is model.output_node, dtype)
            made[id(layer)] = mods[0] if len(mods) == 1 else nn.Sequential(*mods)
        calls.append((node.uid, tuple(p.uid for p in node.inputs), made[id(layer)]))
    return graph(calls, model.input_node.uid, model.output_node.uid)
