"""Layers Keras models bring: ZeroPadding2D, GlobalMaxPool2D, Reshape, Rescaling.

Each computes its shape from the input shape alone and runs a reference op pair from
:mod:`glassnet.ops.spatial` (or a reshape) on compute-layout tensors.
"""

from __future__ import annotations

import math
from typing import Any

from glassnet import autodiff as A
from glassnet.errors import GlassnetError, ShapeError
from glassnet.layers.base import Layer, register_defaults
from glassnet.layers.pool import GlobalPool2D
from glassnet.layers.shapes import Shape, fmt_shape, require_map
from glassnet.ops import spatial as spatial_ops
from glassnet.tensor import Tensor


def _pads(padding: Any, where: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras' three spellings: P, (PH, PW) or ((top, bottom), (left, right))."""
    def ok(p: Any) -> bool:
        return isinstance(p, int) and not isinstance(p, bool) and p >= 0

    if ok(padding):
        return ((padding, padding), (padding, padding))
    if isinstance(padding, list | tuple) and len(padding) == 2:
        if all(ok(p) for p in padding):
            return ((padding[0], padding[0]), (padding[1], padding[1]))
        if all(isinstance(p, list | tuple) and len(p) == 2 and all(ok(q) for q in p)
               for p in padding):
            return ((padding[0][0], padding[0][1]), (padding[1][0], padding[1][1]))
    raise GlassnetError(
        f"{where}: padding={padding!r} must be P, (PH, PW) or ((top, bottom), (left, right)) "
        "with ints >= 0"
    )


@register_defaults
class ZeroPadding2D(Layer):
    """Surround each map with rows and columns of zeros.

    Args:
        padding: P, (PH, PW) or ((top, bottom), (left, right)).
        name: layer name.

    Raises:
        GlassnetError: for a malformed ``padding``.
        ShapeError: when called on a flat input.

    Shapes:
        input (H, W, C) -> output (H + top + bottom, W + left + right, C).
    """

    type_name = "zero_padding2d"
    base_name = "zero_padding2d"
    config_keys = {"padding": "padding", "name": "name"}

    def __init__(self, padding: Any = 1, name: str | None = None) -> None:
        super().__init__(name)
        self.padding = _pads(padding, self.label)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return ``(H + top + bottom, W + left + right, C)``."""
        require_map(input_shape, self.label)
        (t, b), (le, r) = self.padding
        return (input_shape[0] + t + b, input_shape[1] + le + r, input_shape[2])

    def explain_shape(self, input_shape: Any) -> list[str]:
        """Show the sums."""
        (t, b), (le, r) = self.padding
        oh, ow, _ = self.compute_output_shape(input_shape)
        return [f"OH = H + top + bottom = {input_shape[0]} + {t} + {b} = {oh}",
                f"OW = W + left + right = {input_shape[1]} + {le} + {r} = {ow}"]

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C, N, H, W) -> out (C, N, OH, OW)."""
        return A.unary(
            spatial_ops.zero_pad2d_forward, spatial_ops.zero_pad2d_backward, x, pads=self.padding
        )


@register_defaults
class GlobalMaxPool2D(GlobalPool2D):
    """Take each channel's maximum over all positions: (H, W, C) -> (C,).

    Args:
        name: layer name.

    Raises:
        ShapeError: when called on a flat input.

    Shapes:
        input (H, W, C) -> output (C,).
    """

    type_name = "global_maxpool2d"
    base_name = "global_max_pooling2d"
    reduction = "max"

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C, N, H, W) -> out (N, C)."""
        pooled = A.unary(
            spatial_ops.global_max_pool2d_forward, spatial_ops.global_max_pool2d_backward, x
        )
        return A.transpose(pooled, (1, 0))


@register_defaults
class Reshape(Layer):
    """Give each sample a new shape with the same number of values (Keras order, row-major).

    Args:
        target_shape: the new shape without the batch axis: ``(F,)`` or ``(H, W, C)``; one
            entry may be -1 (inferred).
        name: layer name.

    Raises:
        GlassnetError: for a malformed ``target_shape``.
        ShapeError: if the number of values differs from the input's.

    Shapes:
        input (...) -> output target_shape (public layout, values in row-major H, W, C order).
    """

    type_name = "reshape"
    base_name = "reshape"
    config_keys = {"target_shape": "target_shape", "name": "name"}

    def __init__(self, target_shape: Any, name: str | None = None) -> None:
        super().__init__(name)
        dims = list(target_shape) if isinstance(target_shape, list | tuple) else None
        ok = dims is not None and len(dims) in (1, 3) and dims.count(-1) <= 1 and all(
            isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in dims
        )
        if not ok:
            raise GlassnetError(
                f"{self.label}: target_shape={target_shape!r} must be (F,) or (H, W, C) of "
                "positive ints (one may be -1)"
            )
        self.target_shape = tuple(dims or ())

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return the target shape with -1 resolved.

        Raises:
            ShapeError: if the value counts differ.
        """
        size = math.prod(input_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        out = tuple(size // known if d == -1 else d for d in self.target_shape)
        if math.prod(out) != size:
            raise ShapeError(
                f"{self.label}: cannot reshape {fmt_shape(tuple(input_shape))} ({size} values) to "
                f"{fmt_shape(self.target_shape)}"
            )
        return out

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C, N, H, W) or (N, F) -> out (C', N, H', W') or (N, F')."""
        public = A.to_public(x) if x.ndim == 4 else x
        target = self.compute_output_shape(tuple(public.shape[1:]))
        out = A.reshape(public, (public.shape[0], *target))
        return A.to_compute(out) if out.ndim == 4 else out


@register_defaults
class Rescaling(Layer):
    """Return ``x·scale + offset`` (Keras' ``Rescaling``: pixels 0–255 -> 0–1 with 1/255).

    Args:
        scale: the factor (a number).
        offset: added after scaling.
        name: layer name.

    Raises:
        GlassnetError: if ``scale`` or ``offset`` is not a number.

    Shapes:
        output = input.
    """

    type_name = "rescaling"
    base_name = "rescaling"
    config_keys = {"scale": "scale", "offset": "offset", "name": "name"}

    def __init__(self, scale: float, offset: float = 0.0, name: str | None = None) -> None:
        super().__init__(name)
        for arg, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise GlassnetError(f"{self.label}: {arg}={value!r} must be a number")
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Elementwise, layout-free."""
        return A.unary(
            spatial_ops.rescale_forward, spatial_ops.rescale_backward, x,
            scale=self.scale, offset=self.offset,
        )
