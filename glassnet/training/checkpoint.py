"""Checkpoints: one ``.npz`` with weights, buffers, architecture, optimizer and RNG states.

The file is written atomically (temp file + rename).

Keys in the file:
    ``w/<layer index>/<name>``   trainable parameters (layer index in ``model.layers``)
    ``b/<layer index>/<name>``   buffers (BatchNorm moving statistics)
    ``o/<param index>/<name>``   optimizer state arrays (velocity, Adam moments, ...)
    ``meta``                     JSON: format version, architecture, dtype, optimizer class and
                                 hyper-parameters, RNG states (dropout masks, batch order), extra
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.models.graph import Model

FORMAT = "glassnet-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    model: Model
    optimizer: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    fit_rng_state: dict[str, Any] | None = None


def architecture(model: Model) -> dict[str, Any]:
    """A JSON-able description that rebuilds ``model``: a zoo name or the model-file dict."""
    zoo_name = getattr(model, "zoo_name", None)
    if zoo_name:
        return {"zoo": zoo_name, "kwargs": getattr(model, "zoo_kwargs", {})}
    return {"config": model.to_config()}


def rebuild(arch: dict[str, Any]) -> Model:
    """Rebuild an (unbuilt) model from :func:`architecture`'s dict."""
    if "zoo" in arch:
        from glassnet import zoo

        return zoo.get(arch["zoo"], **arch.get("kwargs", {}))
    if arch["config"].get("format") == "glassnet-graph":
        from glassnet.onnx.checkpoint import rebuild_graph

        return rebuild_graph(arch["config"])
    from glassnet.models.modelfile import from_config

    return from_config(arch["config"])


def _rng_states(model: Model) -> dict[str, Any]:
    return {
        str(i): rng.bit_generator.state
        for i, layer in enumerate(model.layers)
        if (rng := getattr(layer, "rng", None)) is not None
    }


def save_checkpoint(
    model: Model,
    path: str | Path,
    *,
    optimizer: Any = None,
    extra: dict[str, Any] | None = None,
    fit_rng: np.random.Generator | None = None,
) -> Path:
    """Write ``model`` (and optionally its optimizer) to ``path`` atomically.

    Returns:
        The path written (``.npz`` added if missing).
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    model.build()
    arrays: dict[str, Any] = {}
    for i, layer in enumerate(model.layers):
        for key, p in layer.weights.items():
            arrays[f"w/{i}/{key}"] = np.asarray(p.data)
        for key, buf in getattr(layer, "buffers", {}).items():
            arrays[f"b/{i}/{key}"] = np.asarray(buf)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": architecture(model),
        "dtype": np.dtype(model.dtype).name,
        "rng_states": _rng_states(model),
        "fit_rng_state": None if fit_rng is None else fit_rng.bit_generator.state,
        "extra": extra or {},
    }
    cfg = model.train_config
    if cfg is not None:
        meta["compile"] = {
            "loss": cfg.loss,
            "accuracy": cfg.accuracy,
            "from_logits": cfg.from_logits,
        }
    if optimizer is not None:
        sd = optimizer.state_dict()
        meta["optimizer"] = {"class": sd["optimizer"], "hyper": sd["hyper"], "scalars": {}}
        for idx, entries in sd["state"].items():
            for k, v in entries.items():
                if isinstance(v, int | float):
                    meta["optimizer"]["scalars"][f"{idx}/{k}"] = v
                else:
                    arrays[f"o/{idx}/{k}"] = np.asarray(v)
    arrays["meta"] = np.array(json.dumps(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _shape(a: Any) -> str:
    return "[" + ", ".join(str(s) for s in a.shape) + "]"


def _restore_optimizer(meta: dict[str, Any], files: Any, params: list[Any]) -> Any:
    from glassnet import optim

    info = meta["optimizer"]
    cls = getattr(optim, info["class"], None)
    if cls is None:
        raise GlassnetError(f"checkpoint: unknown optimizer class {info['class']!r}")
    opt = cls(params, **info["hyper"])
    state: dict[str, dict[str, Any]] = {}
    for key in files.files:
        if key.startswith("o/"):
            _, idx, name = key.split("/", 2)
            state.setdefault(idx, {})[name] = files[key]
    for key, v in info["scalars"].items():
        idx, name = key.split("/", 1)
        state.setdefault(idx, {})[name] = v
    opt.load_state_dict({"optimizer": info["class"], "hyper": info["hyper"], "state": state})
    return opt


def load_checkpoint(path: str | Path, model: Model | None = None) -> Checkpoint:
    """Read a checkpoint; rebuild its model (or fill ``model``) and its optimizer.

    Raises:
        GlassnetError: not a glassnet checkpoint, or an array whose shape does not fit the model
            (the message names the layer, the weight and both shapes).
        FileNotFoundError: if ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with np.load(path, allow_pickle=False) as files:
        if "meta" not in files.files:
            raise GlassnetError(f"checkpoint {path}: not a glassnet checkpoint (no 'meta' entry)")
        meta = json.loads(str(files["meta"]))
        if meta.get("format") != FORMAT:
            raise GlassnetError(f"checkpoint {path}: format {meta.get('format')!r} is unknown")
        from glassnet.backend import dtype_scope

        model = model if model is not None else rebuild(meta["architecture"])
        with dtype_scope(meta["dtype"]):
            model.build()
        layers = model.layers
        for key in files.files:
            if key == "meta" or key.startswith("o/"):
                continue
            kind, idx, name = key.split("/", 2)
            i = int(idx)
            layer = layers[i] if i < len(layers) else None
            target: Any = None
            if layer is not None:
                store = layer.weights if kind == "w" else layer.buffers
                target = store.get(name)
            if layer is None or target is None:
                raise GlassnetError(
                    f"checkpoint {path}: entry {key!r} has no matching weight in the model"
                )
            arr = files[key]
            data: Any = target.data if kind == "w" else target
            if arr.shape != data.shape:
                raise GlassnetError(
                    f"checkpoint {path}: layer {layer.label!r} {name} has shape {_shape(arr)} "
                    f"in the file but the model expects {_shape(data)}"
                )
            data[...] = arr
        for i, state in meta.get("rng_states", {}).items():
            rng = np.random.default_rng()
            rng.bit_generator.state = state
            layers[int(i)].rng = rng  # type: ignore[attr-defined]  # a layer with an rng
        opt = None
        if "optimizer" in meta:
            opt = _restore_optimizer(meta, files, model.parameters())
    if "compile" in meta:
        from glassnet.training.loop import TrainConfig

        c = meta["compile"]
        model.train_config = TrainConfig(opt or "adam", c["loss"], c["accuracy"], c["from_logits"])
        if opt is None:
            model.compile(
                "adam", c["loss"], ["accuracy"] if c["accuracy"] else [], c["from_logits"]
            )
    return Checkpoint(model, opt, meta.get("extra", {}), meta.get("fit_rng_state"))


def load_model(path: str | Path) -> Model:
    """Load a checkpoint's model, compiled with its saved optimizer state when there is one.

    A Keras model file (``.keras``, ``.h5``) is read directly, uncompiled
    (:func:`glassnet.keras.load_keras_model`).

    Raises:
        GlassnetError: see :func:`load_checkpoint`.
    """
    from glassnet.training.resolve import KERAS_SUFFIXES

    if Path(path).suffix.lower() in KERAS_SUFFIXES:
        from glassnet.keras import load_keras_model

        return load_keras_model(path)
    return load_checkpoint(path).model
