"""Core layers: Input, Dense, Flatten, Activation, ReLU, Softmax, Dropout."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import arith
from glassnet import autodiff as A
from glassnet.accel.infer import dense_values
from glassnet.arith.explain import MacCount, ParamCount
from glassnet.errors import GlassnetError
from glassnet.layers.activations import (
    activate_values,
    apply_activation,
    check_activation,
    clipped_relu,
)
from glassnet.layers.base import Layer, Node, register_defaults
from glassnet.layers.batchrows import current_rows
from glassnet.layers.shapes import Shape, check_shape, map_axis, require_flat
from glassnet.ops.basic import flatten_maps
from glassnet.tensor import Tensor


class Input(Layer):
    """The model's input: declares the shape of one sample (no batch axis).

    Use it as the first element of a ``Sequential`` list, or as the start of a functional
    graph: ``x = Input((32, 32, 3)); y = Conv2D(8, 3)(x)``.

    Args:
        shape: ``(H, W, C)`` for images, ``(F,)`` for vectors.
        name: layer name.

    Raises:
        ShapeError: if ``shape`` is not 1 or 3 positive ints.
    """

    type_name = "input"
    base_name = "input_layer"
    config_keys = {"name": "name"}
    n_inputs = 0

    def __init__(self, shape: Any, name: str | None = None) -> None:
        super().__init__(name)
        self.shape = check_shape(shape, where="Input")
        self.input_shape = self.shape
        self.node = Node(self, (), self.shape)

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Identity (the model converts NHWC to the compute layout before)."""
        return x

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """Identity on arrays."""
        return _identity


@register_defaults
class Dense(Layer):
    """Fully connected layer ``out = x @ W + b``, then the activation.

    Args:
        units: output units.
        activation: applied after the bias.
        use_bias: whether each unit has a bias.
        kernel_initializer: name or callable from :mod:`glassnet.init`.
        bias_initializer: name or callable from :mod:`glassnet.init`.
        name: layer name.

    Raises:
        GlassnetError: for a malformed argument.
        ShapeError: when called on (H, W, C) maps (flatten or pool them first).

    Shapes:
        input (F_in,) -> output (units,); kernel [F_in, units], bias [units].
    """

    type_name = "dense"
    base_name = "dense"
    config_keys = {
        "units": "units", "activation": "activation", "use_bias": "use_bias",
        "kernel_initializer": "kernel_initializer", "bias_initializer": "bias_initializer",
        "name": "name",
    }

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise GlassnetError(f"{self.label}: units={units!r} must be a positive int")
        if not isinstance(use_bias, bool):
            raise GlassnetError(f"{self.label}: use_bias={use_bias!r} must be True or False")
        self.units, self.use_bias = units, use_bias
        self.activation = check_activation(activation, self.label)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return ``(units,)``."""
        require_flat(input_shape, self.label)
        return (self.units,)

    def count_params(self, input_shape: Any) -> ParamCount:
        """W = F_in·units, b = units."""
        return arith.dense_params(input_shape[0], self.units, self.use_bias)

    def count_macs(self, input_shape: Any) -> MacCount:
        """MACs = F_in·units."""
        return arith.dense_macs(input_shape[0], self.units)

    def build(self, input_shape: Any, rng: np.random.Generator) -> None:
        """Create ``kernel`` ``[F_in, units]`` and ``bias`` ``[units]``."""
        if self.built:
            return
        self.add_weight("kernel", (input_shape[0], self.units), self.kernel_initializer, rng)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, rng)
        super().build(input_shape, rng)

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (N, F_in) -> out (N, units)."""
        out = A.dense(x, self.weights["kernel"], self.weights.get("bias"))
        return apply_activation(self.activation, out)

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """``x·W + b`` and the activation on arrays (a softmax in the same call when small).

        Shapes:
            the step: (N, F_in) -> (N, units).
        """
        kernel, bias = self.weights["kernel"], self.weights.get("bias")
        softmax = self.activation == "softmax"
        act = None if softmax else self.activation

        def step(x: Any) -> Any:
            b = None if bias is None else bias.data
            return activate_values(act, dense_values(x, kernel.data, b, softmax))

        return step


@register_defaults
class Flatten(Layer):
    """Flatten each sample to a vector in Keras' order (row-major over H, W, C).

    Args:
        name: layer name.

    Shapes:
        input (H, W, C) -> output (H·W·C,); a flat input passes unchanged.
    """

    type_name = "flatten"
    base_name = "flatten"
    config_keys = {"name": "name"}

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return ``(H·W·C,)``."""
        return (math.prod(input_shape),)

    def explain_shape(self, input_shape: Any) -> list[str]:
        """Show the product."""
        dims = "·".join(str(s) for s in input_shape)
        return [f"F = H·W·C = {dims} = {math.prod(input_shape):,}"] if len(input_shape) > 1 else []

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Shapes: x (C, N, H, W) -> out (N, H·W·C).

        NOTE: the map goes back to NHWC before the reshape so a Dense weight trained in Keras
        order (H, W, C) reads the right values; flattening CNHW directly would mix samples.
        """
        if x.ndim == 2:
            return x
        public = A.to_public(x)
        return A.reshape(public, (public.shape[0], -1))

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """The same flattening on arrays. Shapes: the step: (C, N, H, W) -> (N, H·W·C)."""
        return flatten_maps


