"""Inference without a graph: a model's layer calls as plain array functions, resolved once.

Under ``no_grad()`` in inference mode nothing needs the autodiff tape, yet the graph path still
wraps every result in a tensor, re-checks every argument and re-resolves every window geometry.
At batch 1 that bookkeeping costs as much as the arithmetic (LeNet-5 here: 107 µs per image
through the graph path, of which 78 µs in the ops). The plan resolves each convolution's and
pooling's geometry once per model and calls the array-level ops directly; layers it has no
array step for (batch norm, merges, other activations...) run their own ``forward`` on tensors
— slower, never different. From batch :data:`SMALL_BATCH` up the numbers equal the graph
path's: the same ops run on the same arrays in the same order.

A model whose layer calls form a plain chain (each reads the previous one's output only) runs
as a list of one-array steps; a ReLU conv, the 2×2 max-pool after it and a Flatten after that
become one step. Below :data:`SMALL_BATCH` images, when numba and NumPy's BLAS are there, the
chain's steps are re-planned for the batch's exact shape with the kernels of
:mod:`glassnet.ops.small_batch` (conv + ReLU + pool (+ flatten) in one kernel call, dense +
softmax in another): at batch 1 the Keras mnist_convnet forward went from 150-160 µs to ~80.
Those sum in another order, so there the results agree with the graph path to rounding
(``tests/test_infer_plan.py`` checks both, every zoo model and layer type).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

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

# Below this many images a chain runs the small-batch kernels (whole-image splitting has
# nothing to split, and the per-call bookkeeping is as long as the arithmetic).
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


def _compute_shape(shape: tuple[int, ...], n: int) -> tuple[int, ...]:
    """A node's per-sample shape as the compute-layout array of ``n`` samples."""
    return (shape[2], n, shape[0], shape[1]) if len(shape) == 3 else (n, *shape)


class _Step:
    """One step of a chain: ``step(a)`` runs it; :meth:`small` plans its small-batch version.

    ``absorbs`` counts the layer calls after this one that it also runs (a pooling, a
    Flatten); ``out_node`` is the last layer call it runs.
    """

    absorbs = 0

    def __init__(self, node: Node) -> None:
        self.out_node = node

    def __call__(self, a: Array) -> Array:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def small(self, x_shape: tuple[int, ...], dtype: np.dtype[Any]) -> Unary:
        """The step for inputs of exactly ``x_shape`` and ``dtype`` (default: itself)."""
        return self


class _Flatten(_Step):
    def __call__(self, a: Array) -> Array:
        return _flatten(a)


class _Layer(_Step):
    """Any other one-input layer through its own ``forward`` on tensors."""

    def __init__(self, node: Node, flags: dict[str, bool]) -> None:
        super().__init__(node)
        self.forward, self.flags = node.layer.forward, flags

    def __call__(self, a: Array) -> Array:
        out: Tensor = self.forward(Tensor(a), training=False, **self.flags)
        return out.data


class _MaxPool(_Step):
    def __init__(self, node: Node, relu: bool) -> None:
        super().__init__(node)
        layer = cast(MaxPool2D, node.layer)
        in_h, in_w = node.inputs[0].shape[:2]
        self.in_hw = (in_h, in_w)
        self.geo = pool_ops.pool_geometry(
            (in_h, in_w), layer.pool_size, layer.window_strides, layer.padding, layer.ceil_mode
        )
        self.relu = relu

    def __call__(self, x: Array) -> Array:
        return pool_ops.max_pool2d_values(x, self.geo, self.relu)

    @property
    def two_by_two(self) -> bool:
        """2×2 windows, stride 2, no padding: the case with its own kernels."""
        geo = self.geo
        return geo.kernel == geo.strides == (2, 2) and geo.applied == ((0, 0), (0, 0))

    def small(self, x_shape: tuple[int, ...], dtype: np.dtype[Any]) -> Unary:
        if not self.two_by_two:
            return self
        (in_h, in_w), (oh, ow), relu = self.in_hw, self.geo.out_hw, self.relu
        out_shape, planes = (*x_shape[:-2], oh, ow), (-1, in_h, in_w)

        def step(x: Array) -> Array:
            out = np.empty(out_shape, dtype=x.dtype)
            kernels.max_pool_2x2_values(x.reshape(planes), relu, out.reshape(-1, oh, ow))
            return out

        return step


