"""Layers that ONNX graphs need beyond the Keras set: a channel-first Flatten and LeakyReLU(α).

Both are ordinary glassnet layers (shapes, counts, forward, backward); the importer creates
them and the exporter writes them back as the ONNX ops they came from.
"""

from __future__ import annotations

import math
from typing import Any

from glassnet import autodiff as A
from glassnet.errors import GlassnetError
from glassnet.layers.base import Layer, register_defaults
from glassnet.layers.core import Flatten
from glassnet.tensor import Tensor


@register_defaults
class FlattenCHW(Flatten):
    """Flatten each sample in channel-first order (C, H, W), as ONNX and PyTorch do.

    glassnet's :class:`~glassnet.layers.Flatten` follows Keras (row-major over H, W, C). An ONNX
    ``Flatten`` of NCHW maps orders the values C, H, W, and the ``Gemm`` after it was trained
    on that order, so an imported network keeps it with this layer.

    Args:
        name: layer name.

    Shapes:
        input (H, W, C) -> output (C·H·W,); a flat input passes unchanged.
    """

    type_name = "flatten_chw"

    def explain_shape(self, input_shape: Any) -> list[str]:
        """Show the product and the order."""
        if len(input_shape) == 1:
            return []
        h, w, c = input_shape
        return [f"F = C·H·W = {c}·{h}·{w} = {math.prod(input_shape):,} (channel-first order)"]

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C, N, H, W) -> out (N, C·H·W)."""
        if x.ndim == 2:
            return x
        nchw = A.transpose(x, (1, 0, 2, 3))
        return A.reshape(nchw, (nchw.shape[0], -1))

    def inference_step(self, input_shape: Any) -> Any:
        """The same channel-first flattening on arrays."""
        return _flatten_chw


def _flatten_chw(a: Any) -> Any:
    """CNHW -> (N, C·H·W); a 2-D input as it is."""
    return a if a.ndim == 2 else a.transpose(1, 0, 2, 3).reshape(a.shape[1], -1)


@register_defaults
class LeakyReLU(Layer):
    """x for x > 0, alpha·x otherwise (ONNX ``LeakyRelu``; its default alpha is 0.01).

    Args:
        alpha: the slope for negative inputs.
        name: layer name.

    Raises:
        GlassnetError: if ``alpha`` is not a number.

    Shapes:
        output = input.
    """

    type_name = "leaky_relu"
    base_name = "leaky_re_lu"
    config_keys = {"alpha": "alpha", "name": "name"}

    def __init__(self, alpha: float = 0.01, name: str | None = None) -> None:
        super().__init__(name)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float):
            raise GlassnetError(f"{self.label}: alpha={alpha!r} must be a number")
        self.alpha = float(alpha)

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Elementwise, layout-free."""
        return A.leaky_relu(x, self.alpha)