@register_defaults
class Activation(Layer):
    """Apply an activation function by name.

    Args:
        activation: one of ``layers.activations.ACTIVATIONS``.
        name: layer name.

    Raises:
        GlassnetError: for an unknown activation.

    Shapes:
        output = input.
    """

    type_name = "activation"
    base_name = "activation"
    config_keys = {"activation": "activation", "name": "name"}

    def __init__(self, activation: str, name: str | None = None) -> None:
        super().__init__(name)
        self.activation = check_activation(activation, self.label)

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Elementwise (softmax: over channels of maps, features of vectors)."""
        return apply_activation(self.activation, x)


@register_defaults
class ReLU(Layer):
    """max(x, 0), optionally capped: ``ReLU(max_value=6)`` is MobileNet's ReLU6.

    Args:
        max_value: the cap, or ``None`` for none.
        name: layer name.

    Raises:
        GlassnetError: if ``max_value`` is not a positive number.

    Shapes:
        output = input.
    """

    type_name = "relu"
    base_name = "re_lu"
    config_keys = {"max_value": "max_value", "name": "name"}

    def __init__(self, max_value: float | None = None, name: str | None = None) -> None:
        super().__init__(name)
        ok = max_value is None or (
            isinstance(max_value, int | float) and not isinstance(max_value, bool) and max_value > 0
        )
        if not ok:
            raise GlassnetError(f"{self.label}: max_value={max_value!r} must be a positive number")
        self.max_value = max_value

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Elementwise, layout-free."""
        if self.max_value is None:
            return A.relu(x)
        return clipped_relu(x, float(self.max_value))


@register_defaults
class Softmax(Layer):
    """Softmax along ``axis`` (default the last: classes, or channels of maps).

    Args:
        axis: the public axis (NHWC or (N, F) numbering).
        name: layer name.

    Shapes:
        output = input.
    """

    type_name = "softmax"
    base_name = "softmax"
    config_keys = {"axis": "axis", "name": "name"}

    def __init__(self, axis: int = -1, name: str | None = None) -> None:
        super().__init__(name)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise GlassnetError(f"{self.label}: axis={axis!r} must be an int")
        self.axis = axis

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Return the input shape, checking the axis."""
        map_axis(self.axis, len(input_shape) + 1, where=self.label)
        return tuple(input_shape)

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """NOTE: stable (the max is subtracted first); the axis is mapped to the compute layout."""
        return A.softmax(x, axis=map_axis(self.axis, x.ndim, where=self.label))


@register_defaults
class Dropout(Layer):
    """Inverted dropout: zero a ``rate`` share of values in training, identity at inference.

    The kept values are scaled by 1/(1 − rate) so the expected output equals the input. In
    data-parallel training the mask is drawn for the whole global batch and each rank keeps
    its rows (:mod:`glassnet.layers.batchrows`): same seed, same masks on any number of ranks.

    Args:
        rate: the share dropped, 0 <= rate < 1.
        seed: seed of the layer's own mask generator; ``None`` draws one from the model's seed.
        name: layer name.

    Raises:
        GlassnetError: if ``rate`` is outside [0, 1).

    Shapes:
        output = input.
    """

    type_name = "dropout"
    base_name = "dropout"
    config_keys = {"rate": "rate", "seed": "seed", "name": "name"}

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None) -> None:
        super().__init__(name)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise GlassnetError(f"{self.label}: rate={rate!r} must be a number in [0, 1)")
        self.rate, self.seed = float(rate), seed
        self.rng: np.random.Generator | None = None
        # (input shape, batch axis, draw dtype) of the last training forward, for skip_batch
        self._draw: tuple[tuple[int, ...], int, Any] | None = None

    def build(self, input_shape: Any, rng: np.random.Generator) -> None:
        """Create the mask generator (from ``seed``, else one draw from the model's ``rng``)."""
        if self.rng is None:
            seed = self.seed if self.seed is not None else int(rng.integers(2**63))
            self.rng = np.random.default_rng(seed)
        super().build(input_shape, rng)

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Layout-free."""
        if self.rng is None:
            self.rng = np.random.default_rng(self.seed)
        axis = 1 if x.ndim == 4 else 0  # the batch axis of the compute layout (CNHW maps)
        if training:  # what skip_batch draws: the same numbers dropout_forward draws
            dtype = np.float32 if x.dtype == np.float32 else np.float64
            self._draw = (tuple(x.shape), axis, dtype)
        return A.dropout(x, rate=self.rate, rng=self.rng, training=training,
                         rows=current_rows(), batch_axis=axis)

    def skip_batch(self, n: int) -> None:
        """Draw (and drop) the mask of a global batch of ``n`` whose rows this rank lacks.

        Only after a training forward pass has shown the per-sample shape; a rank whose very
        first shard is empty cannot know it (the batch must then be larger than the world).
        """
        if self.rate > 0 and self._draw is not None and self.rng is not None:
            shape, axis, dtype = self._draw
            self.rng.random((*shape[:axis], n, *shape[axis + 1:]), dtype=dtype)

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """Identity: dropout is off in inference."""
        return _identity


def _identity(a: Any) -> Any:
    return a
