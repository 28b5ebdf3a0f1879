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
from typing import Any, NamedTuple

import numpy as np

from glassnet.layers.activations import apply_activation
from glassnet.layers.base import Node
from glassnet.layers.conv import Conv2D
from glassnet.layers.core import Dense, Dropout, Flatten, Input
from glassnet.layers.pool import MaxPool2D
from glassnet.ops import activation as act_ops
from glassnet.ops import basic as basic_ops
from glassnet.ops import conv as conv_ops
from glassnet.ops import kernels, small_batch
from glassnet.ops import pool as pool_ops
from glassnet.tensor import Tensor

# Below this many images a convolution or 2×2 pooling takes the small-batch paths (whole-image
# splitting has nothing to split; see docs/performance.md).
SMALL_BATCH = 2

Array = Any
Step = Callable[[list[Array]], Array]
Unary = Callable[[Array], Array]


def _activate(name: str | None, a: Array) -> Array:
    """The layer activation ``name`` on an array (ReLU and softmax directly, others via tensors)."""
    if name is None or name == "linear":
        return a
    if name == "relu":
        return np.maximum(a, 0, out=a)  # a is the step's own fresh output
    if name == "softmax" and a.ndim == 2:
        return _softmax_rows(a)
    return apply_activation(name, Tensor(a)).data


def _softmax_rows(a: Array) -> Array:
    """:func:`glassnet.ops.activation.softmax_forward` along the last axis, in place in ``a``.

    The same operations in the same order (exp(a − max) / Σ), so the same numbers; ``a`` is
    the step's own fresh output, so no new arrays (five NumPy calls instead of eight).
    """
    if a.dtype.kind != "f":
        return act_ops.softmax_forward(a, axis=-1)[0]
    np.subtract(a, a.max(axis=-1, keepdims=True), out=a)
    np.exp(a, out=a)
    a /= a.sum(axis=-1, keepdims=True)
    return a


def _conv_geometry(layer: Conv2D, node: Node) -> Any:
    in_h, in_w = node.inputs[0].shape[:2]
    return conv_ops.conv_geometry(
        (in_h, in_w), layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate
    )


def _conv_step(
    layer: Conv2D, node: Node, activation: bool, relu_pool: bool = False, flat: bool = False
) -> Unary:
    """A Conv2D call; ``relu_pool`` (and ``flat``): the small-batch path also does the
    following 2×2 pooling with the conv's ReLU (and the Flatten after it) in
    :class:`glassnet.ops.small_batch.ConvRows`; at larger batches the caller does them
    (see :func:`_conv_pool_step`).
    """
    geometry = _conv_geometry(layer, node)
    act = layer.activation if activation else None
    kernel = layer.weights["kernel"]
    bias = layer.weights.get("bias")
    planned: dict[tuple[tuple[int, ...], Any], small_batch.ConvRows] = {}

    def small(x: Array, w: Array) -> bool:
        return x.shape[1] < SMALL_BATCH and small_batch.usable(x, w)

    def step(x: Array) -> Array:
        w, b = kernel.data, None if bias is None else bias.data
        # A batch too small to split by images: split by rows (ops.small_batch).
        if small(x, w):
            key = (x.shape, x.dtype)
            run = planned.get(key)
            if run is None:
                run = planned[key] = small_batch.ConvRows(
                    x.shape, w.shape, geometry, x.dtype, relu_pool, flat
                )
            return _activate(act, run(x, w, b))
        out, _ = conv_ops.conv2d_resolved(x, w, b, geometry)
        return _activate(act, out)

    step.small = small  # type: ignore[attr-defined]
    return step


