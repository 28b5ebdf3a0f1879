"""Graph models (Keras' functional API); :class:`Sequential` is the special case of a chain.

A model is a set of :class:`~glassnet.layers.base.Node` objects — one per layer call — from one
``Input`` to one output. Creation order is a topological order, so the forward pass walks the
nodes in that order. Shapes and counts come from the layers' pure shape functions; arrays are
allocated only by :meth:`Model.build`, which runs lazily on the first forward pass or
``parameters()`` call (so summaries of VGG-16 or AlexNet are instant and allocate nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import autodiff as A
from glassnet.backend import default_dtype, get_xp
from glassnet.errors import GlassnetError, ShapeError
from glassnet.layers.base import Layer, Node, as_node
from glassnet.layers.core import Input, Softmax
from glassnet.layers.shapes import Shape
from glassnet.models.api import KerasMethods
from glassnet.models.fusion import Step, fused_steps, plain_steps
from glassnet.models.infer import run_plan
from glassnet.tensor import Parameter, Tensor, is_grad_enabled


def _reachable(output: Node) -> list[Node]:
    """Every node the output depends on, in creation (= topological) order."""
    seen: dict[int, Node] = {}
    stack = [output]
    while stack:
        node = stack.pop()
        if node.uid not in seen:
            seen[node.uid] = node
            stack.extend(node.inputs)
    return [seen[k] for k in sorted(seen)]


def node_input_shape(node: Node) -> Shape | tuple[Shape, ...]:
    """The input shape a node's layer sees (a tuple of shapes for merge layers)."""
    shapes = tuple(n.shape for n in node.inputs)
    return shapes if node.layer.n_inputs == -1 else shapes[0]


def _no_backward(g: Any) -> tuple[()]:
    return ()


