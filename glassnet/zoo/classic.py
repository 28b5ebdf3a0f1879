"""Chain models of the course: LeNet-5, the Keras MNIST examples, TinyVGG, AlexNet, VGG.

Each function returns an unbuilt model (shapes only; weights are allocated on the first forward
pass), so summaries of the big ones are instant.
"""

from __future__ import annotations

from collections.abc import Sequence

from glassnet import layers as L
from glassnet.models import Sequential

Shape = Sequence[int]


def lenet5(input_shape: Shape = (32, 32, 1), num_classes: int = 10, seed: int = 0) -> Sequential:
    """LeNet-5, the common modern variant: 61,706 parameters on 32×32×1.

    conv1 6@5×5 ReLU → 2×2 max pool → conv2 16@5×5 ReLU → 2×2 max pool → flatten →
    fc1 120 ReLU → fc2 84 ReLU → fc3 10 softmax. (LeCun et al. 1998 used tanh-like squashing,
    trainable sub-sampling and a sparse C3 table; the counts of this variant are the usual
    ones: 156 + 2,416 + 48,120 + 10,164 + 850.)
    """
    return Sequential([
        L.Input(input_shape),
        L.Conv2D(6, 5, activation="relu", name="conv1"), L.MaxPool2D(2, name="pool1"),
        L.Conv2D(16, 5, activation="relu", name="conv2"), L.MaxPool2D(2, name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(120, activation="relu", name="fc1"),
        L.Dense(84, activation="relu", name="fc2"),
        L.Dense(num_classes, activation="softmax", name="fc3"),
    ], name="lenet5", seed=seed)


def keras_mnist_mlp(
    input_shape: Shape = (28, 28, 1), num_classes: int = 10, seed: int = 0
) -> Sequential:
    """The 784-16-16-10 multilayer perceptron (ReLU, softmax): 13,002 parameters."""
    return Sequential([
        L.Input(input_shape), L.Flatten(),
        L.Dense(16, activation="relu"), L.Dense(16, activation="relu"),
        L.Dense(num_classes, activation="softmax"),
    ], name="keras_mnist_mlp", seed=seed)


def keras_mnist_convnet(
    input_shape: Shape = (28, 28, 1), num_classes: int = 10, seed: int = 0
) -> Sequential:
    """Keras' "Simple MNIST convnet" example: 34,826 parameters on 28×28×1.

    conv 32@3×3 ReLU → 2×2 max pool → conv 64@3×3 ReLU → 2×2 max pool → flatten →
    dropout 0.5 → dense 10 softmax.
    """
    return Sequential([
        L.Input(input_shape),
        L.Conv2D(32, 3, activation="relu"), L.MaxPool2D(2),
        L.Conv2D(64, 3, activation="relu"), L.MaxPool2D(2),
        L.Flatten(), L.Dropout(0.5), L.Dense(num_classes, activation="softmax"),
    ], name="keras_mnist_convnet", seed=seed)


def tiny_vgg(input_shape: Shape = (64, 64, 3), num_classes: int = 10, seed: int = 0) -> Sequential:
    """TinyVGG of CNN Explainer (Wang et al. 2020): 19,920 parameters on 64×64×3.

    Two blocks of [conv 10@3×3 ReLU, conv 10@3×3 ReLU, 2×2 max pool] (valid padding),
    flatten (13·13·10 = 1,690), dense 10 softmax. Layer names follow CNN Explainer.
    """
    return Sequential([
        L.Input(input_shape),
        L.Conv2D(10, 3, activation="relu", name="conv_1_1"),
        L.Conv2D(10, 3, activation="relu", name="conv_1_2"),
        L.MaxPool2D(2, name="max_pool_1"),
        L.Conv2D(10, 3, activation="relu", name="conv_2_1"),
        L.Conv2D(10, 3, activation="relu", name="conv_2_2"),
        L.MaxPool2D(2, name="max_pool_2"),
        L.Flatten(name="flatten"),
        L.Dense(num_classes, activation="softmax", name="output"),
    ], name="tiny_vgg", seed=seed)


def alexnet(
    input_shape: Shape = (227, 227, 3), num_classes: int = 1000, seed: int = 0
) -> Sequential:
    """AlexNet with the paper's widths (Krizhevsky et al. 2012), as one tower, on 227×227×3.

    62,378,344 parameters: conv1 96@11×11/4 · pool 3/2 · conv2 256@5×5 pad 2 · pool 3/2 ·
    conv3 384@3×3 · conv4 384@3×3 · conv5 256@3×3 (pad 1) · pool 3/2 · fc1 4096 · fc2 4096 ·
    fc3 1000 softmax, with dropout 0.5 after fc1 and fc2. The paper's two-GPU grouping
    (which halves conv2, conv4 and conv5) and local response normalisation are left out: the
    count is that of the ungrouped network every course table shows.
    """
    return Sequential([
        L.Input(input_shape),
        L.Conv2D(96, 11, strides=4, activation="relu", name="conv1"),
        L.MaxPool2D(3, strides=2, name="pool1"),
        L.Conv2D(256, 5, padding=2, activation="relu", name="conv2"),
        L.MaxPool2D(3, strides=2, name="pool2"),
        L.Conv2D(384, 3, padding=1, activation="relu", name="conv3"),
        L.Conv2D(384, 3, padding=1, activation="relu", name="conv4"),
        L.Conv2D(256, 3, padding=1, activation="relu", name="conv5"),
        L.MaxPool2D(3, strides=2, name="pool5"),
        L.Flatten(name="flatten"),
        L.Dense(4096, activation="relu", name="fc1"), L.Dropout(0.5, name="drop1"),
        L.Dense(4096, activation="relu", name="fc2"), L.Dropout(0.5, name="drop2"),
        L.Dense(num_classes, activation="softmax", name="fc3"),
    ], name="alexnet", seed=seed)


def alexnet_torchvision(
    input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0
) -> Sequential:
    """The torchvision AlexNet (the "one weird trick" widths) on 224×224×3: 61,100,840 parameters.

    conv1 64@11×11/4 pad 2 · pool 3/2 · conv2 192@5×5 pad 2 · pool · conv3 384 · conv4 256 ·
    conv5 256 (3×3 pad 1) · pool → 6×6×256 · dropout · fc1 4096 · dropout · fc2 4096 · fc3
    (logits). torchvision's ``AdaptiveAvgPool2d(6)`` is omitted: at 224×224 the features are
    already 6×6, so it is the identity (other input sizes change fc1's input).
    """
    return Sequential([
        L.Input(input_shape),
        L.Conv2D(64, 11, strides=4, padding=2, activation="relu", name="conv1"),
        L.MaxPool2D(3, strides=2, name="pool1"),
        L.Conv2D(192, 5, padding=2, activation="relu", name="conv2"),
        L.MaxPool2D(3, strides=2, name="pool2"),
        L.Conv2D(384, 3, padding=1, activation="relu", name="conv3"),
        L.Conv2D(256, 3, padding=1, activation="relu", name="conv4"),
        L.Conv2D(256, 3, padding=1, activation="relu", name="conv5"),
        L.MaxPool2D(3, strides=2, name="pool5"),
        L.Flatten(name="flatten"), L.Dropout(0.5, name="drop1"),
        L.Dense(4096, activation="relu", name="fc1"), L.Dropout(0.5, name="drop2"),
        L.Dense(4096, activation="relu", name="fc2"),
        L.Dense(num_classes, name="fc3"),
    ], name="alexnet_torchvision", seed=seed)


# Output channels of each 3×3 conv (same padding), "M" a 2×2 max pool (Simonyan & Zisserman).
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def vgg(
    variant: str, input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0
) -> Sequential:
    """VGG ``variant`` (``vgg11``/``vgg13``/``vgg16``/``vgg19``): 3×3 convs, five pools, three FC.

    Layer names follow Keras' VGG16 (``block1_conv1``, ``block1_pool``, ``fc1``, ``fc2``,
    ``predictions``); counts equal torchvision's (its ``AdaptiveAvgPool2d(7)`` is the identity
    at 224×224 and omitted). Dropout 0.5 after fc1 and fc2 as in torchvision.
    """
    layers: list[L.Layer] = [L.Input(input_shape)]
    block, conv = 1, 1
    for item in VGG_CONFIGS[variant]:
        if item == "M":
            layers.append(L.MaxPool2D(2, name=f"block{block}_pool"))
            block, conv = block + 1, 1
        else:
            layers.append(L.Conv2D(int(item), 3, padding="same", activation="relu",
                                   name=f"block{block}_conv{conv}"))
            conv += 1
    layers += [
        L.Flatten(name="flatten"),
        L.Dense(4096, activation="relu", name="fc1"), L.Dropout(0.5, name="drop1"),
        L.Dense(4096, activation="relu", name="fc2"), L.Dropout(0.5, name="drop2"),
        L.Dense(num_classes, activation="softmax", name="predictions"),
    ]
    return Sequential(layers, name=variant, seed=seed)


def vgg11(
    input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0
) -> Sequential:
    """VGG-11 (configuration A): 132,863,336 parameters at 224×224×3."""
    return vgg("vgg11", input_shape, num_classes, seed)


def vgg13(
    input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0
) -> Sequential:
    """VGG-13 (configuration B): 133,047,848 parameters at 224×224×3."""
    return vgg("vgg13", input_shape, num_classes, seed)


def vgg16(
    input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0
) -> Sequential:
    """VGG-16 (configuration D): 138,357,544 parameters at 224×224×3."""
    return vgg("vgg16", input_shape, num_classes, seed)


def vgg19(
    input_shape: Shape = (224, 224, 3), num_classes: int = 1000, seed: int = 0
) -> Sequential:
    """VGG-19 (configuration E): 143,667,240 parameters at 224×224×3."""
    return vgg("vgg19", input_shape, num_classes, seed)
