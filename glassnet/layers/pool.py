"""Pooling layers: MaxPool2D, AvgPool2D (overlapping windows, ceil_mode), GlobalAvgPool2D."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from glassnet import arith
from glassnet import autodiff as A
from glassnet.accel.infer import PoolStep
from glassnet.arith.geometry import PaddingSpec, pair
from glassnet.errors import GlassnetError
from glassnet.layers.base import Layer, register_defaults
from glassnet.layers.shapes import (
    Shape,
    axis_lines,
    axis_padding,
    check_padding,
    require_map,
    window_shape,
)
from glassnet.ops import avg_pool as avg_pool_ops
from glassnet.tensor import Tensor


class _Pool2D(Layer):
    """Shared arguments, geometry and explanation of the windowed pools."""

    config_keys = {
        "pool": "pool_size", "stride": "strides", "padding": "padding",
        "ceil_mode": "ceil_mode", "name": "name",
    }

    def __init__(
        self,
        pool_size: int | tuple[int, int] = 2,
        strides: int | tuple[int, int] | None = None,
        padding: PaddingSpec = "valid",
        ceil_mode: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.pool_size = pair(pool_size, op=self.label, arg="pool_size")
        # None (the default) means "strides = pool_size"; kept as None so configs stay short.
        self.strides = None if strides is None else pair(strides, op=self.label, arg="strides")
        self.padding = check_padding(padding, self.label)
        if not isinstance(ceil_mode, bool):
            raise GlassnetError(f"{self.label}: ceil_mode={ceil_mode!r} must be True or False")
        self.ceil_mode = ceil_mode

    @property
    def window_strides(self) -> tuple[int, int]:
        """The strides in use: the given ones or the pool size."""
        return self.strides or self.pool_size

    def _geometry(self, input_shape: Shape) -> tuple[tuple[int, int], Any]:
        return window_shape(
            self, input_shape, self.pool_size, self.window_strides, self.padding,
            ceil_mode=self.ceil_mode,
        )

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return ``(OH, OW, C)``; O = floor((I + P_b + P_a − K)/S) + 1 (ceil with ceil_mode).

        Raises:
            ShapeError: if the window does not fit the padded input.
        """
        (oh, ow), _ = self._geometry(input_shape)
        return (oh, ow, input_shape[2])

    def explain_shape(self, input_shape: Any) -> list[str]:
        """Return each axis' output-size formula with the numbers substituted."""
        _, pads = self._geometry(input_shape)
        return axis_lines([
            arith.pool2d_output(
                input_shape[d], self.pool_size[d], self.window_strides[d],
                axis_padding(self.padding, pads, d), self.ceil_mode,
            )
            for d in range(2)
        ])


@register_defaults
class MaxPool2D(_Pool2D):
    """Max pooling over (KH, KW) windows; padding never wins (it is −∞).

    Args:
        pool_size: K or (KH, KW).
        strides: S or (SH, SW); ``None`` means the pool size (non-overlapping windows).
        padding: ``"valid"``, ``"same"``, an int, a pair or a 4-tuple; each amount < K.
        ceil_mode: round the output size up (PyTorch's ``ceil_mode``).
        name: layer name.

    Raises:
        GlassnetError: for a malformed argument.
        ShapeError: when called on an input the window does not fit.

    Shapes:
        input (H, W, C) -> output (OH, OW, C).
    """

    type_name = "maxpool2d"
    base_name = "max_pooling2d"

    @property
    def window(self) -> dict[str, Any]:
        """The op's keyword arguments: pool_size, strides, padding, ceil_mode."""
        return {"pool_size": self.pool_size, "strides": self.window_strides,
                "padding": self.padding, "ceil_mode": self.ceil_mode}

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C, N, H, W) -> out (C, N, OH, OW)."""
        return A.max_pool2d(x, **self.window)

    def pool_step(self, input_shape: Any, relu: bool = False) -> PoolStep:
        """The array pooling of a call on ``input_shape`` (then a ReLU if ``relu``)."""
        return PoolStep((input_shape[0], input_shape[1]), relu=relu, **self.window)

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """Max pooling on arrays. Shapes: the step: (C, N, H, W) -> (C, N, OH, OW)."""
        return self.pool_step(input_shape)


@register_defaults
class AvgPool2D(_Pool2D):
    """Average pooling over (KH, KW) windows.

    Args:
        pool_size: K or (KH, KW).
        strides: S or (SH, SW); ``None`` means the pool size.
        padding: as MaxPool2D.
        ceil_mode: round the output size up.
        count_include_pad: divide by the whole window (PyTorch's default) instead of by the
            real inputs it covers (Keras' behaviour, the default here).
        name: layer name.

    Raises:
        GlassnetError: for a malformed argument.
        ShapeError: when called on an input the window does not fit.

    Shapes:
        input (H, W, C) -> output (OH, OW, C).
    """

    type_name = "avgpool2d"
    base_name = "average_pooling2d"
    config_keys = {**_Pool2D.config_keys, "count_include_pad": "count_include_pad"}

    def __init__(
        self,
        pool_size: int | tuple[int, int] = 2,
        strides: int | tuple[int, int] | None = None,
        padding: PaddingSpec = "valid",
        ceil_mode: bool = False,
        count_include_pad: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(pool_size, strides, padding, ceil_mode, name)
        if not isinstance(count_include_pad, bool):
            raise GlassnetError(
                f"{self.label}: count_include_pad={count_include_pad!r} must be True or False"
            )
        self.count_include_pad = count_include_pad

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C, N, H, W) -> out (C, N, OH, OW)."""
        return A.avg_pool2d(
            x, pool_size=self.pool_size, strides=self.window_strides, padding=self.padding,
            ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
        )


class GlobalPool2D(Layer):
    """The shape rules of a pooling over every position of each channel: (H, W, C) -> (C,).

    Subclasses say what they take over the positions (:attr:`reduction`) and compute it.

    Raises:
        ShapeError: when called on a flat input.
    """

    reduction = "reduce"  # the word explain_shape uses: "mean", "max"
    config_keys = {"name": "name"}

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return ``(C,)``."""
        require_map(input_shape, self.label)
        return (input_shape[2],)

    def explain_shape(self, input_shape: Any) -> list[str]:
        """Say which axes are reduced."""
        h, w, c = input_shape
        return [f"{self.reduction} over H·W = {h}·{w} = {h * w} positions per channel "
                f"-> ({c},)"]


@register_defaults
class GlobalAvgPool2D(GlobalPool2D):
    """Average each channel over all positions: (H, W, C) -> (C,).

    Args:
        name: layer name.

    Raises:
        ShapeError: when called on a flat input.

    Shapes:
        input (H, W, C) -> output (C,).
    """

    type_name = "global_avgpool2d"
    base_name = "global_average_pooling2d"
    reduction = "mean"

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C, N, H, W) -> out (N, C)."""
        return A.global_avg_pool2d(x)

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """The same mean on arrays (through tensors it cost ~40 µs at batch 1).

        Shapes:
            the step: (C, N, H, W) -> (N, C).
        """

        def step(x: Any) -> Any:
            return avg_pool_ops.global_avg_pool2d_forward(x)[0].T

        return step