class _Conv(_Step):
    """A Conv2D call (groups 1), optionally with the ReLU max-pool and Flatten after it."""

    def __init__(
        self, node: Node, activation: bool, pool: Node | None = None,
        flatten: Node | None = None,
    ) -> None:
        super().__init__(flatten or pool or node)
        layer = cast(Conv2D, node.layer)
        in_h, in_w = node.inputs[0].shape[:2]
        self.geometry = conv_ops.conv_geometry(
            (in_h, in_w), layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate
        )
        self.act = layer.activation if activation else None
        self.kernel, self.bias = layer.weights["kernel"], layer.weights.get("bias")
        self.pool = None if pool is None else _MaxPool(pool, relu=True)
        self.flatten = flatten is not None
        self.absorbs = (pool is not None) + self.flatten

    def __call__(self, x: Array) -> Array:
        b = None if self.bias is None else self.bias.data
        out, _ = conv_ops.conv2d_resolved(x, self.kernel.data, b, self.geometry)
        if self.pool is not None:
            out = self.pool(out)
            return _flatten(out) if self.flatten else out
        return _activate(self.act, out)

    def small(self, x_shape: tuple[int, ...], dtype: np.dtype[Any]) -> Unary:
        kernel, bias, act, general = self.kernel, self.bias, self.act, self
        if (kernel.data.dtype != dtype or not small_batch.supports(dtype)
                or not small_batch.pays(x_shape[1], self.geometry[0], kernel.shape[-1])):
            return self
        rows = small_batch.ConvRows(
            x_shape, kernel.shape, self.geometry, dtype, relu_pool=self.pool is not None,
            flat=self.flatten,
        )

        def step(x: Array) -> Array:
            w = kernel.data
            if w.dtype != dtype:  # the parameter changed dtype since: the general path
                return general(x)
            return _activate(act, rows(x, w, None if bias is None else bias.data))

        return step


class _Dense(_Step):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        layer = cast(Dense, node.layer)
        self.kernel, self.bias = layer.weights["kernel"], layer.weights.get("bias")
        self.act = layer.activation

    def __call__(self, x: Array) -> Array:
        b = None if self.bias is None else self.bias.data
        out, _ = basic_ops.dense_forward(x, self.kernel.data, b)
        return _activate(self.act, out)

    def small(self, x_shape: tuple[int, ...], dtype: np.dtype[Any]) -> Unary:
        kernel, bias, general = self.kernel, self.bias, self
        if len(x_shape) != 2 or kernel.data.dtype != dtype or not small_batch.supports(dtype):
            return self
        softmax = self.act == "softmax"
        act = None if softmax else self.act

        def step(x: Array) -> Array:
            w = kernel.data
            if w.dtype != dtype:
                return general(x)
            return _activate(act, small_batch.dense(x, w, None if bias is None else bias.data,
                                                    softmax))

        return step


def _flatten(a: Array) -> Array:
    if a.ndim == 2:
        return a
    # Back to NHWC first, as Flatten.forward does (Keras' (H, W, C) order).
    return conv_ops.to_public_layout(a).reshape(a.shape[1], -1)


def _step(node: Node, fused_conv: bool, relu_after: bool) -> _Step | None:
    """The chain step of a one-input layer call; None for a layer a chain skips.

    Dropout and Input pass their input through in inference.
    """
    layer = node.layer
    kind = type(layer)
    if kind is Dropout or kind is Input:
        return None
    if kind is Conv2D and cast(Conv2D, layer)._groups(node.inputs[0].shape[-1]) == 1:
        return _Conv(node, activation=not fused_conv)
    if kind is MaxPool2D:
        return _MaxPool(node, relu_after)
    if kind is Dense:
        return _Dense(node)
    if kind is Flatten:
        return _Flatten(node)
    flags = {"activation": False} if fused_conv else {"relu": True} if relu_after else {}
    return _Layer(node, flags)


def _generic_step(node: Node, flags: dict[str, bool]) -> Step:
    """Any layer through its own ``forward`` on tensors (a list of inputs for merges)."""

    def step(args: list[Array]) -> Array:
        out: Tensor = node.layer.forward([Tensor(a) for a in args], training=False, **flags)
        return out.data

    return step


def _one_input(step: Unary) -> Step:
    return lambda args: step(args[0])


