"""The model class of imported ONNX networks: a graph Model that knows the original's layouts."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.models.graph import Model


class ImportedModel(Model):
    """A graph model read from ONNX; it remembers how to map batches to and from the original.

    Attributes:
        onnx_source: the file it was read from (or ``None``).
        onnx_input_layout: ``NCHW``, ``NHWC`` or ``NF`` — the original's input layout.
        onnx_output_layout: the layout tag of the original's output.
    """

    onnx_source: str | None = None
    onnx_input_layout = "NCHW"
    onnx_output_layout = "NF"

    def to_onnx_input(self, x: np.ndarray) -> np.ndarray:
        """Turn a glassnet (NHWC) batch into the original's input layout."""
        if self.onnx_input_layout != "NCHW":
            return x
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def from_onnx_output(self, y: np.ndarray) -> np.ndarray:
        """Turn the original's output into glassnet's (NHWC maps or (N, F))."""
        if self.onnx_output_layout == "NCHW":
            return y.transpose(0, 2, 3, 1)
        return y.reshape(len(y), -1) if self.onnx_output_layout == "NC11" else y

    def to_config(self) -> dict[str, Any]:
        """Return the graph description (see :mod:`glassnet.onnx.graphconfig`)."""
        from glassnet.onnx.graphconfig import graph_to_config

        config = graph_to_config(self)
        config["onnx"] = {"source": self.onnx_source, "input_layout": self.onnx_input_layout,
                          "output_layout": self.onnx_output_layout}
        return config
