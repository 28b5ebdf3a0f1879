"""Merge layers of graph models: Add (residual connections) and Concatenate (Inception)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import autodiff as A
from glassnet.errors import ShapeError
from glassnet.layers.base import Layer, register_defaults
from glassnet.layers.shapes import Shape, map_axis
from glassnet.ops.basic import concat_forward
from glassnet.tensor import Tensor


@register_defaults
class Add(Layer):
    """Elementwise sum of two or more inputs of the same shape (a residual connection).

    Args:
        name: layer name.

    Raises:
        ShapeError: when called on inputs of different shapes.

    Shapes:
        inputs [(H, W, C), (H, W, C), ...] -> output (H, W, C) (or flat (F,)).
    """

    type_name = "add"
    base_name = "add"
    config_keys = {"name": "name"}
    n_inputs = -1

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return the common shape."""
        first = tuple(input_shape[0])
        for i, shape in enumerate(input_shape[1:], start=1):
            if tuple(shape) != first:
                raise ShapeError(
                    f"{self.label}: input {i} has shape {list(shape)} but input 0 has "
                    f"{list(first)}; Add needs equal shapes"
                )
        return first

    def forward(self, xs: list[Tensor], training: bool = False) -> Tensor:  # type: ignore[override]
        """Sum the inputs (layout-free); each input receives the whole upstream gradient."""
        out = xs[0]
        for x in xs[1:]:
            out = A.add(out, x)
        return out

    def inference_step(self, input_shape: Any) -> Callable[[list[Any]], Any]:
        """The same sums on arrays, in the same order (the same numbers), into a new array.

        Shapes:
            the step: [(C, N, H, W) or (N, F), ...] -> the same shape.
        """

        def step(xs: list[Any]) -> Any:
            out = xs[0] + xs[1]
            for x in xs[2:]:
                out += x
            return out

        return step


@register_defaults
class Concatenate(Layer):
    """Join inputs along ``axis`` (default the last: channels), as Inception modules do.

    Args:
        axis: the public axis (NHWC numbering without batch is ``axis − 1``); ``-1`` = channels.
        name: layer name.

    Raises:
        ShapeError: when the inputs differ on any other axis or have different ranks.

    Shapes:
        inputs [(H, W, C1), (H, W, C2), ...] -> output (H, W, C1 + C2 + ...).
    """

    type_name = "concatenate"
    base_name = "concatenate"
    config_keys = {"axis": "axis", "name": "name"}
    n_inputs = -1

    def __init__(self, axis: int = -1, name: str | None = None) -> None:
        super().__init__(name)
        self.axis = axis

    def _sample_axis(self, rank: int) -> int:
        """The axis within a sample's shape (public axis minus the batch axis)."""
        map_axis(self.axis, rank + 1, where=self.label)  # range check
        public = self.axis % (rank + 1)
        if public == 0:
            raise ShapeError(f"{self.label}: axis={self.axis} is the batch axis")
        return public - 1

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return the shapes with the ``axis`` sizes summed."""
        first = tuple(input_shape[0])
        ax = self._sample_axis(len(first))
        total = 0
        for i, shape in enumerate(input_shape):
            same = len(shape) == len(first) and all(
                a == b for d, (a, b) in enumerate(zip(shape, first, strict=True)) if d != ax
            )
            if not same:
                raise ShapeError(
                    f"{self.label}: input {i} has shape {list(shape)}, input 0 {list(first)}; "
                    f"Concatenate(axis={self.axis}) needs equal sizes on every other axis"
                )
            total += shape[ax]
        return first[:ax] + (total,) + first[ax + 1:]

    def forward(self, xs: list[Tensor], training: bool = False) -> Tensor:  # type: ignore[override]
        """Concatenate along the axis mapped to the compute layout (channels: axis 0 of CNHW)."""
        return A.concat(list(xs), axis=map_axis(self.axis, xs[0].ndim, where=self.label))

    def inference_step(self, input_shape: Any) -> Callable[[list[Any]], Any]:
        """The same join on arrays (:func:`glassnet.ops.basic.concat_forward`'s output).

        Shapes:
            the step: [(C_i, N, H, W), ...] -> (Σ C_i, N, H, W) (or along the mapped axis).
        """
        axis = map_axis(self.axis, len(input_shape[0]) + 1, where=self.label)

        def step(xs: list[Any]) -> Any:
            # The shapes were checked when the model was built: NumPy's join, unchecked.
            if type(xs[0]) is np.ndarray:
                return np.concatenate(xs, axis=axis)
            return concat_forward(xs, axis=axis)[0]

        return step
