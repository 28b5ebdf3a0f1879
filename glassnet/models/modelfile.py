"""Model files (YAML or JSON, DESIGN.md §5): a name, an input shape and a list of layers.

```yaml
name: mnist-cnn
input: [28, 28, 1]
layers:
  - {type: conv2d, filters: 12, kernel: 3, padding: same, activation: relu}
  - {type: maxpool2d, pool: 2}
  - {type: flatten}
  - {type: dense, units: 10, activation: softmax}
```
Each layer type accepts the keys of its class' ``config_keys`` (the file key -> the Keras
argument: ``kernel`` -> ``kernel_size``, ``stride`` -> ``strides``, ``pool`` -> ``pool_size``,
``dilation`` -> ``dilation_rate``). Unknown types or keys are errors naming the layer index and
listing the valid ones.
"""

from __future__ import annotations

import errno
import inspect
import json
from pathlib import Path
from typing import Any

from glassnet.errors import GlassnetError, ShapeError
from glassnet.fileio import write_text
from glassnet.layers import (
    Activation,
    AvgPool2D,
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    MaxPool2D,
    ReLU,
    Rescaling,
    Reshape,
    SeparableConv2D,
    Softmax,
    ZeroPadding2D,
)
from glassnet.layers.base import Layer
from glassnet.limits import check_memory, clip, parse_json, parse_yaml, read_text
from glassnet.models.graph import Model
from glassnet.models.sequential import Sequential

LAYER_TYPES: dict[str, type[Layer]] = {
    cls.type_name: cls
    for cls in (
        Conv2D, DepthwiseConv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, Dense, Flatten,
        Dropout, BatchNormalization, Activation, ReLU, Softmax,
        # the layers Keras files bring (glassnet/keras/)
        SeparableConv2D, GlobalMaxPool2D, ZeroPadding2D, Reshape, Rescaling,
    )
}
TOP_KEYS = ("name", "input", "layers")


