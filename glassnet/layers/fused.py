"""Fused layers, made by the model's graph rewrite (``models/fusion.py``), never by users.

A fused layer runs two or more layer calls as one node of the execution graph, with its own op
pair: its numbers are those of the calls it replaces (values and gradients; tested in
``tests/test_fusion.py``). The rules live here, beside the layers they know; the rewrite only
asks :func:`fuse` about each call read by exactly one other call.

* Conv2D / DepthwiseConv2D with ``activation="relu"`` read only by a MaxPool2D: the convolution
  runs linear and the pooled map gets the ReLU (``ops.fused.max_pool2d_relu``: relu∘maxpool =
  maxpool∘relu, on a map KH·KW times smaller);
* that fused node read only by a Flatten absorbs it too (the small-batch kernels then write the
  flattened output directly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from glassnet import autodiff as A
from glassnet.layers.base import Layer
from glassnet.layers.conv import Conv2D, DepthwiseConv2D
from glassnet.layers.core import Flatten
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
    return None
