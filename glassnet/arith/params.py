"""Parameter counts of convolution, dense and batch-normalisation layers, explained.

Conventions (../shared/DESIGN.md §2): conv ``K_h·K_w·(C_in/groups)·N (+N bias)``; dense
``n_in·n_out (+n_out)``; BatchNorm ``2·C`` trainable (γ, β) + ``2·C`` non-trainable (moving mean and
variance). ``N`` is the number of filters (output channels).
"""

from __future__ import annotations

from glassnet.arith.explain import (
    ParamCount,
    Quantity,
    check_bool,
    check_positive,
    constant,
    grouped_channels,
    num,
)


def _bias(count: int, formula: str, substituted: str, bias: bool) -> Quantity:
    """Return the bias Quantity, or ``b = 0`` saying that the layer has no bias."""
    if not bias:
        return constant(0, "b", "bias=False")
    return Quantity(count, symbol="b", formula=f"b = {formula}", substituted=substituted)


def _total(weights: Quantity, biases: Quantity) -> Quantity:
    """Return ``P = W + b``."""
    return Quantity(
        int(weights) + int(biases),
        symbol="P",
        formula="P = W + b",
        substituted=f"{num(weights)} + {num(biases)}",
    )


def conv2d_params(
    kernel_h: int,
    kernel_w: int,
    c_in: int,
    filters: int,
    groups: int = 1,
    bias: bool = True,
) -> ParamCount:
    """Return the weights, biases and parameters of a 2-D convolution.

    W = K_h·K_w·(C_in/groups)·N, b = N, P = W + b.

    Args:
        kernel_h: kernel height K_h.
        kernel_w: kernel width K_w.
        c_in: input channels C_in.
        filters: filters (output channels) N.
        groups: channel groups; each filter sees C_in/groups input channels.
        bias: whether each filter has a bias.

    Returns:
        A :class:`ParamCount` (``.weights``, ``.biases``, ``.params``, ``.explain()``).

    Raises:
        GlassnetError: if a size is not a positive int, ``bias`` is not a bool, or ``groups`` does
            not divide both ``c_in`` and ``filters``.
    """
    fn = "conv2d_params"
    check_positive(
        fn, kernel_h=kernel_h, kernel_w=kernel_w, c_in=c_in, filters=filters, groups=groups
    )
    check_bool(fn, bias=bias)
    symbol, channels = grouped_channels(fn, c_in, filters, groups)
    formula = f"K_h·K_w·{symbol}·N"
    weights = Quantity(
        kernel_h * kernel_w * (c_in // groups) * filters,
        symbol="W",
        formula=f"W = {formula}",
        substituted=f"{kernel_h}·{kernel_w}·{channels}·{num(filters)}",
    )
    biases = _bias(filters, "N", num(filters), bias)
    return ParamCount(weights=weights, biases=biases, params=_total(weights, biases))


def depthwise_conv2d_params(
    kernel_h: int,
    kernel_w: int,
    c_in: int,
    depth_multiplier: int = 1,
    bias: bool = True,
) -> ParamCount:
    """Return the weights, biases and parameters of a depthwise convolution.

    Each input channel gets its own ``depth_multiplier`` filters: W = K_h·K_w·C_in·M,
    b = C_in·M (a grouped convolution with groups = C_in and N = C_in·M).

    Args:
        kernel_h: kernel height K_h.
        kernel_w: kernel width K_w.
        c_in: input channels C_in.
        depth_multiplier: filters per input channel M.
        bias: whether each output channel has a bias.

    Returns:
        A :class:`ParamCount`.

    Raises:
        GlassnetError: if a size is not a positive int or ``bias`` is not a bool.
    """
    fn = "depthwise_conv2d_params"
    check_positive(
        fn, kernel_h=kernel_h, kernel_w=kernel_w, c_in=c_in, depth_multiplier=depth_multiplier
    )
    check_bool(fn, bias=bias)
    weights = Quantity(
        kernel_h * kernel_w * c_in * depth_multiplier,
        symbol="W",
        formula="W = K_h·K_w·C_in·M",
        substituted=f"{kernel_h}·{kernel_w}·{num(c_in)}·{depth_multiplier}",
    )
    biases = _bias(c_in * depth_multiplier, "C_in·M", f"{num(c_in)}·{depth_multiplier}", bias)
    return ParamCount(weights=weights, biases=biases, params=_total(weights, biases))


def dense_params(n_in: int, n_out: int, bias: bool = True) -> ParamCount:
    """Return the weights, biases and parameters of a dense (fully connected) layer.

    W = n_in·n_out, b = n_out, P = W + b.

    Args:
        n_in: input units.
        n_out: output units.
        bias: whether each output unit has a bias.

    Returns:
        A :class:`ParamCount`.

    Raises:
        GlassnetError: if a size is not a positive int or ``bias`` is not a bool.
    """
    fn = "dense_params"
    check_positive(fn, n_in=n_in, n_out=n_out)
    check_bool(fn, bias=bias)
    weights = Quantity(
        n_in * n_out,
        symbol="W",
        formula="W = n_in·n_out",
        substituted=f"{num(n_in)}·{num(n_out)}",
    )
    biases = _bias(n_out, "n_out", num(n_out), bias)
    return ParamCount(weights=weights, biases=biases, params=_total(weights, biases))


def batchnorm_params(channels: int) -> ParamCount:
    """Return the parameters of batch normalisation over ``channels`` channels.

    Trainable: γ (scale) and β (shift), C each. Non-trainable: the moving mean and variance, C
    each. ``params`` counts all 4·C (as Keras' summary does); ``trainable`` is 2·C.

    Args:
        channels: the normalised channels C.

    Returns:
        A :class:`ParamCount` whose ``weights`` is γ, ``biases`` is β and ``non_trainable`` the
        moving statistics.

    Raises:
        GlassnetError: if ``channels`` is not a positive int.
    """
    check_positive("batchnorm_params", channels=channels)
    c = num(channels)
    gamma = Quantity(channels, symbol="γ", formula="γ = C", substituted=c, note="trainable scale")
    beta = Quantity(channels, symbol="b", formula="β = C", substituted=c, note="trainable shift")
    moving = Quantity(
        2 * channels,
        symbol="P_nt",
        formula="P_nt = 2·C",
        substituted=f"2·{c}",
        note="non-trainable moving mean and variance",
    )
    total = Quantity(
        4 * channels,
        symbol="P",
        formula="P = γ + β + P_nt = 4·C",
        substituted=f"4·{c}",
        note=f"trainable 2·C = {num(2 * channels)}",
    )
    return ParamCount(weights=gamma, biases=beta, params=total, non_trainable=moving)
