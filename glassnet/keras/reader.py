"""Build a glassnet graph model from a Keras file: Sequential or functional, one input.

The architecture comes from the file's config (:mod:`glassnet.keras.files`), each layer from
its converter (:mod:`glassnet.keras.convert`), keeping Keras' layer names. Weights are copied
exactly (float32 as stored) after the model is built. The result is an
:class:`~glassnet.onnx.model.ImportedModel` with NHWC input and output, so it is checkpointed
like an imported ONNX network (``glassnet import``) and read back by ``gn.load_model``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.keras.convert import SUPPORTED, to_layer, weight_arrays
from glassnet.keras.files import read_keras_file, weight_paths
from glassnet.layers import Input
from glassnet.layers.base import Layer, Node
from glassnet.layers.shapes import Shape
from glassnet.onnx.model import ImportedModel


def _input_shape(config: dict[str, Any], given: Shape | None, where: str) -> Shape:
    """The (H, W, C) or (F,) of an InputLayer config, ``given`` filling or replacing it."""
    batch = config.get("batch_shape") or config.get("batch_input_shape")
    if given is not None:
        return tuple(given)
    if not batch or any(d is None for d in batch[1:]):
        raise GlassnetError(
            f"{where}: the input shape {batch} has unknown sizes; give one with --input HxWxC"
        )
    return tuple(int(d) for d in batch[1:])


def _history(ref: Any) -> str:
    """The producing layer's name of one inbound reference (Keras 3 or Keras 2 form)."""
    if isinstance(ref, dict):  # Keras 3: {"class_name": "__keras_tensor__", "config": {...}}
        return str(ref["config"]["keras_history"][0])
    return str(ref[0])  # Keras 2: [name, node_index, tensor_index, kwargs]


def _inbound(spec: dict[str, Any], where: str) -> list[str]:
    """The names of the layers a functional layer reads (its one call)."""
    nodes = spec.get("inbound_nodes") or []
    if len(nodes) != 1:
        raise GlassnetError(
            f"{where}: layer {spec.get('name')!r} is called {len(nodes)} times; shared layers "
            "are not supported"
        )
    node = nodes[0]
    if isinstance(node, dict):  # Keras 3: {"args": [tensor or [tensors]], "kwargs": {}}
        args = node.get("args", [])
        refs = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    else:
        refs = node
    return [_history(r) for r in refs]


def _sequential(config: dict[str, Any], shape: Shape | None, where: str) -> tuple[Node, Node]:
    specs = list(config.get("layers", []))
    if specs and specs[0]["class_name"] == "InputLayer":
        first = specs.pop(0)
        inp = Input(_input_shape(first["config"], shape, where), name=first["config"]["name"])
    else:
        build = {"batch_shape": config.get("build_input_shape")}
        inp = Input(_input_shape(build, shape, where))
    out = inp.node
    for spec in specs:
        out = to_layer(spec["class_name"], spec["config"])(out)
    return inp.node, out


def _names(refs: Any) -> list[str]:
    """Layer names of ``input_layers``/``output_layers`` (one ``[name, 0, 0]`` or a list)."""
    if refs and isinstance(refs[0], str):
        return [refs[0]]
    return [r[0] for r in refs]


def _functional(config: dict[str, Any], shape: Shape | None, where: str) -> tuple[Node, Node]:
    inputs, outputs = _names(config["input_layers"]), _names(config["output_layers"])
    if len(inputs) != 1 or len(outputs) != 1:
        raise GlassnetError(
            f"{where}: {len(inputs)} inputs and {len(outputs)} outputs; glassnet reads models "
            "with one input and one output"
        )
    made: dict[str, Node] = {}
    inp_node: Node | None = None
    for spec in config["layers"]:
        name = spec["config"].get("name", spec.get("name"))
        if spec["class_name"] == "InputLayer":
            if name != inputs[0]:
                raise GlassnetError(f"{where}: input {name!r} is not the model's input")
            inp_node = Input(_input_shape(spec["config"], shape, where), name=name).node
            made[name] = inp_node
            continue
        sources = _inbound(spec, where)
        missing = [s for s in sources if s not in made]
        if missing:
            raise GlassnetError(f"{where}: layer {name!r} reads {missing}, defined after it")
        layer: Layer = to_layer(spec["class_name"], spec["config"])
        args = [made[s] for s in sources]
        made[name] = layer(args if layer.n_inputs == -1 else args[0])
    if inp_node is None:
        raise GlassnetError(f"{where}: the model has no InputLayer")
    return inp_node, made[outputs[0]]


def load_keras_model(path: str | Path, input_shape: Shape | None = None) -> ImportedModel:
    """Read a ``.keras`` or ``.h5`` model file into a glassnet graph model (no Keras needed).

    Args:
        path: the file Keras' ``model.save`` wrote.
        input_shape: (H, W, C) to use where the file's input sizes are unknown (or to replace).

    Returns:
        An :class:`ImportedModel`: NHWC input, Keras' layer names and weights, checkpointable.

    Raises:
        GlassnetError: for an unsupported layer (naming its class and the supported list), an
            unsupported option, or a file that is not a Keras model.
        FileNotFoundError: if ``path`` does not exist.
    """
    path = Path(path)
    config, weights, by_path = read_keras_file(path)
    try:
        return _build(path, config, weights, by_path, input_shape)
    except (KeyError, IndexError, TypeError) as exc:  # a config no Keras version writes
        raise GlassnetError(f"{path}: malformed Keras model config ({exc!r})") from exc


def _build(
    path: Path, config: dict[str, Any], weights: dict[str, list[np.ndarray]], by_path: bool,
    input_shape: Shape | None,
) -> ImportedModel:
    """The model of a parsed file, weights copied (see :func:`load_keras_model`)."""
    where = str(path)
    kind = config.get("class_name")
    body = config.get("config", {})
    specs = body.get("layers", [])
    names = [spec["config"].get("name", spec.get("name")) for spec in specs]
    groups = weight_paths([spec["class_name"] for spec in specs]) if by_path else names
    group_of = dict(zip(names, groups, strict=True))
    for spec in specs:  # name an unsupported class first, before any shape complaint
        if spec["class_name"] not in SUPPORTED:
            to_layer(spec["class_name"], spec["config"])
    if kind == "Sequential":
        inp, out = _sequential(body, input_shape, where)
    elif kind in ("Functional", "Model"):
        inp, out = _functional(body, input_shape, where)
    else:
        raise GlassnetError(
            f"{where}: a Keras {kind}; glassnet reads Sequential and functional models"
        )
    model = ImportedModel(inp, out, name=body.get("name") or path.stem)
    model.onnx_source = str(path)
    model.onnx_input_layout = "NHWC"
    model.onnx_output_layout = "NHWC" if len(model.output_shape) == 3 else "NF"
    model.build()
    for layer in model.layers:
        arrays = weight_arrays(layer, weights.get(group_of.get(layer.name or "", ""), []))
        for key, arr in arrays.items():
            target = layer.weights[key].data if key in layer.weights else layer.buffers[key]
            if target.shape != arr.shape:
                raise GlassnetError(
                    f"{where}: layer {layer.label!r} {key} has shape {list(arr.shape)} in the "
                    f"file; the model needs {list(target.shape)}"
                )
            target[...] = np.asarray(arr, dtype=target.dtype)
    return model
