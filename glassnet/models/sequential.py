"""Sequential: a plain stack of layers, each feeding the next."""

from __future__ import annotations

from collections.abc import Sequence

from glassnet.errors import GlassnetError
from glassnet.layers.base import Layer
from glassnet.layers.core import Input
from glassnet.models.graph import Model, assign_names


class Sequential(Model):
    """A chain of layers: ``Sequential([Input((28, 28, 1)), Conv2D(32, 3), ...])``.

    Args:
        layers: the layers in order; the first may be an ``Input``.
        input_shape: one sample's shape (HWC or (F,)) when ``layers`` has no ``Input``.
        name: model name.
        seed: seed of the weight initialisation (see :meth:`Model.build`).

    Raises:
        GlassnetError: without an input shape, with an ``Input`` after the first position, or
            for an element that is not a layer.
        ShapeError: when a layer does not fit its input (the message names the layer).

    Shapes:
        forward: x (N, *input_shape) NHWC -> out (N, *output_shape).
    """

    def __init__(
        self,
        layers: Sequence[Layer] = (),
        input_shape: Sequence[int] | None = None,
        name: str | None = None,
        seed: int = 0,
    ) -> None:
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise GlassnetError(
                    f"Sequential: layers[{i}] is a {type(layer).__name__}, not a layer"
                )
            if isinstance(layer, Input) and i > 0:
                raise GlassnetError(f"Sequential: layers[{i}] is an Input; only the first may be")
        if layers and isinstance(layers[0], Input):
            if input_shape is not None and tuple(input_shape) != layers[0].shape:
                raise GlassnetError(
                    f"Sequential: input_shape={tuple(input_shape)} disagrees with the Input "
                    f"layer's {layers[0].shape}"
                )
            inp, rest = layers[0], layers[1:]
        elif input_shape is not None:
            inp, rest = Input(input_shape), layers
        else:
            raise GlassnetError(
                "Sequential: the input shape is unknown; start with Input((H, W, C)) or pass "
                "input_shape="
            )
        # Names first, so that a geometry error below already names e.g. 'conv2d_1'.
        assign_names([inp, *rest])
        node = inp.node
        for layer in rest:
            node = layer(node)
        self._init_graph(inp.node, node, name, seed)

    def add(self, layer: Layer) -> None:
        """Append a layer (only before the model is built).

        Raises:
            GlassnetError: if the model is already built or ``layer`` is not a layer.
        """
        if self.built:
            raise GlassnetError(f"{self.name}: cannot add layers after the model is built")
        if not isinstance(layer, Layer) or isinstance(layer, Input):
            raise GlassnetError(f"{self.name}: add() takes a layer; received {layer!r}")
        assign_names([n.layer for n in self.nodes] + [layer])
        self._init_graph(self.input_node, layer(self.output_node), self.name, self.seed)

    def __getitem__(self, index: int) -> Layer:
        """The ``index``-th layer after the Input."""
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)
