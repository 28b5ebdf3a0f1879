"""Checkpoints: one ``.npz`` with weights, buffers, architecture, optimizer and RNG states.

The file is written atomically (:func:`glassnet.fileio.atomic_write`).

Keys in the file:
    ``w/<layer index>/<name>``   trainable parameters (layer index in ``model.layers``)
    ``b/<layer index>/<name>``   buffers (BatchNorm moving statistics)
    ``o/<param index>/<name>``   optimizer state arrays (velocity, Adam moments, ...)
    ``meta``                     JSON: format version, architecture, dtype, optimizer class and
                                 hyper-parameters, RNG states (dropout masks, batch order), extra
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.fileio import atomic_write
from glassnet.models.graph import Model
from glassnet.training.ckptcheck import (
    check_arrays,
    check_declared_sizes,
    check_finite,
    model_arrays,
)
from glassnet.training.ckptfile import FORMAT, VERSION, read_headers, read_meta, reason

__all__ = ["FORMAT", "VERSION", "Checkpoint", "architecture", "load_checkpoint", "load_model",
           "rebuild", "save_checkpoint"]


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
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _rebuild_checked(path: Path, arch: dict[str, Any]) -> Model:
    """:func:`rebuild`, with a malformed architecture reported as one line naming the file."""
    try:
        return rebuild(arch)
    except GlassnetError as exc:
        raise GlassnetError(f"checkpoint {path}: architecture: {exc}") from None
    except (TypeError, KeyError, AttributeError) as exc:
        raise GlassnetError(f"checkpoint {path}: architecture is malformed "
                            f"({type(exc).__name__}: {exc})") from None


def _generator(path: Path, field_name: str, state: Any) -> np.random.Generator:
    rng = np.random.default_rng()
    try:
        rng.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise GlassnetError(f"checkpoint {path}: metadata field {field_name!r} is not a random "
                            f"generator state ({exc})") from None
    return rng


def _read_arrays(path: Path, files: Any, keys: list[str]) -> dict[str, np.ndarray]:
    """Read the data of ``keys``; a corrupt member (bad CRC, cut short) is one clear line."""
    out = {}
    for key in keys:
        try:
            out[key] = files[key]
        except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as exc:
            raise GlassnetError(f"checkpoint {path}: array {key!r} is corrupt ({reason(exc)})"
                                ) from None
    return out


def _restore_optimizer(path: Path, meta: dict[str, Any], arrays: dict[str, Any],
                       params: list[Any]) -> Any:
    from glassnet import optim

    info = meta["optimizer"]
    cls = getattr(optim, info["class"], None)
    # Only an Optimizer subclass is called: the name comes from the file.
    if not (isinstance(cls, type) and issubclass(cls, optim.Optimizer)):
        raise GlassnetError(f"checkpoint {path}: unknown optimizer class {info['class']!r}")
    state: dict[str, dict[str, Any]] = {}
    for key, arr in arrays.items():
        if key.startswith("o/"):
            _, idx, name = key.split("/", 2)
            state.setdefault(idx, {})[name] = arr
    for key, v in info["scalars"].items():
        idx, _, name = key.partition("/")
        state.setdefault(idx, {})[name] = v
    try:
        opt = cls(params, **info["hyper"])
        opt.load_state_dict({"optimizer": info["class"], "hyper": info["hyper"], "state": state})
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise GlassnetError(f"checkpoint {path}: optimizer state does not fit "
                            f"{info['class']} ({exc})") from None
    return opt


def load_checkpoint(path: str | Path, model: Model | None = None) -> Checkpoint:
    """Read a checkpoint; rebuild its model (or fill ``model``) and its optimizer.

    Nothing in the file is trusted: the array headers and the metadata are checked first
    (:mod:`glassnet.training.ckptfile`); a model rebuilt from the metadata must declare the
    sizes the file holds before it is built, then match it array by array
    (:mod:`glassnet.training.ckptcheck`); non-finite values are refused. No pickle is loaded.

    Raises:
        GlassnetError: one line naming the file and the problem: not a ``.npz`` (empty,
            truncated, another format), object arrays, metadata that is not JSON or not of the
            schema (naming the field), missing / extra / wrong-shape or wrong-dtype arrays
            (naming them), non-finite weights (naming them), a corrupt array.
        FileNotFoundError: if ``path`` does not exist.
    """
    from glassnet.backend import dtype_scope

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    headers = read_headers(path)
    with np.load(path, allow_pickle=False) as files:
        meta = read_meta(path, files, headers)
        if model is None:
            model = _rebuild_checked(path, meta["architecture"])
            check_declared_sizes(path, model, headers)
        with dtype_scope(meta["dtype"]):
            model.build()
        check_arrays(path, model, headers)
        arrays = _read_arrays(path, files, [k for k in headers if k != "meta"])
    targets = model_arrays(model)
    check_finite(path, arrays, {k: what for k, (what, _) in targets.items()})
    for key, (_, data) in targets.items():
        data[...] = arrays[key]
    layers = model.layers
    for i, state in meta.get("rng_states", {}).items():
        if int(i) >= len(layers):
            raise GlassnetError(f"checkpoint {path}: metadata field 'rng_states' names layer {i}"
                                f" but the model has {len(layers)}")
        layers[int(i)].rng = _generator(path, f"rng_states.{i}", state)  # type: ignore[attr-defined]
    if meta.get("fit_rng_state") is not None:
        _generator(path, "fit_rng_state", meta["fit_rng_state"])
    opt = None
    if "optimizer" in meta:
        opt = _restore_optimizer(path, meta, arrays, model.parameters())
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
