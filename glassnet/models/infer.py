"""Inference without a graph: a model's layer calls as plain array functions, resolved once.

Under ``no_grad()`` in inference mode nothing needs the autodiff tape, yet the graph path still
wraps every result in a tensor, re-checks every argument and re-resolves every window geometry.
At batch 1 that bookkeeping costs as much as the arithmetic (LeNet-5 here: 107 µs per image
through the graph path, of which 78 µs in the ops). The plan resolves each convolution's and
pooling's geometry once per model and calls the array-level ops directly; layers it has no
array step for (batch norm, merges, other activations...) run their own ``forward`` on tensors
— slower, never different.

The numbers equal the graph path's: the same ops run on the same arrays in the same order
(``tests/test_infer_plan.py`` checks every zoo model and layer type).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet.layers.activations import apply_activation
from glassnet.layers.base import Node
from glassnet.layers.conv import Conv2D
from glassnet.layers.core import Dense, Dropout, Flatten, Input
from glassnet.layers.pool import MaxPool2D
from glassnet.ops import activation as act_ops
from glassnet.ops import basic as basic_ops
from glassnet.ops import conv as conv_ops
from glassnet.ops import pool as pool_ops
from glassnet.tensor import Tensor

Array = Any
Step = Callable[[list[Array]], Array]


def _activate(name: str | None, a: Array) -> Array:
    """The layer activation ``name`` on an array (ReLU and softmax directly, others via tensors)."""
    if name is None or name == "linear":
        return a
    if name == "relu":
        return np.maximum(a, 0, out=a)  # a is the step's own fresh output
    if name == "softmax" and a.ndim == 2:
        return act_ops.softmax_forward(a, axis=-1)[0]
    return apply_activation(name, Tensor(a)).data


def _conv_step(layer: Conv2D, node: Node, activation: bool) -> Step:
    in_h, in_w = node.inputs[0].shape[:2]
    geometry = conv_ops.conv_geometry(
        (in_h, in_w), layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate
    )
    act = layer.activation if activation else None

    def step(args: list[Array]) -> Array:
        bias = layer.weights.get("bias")
        out, _ = conv_ops.conv2d_resolved(
            args[0], layer.weights["kernel"].data, None if bias is None else bias.data, geometry
        )
        return _activate(act, out)

    return step


def _max_pool_step(layer: MaxPool2D, node: Node, relu: bool) -> Step:
    in_h, in_w = node.inputs[0].shape[:2]
    geo = pool_ops.pool_geometry(
        (in_h, in_w), layer.pool_size, layer.window_strides, layer.padding, layer.ceil_mode
    )
    return lambda args: pool_ops.max_pool2d_values(args[0], geo, relu)


def _dense_step(layer: Dense) -> Step:
    def step(args: list[Array]) -> Array:
        bias = layer.weights.get("bias")
        out, _ = basic_ops.dense_forward(
            args[0], layer.weights["kernel"].data, None if bias is None else bias.data
        )
        return _activate(layer.activation, out)

    return step


def _flatten(args: list[Array]) -> Array:
    a = args[0]
    if a.ndim == 2:
        return a
    # Back to NHWC first, as Flatten.forward does (Keras' (H, W, C) order).
    return conv_ops.to_public_layout(a).reshape(a.shape[1], -1)


def _generic_step(node: Node, flags: dict[str, bool]) -> Step:
    """Any layer through its own ``forward`` on tensors (one input, or a list for merges)."""
    many = node.layer.n_inputs == -1

    def step(args: list[Array]) -> Array:
        tensors = [Tensor(a) for a in args]
        out: Tensor = node.layer.forward(
            tensors if many else tensors[0], training=False, **flags
        )
        return out.data

    return step


def make_step(node: Node, fused_conv: bool, relu_after: bool) -> Step:
    """The array function of one layer call in inference mode.

    Args:
        node: the layer call.
        fused_conv: a Conv2D whose ReLU the following max-pool applies.
        relu_after: a MaxPool2D that applies its input conv's ReLU.
    """
    layer = node.layer
    if type(layer) is Conv2D and layer._groups(node.inputs[0].shape[-1]) == 1:
        return _conv_step(layer, node, activation=not fused_conv)
    if type(layer) is MaxPool2D:
        return _max_pool_step(layer, node, relu_after)
    if type(layer) is Dense:
        return _dense_step(layer)
    kind = type(layer)
    if kind is Flatten:
        return _flatten
    if kind is Dropout or kind is Input:
        return lambda args: args[0]
    flags = {"activation": False} if fused_conv else {"relu": True} if relu_after else {}
    return _generic_step(node, flags)


def run_plan(model: Any, x: Array, last_use: dict[int, int]) -> Array:
    """Run ``model`` on the array ``x`` through its plan (built on first use, kept on the model).

    Args:
        model: a built graph model.
        x: the input batch, NHWC (or (N, F)), already the model's dtype and shape.
        last_use: node uid -> uid of the node reading it last (``Model._last_use``).

    Returns:
        The output node's array in the compute layout.
    """
    plan: list[tuple[int, tuple[int, ...], Step, tuple[int, ...]]] | None = getattr(
        model, "_plan_cache", None
    )
    if plan is None:
        fused = model._relu_pool_pairs()
        plan = [
            (n.uid, tuple(p.uid for p in n.inputs),
             make_step(n, n.uid in fused, n.inputs[0].uid in fused),
             tuple({p.uid for p in n.inputs if last_use[p.uid] == n.uid}))  # to release
            for n in model.nodes[1:]
        ]
        model._plan_cache = plan
    values: dict[int, Array] = {
        model.input_node.uid: conv_ops.to_compute_layout(x) if x.ndim == 4 else x
    }
    for uid, parents, step, done in plan:
        values[uid] = step([values[p] for p in parents])
        for p in done:
            del values[p]
    return values[model.output_node.uid]
