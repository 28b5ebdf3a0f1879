"""Read a Keras model file's architecture (JSON) and weights (HDF5) without Keras.

Two containers (``pip install 'glassnet[keras]'`` for h5py):

- ``.keras`` (Keras 3): a zip with ``config.json`` and ``model.weights.h5``, whose group
  ``layers/<path>/vars`` holds datasets ``0, 1, ...`` in the order of ``layer.weights``. The
  path is NOT the layer's name but its class in snake case, numbered by occurrence in the
  model's layer order (``conv2d``, ``conv2d_1``, ...): see :func:`weight_paths`.
- ``.h5`` (legacy): the attribute ``model_config`` (JSON) and the group
  ``model_weights/<layer name>``, whose attribute ``weight_names`` lists the datasets in the
  order of ``layer.weights``.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from glassnet.backend import require_module
from glassnet.errors import GlassnetError

SUFFIXES = (".keras", ".h5", ".hdf5")


def require_h5py() -> ModuleType:
    """Return the ``h5py`` module.

    Raises:
        GlassnetError: if it is not installed, saying how to install it.
    """
    return require_module("h5py", "reading Keras files", "keras")


def snake_case(class_name: str) -> str:
    """``BatchNormalization`` -> ``batch_normalization``, ``ReLU`` -> ``re_lu`` (Keras' rule)."""
    words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", class_name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()


def weight_paths(class_names: list[str]) -> list[str]:
    """The ``.keras`` weight-group names of layers of these classes, in model order."""
    seen: dict[str, int] = {}
    out = []
    for cls in class_names:
        base = snake_case(cls)
        k = seen.get(base, 0)
        seen[base] = k + 1
        out.append(base if k == 0 else f"{base}_{k}")
    return out


def read_keras_file(
    path: str | Path,
) -> tuple[dict[str, Any], dict[str, list[np.ndarray]], bool]:
    """Return the config, the weight arrays of each group and whether groups are paths.

    Returns:
        ``(config, weights, by_path)``: ``weights`` maps a group name to its arrays in
        ``layer.weights`` order; groups are named by :func:`weight_paths` when ``by_path``
        (``.keras``), by the layers' names otherwise (``.h5``).

    Raises:
        GlassnetError: if the file is not a Keras model file or lacks its config.
        FileNotFoundError: if ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Keras file {path} does not exist")
    if path.suffix.lower() == ".keras":
        return (*_read_zip(path), True)
    return (*_read_h5(path), False)


def _read_zip(path: Path) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    h5py = require_h5py()
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise GlassnetError(f"{path}: not a Keras 3 file (no config.json in the zip)")
            config = json.loads(z.read("config.json"))
            blob = z.read("model.weights.h5") if "model.weights.h5" in names else None
    except zipfile.BadZipFile as exc:
        raise GlassnetError(f"{path}: not a Keras 3 .keras file (not a zip archive)") from exc
    weights: dict[str, list[np.ndarray]] = {}
    if blob is not None:
        with h5py.File(io.BytesIO(blob), "r") as f:
            group = f.get("layers")
            for name in group.keys() if group is not None else ():
                vars_ = group[name].get("vars")
                if vars_ is not None and len(vars_):
                    weights[name] = [np.asarray(vars_[str(i)]) for i in range(len(vars_))]
    return config, weights


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _read_h5(path: Path) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    h5py = require_h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise GlassnetError(f"{path}: not an HDF5 file ({exc})") from exc
    with f:
        if "model_config" not in f.attrs:
            raise GlassnetError(
                f"{path}: no 'model_config' attribute; a weights-only .h5 has no architecture "
                "(save the whole model with model.save)"
            )
        config = json.loads(_text(f.attrs["model_config"]))
        weights: dict[str, list[np.ndarray]] = {}
        group = f.get("model_weights", f)
        for name in group.keys():
            names = [_text(n) for n in group[name].attrs.get("weight_names", [])]
            if names:
                weights[name] = [np.asarray(group[name][n]) for n in names]
    return config, weights
