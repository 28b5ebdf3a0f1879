"""Fused layers, made by the model's graph rewrite (``models/fusion.py``), never by users.

A fused layer runs two or more layer calls as one node of the execution graph, with its own op
pair: its numbers are those of the calls it replaces (values and gradients; tested in
``tests/test_fusion.py``). The rules live here, beside the layers they know; the rewrite only
asks :func:`fuse` about each call read by exactly one other call.

* Conv2D / DepthwiseConv2D with ``activation="relu"`` read only by a MaxPool2D: the convolution
  runs linear and the pooled map gets the ReLU (``ops.fused.max_pool2d_relu``: relu∘maxpool =
  maxpool∘relu, on a map KH·KW times smaller);
* that fused node read only by a Flatten absorbs it too (the small-batch kernels then write the
  flattened output directly);
* a linear Conv2D / DepthwiseConv2D read only by a BatchNormalization, then optionally that
  pair's only reader, a ReLU (or ReLU6: ``ReLU(max_value=6)``, ``Activation("relu"/"relu6")``):
  :class:`ConvBN`. Training runs the convolution's op, then the BatchNorm and ReLU as one op
  (``ops.fused.batch_norm_relu``: the two pairs' numbers; one pass each way when fast);
  inference folds the BatchNorm's running statistics into a per-filter scale and shift and the
  ReLU into a clip, applied as each output block leaves the GEMM
  (:class:`glassnet.accel.epilogue.Epilogue`) — no pass over the maps for either. ``z·s + t``
  instead of ``(z − μ)·σ⁻¹·γ + β``: equal to rounding, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import autodiff as A
from glassnet.accel.epilogue import Epilogue
from glassnet.accel.infer import folds
from glassnet.layers.base import Layer
from glassnet.layers.conv import Conv2D, DepthwiseConv2D
from glassnet.layers.core import Activation, Flatten, ReLU
from glassnet.layers.norm import BatchNormalization
from glassnet.layers.pool import MaxPool2D
from glassnet.layers.shapes import Shape
from glassnet.ops.basic import flatten_maps
from glassnet.tensor import Tensor


class ConvReLUPool(Layer):
    """relu(maxpool(conv(x))) (+ Flatten) as one node, from the user's own layers.

    Args:
        conv: the convolution (its activation is "relu"; it runs linear here).
        pool: the MaxPool2D that was its only reader.
        flatten: the Flatten that was the pool's only reader, or None.

    Shapes:
        x: (C, N, H, W) -> (F, N, OH', OW') or (N, OH'·OW'·F) with ``flatten``.
    """

    base_name = "conv_relu_pool"

    def __init__(
        self, conv: Conv2D | DepthwiseConv2D, pool: MaxPool2D, flatten: Flatten | None = None
    ) -> None:
        super().__init__(None)
        self.conv, self.pool, self.flatten = conv, pool, flatten
        self.name = "+".join(
            layer.label for layer in (conv, pool, flatten) if layer is not None
        )

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """The last absorbed layer's output shape."""
        shape = self.pool.output_shape(self.conv.output_shape(input_shape))
        return shape if self.flatten is None else self.flatten.output_shape(shape)

    def parameters(self) -> list[Any]:
        """The convolution's parameters (the same objects)."""
        return self.conv.parameters()

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """Convolve, max-pool with the ReLU, then flatten if absorbed."""
        out = A.max_pool2d_relu(self.conv.convolve(x), **self.pool.window)
        return out if self.flatten is None else self.flatten.forward(out, training)

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """The fused steps on arrays (one small-batch kernel call where it pays)."""
        conv_shape = self.conv.output_shape(input_shape)
        pool = self.pool.pool_step(conv_shape, relu=True)
        flat = None if self.flatten is None else self.flatten.inference_step(
            self.pool.output_shape(conv_shape)
        )
        if self.flatten is not None and flat is None:  # a Flatten with no array step
            flat = _on_tensors(self.flatten)
        # The kernels write Keras' (H, W, C) flattening themselves; any other runs after.
        folded = flat is flatten_maps
        conv = self.conv.conv_step(input_shape, pool, flatten=folded)
        kernel, bias = self.conv.weights["kernel"], self.conv.weights.get("bias")

        def step(x: Any) -> Any:
            out = conv(x, kernel.data, None if bias is None else bias.data)
            return out if flat is None or folded else flat(out)

        return step