class Model(KerasMethods):
    """A graph of layer calls from one ``Input`` to one output.

    Args:
        inputs: the ``Input`` layer (or its node).
        outputs: the output node (the result of the last layer call).
        name: model name (shown by the summary).
        seed: seed of :meth:`build`'s weight initialisation.

    Raises:
        GlassnetError: if the output does not depend on exactly this one input, or two
            different layers share a name.

    Shapes:
        forward: x (N, H, W, C) NHWC (or (N, F)) -> out (N, OH, OW, C') or (N, F').
    """

    def __init__(
        self, inputs: Any, outputs: Any, name: str | None = None, seed: int = 0
    ) -> None:
        ins = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        outs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        if len(ins) != 1 or len(outs) != 1:
            raise GlassnetError("Model: exactly one input and one output are supported")
        inputs, outputs = ins[0], outs[0]
        self._init_graph(as_node(inputs, "Model"), as_node(outputs, "Model"), name, seed)

    def _init_graph(self, inp: Node, out: Node, name: str | None, seed: int) -> None:
        if not isinstance(inp.layer, Input):
            raise GlassnetError(f"Model: inputs must be an Input; received {inp.layer.label}")
        self.nodes = _reachable(out)
        starts = [n for n in self.nodes if not n.inputs]
        if starts != [inp]:
            names = ", ".join(n.layer.label for n in starts)
            raise GlassnetError(
                f"Model: the output must depend on the given Input only; its graph starts at "
                f"{names}"
            )
        self.input_node, self.output_node = inp, out
        self.name = name or type(self).__name__.lower()
        self.seed = seed
        self.dtype: np.dtype[Any] | None = None
        # Set by glassnet.zoo: how to rebuild this model (checkpoints store it).
        self.zoo_name: str | None = getattr(self, "zoo_name", None)
        self.zoo_kwargs: dict[str, Any] = getattr(self, "zoo_kwargs", {})
        assign_names([n.layer for n in self.nodes])

    # ----- structure ---------------------------------------------------------------------------
    @property
    def input_shape(self) -> Shape:
        """One sample's input shape (HWC or (F,))."""
        return self.input_node.shape

    @property
    def output_shape(self) -> Shape:
        """One sample's output shape."""
        return self.output_node.shape

    @property
    def ends_in_softmax(self) -> bool:
        """True if the last layer applies a softmax (else the model outputs logits)."""
        layer = self.output_node.layer
        return getattr(layer, "activation", None) == "softmax" or isinstance(layer, Softmax)

    @property
    def layers(self) -> list[Layer]:
        """The distinct layers after the Input, in order of first use."""
        out: dict[int, Layer] = {}
        for node in self.nodes[1:]:
            out.setdefault(id(node.layer), node.layer)
        return list(out.values())

    def get_layer(self, name: str) -> Layer:
        """Return the layer called ``name``.

        Raises:
            GlassnetError: listing the names if none matches.
        """
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = ", ".join(str(layer.name) for layer in self.layers)
        raise GlassnetError(f"{self.name}: no layer named {name!r}; layers: {names}")

    # ----- arrays ------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """Whether the parameters have been allocated."""
        return self.dtype is not None

    def build(self, seed: int | None = None) -> Model:
        """Allocate every layer's parameters in the default dtype (once; later calls no-op).

        Args:
            seed: overrides the model's seed; the same seed gives the same weights.

        Returns:
            ``self``.
        """
        if self.built:
            return self
        rng = np.random.default_rng(self.seed if seed is None else seed)
        for layer in self.layers:
            layer.build(layer.input_shape, rng)
        self.dtype = default_dtype()
        return self

    def parameters(self) -> list[Parameter]:
        """Return every trainable parameter once (shared layers once), building if needed."""
        self.build()
        return [p for layer in self.layers for p in layer.parameters()]

    def forward(self, x: Any, training: bool = False) -> Tensor:
        """Run the model on a batch.

        Args:
            x: NHWC batch (array or Tensor) of shape ``(N, *input_shape)``; arrays are cast to
                the model's dtype.
            training: training mode (batch statistics, dropout masks).

        Returns:
            NHWC maps for 4-D outputs, ``(N, F)`` for flat ones.

        Raises:
            ShapeError: if ``x`` does not have shape ``(N, *input_shape)``.
        """
        if (type(x) is np.ndarray and not (training or is_grad_enabled()) and self.built
                and x.dtype == self.dtype and x.shape[1:] == self.input_shape):
            # Inference on a ready array: straight to the plan (the checks _run would make
            # hold already); at batch 1 the wrapping cost as much as a pooling.
            data = run_plan(self, x)
            if data.ndim == 4:
                data = np.ascontiguousarray(data.transpose(1, 2, 3, 0))  # as A.to_public
            return Tensor.from_op(data, (), _no_backward)
        out = self._run(x, training, keep_all=False)[self.output_node.uid]
        return A.to_public(out) if out.ndim == 4 else out

    __call__ = forward

    def feature_maps(self, x: Any, training: bool = False) -> dict[str, Tensor]:
        """Run the model and return every layer call's output, by layer name, in public layout.

        A shared layer's later calls appear as ``name:2``, ``name:3``, ... (for plots of
        feature maps and for checking each layer's real shape against the summary).

        Shapes:
            x (N, *input_shape) -> {name: (N, *layer output shape)}.
        """
        values = self._run(x, training, keep_all=True)
        out: dict[str, Tensor] = {}
        for node in self.nodes[1:]:
            key, k = node.layer.label, 2
            while key in out:
                key, k = f"{node.layer.label}:{k}", k + 1
            v = values[node.uid]
            out[key] = A.to_public(v) if v.ndim == 4 else v
        return out

    def _run(self, x: Any, training: bool, keep_all: bool) -> dict[int, Tensor]:
        """Evaluate the steps in order; return their compute-layout outputs by node uid.

        ``keep_all`` (``feature_maps``) runs every layer call as it is and keeps every value;
        otherwise the execution graph runs (fused nodes, each value freed after its last read).
        """
        self.build()
        if not isinstance(x, Tensor):
            x = Tensor(get_xp(x).asarray(x, dtype=self.dtype))
        if tuple(x.shape[1:]) != self.input_shape or x.ndim != len(self.input_shape) + 1:
            raise ShapeError(
                f"{self.name}: input has shape {list(x.shape)}; expected "
                f"[N, {', '.join(str(s) for s in self.input_shape)}]"
            )
        if not (training or keep_all or is_grad_enabled()) and type(x.data) is np.ndarray:
            out = run_plan(self, x.data)
            return {self.output_node.uid: Tensor.from_op(out, (), _no_backward)}
        values: dict[int, Tensor] = {
            self.input_node.uid: A.to_compute(x) if x.ndim == 4 else x
        }
        for step in self.steps(fused=not keep_all):
            args = [values[uid] for uid in step.inputs]
            arg: Any = args if step.layer.n_inputs == -1 else args[0]
            values[step.uid] = step.layer.forward(arg, training=training)
            if not keep_all:
                for uid in step.done:
                    del values[uid]
        return values

    def steps(self, fused: bool = True) -> list[Step]:
        """The execution graph (``fused``: rewritten, see :mod:`glassnet.models.fusion`), once."""
        key = "_fused_steps" if fused else "_plain_steps"
        cached: list[Step] | None = getattr(self, key, None)
        if cached is None:
            cached = (fused_steps(self.nodes, self.output_node.uid) if fused
                      else plain_steps(self.nodes))
            setattr(self, key, cached)
        return cached

    # ----- reports and files -------------------------------------------------------------------
    def summary(
        self, explain: bool = False, print_fn: Callable[[str], Any] | None = print,
        width: int | None = None,
    ) -> dict[str, Any] | None:
        """Print the layer table (or, with ``print_fn=None``, return the summary dict).

        Args:
            explain: add each layer's formulas with the numbers substituted.
            print_fn: receives the rendered table; ``None`` returns the JSON-able dict of
                ``glassnet summary --json`` instead (DESIGN.md §4).
            width: console width for the table (default: as wide as the table needs).

        Returns:
            The summary dict when ``print_fn`` is ``None``, else ``None``.
        """
        from glassnet.models.summary import render_summary, summarize

        info = summarize(self, explain=explain)
        if print_fn is None:
            return info
        print_fn(render_summary(info, explain=explain, width=width))
        return None

    def count_params(self) -> int:
        """Total parameters (trainable and not), shared layers once; no arrays needed."""
        from glassnet.models.summary import summarize

        return int(summarize(self)["total_params"])

    def to_config(self) -> dict[str, Any]:
        """Return the model-file dict (DESIGN.md §5); graph models are not expressible yet.

        Raises:
            GlassnetError: for a graph that is not a chain.
        """
        from glassnet.models.modelfile import to_config

        return to_config(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, layers={len(self.layers)})"


def assign_names(layers: list[Layer]) -> None:
    """Give unnamed layers Keras-style names (``conv2d``, ``conv2d_1``, ...) unique in the list.

    Raises:
        GlassnetError: if two different layers carry the same name.
    """
    distinct = list({id(layer): layer for layer in layers}.values())
    taken = Counter(layer.name for layer in distinct if layer.name is not None)
    dup = [name for name, k in taken.items() if k > 1]
    if dup:
        raise GlassnetError(f"model: layer name {dup[0]!r} is used by two different layers")
    counts: Counter[str] = Counter()
    for layer in distinct:
        if layer.name is not None:
            continue
        while True:
            k = counts[layer.base_name]
            counts[layer.base_name] += 1
            candidate = layer.base_name if k == 0 else f"{layer.base_name}_{k}"
            if candidate not in taken:
                break
        taken[candidate] += 1
        layer.name, layer.auto_named = candidate, True