def _required(cls: type[Layer]) -> list[str]:
    """Constructor arguments without a default (they must appear in the file)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in params if p.default is inspect.Parameter.empty]


def _layer_from_config(index: int, spec: Any) -> Layer:
    """Build one layer from its mapping, naming ``layers[index]`` in every error."""
    where = f"layers[{index}]"
    if not isinstance(spec, dict):
        raise GlassnetError(f"{where}: expected a mapping like {{type: conv2d, ...}}; got {spec!r}")
    if "type" not in spec:
        raise GlassnetError(f"{where}: missing key 'type'; valid types: {', '.join(LAYER_TYPES)}")
    kind = spec["type"]
    cls = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise GlassnetError(
            f"{where}: unknown type {kind!r}; valid types: {', '.join(LAYER_TYPES)}"
        )
    keys = cls.config_keys
    for key in spec:
        if key != "type" and key not in keys:
            raise GlassnetError(
                f"{where}: unknown key {key!r} for type {kind}; valid keys: {', '.join(keys)}"
            )
    args = {keys[k]: v for k, v in spec.items() if k != "type"}
    for arg in _required(cls):
        if arg not in args:
            key = next(k for k, a in keys.items() if a == arg)
            raise GlassnetError(f"{where} ({kind}): missing key {key!r}")
    try:
        return cls(**args)
    except ShapeError:
        raise
    except GlassnetError as exc:
        raise GlassnetError(f"{where} ({kind}): {exc}") from exc


def from_config(config: Any, name: str | None = None) -> Sequential:
    """Build the Sequential model a model-file mapping describes.

    Args:
        config: the parsed file (``name``, ``input``, ``layers``).
        name: the model name when the mapping has none.

    Returns:
        The model (parameters not allocated yet).

    Raises:
        GlassnetError: for unknown or missing keys and types, naming them and the valid ones.
        ShapeError: when a layer does not fit its input (naming the layer).
    """
    if not isinstance(config, dict):
        raise GlassnetError(f"model file: expected a mapping with keys {', '.join(TOP_KEYS)}")
    for key in config:
        if key not in TOP_KEYS:
            raise GlassnetError(
                f"model file: unknown key {key!r}; valid keys: {', '.join(TOP_KEYS)}"
            )
    for key in ("input", "layers"):
        if key not in config:
            raise GlassnetError(f"model file: missing key {key!r}")
    if not isinstance(config["layers"], list) or not config["layers"]:
        raise GlassnetError("model file: 'layers' must be a non-empty list of mappings")
    layers = [_layer_from_config(i, spec) for i, spec in enumerate(config["layers"])]
    shape = config["input"]
    if not isinstance(shape, list | tuple):
        raise GlassnetError(f"model file: input={shape!r} must be a list like [28, 28, 1]")
    return Sequential(layers, input_shape=shape, name=config.get("name") or name)


def to_config(model: Model) -> dict[str, Any]:
    """Return the model-file mapping of a chain model (``from_config`` inverts it).

    Raises:
        GlassnetError: for a graph that is not a chain or a layer type model files lack.
    """
    out_layers = []
    for node in model.nodes[1:]:
        layer = node.layer
        if len(node.inputs) != 1 or type(layer) not in LAYER_TYPES.values():
            raise GlassnetError(
                f"to_config: {layer.label} ({type(layer).__name__}) cannot be written to a model "
                f"file; model files describe chains of: {', '.join(LAYER_TYPES)}"
            )
        out_layers.append({"type": layer.type_name, **layer.get_config()})
    chain = all(n.inputs == (prev,) for prev, n in zip(model.nodes, model.nodes[1:], strict=False))
    if not chain:
        raise GlassnetError("to_config: the model is a graph, not a chain; model files are chains")
    return {"name": model.name, "input": list(model.input_shape), "layers": out_layers}


def load_model_file(path: str | Path, input_shape: Any = None) -> Sequential:
    """Read a YAML or JSON model file.

    Args:
        path: the file (``.json`` is read as JSON, anything else as YAML).
        input_shape: replaces the file's ``input`` (the CLI's ``--input``).

    Returns:
        The model; its name is the file's ``name`` or the file stem.

    Raises:
        FileNotFoundError: if the file does not exist.
        GlassnetError: for a syntax error, a bad model description, a file over the size or
            nesting caps, a YAML alias, or more parameters than the memory budget.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such model file", str(path))
    # Bounded read and parse: size, nesting and YAML aliases are capped before anything is built.
    text = read_text(path, "model file")
    label = f"model file {clip(path)}"
    config = parse_json(text, label) if path.suffix == ".json" else parse_yaml(text, label)
    if input_shape is not None and isinstance(config, dict):
        config = {**config, "input": list(input_shape)}
    model = from_config(config, name=path.stem)
    check_model_memory(model, label)
    return model


def check_model_memory(model: Model, what: str) -> None:
    """Refuse a model whose parameters and one sample's activations exceed the memory budget.

    The sizes come from the layers' shape arithmetic (``glassnet.arith``), so nothing is
    allocated to find them: a file declaring a billion units is refused before it is built.

    Raises:
        GlassnetError: naming ``what``, its parameter count, the bytes and the budget.
    """
    from glassnet.models.summary import summarize

    info = summarize(model)
    need = info["param_memory_bytes"] + info["activation_memory_bytes"]
    check_memory(f"{what}: {info['total_params']:,} parameters plus one sample's activations",
                 need)


def save_model_file(model: Model, path: str | Path) -> None:
    """Write ``model.to_config()`` as YAML (or JSON for a ``.json`` path)."""
    import yaml

    path = Path(path)
    config = to_config(model)
    if path.suffix == ".json":
        write_text(path, json.dumps(config, indent=2) + "\n")
    else:
        write_text(path, yaml.safe_dump(config, sort_keys=False, default_flow_style=None))
