"""Layers with Keras names and arguments; each knows its shapes and counts through ``arith``.

``from glassnet import layers as L``; see :mod:`glassnet.layers.base` for the protocol.
"""

from glassnet.layers.activations import ACTIVATIONS
from glassnet.layers.base import Layer, Node
from glassnet.layers.conv import Conv2D, DepthwiseConv2D
from glassnet.layers.core import Activation, Dense, Dropout, Flatten, Input, ReLU, Softmax
from glassnet.layers.merge import Add, Concatenate
from glassnet.layers.norm import BatchNormalization
from glassnet.layers.pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from glassnet.layers.separable import SeparableConv2D
from glassnet.layers.spatial import GlobalMaxPool2D, Rescaling, Reshape, ZeroPadding2D

# Keras' long aliases.
MaxPooling2D = MaxPool2D
AveragePooling2D = AvgPool2D
GlobalAveragePooling2D = GlobalAvgPool2D
GlobalMaxPooling2D = GlobalMaxPool2D
BatchNorm = BatchNormalization

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Add",
    "AvgPool2D",
    "AveragePooling2D",
    "BatchNorm",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPool2D",
    "GlobalMaxPooling2D",
    "Input",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "Node",
    "ReLU",
    "Rescaling",
    "Reshape",
    "SeparableConv2D",
    "Softmax",
    "ZeroPadding2D",
]
