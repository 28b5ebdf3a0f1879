"""A JSON-able description of a graph model, so checkpoints can rebuild imported networks.

A model file (DESIGN.md §5) describes a chain; an imported ONNX network is a graph (residual
adds, Inception concatenations). Its checkpoint therefore stores this instead::

    {"format": "glassnet-graph", "name": "resnet_block", "input": [32, 32, 16],
     "nodes": [{"layer": {"type": "conv2d", "filters": 16, ...}, "inputs": [0]}, ...],
     "onnx": {"source": "block.onnx", "input_layout": "NCHW", "output_layout": "NCHW"}}

``nodes`` lists every layer call after the input in topological order; ``inputs`` are indices
into the same list, where 0 is the input and node ``i`` of the list is index ``i + 1``. Each
``layer`` is the layer's own ``get_config()`` (the model-file keys) plus its ``type``.
"""

from __future__ import annotations

from typing import Any

from glassnet.errors import GlassnetError
from glassnet.layers import Add, Concatenate, Input
from glassnet.layers.base import Layer, Node
from glassnet.models.graph import Model
from glassnet.models.modelfile import LAYER_TYPES
from glassnet.onnx.layers import FlattenCHW, LeakyReLU

FORMAT = "glassnet-graph"

GRAPH_LAYER_TYPES: dict[str, type[Layer]] = {
    **LAYER_TYPES,
    **{cls.type_name: cls for cls in (Add, Concatenate, FlattenCHW, LeakyReLU)},
}


def graph_to_config(model: Model) -> dict[str, Any]:
    """Return the graph description of ``model`` (layers called once each).

    Raises:
        GlassnetError: if a layer is called more than once (shared layers are not described)
            or its type has no entry in :data:`GRAPH_LAYER_TYPES`.
    """
    index = {model.input_node.uid: 0}
    seen: set[int] = set()
    nodes: list[dict[str, Any]] = []
    for node in model.nodes[1:]:
        layer = node.layer
        if id(layer) in seen:
            raise GlassnetError(f"graph config: layer {layer.label!r} is shared; not supported")
        if GRAPH_LAYER_TYPES.get(layer.type_name) is not type(layer):
            raise GlassnetError(
                f"graph config: layer {layer.label!r} of type {type(layer).__name__} cannot be "
                f"described; known types: {', '.join(GRAPH_LAYER_TYPES)}"
            )
        seen.add(id(layer))
        index[node.uid] = len(nodes) + 1
        nodes.append({
            "layer": {"type": layer.type_name, **layer.get_config()},
            "inputs": [index[p.uid] for p in node.inputs],
        })
    return {
        "format": FORMAT, "name": model.name, "input": list(model.input_shape), "nodes": nodes,
    }


def _layer(i: int, spec: dict[str, Any]) -> Layer:
    """Build node ``i``'s layer from its config, naming the node in errors."""
    spec = dict(spec)
    cls = GRAPH_LAYER_TYPES.get(spec.pop("type", None))
    if cls is None:
        raise GlassnetError(
            f"graph config: nodes[{i}] has an unknown type; valid: {', '.join(GRAPH_LAYER_TYPES)}"
        )
    keys = cls.config_keys
    bad = [k for k in spec if k not in keys]
    if bad:
        raise GlassnetError(
            f"graph config: nodes[{i}] ({cls.type_name}) has unknown keys {bad}; valid keys: "
            f"{', '.join(keys)}"
        )
    return cls(**{keys[k]: v for k, v in spec.items()})


def graph_from_config(config: dict[str, Any], model_cls: type[Model] = Model) -> Model:
    """Rebuild an unbuilt model from :func:`graph_to_config`'s dict.

    Args:
        config: the dict.
        model_cls: the class to instantiate (``Model`` or a subclass with the same signature).

    Raises:
        GlassnetError: for another format, an unknown layer type or key, or a bad input index.
    """
    if config.get("format") != FORMAT:
        raise GlassnetError(f"graph config: format {config.get('format')!r} is not {FORMAT!r}")
    inp = Input(config["input"])
    made: list[Node] = [inp.node]
    for i, entry in enumerate(config["nodes"]):
        refs = entry.get("inputs", [])
        if not refs or not all(isinstance(r, int) and 0 <= r < len(made) for r in refs):
            raise GlassnetError(f"graph config: nodes[{i}] has bad inputs {refs!r}")
        layer = _layer(i, entry["layer"])
        args = [made[r] for r in refs]
        made.append(layer(args if layer.n_inputs == -1 else args[0]))
    return model_cls(inp, made[-1], name=config.get("name"))