class ConvBN(Layer):
    """act(batchnorm(conv(x))) as one node: a linear convolution, its BatchNorm, a ReLU.

    Args:
        conv: the convolution (linear: no activation of its own).
        bn: the BatchNormalization that was its only reader.
        act: the ReLU / Activation that was the pair's only reader, or None.

    Shapes:
        x: (C, N, H, W) -> (F, N, OH, OW).
    """

    base_name = "conv_bn"

    def __init__(
        self, conv: Conv2D | DepthwiseConv2D, bn: BatchNormalization, act: Layer | None = None
    ) -> None:
        super().__init__(None)
        self.conv, self.bn, self.act = conv, bn, act
        self.name = "+".join(layer.label for layer in (conv, bn, act) if layer is not None)
        self.cap = None if act is None else _relu_cap(act)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """The convolution's output shape (the BatchNorm and ReLU keep it)."""
        return self.conv.output_shape(input_shape)

    def parameters(self) -> list[Any]:
        """The convolution's and the BatchNorm's parameters (the same objects)."""
        return self.conv.parameters() + self.bn.parameters()

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        """The convolution's forward, then the BatchNorm and ReLU as one node.

        ``BatchNormalization.forward_relu``: the numbers of the two layers' own ops one after
        the other (ops.fused.batch_norm_relu); the fast path does both in one pass each way.
        """
        z = self.conv.forward(x, training)
        if self.cap is not None:
            return self.bn.forward_relu(z, training, self.cap)
        out = self.bn.forward(z, training)
        return out if self.act is None else self.act.forward(out, training)

    def inference_step(self, input_shape: Any) -> Callable[[Any], Any]:
        """The convolution with the BatchNorm and ReLU folded into its epilogue."""
        conv = self.conv.conv_step(input_shape)
        kernel, bias = self.conv.weights["kernel"], self.conv.weights.get("bias")
        bn_step = self.bn.inference_step(self.conv.output_shape(input_shape))
        act = None if self.act is None else _on_tensors(self.act)

        def step(x: Any) -> Any:
            b = None if bias is None else bias.data
            if not folds(x):  # reference mode: the pairs one by one
                out = bn_step(conv(x, kernel.data, b))
                return out if act is None else act(out)
            scale, shift = self.bn.folded(x.dtype)
            if b is not None:
                shift = shift + b.astype(x.dtype) * scale
            epilogue = Epilogue(scale, shift, self.cap is not None,
                                np.inf if self.cap is None else self.cap)
            return conv(x, kernel.data, None, epilogue)

        return step


def _relu_cap(layer: Layer) -> float | None:
    """The clip of a ReLU-like layer (inf: plain ReLU), or None for any other layer."""
    if isinstance(layer, ReLU):
        return np.inf if layer.max_value is None else float(layer.max_value)
    if isinstance(layer, Activation) and layer.activation in ("relu", "relu6"):
        return np.inf if layer.activation == "relu" else 6.0
    return None


def _on_tensors(layer: Layer) -> Callable[[Any], Any]:
    return lambda a: layer.forward(Tensor(a)).data


def fuse(producer: Layer, consumer: Layer) -> Layer | None:
    """A layer computing ``consumer(producer(x))`` in one node, or None where no rule applies.

    Only asked for a call whose one reader is ``consumer`` (and which is not the output).
    """
    if (isinstance(producer, Conv2D | DepthwiseConv2D) and producer.activation == "relu"
            and isinstance(consumer, MaxPool2D)):
        return ConvReLUPool(producer, consumer)
    if (isinstance(producer, ConvReLUPool) and producer.flatten is None
            and isinstance(consumer, Flatten)):
        return ConvReLUPool(producer.conv, producer.pool, consumer)
    if (isinstance(producer, Conv2D | DepthwiseConv2D) and producer.activation in (None, "linear")
            and isinstance(consumer, BatchNormalization)):
        return ConvBN(producer, consumer)
    if isinstance(producer, ConvBN) and producer.act is None and _relu_cap(consumer) is not None:
        return ConvBN(producer.conv, producer.bn, consumer)
    return None
