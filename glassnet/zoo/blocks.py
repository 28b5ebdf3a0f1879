"""Building blocks shared by the torchvision-style zoo models (functional API).

torchvision conventions kept here: convs before BatchNorm have no bias; BatchNorm momentum 0.1
in PyTorch's convention, i.e. 0.9 in the Keras convention the layer takes; padding is explicit
and symmetric (``k // 2``), not TensorFlow's ``same``, so stride-2 outputs and numerics match.
"""

from __future__ import annotations

from glassnet import layers as L
from glassnet.layers.base import Node


def conv_bn(
    x: Node,
    filters: int,
    kernel: int,
    name: str,
    *,
    strides: int = 1,
    padding: int | None = None,
    groups: int = 1,
    act: str | None = "relu",
    eps: float = 1e-5,
    depthwise: bool = False,
    names: tuple[str, str, str] | None = None,
) -> Node:
    """Conv (no bias) → BatchNorm → activation, named ``{name}.conv``, ``.bn``, ``.relu``.

    ``names`` gives the three layer names in full instead (torchvision's ``conv1``, ``bn1``).

    Shapes:
        x (H, W, C) -> (OH, OW, filters); padding defaults to kernel // 2.
    """
    conv_name, bn_name, act_name = names or (f"{name}.conv", f"{name}.bn", f"{name}.{act}")
    pad = kernel // 2 if padding is None else padding
    if depthwise:
        conv: L.Layer = L.DepthwiseConv2D(
            kernel, strides=strides, padding=pad, use_bias=False, name=conv_name
        )
    else:
        conv = L.Conv2D(filters, kernel, strides=strides, padding=pad, groups=groups,
                        use_bias=False, name=conv_name)
    y = L.BatchNormalization(momentum=0.9, epsilon=eps, name=bn_name)(conv(x))
    if act == "relu":
        y = L.ReLU(name=act_name)(y)
    elif act == "relu6":
        y = L.ReLU(max_value=6, name=act_name)(y)
    return y
