"""Validate one layer of a trace spec and work out its input and output shapes.

Shapes are kept in the spec's own layouts: ``flat`` (D,), ``HW`` (H, W) or ``HWC`` (H, W, C).
A conv whose kernel is ``[KH, KW]`` works on one channel and outputs an ``HW`` map; a 4-D kernel
``[KH, KW, C_in, C_out]`` outputs ``HWC``. Pooling and activation layers keep their input's
layout; flatten and dense give ``flat`` vectors. Output sizes come from
:mod:`glassnet.arith.geometry`, the functions the ops themselves use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from glassnet.arith.geometry import PaddingSpec, Pair, pair, resolve_padding, window_output_size
from glassnet.errors import GlassnetError

ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax", "linear", "none", "leaky_relu")
DEFAULT_ALPHA = 0.01  # leaky_relu slope for z < 0 (PyTorch's default) unless "alpha" is given
_ACT_KEYS = ("activation", "alpha")
LAYER_KEYS: dict[str, tuple[str, ...]] = {
    "conv2d": ("type", "name", "kernel", "bias", "stride", "padding", *_ACT_KEYS),
    "maxpool2d": ("type", "name", "pool", "stride", "padding", "ceil_mode"),
    "avgpool2d": ("type", "name", "pool", "stride", "padding", "ceil_mode", "count_include_pad"),
    "flatten": ("type", "name"),
    "dense": ("type", "name", "weights", "bias", *_ACT_KEYS),
    "activation": ("type", "name", *_ACT_KEYS),
}


@dataclass(frozen=True)
class LayerSpec:
    """One validated layer.

    Attributes:
        index: position in ``layers``.
        kind: ``conv2d``, ``maxpool2d``, ``avgpool2d``, ``flatten``, ``dense`` or ``activation``.
        in_layout, in_shape: the layer's input, in the spec's layout.
        out_layout, out_shape: the layer's output, in the spec's layout.
        activation: canonical activation name (``linear`` for none), or None for layers without
            an activation step (pooling, flatten).
        alpha: the leaky_relu slope.
        weights: conv kernel or dense weights as given, or None.
        bias: the bias as given, or None when the spec has none (no bias term at all).
        stride, padding, pool, ceil_mode, count_include_pad: window geometry (conv and pooling).
        name: the spec's ``name`` for the layer, or "".
    """

    index: int
    kind: str
    in_layout: str
    in_shape: tuple[int, ...]
    out_layout: str
    out_shape: tuple[int, ...]
    activation: str | None = None
    alpha: float = DEFAULT_ALPHA
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    stride: Pair = (1, 1)
    padding: PaddingSpec = 0
    pool: Pair = (1, 1)
    ceil_mode: bool = False
    count_include_pad: bool = False
    name: str = ""

    @property
    def has_params(self) -> bool:
        """True for conv2d and dense (the layers with weights)."""
        return self.weights is not None


def to_array(value: Any, path: str) -> np.ndarray:
    """Return ``value`` as a float64 array.

    Raises:
        GlassnetError: if ``value`` is not a rectangular nesting of finite numbers.
    """
    if isinstance(value, str | dict) or value is None:
        raise GlassnetError(f"{path}: expected a number or nested lists of numbers, "
                            f"got {type(value).__name__}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise GlassnetError(f"{path}: expected a rectangular array of numbers ({exc})") from exc
    if not np.all(np.isfinite(arr)):
        raise GlassnetError(f"{path}: every value must be a finite number")
    return arr


def parse_layer(i: int, raw: Any, in_layout: str, in_shape: tuple[int, ...]) -> LayerSpec:
    """Validate ``layers[i]`` given the layout and shape of its input.

    Raises:
        GlassnetError: for a missing or unknown key, an unknown type or activation, weights that
            do not fit the input, or a window that does not fit the (padded) input.
    """
    path = f"layers[{i}]"
    if not isinstance(raw, dict):
        raise GlassnetError(f"{path}: expected an object such as {{\"type\": \"flatten\"}}, "
                            f"got {type(raw).__name__}")
    kind = raw.get("type")
    if kind is None:
        raise GlassnetError(f"{path}.type: missing; one of {list(LAYER_KEYS)}")
    if kind not in LAYER_KEYS:
        raise GlassnetError(f"{path}.type: {kind!r} is not one of {list(LAYER_KEYS)}")
    unknown = [k for k in raw if k not in LAYER_KEYS[kind]]
    if unknown:
        raise GlassnetError(f"{path}.{unknown[0]}: unknown key for {kind}; valid keys are "
                            f"{list(LAYER_KEYS[kind])}")
    base = {"index": i, "kind": kind, "in_layout": in_layout, "in_shape": in_shape,
            "name": str(raw.get("name", ""))}
    if kind == "flatten":
        return LayerSpec(out_layout="flat", out_shape=(int(np.prod(in_shape)),), **base)
    if kind == "activation":
        act, alpha = _activation(raw, path, in_layout, required=True)
        return LayerSpec(out_layout=in_layout, out_shape=in_shape, activation=act, alpha=alpha,
                         **base)
    if kind == "dense":
        return _dense(raw, path, base)
    return _conv(raw, path, base) if kind == "conv2d" else _pool(raw, path, base)


def _activation(
    raw: dict[str, Any], path: str, layout: str, *, required: bool
) -> tuple[str, float]:
    if required and "activation" not in raw:
        raise GlassnetError(f"{path}.activation: missing; one of {list(ACTIVATIONS)}")
    act = raw.get("activation")
    act = "linear" if act in (None, "none", "linear") else act
    if act not in ACTIVATIONS:
        raise GlassnetError(f"{path}.activation: {act!r} is not one of {list(ACTIVATIONS)}")
    if act == "softmax" and layout == "HW":
        # Softmax runs over the channel axis; on a one-channel map every value would be 1.
        raise GlassnetError(f"{path}.activation: softmax needs a flat vector or HWC channels, "
                            "not a one-channel HW map")
    alpha = raw.get("alpha", DEFAULT_ALPHA)
    if "alpha" in raw and act != "leaky_relu":
        raise GlassnetError(f"{path}.alpha: only leaky_relu takes alpha (activation is {act})")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float):
        raise GlassnetError(f"{path}.alpha: expected a number, got {alpha!r}")
    return str(act), float(alpha)


def _bias(raw: dict[str, Any], path: str, n: int, what: str) -> np.ndarray | None:
    if "bias" not in raw:
        return None
    b = to_array(raw["bias"], f"{path}.bias")
    if b.ndim > 1 or b.size != n:
        values = "value" if n == 1 else "values"
        raise GlassnetError(f"{path}.bias: expected {n} {values} ({what}), "
                            f"got shape {list(b.shape)}")
    return b


def _require(raw: dict[str, Any], key: str, path: str, what: str) -> Any:
    if key not in raw:
        raise GlassnetError(f"{path}.{key}: missing ({raw['type']} needs {what})")
    return raw[key]


def _dense(raw: dict[str, Any], path: str, base: dict[str, Any]) -> LayerSpec:
    if base["in_layout"] != "flat":
        raise GlassnetError(f"{path}: dense needs a flat input (add a flatten layer before it); "
                            f"its input is a {base['in_layout']} map of shape "
                            f"{list(base['in_shape'])}")
    n_in = base["in_shape"][0]
    w = to_array(_require(raw, "weights", path, "weights [in, out]"), f"{path}.weights")
    if w.ndim != 2:
        raise GlassnetError(f"{path}.weights: expected [in, out] = [{n_in}, out], "
                            f"got shape {list(w.shape)}")
    raw_b = to_array(raw["bias"], f"{path}.bias") if "bias" in raw else None
    if raw_b is not None and w.shape[0] == n_in and raw_b.size != w.shape[1]:
        raise GlassnetError(f"{path}.bias: expected {w.shape[1]} values (out), "
                            f"got shape {list(raw_b.shape)}")
    n_out = raw_b.size if raw_b is not None else w.shape[1]
    if w.shape != (n_in, n_out) or n_out == 0:
        raise GlassnetError(f"{path}.weights: expected [{n_in}, {n_out}] (in, out), "
                            f"got {list(w.shape)}")
    b = _bias(raw, path, n_out, "out")
    act, alpha = _activation(raw, path, "flat", required=False)
    return LayerSpec(out_layout="flat", out_shape=(n_out,), activation=act, alpha=alpha,
                     weights=w, bias=b, **base)


def _map_size(base: dict[str, Any], path: str) -> tuple[int, int, int]:
    if base["in_layout"] == "flat":
        raise GlassnetError(f"{path}: {base['kind']} needs an HW or HWC map; its input is a flat "
                            f"vector of {base['in_shape'][0]} values")
    shape = base["in_shape"]
    return shape[0], shape[1], shape[2] if len(shape) == 3 else 1


def _window(raw: dict[str, Any], path: str, hw: Pair, k: Pair, default_stride: Any) -> tuple[
    Pair, PaddingSpec, Pair, tuple[Pair, Pair]
]:
    """Return ``(stride, padding, (OH, OW), pads)`` of a sliding window over an H×W map."""
    stride = pair(raw.get("stride", default_stride), op=path, arg="stride")
    padding = raw.get("padding", 0)
    padding = tuple(padding) if isinstance(padding, list) else padding
    pads = resolve_padding(padding, hw, k, stride, op=f"{path}.padding")
    ceil = raw.get("ceil_mode", False)
    if not isinstance(ceil, bool):
        raise GlassnetError(f"{path}.ceil_mode: expected true or false, got {ceil!r}")
    out = tuple(
        window_output_size(hw[d], k[d], stride[d], pads[d], ceil_mode=ceil, op=path, axis="HW"[d])
        for d in range(2)
    )
    return stride, padding, (out[0], out[1]), pads


def _conv(raw: dict[str, Any], path: str, base: dict[str, Any]) -> LayerSpec:
    h, w, c = _map_size(base, path)
    kernel = to_array(_require(raw, "kernel", path, "kernel [KH, KW] or [KH, KW, C_in, C_out]"),
                      f"{path}.kernel")
    if kernel.ndim == 2 and c != 1:
        raise GlassnetError(f"{path}.kernel: a [KH, KW] kernel works on one channel but the "
                            f"input has {c}; give [KH, KW, {c}, C_out]")
    if kernel.ndim not in (2, 4) or 0 in kernel.shape:
        raise GlassnetError(f"{path}.kernel: expected [KH, KW] or [KH, KW, C_in, C_out], "
                            f"got shape {list(kernel.shape)}")
    if kernel.ndim == 4 and kernel.shape[2] != c:
        raise GlassnetError(f"{path}.kernel: expected [KH, KW, {c}, C_out] (C_in = the input's "
                            f"{c} channels), got {list(kernel.shape)}")
    f = 1 if kernel.ndim == 2 else kernel.shape[3]
    k_hw = (int(kernel.shape[0]), int(kernel.shape[1]))
    stride, padding, (oh, ow), _ = _window(raw, path, (h, w), k_hw, 1)
    act, alpha = _activation(raw, path, "HW" if kernel.ndim == 2 else "HWC", required=False)
    layout, shape = ("HW", (oh, ow)) if kernel.ndim == 2 else ("HWC", (oh, ow, f))
    return LayerSpec(out_layout=layout, out_shape=shape, activation=act, alpha=alpha,
                     weights=kernel, bias=_bias(raw, path, f, "C_out"), stride=stride,
                     padding=padding, **base)


def _pool(raw: dict[str, Any], path: str, base: dict[str, Any]) -> LayerSpec:
    h, w, _ = _map_size(base, path)
    pool = pair(_require(raw, "pool", path, "a pool size"), op=path, arg="pool")
    stride, padding, (oh, ow), pads = _window(raw, path, (h, w), pool, pool)
    for axis, k, (before, after) in zip("HW", pool, pads, strict=True):
        if max(before, after) >= k:
            # A window made only of padding has no max and nothing to average.
            raise GlassnetError(f"{path}.padding: {before}+{after} on {axis} must be smaller "
                                f"than the pool size {k}")
    incl = raw.get("count_include_pad", False)
    if not isinstance(incl, bool):
        raise GlassnetError(f"{path}.count_include_pad: expected true or false, got {incl!r}")
    shape = (oh, ow) if base["in_layout"] == "HW" else (oh, ow, base["in_shape"][2])
    return LayerSpec(out_layout=base["in_layout"], out_shape=shape, stride=stride,
                     padding=padding, pool=pool, ceil_mode=raw.get("ceil_mode", False),
                     count_include_pad=incl, **base)
