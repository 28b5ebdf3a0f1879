"""Checkpoints of imported ONNX networks (``glassnet import model.onnx --out model.npz``).

A glassnet checkpoint (:mod:`glassnet.training.checkpoint`) stores its architecture as a zoo
name or a model-file dict; neither describes a graph. An imported model's ``to_config()``
returns the graph description of :mod:`glassnet.onnx.graphconfig` instead, so the ordinary
:func:`~glassnet.training.checkpoint.save_checkpoint` writes it unchanged (weights and BatchNorm
buffers under the usual keys, the ONNX file's path and layouts in the description). The
checkpoint is self-contained: the ``.onnx`` file is not needed to read it back.

:func:`load_imported` rebuilds the graph and fills it with
``load_checkpoint(path, model=...)``. For ``glassnet evaluate`` and plain
``load_checkpoint(path)`` to read these files too, ``checkpoint.rebuild`` dispatches on
``config["format"] == "glassnet-graph"`` to :func:`rebuild_graph`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.onnx.graphconfig import FORMAT, graph_from_config
from glassnet.onnx.model import ImportedModel


def rebuild_graph(config: dict[str, Any]) -> ImportedModel:
    """Rebuild an unbuilt imported model from its ``to_config()`` dict.

    Raises:
        GlassnetError: if the dict is not a graph description (see ``graph_from_config``).
    """
    model = graph_from_config(config, ImportedModel)
    assert isinstance(model, ImportedModel)
    info = config.get("onnx") or {}
    model.onnx_source = info.get("source")
    model.onnx_input_layout = info.get("input_layout", "NCHW")
    model.onnx_output_layout = info.get("output_layout", "NF")
    return model


def save_imported(model: ImportedModel, path: str | Path) -> Path:
    """Write an imported model as a glassnet checkpoint, atomically.

    Returns:
        The path written (``.npz`` added if missing).
    """
    from glassnet.training.checkpoint import save_checkpoint

    return save_checkpoint(model, path, extra={"onnx_source": model.onnx_source})


def load_imported(path: str | Path) -> ImportedModel:
    """Read a checkpoint written by :func:`save_imported` (or ``glassnet import``).

    Raises:
        GlassnetError: if it is not a checkpoint of an imported graph.
        FileNotFoundError: if ``path`` does not exist.
    """
    from glassnet.training.checkpoint import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with np.load(path, allow_pickle=False) as files:
        if "meta" not in files.files:
            raise GlassnetError(f"checkpoint {path}: not a glassnet checkpoint (no 'meta' entry)")
        meta = json.loads(str(files["meta"]))
    config = meta.get("architecture", {}).get("config", {})
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise GlassnetError(f"checkpoint {path}: not an imported graph model ({FORMAT})")
    model = rebuild_graph(config)
    loaded = load_checkpoint(path, model=model).model
    assert isinstance(loaded, ImportedModel)
    return loaded
