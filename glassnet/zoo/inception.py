"""GoogLeNet / Inception v1 (Szegedy et al. 2015) as torchvision builds it.

torchvision's variant: every conv is conv (no bias) + BatchNorm (eps 0.001) + ReLU; max pools
use ``ceil_mode=True``; no auxiliary classifiers (they are dropped at inference); and — kept
for compatibility with its pretrained weights — the "5×5" branch uses a 3×3 kernel. With those
choices the count is torchvision's 6,624,904 trainable parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

from glassnet import layers as L
from glassnet.layers.base import Node
from glassnet.models import Model
from glassnet.zoo.blocks import conv_bn

Shape = Sequence[int]

# name: (1×1, 3×3 reduce, 3×3, "5×5" reduce, "5×5", pool projection)
INCEPTION = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


def inception_module(x: Node, widths: Sequence[int], name: str) -> Node:
    """Four parallel branches joined along channels.

    Shapes:
        x (H, W, C) -> (H, W, b1 + b3 + b5 + pool_proj).
    """
    b1, r3, b3, r5, b5, proj = widths

    def cb(y: Node, f: int, k: int, n: str) -> Node:
        return conv_bn(y, f, k, f"{name}.{n}", eps=1e-3)

    y1 = cb(x, b1, 1, "branch1")
    y2 = cb(cb(x, r3, 1, "branch2.0"), b3, 3, "branch2.1")
    y3 = cb(cb(x, r5, 1, "branch3.0"), b5, 3, "branch3.1")  # torchvision's 3×3 "5×5" branch
    pooled = L.MaxPool2D(3, strides=1, padding=1, ceil_mode=True, name=f"{name}.branch4.pool")(x)
    y4 = cb(pooled, proj, 1, "branch4.1")
    return L.Concatenate(name=f"{name}.concat")([y1, y2, y3, y4])


def googlenet(
    input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0
) -> Model:
    """GoogLeNet (torchvision, no aux heads): 6,624,904 trainable parameters at 224×224×3."""
    inp = L.Input(input_shape)
    x = conv_bn(inp.node, 64, 7, "conv1", strides=2, eps=1e-3)
    x = L.MaxPool2D(3, strides=2, ceil_mode=True, name="maxpool1")(x)
    x = conv_bn(x, 64, 1, "conv2", eps=1e-3)
    x = conv_bn(x, 192, 3, "conv3", eps=1e-3)
    x = L.MaxPool2D(3, strides=2, ceil_mode=True, name="maxpool2")(x)
    for name, widths in INCEPTION.items():
        x = inception_module(x, widths, name)
        if name == "inception3b":
            x = L.MaxPool2D(3, strides=2, ceil_mode=True, name="maxpool3")(x)
        elif name == "inception4e":
            x = L.MaxPool2D(2, strides=2, ceil_mode=True, name="maxpool4")(x)
    x = L.GlobalAvgPool2D(name="avgpool")(x)
    x = L.Dropout(0.2, name="dropout")(x)
    out = L.Dense(num_classes, name="fc")(x)
    return Model(inp, out, name="googlenet", seed=seed)
