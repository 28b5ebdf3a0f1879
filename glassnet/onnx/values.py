"""What the ONNX importer holds: a :class:`Value` per tensor, an :class:`Imported` per layer.

A value is a glassnet node with its layout tag and pending work; an entry lists the weights to
copy into a layer once the model is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from glassnet.layers.base import Layer, Node

BATCH = -(2**62)
"""Stands for the (symbolic) batch size inside folded shape tensors."""


@dataclass
class Value:
    """A non-constant ONNX tensor: the glassnet node computing it and its layout tag."""

    node: Node
    layout: str  # "NCHW" | "NHWC" | "NC11" | "N11C" | "NF"
    exclusive: bool = False
    """Whether only this one chain of ONNX nodes reads the layer's output (a bias may fold in)."""
    affine: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    """A pending per-channel ``x·scale + shift`` (scale, shift, and the ``k`` of a leading
    ``x − k``; each (C,)), not yet a layer."""
    pad: tuple[int, int, int, int] | None = None
    """A pending zero padding (top, bottom, left, right) for the Conv/AveragePool after it."""
    steps: str = ""
    """The pending arithmetic's ops by initial, e.g. ``"SMA"`` for Sub, Mul, Add."""

    @property
    def onnx_shape(self) -> list[int]:
        """The ONNX shape with the batch as :data:`BATCH` (a pending Pad included)."""
        s = self.node.shape
        if self.pad is not None and len(s) == 3:
            top, bottom, left, right = self.pad
            s = (s[0] + top + bottom, s[1] + left + right, s[2])
        if self.layout == "NCHW":
            return [BATCH, s[2], s[0], s[1]]
        if self.layout == "NHWC":
            return [BATCH, *s]
        if self.layout == "N11C":
            return [BATCH, 1, 1, s[0]]
        return [BATCH, s[0], 1, 1] if self.layout == "NC11" else [BATCH, s[0]]

    def alias(self, layout: str | None = None, exclusive: bool = True) -> Value:
        """The same tensor under another tag (a Transpose, Cast or Identity of it)."""
        return Value(self.node, layout or self.layout, self.exclusive and exclusive,
                     self.affine, self.pad, self.steps)


@dataclass
class Imported:
    """What a layer needs after :meth:`Model.build`: its weights and buffers."""

    layer: Layer
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
