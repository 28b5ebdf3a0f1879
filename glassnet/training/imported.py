"""Checkpoints of imported ONNX networks (``glassnet import model.onnx --out model.npz``).

An imported model's ``to_config()`` is a graph description (:mod:`glassnet.onnx.graphconfig`),
so the ordinary :func:`~glassnet.training.checkpoint.save_checkpoint` writes it unchanged.
:func:`load_imported` rebuilds the graph
(:func:`glassnet.onnx.checkpoint.rebuild_graph`) and fills it with
``load_checkpoint(path, model=...)``. (These helpers lived in ``glassnet.onnx``;
they write and read checkpoints, which are training's, and onnx sits below training.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.onnx.checkpoint import rebuild_graph
from glassnet.onnx.graphconfig import FORMAT
from glassnet.onnx.model import ImportedModel
from glassnet.training.checkpoint import load_checkpoint, save_checkpoint
from glassnet.training.ckptcheck import check_declared_sizes
from glassnet.training.ckptfile import read_headers, read_meta


def save_imported(model: ImportedModel, path: str | Path) -> Path:
    """Write an imported model as a glassnet checkpoint, atomically.

    Returns:
        The path written (``.npz`` added if missing).
    """
    return save_checkpoint(model, path, extra={"onnx_source": model.onnx_source})


def load_imported(path: str | Path) -> ImportedModel:
    """Read a checkpoint written by :func:`save_imported` (or ``glassnet import``).

    Raises:
        GlassnetError: if it is not a checkpoint of an imported graph, or any problem
            :func:`~glassnet.training.checkpoint.load_checkpoint` reports (one line).
        FileNotFoundError: if ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    headers = read_headers(path)
    with np.load(path, allow_pickle=False) as files:
        meta = read_meta(path, files, headers)
    config = meta["architecture"].get("config", {})
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise GlassnetError(f"checkpoint {path}: not an imported graph model ({FORMAT})")
    model = rebuild_graph(config)
    check_declared_sizes(path, model, headers)  # before load_checkpoint builds it
    loaded = load_checkpoint(path, model=model).model
    assert isinstance(loaded, ImportedModel)
    return loaded
