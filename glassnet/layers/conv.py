"""Convolution layers: Conv2D (optionally grouped) and DepthwiseConv2D."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import arith
from glassnet import autodiff as A
from glassnet.accel.infer import ConvStep
from glassnet.arith.explain import MacCount, ParamCount
from glassnet.arith.geometry import PaddingSpec, pair
from glassnet.errors import GlassnetError, ShapeError
from glassnet.layers.activations import activate_values, apply_activation, check_activation
from glassnet.layers.base import Layer, register_defaults
from glassnet.layers.shapes import (
    Shape,
    axis_lines,
    axis_padding,
    check_padding,
    require_map,
    window_shape,
)
from glassnet.ops.conv import conv_geometry
from glassnet.tensor import Tensor


class ConvBase(Layer):
    """What Conv2D and DepthwiseConv2D share: geometry, explanation, forward."""

    kernel_size: tuple[int, int]
    strides: tuple[int, int]
    dilation_rate: tuple[int, int]
    padding: PaddingSpec
    activation: str | None
    use_bias: bool

    def _init_geometry(
        self, kernel_size: Any, strides: Any, padding: Any, dilation_rate: Any,
        activation: str | None, use_bias: bool,
    ) -> None:
        where = self.label
        self.kernel_size = pair(kernel_size, op=where, arg="kernel_size")
        self.strides = pair(strides, op=where, arg="strides")
        self.dilation_rate = pair(dilation_rate, op=where, arg="dilation_rate")
        self.padding = check_padding(padding, where)
        self.activation = check_activation(activation, where)
        if not isinstance(use_bias, bool):
            raise GlassnetError(f"{where}: use_bias={use_bias!r} must be True or False")
        self.use_bias = use_bias

    def _groups(self, c_in: int) -> int:
        raise NotImplementedError

    def _filters(self, c_in: int) -> int:
        raise NotImplementedError

    def _geometry(self, input_shape: Shape) -> tuple[tuple[int, int], Any]:
        return window_shape(
            self, input_shape, self.kernel_size, self.strides, self.padding, self.dilation_rate
        )

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return ``(OH, OW, F)``; O = floor((I + P_b + P_a − D·(K−1) − 1)/S) + 1 per axis."""
        (oh, ow), _ = self._geometry(input_shape)
        return (oh, ow, self._filters(input_shape[2]))

    def explain_shape(self, input_shape: Any) -> list[str]:
        """Return the output-size formula of each axis with the numbers substituted."""
        _, pads = self._geometry(input_shape)
        return axis_lines([
            arith.conv2d_output(
                input_shape[d], self.kernel_size[d], self.strides[d],
                axis_padding(self.padding, pads, d), self.dilation_rate[d],
            )
            for d in range(2)
        ])

    def count_macs(self, input_shape: Any) -> MacCount:
        """MACs = OH·OW·KH·KW·(C_in/groups)·F."""
        (oh, ow), _ = self._geometry(input_shape)
        c_in = input_shape[2]
        kh, kw = self.kernel_size
        return arith.conv2d_macs(oh, ow, kh, kw, c_in, self._filters(c_in), self._groups(c_in))

    def build(self, input_shape: Any, rng: np.random.Generator) -> None:
        """Create ``kernel`` ``[KH, KW, C_in/groups, F]`` and ``bias`` ``[F]``."""
        if self.built:
            return
        c_in = input_shape[2]
        groups, filters = self._groups(c_in), self._filters(c_in)
        self.add_weight("kernel", (*self.kernel_size, c_in // groups, filters),
                        self._kernel_init, rng)
        if self.use_bias:
            self.add_weight("bias", (filters,), self.bias_initializer, rng)
        super().build(input_shape, rng)

    @property
    def _kernel_init(self) -> Any:
        raise NotImplementedError

    bias_initializer: Any

    def convolve(self, x: Tensor) -> Tensor:
        """Cross-correlate and add the bias: the layer before its activation.

        Shapes:
            x: (C_in, N, H, W) -> out: (F, N, OH, OW).
        """
        return A.conv2d(
            x, self.weights["kernel"], self.weights.get("bias"), strides=self.strides,
            padding=self.padding, dilation=self.dilation_rate, groups=self._groups(x.shape[0]),
        )

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Cross-correlate, add the bias, then apply the activation (a separate step).

        Shapes:
            x: (C_in, N, H, W) -> out: (F, N, OH, OW).
        """
        return apply_activation(self.activation, self.convolve(x))

    def conv_step(self, input_shape: Any, pool: Any = None, flatten: bool = False) -> ConvStep:
        """The array convolution of a call on ``input_shape`` (see :mod:`glassnet.accel.infer`)."""
        geometry = conv_geometry(
            tuple(input_shape[:2]), self.kernel_size, self.strides, self.padding,
            self.dilation_rate,
        )
        return ConvStep(geometry, self._groups(input_shape[2]), pool, flatten)

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """Convolution + bias + activation on arrays.

        Shapes:
            the step: (C_in, N, H, W) -> (F, N, OH, OW).
        """
        conv, act = self.conv_step(input_shape), self.activation
        kernel, bias = self.weights["kernel"], self.weights.get("bias")

        def step(x: Any) -> Any:
            return activate_values(act, conv(x, kernel.data, None if bias is None else bias.data))

        return step


@register_defaults
class Conv2D(ConvBase):
    """2-D convolution (cross-correlation) over (H, W, C) maps, Keras arguments.

    Args:
        filters: output channels F.
        kernel_size: K or (KH, KW).
        strides: S or (SH, SW).
        padding: ``"valid"``, ``"same"`` (TensorFlow rule), an int, a pair or a 4-tuple.
        dilation_rate: D or (DH, DW).
        groups: channel groups; each filter sees C_in/groups channels.
        activation: applied after the bias (see ``layers.activations.ACTIVATIONS``).
        use_bias: whether each filter has a bias.
        kernel_initializer: name or callable from :mod:`glassnet.init`.
        bias_initializer: name or callable from :mod:`glassnet.init`.
        name: layer name.

    Raises:
        GlassnetError: for a malformed argument (naming it and the value).
        ShapeError: when called on an input the kernel does not fit, or whose channels
            ``groups`` does not divide.

    Shapes:
        input (H, W, C_in) -> output (OH, OW, F); kernel [KH, KW, C_in/groups, F], bias [F].
    """

    type_name = "conv2d"
    base_name = "conv2d"
    config_keys = {
        "filters": "filters", "kernel": "kernel_size", "stride": "strides",
        "padding": "padding", "dilation": "dilation_rate", "groups": "groups",
        "activation": "activation", "use_bias": "use_bias",
        "kernel_initializer": "kernel_initializer", "bias_initializer": "bias_initializer",
        "name": "name",
    }

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = 1,
        padding: PaddingSpec = "valid",
        dilation_rate: int | tuple[int, int] = 1,
        groups: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        for arg, value in (("filters", filters), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GlassnetError(f"{self.label}: {arg}={value!r} must be a positive int")
        if filters % groups:
            raise GlassnetError(
                f"{self.label}: groups={groups} does not divide filters={filters}"
            )
        self.filters, self.groups = filters, groups
        self._init_geometry(kernel_size, strides, padding, dilation_rate, activation, use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    @property
    def _kernel_init(self) -> Any:
        return self.kernel_initializer

    def _groups(self, c_in: int) -> int:
        return self.groups

    def _filters(self, c_in: int) -> int:
        return self.filters

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return ``(OH, OW, F)``.

        Raises:
            ShapeError: if the kernel does not fit or groups does not divide C_in.
        """
        require_map(input_shape, self.label)
        if input_shape[2] % self.groups:
            raise ShapeError(
                f"{self.label}: groups={self.groups} does not divide the input channels "
                f"C_in={input_shape[2]}"
            )
        return super().compute_output_shape(input_shape)

    def count_params(self, input_shape: Any) -> ParamCount:
        """W = KH·KW·(C_in/groups)·F, b = F."""
        kh, kw = self.kernel_size
        return arith.conv2d_params(
            kh, kw, input_shape[2], self.filters, self.groups, self.use_bias
        )


@register_defaults
class DepthwiseConv2D(ConvBase):
    """Depthwise convolution: each input channel gets ``depth_multiplier`` filters of its own.

    Equal to ``Conv2D(C_in·M, kernel_size, groups=C_in)``. The kernel is stored as
    ``[KH, KW, 1, C_in·M]`` (the grouped-conv layout, as PyTorch stores it) rather than Keras'
    ``[KH, KW, C_in, M]``; output channel ``c·M + m`` belongs to input channel ``c`` in both.

    Args:
        kernel_size: K or (KH, KW).
        strides: S or (SH, SW).
        padding: as for Conv2D.
        depth_multiplier: filters per input channel M.
        dilation_rate: D or (DH, DW).
        activation: applied after the bias.
        use_bias: whether each output channel has a bias.
        depthwise_initializer: kernel initializer name or callable.
        bias_initializer: bias initializer name or callable.
        name: layer name.

    Raises:
        GlassnetError: for a malformed argument.
        ShapeError: when called on an input the kernel does not fit.

    Shapes:
        input (H, W, C) -> output (OH, OW, C·M); kernel [KH, KW, 1, C·M], bias [C·M].
    """

    type_name = "depthwise_conv2d"
    base_name = "depthwise_conv2d"
    config_keys = {
        "kernel": "kernel_size", "stride": "strides", "padding": "padding",
        "depth_multiplier": "depth_multiplier", "dilation": "dilation_rate",
        "activation": "activation", "use_bias": "use_bias",
        "depthwise_initializer": "depthwise_initializer",
        "bias_initializer": "bias_initializer", "name": "name",
    }

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = 1,
        padding: PaddingSpec = "valid",
        depth_multiplier: int = 1,
        dilation_rate: int | tuple[int, int] = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        m = depth_multiplier
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise GlassnetError(f"{self.label}: depth_multiplier={m!r} must be a positive int")
        self.depth_multiplier = m
        self._init_geometry(kernel_size, strides, padding, dilation_rate, activation, use_bias)
        self.depthwise_initializer, self.bias_initializer = depthwise_initializer, bias_initializer

    @property
    def _kernel_init(self) -> Any:
        return self.depthwise_initializer

    def _groups(self, c_in: int) -> int:
        return c_in

    def _filters(self, c_in: int) -> int:
        return c_in * self.depth_multiplier

    def count_params(self, input_shape: Any) -> ParamCount:
        """W = KH·KW·C_in·M, b = C_in·M."""
        kh, kw = self.kernel_size
        return arith.depthwise_conv2d_params(
            kh, kw, input_shape[2], self.depth_multiplier, self.use_bias
        )
