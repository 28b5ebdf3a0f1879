"""Rebuilding imported ONNX networks from the graph description their checkpoints store.

A glassnet checkpoint (:mod:`glassnet.training.checkpoint`) stores its architecture as a zoo
name or a model-file dict; neither describes a graph. An imported model's ``to_config()``
returns the graph description of :mod:`glassnet.onnx.graphconfig` instead, so the ordinary
:func:`~glassnet.training.checkpoint.save_checkpoint` writes it unchanged (weights and BatchNorm
buffers under the usual keys, the ONNX file's path and layouts in the description). The
checkpoint is self-contained: the ``.onnx`` file is not needed to read it back.

For ``glassnet evaluate`` and plain ``load_checkpoint(path)`` to read these files,
``checkpoint.rebuild`` dispatches on ``config["format"] == "glassnet-graph"`` to
:func:`rebuild_graph`. Writing and reading the files (``save_imported``, ``load_imported``)
live one layer up, in :mod:`glassnet.training.imported`: onnx sits below training.
"""

from __future__ import annotations

from typing import Any

from glassnet.onnx.graphconfig import graph_from_config
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
