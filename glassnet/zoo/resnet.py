"""ResNet-18/34/50 (He et al. 2016) with torchvision's structure and layer names.

Counts are torchvision's ``sum(p.numel() for p in model.parameters())``, which are glassnet's
*trainable* parameters: torchvision keeps BatchNorm's running statistics as buffers, while the
summary's ``total_params`` also counts them (Keras' convention, 2·C per BatchNorm).
ResNet-50 is v1.5 (stride on the 3×3 conv of the bottleneck), as torchvision.
"""

from __future__ import annotations

from collections.abc import Sequence

from glassnet import layers as L
from glassnet.layers.base import Node
from glassnet.models import Model
from glassnet.zoo.blocks import conv_bn

Shape = Sequence[int]


def _downsample(x: Node, filters: int, strides: int, name: str) -> Node:
    """The 1×1 projection shortcut (conv + BN) used when the shape changes."""
    names = (f"{name}.downsample.0", f"{name}.downsample.1", "")
    return conv_bn(x, filters, 1, name, strides=strides, act=None, names=names)


def _names(block: str, i: int) -> tuple[str, str, str]:
    """Torchvision's names of a block's i-th conv, BN and ReLU."""
    return (f"{block}.conv{i}", f"{block}.bn{i}", f"{block}.relu{i}")


def basic_block(x: Node, planes: int, strides: int, name: str) -> Node:
    """Two 3×3 conv-BN layers plus the shortcut, then ReLU (ResNet-18/34).

    Shapes:
        x (H, W, C) -> (H/strides, W/strides, planes).
    """
    y = conv_bn(x, planes, 3, name, strides=strides, names=_names(name, 1))
    y = conv_bn(y, planes, 3, name, act=None, names=_names(name, 2))
    short = x if strides == 1 and x.shape[-1] == planes else _downsample(x, planes, strides, name)
    return L.ReLU(name=f"{name}.relu")(L.Add(name=f"{name}.add")([y, short]))


def bottleneck_block(x: Node, planes: int, strides: int, name: str) -> Node:
    """1×1 reduce, 3×3 (strided), 1×1 expand to 4·planes, plus the shortcut, then ReLU.

    Shapes:
        x (H, W, C) -> (H/strides, W/strides, 4·planes).
    """
    out = 4 * planes
    y = conv_bn(x, planes, 1, name, names=_names(name, 1))
    y = conv_bn(y, planes, 3, name, strides=strides, names=_names(name, 2))
    y = conv_bn(y, out, 1, name, act=None, names=_names(name, 3))
    short = x if strides == 1 and x.shape[-1] == out else _downsample(x, out, strides, name)
    return L.ReLU(name=f"{name}.relu")(L.Add(name=f"{name}.add")([y, short]))


def resnet(
    blocks: Sequence[int],
    bottleneck: bool,
    name: str,
    input_shape: Shape = (224, 224, 3),
    num_classes: int = 1000,
    seed: int = 0,
) -> Model:
    """A ResNet: stem (7×7/2 conv, 3×3/2 max pool), four stages, global average pool, fc.

    Args:
        blocks: blocks per stage, e.g. ``(2, 2, 2, 2)``.
        bottleneck: bottleneck blocks (ResNet-50+) instead of basic ones.
        name: model name.
        input_shape: one sample's shape; 32×32 already works (stage 4 is then 1×1).
        num_classes: outputs of the final fc (logits, no softmax, as torchvision).
        seed: weight-initialisation seed.
    """
    inp = L.Input(input_shape)
    x = conv_bn(inp.node, 64, 7, "", strides=2, names=("conv1", "bn1", "relu"))
    x = L.MaxPool2D(3, strides=2, padding=1, name="maxpool")(x)
    block = bottleneck_block if bottleneck else basic_block
    for stage, (count, planes) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        for i in range(count):
            strides = 2 if stage > 0 and i == 0 else 1
            x = block(x, planes, strides, f"layer{stage + 1}.{i}")
    x = L.GlobalAvgPool2D(name="avgpool")(x)
    out = L.Dense(num_classes, name="fc")(x)
    return Model(inp, out, name=name, seed=seed)


def resnet18(input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0) -> Model:
    """ResNet-18 (torchvision): 11,689,512 trainable parameters, 1.81 GMACs at 224×224."""
    return resnet((2, 2, 2, 2), False, "resnet18", input_shape, num_classes, seed)


def resnet34(input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0) -> Model:
    """ResNet-34 (torchvision): 21,797,672 trainable parameters, 3.66 GMACs at 224×224."""
    return resnet((3, 4, 6, 3), False, "resnet34", input_shape, num_classes, seed)


def resnet50(input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0) -> Model:
    """ResNet-50 v1.5 (torchvision): 25,557,032 trainable parameters, 4.09 GMACs at 224×224."""
    return resnet((3, 4, 6, 3), True, "resnet50", input_shape, num_classes, seed)
