"""Batch normalisation over the channel axis (the last public axis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import accel, arith
from glassnet import autodiff as A
from glassnet.arith.explain import ParamCount
from glassnet.backend import default_dtype, get_xp
from glassnet.errors import GlassnetError
from glassnet.layers.base import Layer, register_defaults
from glassnet.layers.shapes import Shape
from glassnet.tensor import Tensor


@register_defaults
class BatchNormalization(Layer):
    """Normalise each channel, then scale by γ and shift by β.

    Training uses the batch's statistics, inference the moving ones.

    ``momentum`` follows Keras: ``moving = momentum·moving + (1 − momentum)·batch``, so 0.99
    keeps 99 % of the old value. The op underneath uses PyTorch's convention (the weight of
    the NEW batch), so the layer passes ``m_torch = 1 − m_keras``: PyTorch's default 0.1 is
    ``momentum=0.9`` here. As in PyTorch, the moving variance takes the unbiased batch variance.

    Args:
        momentum: Keras-convention momentum of the moving statistics, in [0, 1).
        epsilon: added to the variance before the square root (Keras 1e-3, PyTorch 1e-5).
        name: layer name.

    Raises:
        GlassnetError: for a momentum outside [0, 1) or a non-positive epsilon.

    Shapes:
        input (H, W, C) or (C,) -> output: same; gamma, beta, moving_mean, moving_variance [C].
    """

    type_name = "batchnorm"
    base_name = "batch_normalization"
    config_keys = {"momentum": "momentum", "epsilon": "epsilon", "name": "name"}

    def __init__(
        self, momentum: float = 0.99, epsilon: float = 1e-3, name: str | None = None
    ) -> None:
        super().__init__(name)
        for arg, value, ok in (
            ("momentum", momentum, lambda v: 0 <= v < 1),
            ("epsilon", epsilon, lambda v: v > 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not ok(value):
                raise GlassnetError(f"{self.label}: {arg}={value!r} is out of range")
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return the input shape."""
        return tuple(input_shape)

    def count_params(self, input_shape: Any) -> ParamCount:
        """γ = C, β = C trainable; moving mean and variance 2·C non-trainable."""
        return arith.batchnorm_params(input_shape[-1])

    def build(self, input_shape: Any, rng: np.random.Generator) -> None:
        """Create γ = 1, β = 0 (trainable) and moving mean 0, variance 1 (buffers)."""
        if self.built:
            return
        c = input_shape[-1]
        self.add_weight("gamma", (c,), "ones", rng)
        self.add_weight("beta", (c,), "zeros", rng)
        xp = get_xp()
        self.buffers["moving_mean"] = xp.zeros((c,), dtype=default_dtype())
        self.buffers["moving_variance"] = xp.ones((c,), dtype=default_dtype())
        super().build(input_shape, rng)

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """Normalise with the moving statistics, on arrays (no tape, nothing recorded).

        Shapes:
            the step: (C, N, H, W) or (N, C) -> same.
        """
        axis = 0 if len(input_shape) == 3 else 1

        def step(x: Any) -> Any:
            out, _ = accel.batch_norm_forward(
                x, self.weights["gamma"].data, self.weights["beta"].data,
                self.buffers["moving_mean"], self.buffers["moving_variance"],
                axis=axis, training=False, eps=self.epsilon,
            )
            return out

        return step

    def folded(self, dtype: Any) -> tuple[Any, Any]:
        """The inference transform as ``x·scale + shift`` per channel, in ``dtype``.

        scale = γ / √(σ² + ε) and shift = β − μ·scale with the moving mean μ and variance σ²:
        what a convolution before it folds into its epilogue (``layers.fused.ConvBN``).

        Shapes:
            -> scale: (C,), shift: (C,)
        """
        dt = np.dtype(dtype)
        # copy=False: no copies in the model's own dtype (called once per batch-1 inference).
        mean = self.buffers["moving_mean"].astype(dt, copy=False)
        var = self.buffers["moving_variance"].astype(dt, copy=False)
        gamma = self.weights["gamma"].data.astype(dt, copy=False)
        scale = gamma / np.sqrt(var + dt.type(self.epsilon))
        return scale, self.weights["beta"].data.astype(dt, copy=False) - mean * scale

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C, N, H, W) or (N, C) -> out: same (moving stats updated in training)."""
        return A.batch_norm(
            x, self.weights["gamma"], self.weights["beta"],
            self.buffers["moving_mean"], self.buffers["moving_variance"],
            axis=0 if x.ndim == 4 else 1, training=training,
            momentum=1.0 - self.momentum,  # Keras -> PyTorch convention (see the class doc)
            eps=self.epsilon,
        )

    def forward_relu(self, x: Tensor, training: bool, cap: float) -> Tensor:
        """min(max(forward(x), 0), cap) as one node (``layers.fused.ConvBN``; cap inf: ReLU).

        Shapes: x (C, N, H, W) or (N, C) -> out: same.
        """
        return A.batch_norm_relu(
            x, self.weights["gamma"], self.weights["beta"],
            self.buffers["moving_mean"], self.buffers["moving_variance"], relu_cap=cap,
            axis=0 if x.ndim == 4 else 1, training=training,
            momentum=1.0 - self.momentum, eps=self.epsilon,
        )
