"""The formula printed beside each value of a trace, in the course's notation.

Maps use capitals (input X, kernel F, conv output O, activation A), vectors lower case (x, W, z,
a); ``y`` is the target, ``p`` a softmax output, ``η`` the learning rate, ``⋆`` cross-correlation.
"""

from __future__ import annotations

from glassnet.tracing.layers import LayerSpec

LOSS_FORMULAS = {
    "mse": "L = mean((a − y)²)",
    "binary_crossentropy": "L = −mean(y·log a + (1 − y)·log(1 − a))",
    "categorical_crossentropy": "L = −Σ y·log p",
}
# dL/d(last output) for each loss, n = number of outputs.
_LOSS_GRADS = {
    "mse": "2·({a} − y)/n",
    "binary_crossentropy": "({a} − y) / ({a}·(1 − {a})·n)",
    "categorical_crossentropy": "−y / p",
}
_DERIVATIVES = {
    "relu": "f'(z) = 1 if z > 0 else 0",
    "leaky_relu": "f'(z) = 1 if z > 0 else α",
    "sigmoid": "f'(z) = σ(z)·(1 − σ(z))",
    "tanh": "f'(z) = 1 − tanh²(z)",
}
_FORWARD_ACT = {
    "relu": "max(0, z)",
    "leaky_relu": "leaky_relu(z), α = {alpha:g}",
    "sigmoid": "σ(z) = 1/(1 + e^−z)",
    "tanh": "tanh(z)",
    "softmax": "softmax(z) = e^z / Σ e^z",
    "linear": "z",
}


def symbols(layer: LayerSpec) -> tuple[str, str, str]:
    """Return the names of the layer's (input, pre-activation, output)."""
    maps = layer.out_layout != "flat"
    if layer.kind == "flatten":
        return ("X" if layer.in_layout != "flat" else "x"), "", "a"
    if layer.kind == "activation":
        # The input of an activation layer is its pre-activation.
        return ("Z", "Z", "A") if maps else ("z", "z", "a")
    return ("X", "O", "A") if maps else ("x", "z", "a")


def same_values(layer: LayerSpec) -> set[str]:
    """Record keys whose values repeat the ones printed just before (printed as a label only)."""
    keys = {"output", "d_pre_activation"} if layer.activation == "linear" else set()
    return keys | ({"pre_activation", "d_input"} if layer.kind == "activation" else set())


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def _geometry(layer: LayerSpec) -> str:
    s = layer.stride
    stride = str(s[0]) if s[0] == s[1] else f"{s[0]}×{s[1]}"
    return f"stride {stride}, padding {layer.padding}"


def title(layer: LayerSpec) -> str:
    """One line naming the layer, its settings and its input → output shapes."""
    name = f" {layer.name}" if layer.name else ""
    act = f", {layer.activation}" if layer.activation not in (None, "linear") else ""
    if layer.kind == "conv2d" and layer.weights is not None:
        w = layer.weights
        cin, cout = (1, 1) if w.ndim == 2 else (w.shape[2], w.shape[3])
        chans = "channel" if cin == cout == 1 else "channels"
        what = f"conv2d {w.shape[0]}×{w.shape[1]} kernel, {cin} → {cout} {chans}, " \
               f"{_geometry(layer)}{act}"
    elif layer.kind in ("maxpool2d", "avgpool2d"):
        what = f"{layer.kind} {_shape(layer.pool)}, {_geometry(layer)}"
    elif layer.kind == "dense" and layer.weights is not None:
        what = f"dense {layer.weights.shape[0]} → {layer.weights.shape[1]}{act}"
    else:
        what = layer.kind if layer.kind == "flatten" else f"activation {layer.activation}"
    io = f"{_shape(layer.in_shape)} ({layer.in_layout}) → {_shape(layer.out_shape)}"
    return f"layer {layer.index}{name}  {what}   [{io}]"


