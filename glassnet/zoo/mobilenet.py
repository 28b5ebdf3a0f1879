"""MobileNetV2 (Sandler et al. 2018) as torchvision builds it (width multiplier 1.0).

Inverted residual blocks: 1×1 expand (×t) + ReLU6, 3×3 depthwise (stride s) + ReLU6, 1×1
linear projection; a residual Add when the stride is 1 and the channels match. Convs have no
bias and are followed by BatchNorm. 3,504,872 trainable parameters at 224×224×3 (torchvision;
Keras' MobileNetV2 has the same trainable count).
"""

from __future__ import annotations

from collections.abc import Sequence

from glassnet import layers as L
from glassnet.layers.base import Node
from glassnet.models import Model
from glassnet.zoo.blocks import conv_bn

Shape = Sequence[int]

# (expansion t, output channels c, repeats n, first stride s) — the paper's Table 2.
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))


def inverted_residual(x: Node, expansion: int, filters: int, strides: int, name: str) -> Node:
    """One inverted residual block.

    Shapes:
        x (H, W, C) -> (H/strides, W/strides, filters).
    """
    c_in = x.shape[-1]
    y = x
    if expansion != 1:
        y = conv_bn(y, c_in * expansion, 1, f"{name}.expand", act="relu6")
    y = conv_bn(y, 0, 3, f"{name}.depthwise", strides=strides, act="relu6", depthwise=True)
    y = conv_bn(y, filters, 1, f"{name}.project", act=None)
    if strides == 1 and c_in == filters:
        y = L.Add(name=f"{name}.add")([x, y])
    return y


def mobilenet_v2(
    input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0
) -> Model:
    """MobileNetV2 1.0 (torchvision): 3,504,872 trainable parameters, 0.30 GMACs at 224×224."""
    inp = L.Input(input_shape)
    x = conv_bn(inp.node, 32, 3, "features.0", strides=2, act="relu6")
    index = 1
    for t, c, n, s in SETTINGS:
        for i in range(n):
            x = inverted_residual(x, t, c, s if i == 0 else 1, f"features.{index}")
            index += 1
    x = conv_bn(x, 1280, 1, f"features.{index}", act="relu6")
    x = L.GlobalAvgPool2D(name="avgpool")(x)
    x = L.Dropout(0.2, name="dropout")(x)
    out = L.Dense(num_classes, name="classifier")(x)
    return Model(inp, out, name="mobilenet_v2", seed=seed)