def make_step(node: Node, fused_conv: bool, relu_after: bool) -> Step:
    """The array function of one layer call in inference mode (the graph form of a plan).

    Args:
        node: the layer call.
        fused_conv: a Conv2D whose ReLU the following max-pool applies.
        relu_after: a MaxPool2D that applies its input conv's ReLU.
    """
    if node.layer.n_inputs == -1:  # a merge: Add, Concatenate
        return _generic_step(node, {})
    step = _step(node, fused_conv, relu_after)
    return (lambda args: args[0]) if step is None else _one_input(step)


class _GraphStep(NamedTuple):
    uid: int
    parents: tuple[int, ...]
    run: Step
    done: tuple[int, ...]  # parents read for the last time: released after this step
    step: _Step | None  # the one-input step behind ``run``, for its small-batch version


class Plan(NamedTuple):
    """A model's inference steps: a chain of one-array steps, or a graph."""

    chain: list[_Step] | None  # each layer call reads the previous one's output only
    graph: list[_GraphStep]
    # Per (small batch, dtype): the chain's or the graph's steps planned for that shape.
    small: dict[tuple[int, np.dtype[Any]], Any]


def _chain(model: Any) -> list[_Step] | None:
    """The model's layer calls as chain steps, or None if they are not a plain chain."""
    fused = model._relu_pool_pairs()
    nodes = model.nodes[1:]
    previous = model.input_node.uid
    for n in nodes:
        if n.layer.n_inputs == -1 or [p.uid for p in n.inputs] != [previous]:
            return None
        previous = n.uid
    chain: list[_Step] = []
    k = 0
    while k < len(nodes):
        n = nodes[k]
        step = _step(n, n.uid in fused, n.inputs[0].uid in fused)
        if isinstance(step, _Conv) and n.uid in fused:  # its only reader is a max-pool
            pool = _MaxPool(nodes[k + 1], relu=True)
            if pool.two_by_two and pool.geo.out_hw == tuple(
                s // 2 for s in step.geometry[0]
            ):
                after = nodes[k + 2] if k + 2 < len(nodes) else None
                flatten = after if after is not None and type(after.layer) is Flatten else None
                step = _Conv(n, activation=False, pool=nodes[k + 1], flatten=flatten)
        if step is not None:
            chain.append(step)
            k += step.absorbs
        k += 1
    return chain


def _small(plan: Plan, model: Any, n: int, dtype: np.dtype[Any]) -> Any:
    """The plan's steps for exactly ``n`` samples of ``dtype`` (:meth:`_Step.small`)."""
    if plan.chain is not None:
        shape = _compute_shape(model.input_node.shape, n)
        steps = []
        for step in plan.chain:
            steps.append(step.small(shape, dtype))
            shape = _compute_shape(step.out_node.shape, n)
        return steps
    nodes = {node.uid: node for node in model.nodes}
    return [
        g if g.step is None else g._replace(run=_one_input(
            g.step.small(_compute_shape(nodes[g.parents[0]].shape, n), dtype)
        ))
        for g in plan.graph
    ]


def _build(model: Any, last_use: dict[int, int]) -> Plan:
    fused = model._relu_pool_pairs()
    graph = []
    for n in model.nodes[1:]:
        step = None if n.layer.n_inputs == -1 else _step(
            n, n.uid in fused, n.inputs[0].uid in fused
        )
        graph.append(_GraphStep(
            n.uid, tuple(p.uid for p in n.inputs),
            make_step(n, n.uid in fused, n.inputs[0].uid in fused),
            tuple({p.uid for p in n.inputs if last_use[p.uid] == n.uid}), step,
        ))
    return Plan(_chain(model), graph, {})


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
    steps: Any = plan.chain if plan.chain is not None else plan.graph
    n = x.shape[0]
    if n < SMALL_BATCH and kernels.enabled(x):
        key = (n, x.dtype)
        steps = plan.small.get(key) or plan.small.setdefault(key, _small(plan, model, n, x.dtype))
    if plan.chain is not None:
        for step in steps:
            a = step(a)
        return a
    values: dict[int, Array] = {model.input_node.uid: a}
    for uid, parents, run, done, _ in steps:
        values[uid] = run([values[p] for p in parents])
        for p in done:
            del values[p]
    return values[model.output_node.uid]