def forward_labels(layer: LayerSpec) -> dict[str, str]:
    """Labels of the forward record's keys (``pre_activation``, ``output``)."""
    x, z, a = symbols(layer)
    pre = {
        "conv2d": f"{z} = {x} ⋆ F" + (" + b" if layer.bias is not None else ""),
        "dense": f"{z} = {x}·W" + (" + b" if layer.bias is not None else ""),
        "activation": f"{z} = the layer's input",
    }
    if layer.kind == "flatten":
        return {"output": f"{a} = flatten({x})  (row-major over H, W, C)"}
    if layer.kind in ("maxpool2d", "avgpool2d"):
        op = "max" if layer.kind == "maxpool2d" else "mean"
        return {"output": f"{a} = {op} of each {_shape(layer.pool)} window"}
    act = _FORWARD_ACT[str(layer.activation)].format(alpha=layer.alpha)
    return {"pre_activation": pre[layer.kind], "output": f"{a} = {act.replace('z', z)}"}


def backward_labels(
    layer: LayerSpec, *, last: bool, loss: str | None, mode: str
) -> dict[str, str]:
    """Labels of the gradient record's keys for one layer.

    Args:
        layer: the layer.
        last: whether it is the network's last layer (its d_output comes from the loss).
        loss: the loss name in loss mode, else None.
        mode: ``"loss"`` or ``"grad_output"``.
    """
    x, z, a = symbols(layer)
    if not last:
        d_out = f"dL/d{a} = dL/d(input) of layer {layer.index + 1}"
    elif mode == "grad_output":
        d_out = f"dL/d{a} = grad_output (given)"
    else:
        d_out = f"dL/d{a} = " + _LOSS_GRADS[str(loss)].format(a=a)
    labels = {"d_output": d_out}
    act = layer.activation
    if act is not None:
        if act == "softmax" and last and loss == "categorical_crossentropy":
            labels["d_pre_activation"] = f"dL/d{z} = p − y  (softmax + cross-entropy)"
        elif act == "softmax":
            labels["d_pre_activation"] = f"dL/d{z} = p ⊙ (dL/dp − Σ p·dL/dp)"
        elif act == "linear":
            labels["d_pre_activation"] = f"dL/d{z} = dL/d{a}"
        else:
            deriv = _DERIVATIVES[act].replace("z", z)
            labels["d_pre_activation"] = f"dL/d{z} = dL/d{a} ⊙ f'({z}),  {deriv}"
    labels.update(_param_labels(layer, x, z))
    return labels


def _param_labels(layer: LayerSpec, x: str, z: str) -> dict[str, str]:
    """Labels of d_weights, d_bias and d_input, which depend on the layer's kind."""
    if layer.kind == "dense":
        return {"d_weights": f"dL/dW = {x}ᵀ·dL/d{z}", "d_bias": f"dL/db = dL/d{z}",
                "d_input": f"dL/d{x} = dL/d{z}·Wᵀ"}
    if layer.kind == "conv2d":
        s = layer.stride
        d_o = "dL/dO" if s == (1, 1) else f"dilate(dL/dO, {s[0]})"
        multi = layer.weights is not None and layer.weights.ndim == 4
        return {
            "d_weights": f"dL/dF = {x} ⋆ {d_o}" + ("  (padded X)" if _padded(layer) else "")
            + ("  (per channel, per filter)" if multi else ""),
            "d_bias": "dL/db = Σ dL/dO  (over H, W)",
            "d_input": f"dL/d{x} = full_conv(rot180(F), {d_o})"
            + ("  (padding cropped)" if _padded(layer) else "")
            + ("  (summed over filters)" if multi else ""),
        }
    if layer.kind == "maxpool2d":
        return {"d_input": f"dL/d{x}: gradient router — each dL/dA goes to its window's max"
                + ("  (overlaps add)" if layer.stride != layer.pool else "")}
    if layer.kind == "avgpool2d":
        return {"d_input": f"dL/d{x}: each dL/dA spread evenly (÷ window count) over its window"}
    if layer.kind == "flatten":
        return {"d_input": f"dL/d{x} = dL/da reshaped to {_shape(layer.in_shape)}"}
    return {"d_input": f"dL/d(input) = dL/d{z}"}


def _padded(layer: LayerSpec) -> bool:
    return layer.padding not in (0, "valid", (0, 0), (0, 0, 0, 0))


def update_labels(layer: LayerSpec, lr: float) -> dict[str, str]:
    """Labels of the updated ``weights`` and ``bias``."""
    w = "F" if layer.kind == "conv2d" else "W"
    return {"weights": f"{w}⁺ = {w} − η·dL/d{w}", "bias": "b⁺ = b − η·dL/db"}
