"""The layer protocol, the symbolic node of the functional API, and shared helpers.

A layer is configured by its constructor (hyper-parameters only) and sized by its input shape
(public HWC without batch, or ``(F,)`` for flat data). Everything the summary prints — output
shape, parameter counts, MACs, explanations — is a pure function of the input shape computed
through :mod:`glassnet.arith`, so it costs nothing to ask for VGG-16's numbers. Arrays are only
allocated by :meth:`Layer.build`, which the model calls lazily (first forward pass or
``parameters()``): a summary never allocates the 553 MB of VGG-16's float32 weights.

Forward passes take and return tensors in the compute layout: CNHW for maps, ``(N, F)`` for
flat data (docs/architecture.md). The model transposes once at its input and ``Flatten``
transposes back to NHWC so that flattening follows Keras' row-major (H, W, C) order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from glassnet.arith.explain import MacCount, ParamCount, constant
from glassnet.backend import default_dtype
from glassnet.errors import GlassnetError, ShapeError
from glassnet.layers.shapes import Shape, fmt_shape
from glassnet.tensor import Parameter, Tensor

_node_ids = itertools.count()


def zero_params() -> ParamCount:
    """The parameter count of a layer without parameters (pooling, activations, reshapes)."""
    return ParamCount(
        weights=constant(0, "W", "no weights"),
        biases=constant(0, "b", "no biases"),
        params=constant(0, "P", "no parameters"),
    )


def zero_macs() -> MacCount:
    """The MAC count of a layer the convention does not count (only conv and dense are)."""
    return MacCount(
        macs=constant(0, "MACs", "only conv and dense multiply-adds are counted"),
        flops=constant(0, "FLOPs"),
    )


@dataclass(eq=False)
class Node:
    """One call of a layer in a graph: the symbolic tensor of the functional API.

    Attributes:
        layer: the layer called.
        inputs: the nodes it was called on (empty for an ``Input``).
        shape: its output shape (no batch axis).
        uid: creation order; sorting by it is a topological order.
    """

    layer: Layer
    inputs: tuple[Node, ...]
    shape: Shape
    uid: int = field(default_factory=lambda: next(_node_ids))

    def __repr__(self) -> str:
        return f"<Node {self.layer.label} {fmt_shape(self.shape)}>"


class Layer:
    """Base class of every layer.

    Subclasses set ``type_name`` (the model-file type), ``base_name`` (the auto-name stem) and
    override :meth:`compute_output_shape` and, when they have them, :meth:`build`,
    :meth:`count_params`, :meth:`count_macs`, :meth:`forward`.

    Args:
        name: the layer's name; ``None`` lets the model give a Keras-style one (``conv2d_1``).
    """

    type_name: ClassVar[str] = ""
    base_name: ClassVar[str] = "layer"
    # Model-file key -> constructor argument (see glassnet/models/modelfile.py).
    config_keys: ClassVar[dict[str, str]] = {}
    n_inputs: ClassVar[int] = 1  # 0 for Input, -1 for "two or more" (Add, Concatenate)

    def __init__(self, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise GlassnetError(f"{type(self).__name__}: name={name!r} must be a non-empty string")
        self.name = name
        self.auto_named = False  # True when a model chose the name (left out of model files)
        self.input_shape: Shape | tuple[Shape, ...] | None = None
        self.built = False
        self.weights: dict[str, Parameter] = {}  # trainable, in a fixed order
        self.buffers: dict[str, Any] = {}  # non-trainable state (BatchNorm moving statistics)

    # ----- naming and reprs -------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The name used in messages: the given or assigned name, else the auto-name stem."""
        return self.name or self.base_name

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args}{', ' if args else ''}name={self.label!r})"

    # ----- the functional API -----------------------------------------------------------------
    def __call__(self, inputs: Any) -> Node:
        """Apply the layer to one node (or a list, for merges); return the new node.

        Raises:
            GlassnetError: if the inputs are not nodes (or ``Input`` layers) or their number is
                wrong for this layer.
            ShapeError: if the geometry does not fit (named after the layer).
        """
        many = isinstance(inputs, list | tuple)
        nodes = tuple(as_node(x, self.label) for x in (inputs if many else [inputs]))
        if self.n_inputs == 1 and (many or len(nodes) != 1):
            raise GlassnetError(f"{self.label}: takes one input; received {len(nodes)}")
        if self.n_inputs == -1 and (not many or len(nodes) < 2):
            raise GlassnetError(f"{self.label}: takes a list of two or more inputs")
        shapes = tuple(n.shape for n in nodes)
        in_shape: Shape | tuple[Shape, ...] = shapes if self.n_inputs == -1 else shapes[0]
        out = self.compute_output_shape(in_shape)
        if self.input_shape is None:
            self.input_shape = in_shape
        elif self.input_shape != in_shape:
            # A shared layer keeps one set of weights, so every call must see the same shape.
            raise ShapeError(
                f"{self.label}: called on input shape {in_shape} but built for "
                f"{self.input_shape}; a shared layer needs the same input shape each call"
            )
        return Node(self, nodes, out)

    # ----- shapes, counts and explanations (pure functions of the input shape) ---------------
    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return the output shape for ``input_shape`` (no batch axis), validating it.

        Raises:
            ShapeError: if the input does not fit the layer.
        """
        return tuple(input_shape)

    def _shape(self, input_shape: Any) -> Any:
        shape = self.input_shape if input_shape is None else input_shape
        if shape is None:
            raise GlassnetError(f"{self.label}: input shape unknown; call the layer or give one")
        return shape

    def output_shape(self, input_shape: Any = None) -> Shape:
        """Return the output shape (no batch axis) for ``input_shape`` or the known one."""
        return self.compute_output_shape(self._shape(input_shape))

    def param_count(self, input_shape: Any = None) -> ParamCount:
        """Return the weights, biases and parameters (``.explain()`` gives the formulas)."""
        return self.count_params(self._shape(input_shape))

    def macs(self, input_shape: Any = None) -> MacCount:
        """Return the multiply-adds of one sample (conv and dense only, by convention)."""
        return self.count_macs(self._shape(input_shape))

    def explain(self, input_shape: Any = None) -> list[str]:
        """Return the formulas behind the output shape, the parameters and the MACs."""
        shape = self._shape(input_shape)
        lines = self.explain_shape(shape)
        params = self.count_params(shape)
        if int(params.params):
            lines += params.explain()
        macs = self.count_macs(shape)
        if int(macs.macs):
            lines += [macs.macs.explain(), macs.flops.explain()]
        return lines

    def explain_shape(self, input_shape: Any) -> list[str]:
        """Return the lines that derive the output shape (layers that change it override)."""
        return []

    def count_params(self, input_shape: Any) -> ParamCount:
        """Parameter count for ``input_shape``; zero unless overridden."""
        return zero_params()

    def count_macs(self, input_shape: Any) -> MacCount:
        """MAC count for ``input_shape``; zero unless overridden."""
        return zero_macs()

    # ----- arrays -----------------------------------------------------------------------------
    def build(self, input_shape: Any, rng: np.random.Generator) -> None:
        """Allocate the parameters for ``input_shape`` in the default dtype (once)."""
        self.input_shape = self.input_shape if self.input_shape is not None else input_shape
        self.built = True

    def add_weight(
        self, key: str, shape: Shape, initializer: Any, rng: np.random.Generator
    ) -> Parameter:
        """Create, record and return the parameter ``key`` drawn from ``initializer``."""
        from glassnet import init

        data = init.get(initializer)(shape, rng, default_dtype())
        param = Parameter(data, name=f"{self.label}/{key}")
        self.weights[key] = param
        return param

    def parameters(self) -> list[Parameter]:
        """Return the trainable parameters (empty before :meth:`build`)."""
        return list(self.weights.values())

    def forward(self, x: Any, training: bool = False) -> Tensor:
        """Apply the layer to compute-layout tensors (CNHW maps or ``(N, F)``)."""
        raise NotImplementedError

    # ----- model files ------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Return the model-file keys of this layer (non-default values only, plus ``name``)."""
        out: dict[str, Any] = {}
        for key, arg in self.config_keys.items():
            value = _compact(getattr(self, arg, None))
            if arg == "name" or value != _DEFAULTS.get((type(self).__name__, arg), _UNSET):
                out[key] = value
        if self.name is None or self.auto_named:
            out.pop("name", None)
        return out


_UNSET = object()


def _compact(value: Any) -> Any:
    """A pair of equal ints becomes one int, other tuples lists (how model files write them)."""
    if isinstance(value, tuple):
        return value[0] if len(value) == 2 and value[0] == value[1] else list(value)
    return value

_DEFAULTS: dict[tuple[str, str], Any] = {}


def register_defaults(cls: type[Layer]) -> type[Layer]:
    """Record the constructor defaults of ``cls`` so ``get_config`` can omit them."""
    import inspect

    for p in inspect.signature(cls.__init__).parameters.values():
        if p.default is not inspect.Parameter.empty:
            _DEFAULTS[(cls.__name__, p.name)] = p.default
    return cls


def as_node(x: Any, where: str) -> Node:
    """Return ``x`` as a graph node (an ``Input`` layer stands for its node).

    Raises:
        GlassnetError: if ``x`` is neither.
    """
    if isinstance(x, Node):
        return x
    node = getattr(x, "node", None)
    if isinstance(node, Node):
        return node
    raise GlassnetError(
        f"{where}: can only be called on a node (the result of Input(...) or of another layer "
        f"call); received {type(x).__name__}"
    )


