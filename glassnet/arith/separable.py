"""Parameter and MAC counts of a separable convolution (depthwise, then pointwise 1×1).

Keras' ``SeparableConv2D``: a depthwise K_h×K_w convolution with M filters per input channel
(no bias), then a 1×1 convolution from C_in·M to N channels with N biases.
"""

from __future__ import annotations

from glassnet.arith.explain import (
    MacCount,
    ParamCount,
    Quantity,
    check_bool,
    check_positive,
    constant,
    mac_count,
    num,
)


def separable_conv2d_params(
    kernel_h: int,
    kernel_w: int,
    c_in: int,
    filters: int,
    depth_multiplier: int = 1,
    bias: bool = True,
) -> ParamCount:
    """Return the weights, biases and parameters of a separable convolution.

    W = K_h·K_w·C_in·M (depthwise) + C_in·M·N (pointwise); b = N.

    Args:
        kernel_h: kernel height K_h.
        kernel_w: kernel width K_w.
        c_in: input channels C_in.
        filters: output channels N.
        depth_multiplier: depthwise filters per input channel M.
        bias: whether each output channel has a bias.

    Returns:
        A :class:`ParamCount`.

    Raises:
        GlassnetError: if a size is not a positive int or ``bias`` is not a bool.
    """
    fn = "separable_conv2d_params"
    check_positive(fn, kernel_h=kernel_h, kernel_w=kernel_w, c_in=c_in, filters=filters,
                   depth_multiplier=depth_multiplier)
    check_bool(fn, bias=bias)
    m = depth_multiplier
    weights = Quantity(
        kernel_h * kernel_w * c_in * m + c_in * m * filters,
        symbol="W",
        formula="W = K_h·K_w·C_in·M + C_in·M·N",
        substituted=f"{kernel_h}·{kernel_w}·{num(c_in)}·{m} + {num(c_in)}·{m}·{num(filters)}",
    )
    if bias:
        biases = Quantity(filters, symbol="b", formula="b = N", substituted=num(filters))
    else:
        biases = constant(0, "b", "bias=False")
    params = Quantity(
        int(weights) + int(biases), symbol="P", formula="P = W + b",
        substituted=f"{num(weights)} + {num(biases)}",
    )
    return ParamCount(weights=weights, biases=biases, params=params)


def separable_conv2d_macs(
    out_h: int, out_w: int, kernel_h: int, kernel_w: int, c_in: int, filters: int,
    depth_multiplier: int = 1,
) -> MacCount:
    """Return the multiply-adds of a separable convolution for one sample.

    MACs = OH·OW·C_in·M·(K_h·K_w + N): each depthwise output is a K_h·K_w dot product, each
    pointwise output a C_in·M one.

    Args:
        out_h: output height OH.
        out_w: output width OW.
        kernel_h: kernel height K_h.
        kernel_w: kernel width K_w.
        c_in: input channels C_in.
        filters: output channels N.
        depth_multiplier: depthwise filters per input channel M.

    Returns:
        A :class:`MacCount`.

    Raises:
        GlassnetError: if a size is not a positive int.
    """
    fn = "separable_conv2d_macs"
    check_positive(fn, out_h=out_h, out_w=out_w, kernel_h=kernel_h, kernel_w=kernel_w,
                   c_in=c_in, filters=filters, depth_multiplier=depth_multiplier)
    m = depth_multiplier
    macs = out_h * out_w * c_in * m * (kernel_h * kernel_w + filters)
    return mac_count(
        macs, "MACs = OH·OW·C_in·M·(K_h·K_w + N)",
        f"{out_h}·{out_w}·{num(c_in)}·{m}·({kernel_h}·{kernel_w} + {num(filters)})",
    )