def _conv_pool_step(conv: Node, pool: Node, flatten: Node | None) -> Unary | None:
    """A ReLU conv, the 2×2 / stride-2 max-pool after it (and a Flatten after that, if given)
    as one step, or None if the pool is another kind (padded, overlapping, ceil mode)."""
    geo = _pool_geometry(pool.layer, pool)
    (oh, ow) = _conv_geometry(conv.layer, conv)[0]
    if not (geo.kernel == geo.strides == (2, 2) and geo.applied == ((0, 0), (0, 0))
            and geo.out_hw == (oh // 2, ow // 2)):
        return None
    fused = _conv_step(conv.layer, conv, False, relu_pool=True, flat=flatten is not None)
    pooling = _max_pool_step(pool.layer, pool, relu=True)
    kernel = conv.layer.weights["kernel"]

    def step(x: Array) -> Array:
        out = fused(x)
        if fused.small(x, kernel.data):  # type: ignore[attr-defined]
            return out
        out = pooling(out)
        return out if flatten is None else _flatten(out)

    step.absorbs = 2 if flatten is not None else 1  # type: ignore[attr-defined]
    return step


def _pool_geometry(layer: MaxPool2D, node: Node) -> Any:
    in_h, in_w = node.inputs[0].shape[:2]
    return pool_ops.pool_geometry(
        (in_h, in_w), layer.pool_size, layer.window_strides, layer.padding, layer.ceil_mode
    )


def _max_pool_step(layer: MaxPool2D, node: Node, relu: bool) -> Unary:
    in_h, in_w = node.inputs[0].shape[:2]
    geo = _pool_geometry(layer, node)
    oh, ow = geo.out_hw
    direct = geo.kernel == geo.strides == (2, 2) and geo.applied == ((0, 0), (0, 0))

    def step(x: Array) -> Array:
        # A 2×2 pooling of a small batch: the kernel itself, without the op's generality.
        if direct and x.shape[1] < SMALL_BATCH and kernels.enabled(x):
            out = np.empty((*x.shape[:-2], oh, ow), dtype=x.dtype)
            kernels.max_pool_2x2_values(
                np.ascontiguousarray(x).reshape(-1, in_h, in_w), relu, out.reshape(-1, oh, ow)
            )
            return out
        return pool_ops.max_pool2d_values(x, geo, relu)

    return step


def _dense_step(layer: Dense) -> Unary:
    kernel = layer.weights["kernel"]
    bias = layer.weights.get("bias")

    act = layer.activation
    softmax = act == "softmax"

    def step(x: Array) -> Array:
        w, b = kernel.data, None if bias is None else bias.data
        if (x.shape[0] < SMALL_BATCH and x.ndim == 2 and x.shape[1] == w.shape[0]
                and small_batch.usable(x, w)):
            return _activate(None if softmax else act, small_batch.dense(x, w, b, softmax))
        out, _ = basic_ops.dense_forward(x, w, b)
        return _activate(act, out)

    return step


def _flatten(a: Array) -> Array:
    if a.ndim == 2:
        return a
    # Back to NHWC first, as Flatten.forward does (Keras' (H, W, C) order).
    return conv_ops.to_public_layout(a).reshape(a.shape[1], -1)


def _identity(a: Array) -> Array:
    return a


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


def _unary_step(node: Node, fused_conv: bool, relu_after: bool) -> Unary | None:
    """The one-array function of a layer call the plan runs directly, or None."""
    layer = node.layer
    kind = type(layer)
    if kind is Conv2D and layer._groups(node.inputs[0].shape[-1]) == 1:
        return _conv_step(layer, node, activation=not fused_conv)
    if kind is MaxPool2D:
        return _max_pool_step(layer, node, relu_after)
    if kind is Dense:
        return _dense_step(layer)
    if kind is Flatten:
        return _flatten
    if kind is Dropout or kind is Input:
        return _identity
    return None


def make_step(node: Node, fused_conv: bool, relu_after: bool) -> Step:
    """The array function of one layer call in inference mode.

    Args:
        node: the layer call.
        fused_conv: a Conv2D whose ReLU the following max-pool applies.
        relu_after: a MaxPool2D that applies its input conv's ReLU.
    """
    unary = _unary_step(node, fused_conv, relu_after)
    if unary is not None:
        return lambda args: unary(args[0])
    flags = {"activation": False} if fused_conv else {"relu": True} if relu_after else {}
    return _generic_step(node, flags)


class Plan(NamedTuple):
    """A model's inference steps: a plain chain of one-array functions, or a graph."""

    chain: list[Unary] | None  # each layer call reads the previous one's output only
    graph: list[tuple[int, tuple[int, ...], Step, tuple[int, ...]]]


def _build(model: Any, last_use: dict[int, int]) -> Plan:
    fused = model._relu_pool_pairs()
    nodes = model.nodes[1:]
    chain: list[Unary] | None = []
    previous, skip = model.input_node.uid, 0
    for k, n in enumerate(nodes):
        unary = _unary_step(n, n.uid in fused, n.inputs[0].uid in fused)
        if chain is None or unary is None or [p.uid for p in n.inputs] != [previous]:
            chain = None
        elif skip:
            skip -= 1  # this layer runs inside the step before it
        elif unary is not _identity:
            pair = None
            if n.uid in fused:  # its only reader, the next node, is a max-pool
                after = nodes[k + 2] if k + 2 < len(nodes) else None
                pair = _conv_pool_step(
                    n, nodes[k + 1],
                    after if after is not None and type(after.layer) is Flatten else None,
                )
                skip = getattr(pair, "absorbs", 0)
            chain.append(pair or unary)
        previous = n.uid
    if previous != model.output_node.uid:
        chain = None
    graph = [
        (n.uid, tuple(p.uid for p in n.inputs),
         make_step(n, n.uid in fused, n.inputs[0].uid in fused),
         tuple({p.uid for p in n.inputs if last_use[p.uid] == n.uid}))  # to release
        for n in nodes
    ]
    return Plan(chain, graph)


def run_plan(model: Any, x: Array, last_use: dict[int, int]) -> Array:
    """Run ``model`` on the array ``x`` through its plan (built on first use, kept on the model).

    Args:
        model: a built graph model.
        x: the input batch, NHWC (or (N, F)), already the model's dtype and shape.
        last_use: node uid -> uid of the node reading it last (``Model._last_use``).

    Returns:
        The output node's array in the compute layout.
    """
    plan: Plan | None = getattr(model, "_plan_cache", None)
    if plan is None:
        plan = model._plan_cache = _build(model, last_use)
    a = conv_ops.to_compute_layout(x) if x.ndim == 4 else x
    if plan.chain is not None:
        for f in plan.chain:
            a = f(a)
        return a
    values: dict[int, Array] = {model.input_node.uid: a}
    for uid, parents, step, done in plan.graph:
        values[uid] = step([values[p] for p in parents])
        for p in done:
            del values[p]
    return values[model.output_node.uid]
