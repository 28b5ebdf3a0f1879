"""SeparableConv2D: a depthwise convolution followed by a pointwise (1×1) convolution.

Both steps reuse the convolution op pair (:func:`glassnet.ops.conv.conv2d_forward` through
``autodiff.conv2d``): the depthwise step is a grouped convolution with one group per input
channel, the pointwise one an ordinary 1×1 convolution. Only the counts are new
(:mod:`glassnet.arith.separable`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import autodiff as A
from glassnet.arith.explain import MacCount, ParamCount
from glassnet.arith.geometry import PaddingSpec
from glassnet.arith.separable import separable_conv2d_macs, separable_conv2d_params
from glassnet.errors import GlassnetError
from glassnet.layers.activations import apply_activation
from glassnet.layers.base import register_defaults
from glassnet.layers.conv import ConvBase
from glassnet.tensor import Tensor, no_grad


@register_defaults
class SeparableConv2D(ConvBase):
    """Depthwise K×K convolution (M filters per channel, no bias), then 1×1 to F channels.

    Args:
        filters: output channels F.
        kernel_size: K or (KH, KW) of the depthwise step.
        strides: S or (SH, SW) of the depthwise step.
        padding: as for Conv2D.
        depth_multiplier: depthwise filters per input channel M.
        dilation_rate: D or (DH, DW) of the depthwise step.
        activation: applied after the bias.
        use_bias: whether each output channel has a bias.
        depthwise_initializer: initializer of the depthwise kernel.
        pointwise_initializer: initializer of the pointwise kernel.
        bias_initializer: initializer of the bias.
        name: layer name.

    Raises:
        GlassnetError: for a malformed argument.
        ShapeError: when called on an input the kernel does not fit.

    Shapes:
        input (H, W, C) -> output (OH, OW, F); depthwise_kernel [KH, KW, 1, C·M],
        pointwise_kernel [1, 1, C·M, F], bias [F].
    """

    type_name = "separable_conv2d"
    base_name = "separable_conv2d"
    config_keys = {
        "filters": "filters", "kernel": "kernel_size", "stride": "strides",
        "padding": "padding", "depth_multiplier": "depth_multiplier",
        "dilation": "dilation_rate", "activation": "activation", "use_bias": "use_bias",
        "depthwise_initializer": "depthwise_initializer",
        "pointwise_initializer": "pointwise_initializer",
        "bias_initializer": "bias_initializer", "name": "name",
    }

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = 1,
        padding: PaddingSpec = "valid",
        depth_multiplier: int = 1,
        dilation_rate: int | tuple[int, int] = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        for arg, value in (("filters", filters), ("depth_multiplier", depth_multiplier)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GlassnetError(f"{self.label}: {arg}={value!r} must be a positive int")
        self.filters, self.depth_multiplier = filters, depth_multiplier
        self._init_geometry(kernel_size, strides, padding, dilation_rate, activation, use_bias)
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer

    def _groups(self, c_in: int) -> int:
        return c_in

    def _filters(self, c_in: int) -> int:
        return self.filters

    def count_params(self, input_shape: Any) -> ParamCount:
        """W = KH·KW·C_in·M + C_in·M·F, b = F."""
        kh, kw = self.kernel_size
        return separable_conv2d_params(
            kh, kw, input_shape[2], self.filters, self.depth_multiplier, self.use_bias
        )

    def count_macs(self, input_shape: Any) -> MacCount:
        """MACs = OH·OW·C_in·M·(KH·KW + F)."""
        (oh, ow), _ = self._geometry(input_shape)
        kh, kw = self.kernel_size
        return separable_conv2d_macs(
            oh, ow, kh, kw, input_shape[2], self.filters, self.depth_multiplier
        )

    def build(self, input_shape: Any, rng: np.random.Generator) -> None:
        """Create ``depthwise_kernel``, ``pointwise_kernel`` and (with use_bias) ``bias``."""
        if self.built:
            return
        mid = input_shape[2] * self.depth_multiplier
        self.add_weight("depthwise_kernel", (*self.kernel_size, 1, mid),
                        self.depthwise_initializer, rng)
        self.add_weight("pointwise_kernel", (1, 1, mid, self.filters),
                        self.pointwise_initializer, rng)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, rng)
        self.input_shape = self.input_shape if self.input_shape is not None else input_shape
        self.built = True

    def convolve(self, x: Tensor) -> Tensor:
        """Depthwise then pointwise convolution and the bias (before the activation).

        Shapes:
            x: (C_in, N, H, W) -> out: (F, N, OH, OW).
        """
        mid = A.conv2d(
            x, self.weights["depthwise_kernel"], None, strides=self.strides,
            padding=self.padding, dilation=self.dilation_rate, groups=x.shape[0],
        )
        return A.conv2d(mid, self.weights["pointwise_kernel"], self.weights.get("bias"))

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C_in, N, H, W) -> out (F, N, OH, OW)."""
        return apply_activation(self.activation, self.convolve(x))

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """The two convolutions on arrays, without a tape (no fused array step of its own).

        Shapes:
            the step: (C_in, N, H, W) -> (F, N, OH, OW).
        """

        def step(a: Any) -> Any:
            with no_grad():
                return self.forward(Tensor(a)).data

        return step
