"""Elementwise ONNX arithmetic, global reductions and padding, read by dataflow.

Exporters spell one layer as several nodes: Keras writes a conv bias as ``Add`` of a
[1, 1, 1, C] constant after the NHWC ``Transpose`` and BatchNorm as ``Sub``/``Mul``/``Add`` with
per-channel constants; a rescaling is a ``Mul`` by a scalar; ``ZeroPadding2D`` is a ``Pad``.
So arithmetic with a constant operand is not a layer at once: it accumulates on the value as
a pending ``x·scale + shift`` (one number per channel) and becomes a layer where the value is
next used (:func:`materialize`):

* an ``Add`` right after a bias-free Conv/Dense (whose output nothing else reads) is its bias;
* scalar constants become :class:`~glassnet.layers.Rescaling` (no parameters, as Keras'
  ``Rescaling``), unless the steps are Keras' BatchNorm shape (a ``Sub`` then a ``Mul``);
* per-channel constants become a ``BatchNormalization``: a leading ``Sub`` is its moving
  mean, the product of the factors its gamma (the file fuses γ/√(var + ε) into one number),
  its moving variance 1 − ε, so it computes exactly ``(x − mean)·scale + beta``.

A zero ``Pad`` is held the same way and folded into the padding of the Conv or
AveragePool that reads it (or of a MaxPool after a ReLU, where zeros never win).
``ReduceMean``/``ReduceMax`` over H and W are global pooling (the max as a MaxPool2D whose
window is the whole map).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from glassnet import layers as L
from glassnet.layers.conv import ConvBase
from glassnet.onnx.importer import Converter
from glassnet.onnx.nodes import attributes
from glassnet.onnx.values import Imported, Value

EPSILON = 1e-3
"""The BatchNorm epsilon of a layer made from arithmetic (its variance is 1 − ε)."""

_CHANNEL_AXIS = {"NCHW": 1, "NC11": 1, "NF": 1, "NHWC": 3, "N11C": 3}
_FOLD: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
}


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX ``Div``: integer division truncates (shape arithmetic), floats divide."""
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        return np.asarray(np.trunc(a / b).astype(np.result_type(a, b)))
    return np.asarray(np.divide(a, b))


def per_channel(c: Converter, v: Value, k: np.ndarray) -> np.ndarray:
    """The constant ``k`` as one float32 value per channel of ``v``.

    Raises:
        GlassnetError: if ``k`` does not broadcast to ``v`` or varies along other axes.
    """
    shape = [1, *v.onnx_shape[1:]]
    try:
        full = np.broadcast_to(np.asarray(k, dtype=np.float32), shape)
        if k.ndim > len(shape):
            raise ValueError("more dims than the tensor")
    except ValueError:
        raise c.fail(f"constant {list(k.shape)} does not broadcast to {v.layout} "
                     f"{v.onnx_shape[1:]}") from None
    axis = _CHANNEL_AXIS[v.layout]
    moved = np.moveaxis(full, axis, 0).reshape(shape[axis], -1)
    if not np.array_equal(moved, np.broadcast_to(moved[:, :1], moved.shape)):
        raise c.fail(f"constant {list(k.shape)} is not one value per channel of {v.layout} "
                     f"{v.onnx_shape[1:]}; only per-channel or scalar constants are supported")
    return np.ascontiguousarray(moved[:, 0])


def _bias_entry(c: Converter, i: int, v: Value) -> Imported | None:
    """The kept Conv/Dense entry whose bias ``Add`` this node can be, else ``None``."""
    if v.affine is not None or not v.exclusive or c.consumers[c.node.input[i]] != 1:
        return None
    entry = next((e for e in reversed(c.imported) if e.layer is v.node.layer), None)
    if entry is None or not isinstance(entry.layer, L.Dense | ConvBase) or entry.layer.use_bias:
        return None
    return entry


def op_arith(c: Converter) -> None:
    """``Add``/``Sub``/``Mul``/``Div``: folded, a residual sum, or pending arithmetic.

    With a constant operand: a bias, or a step of a BatchNorm or a rescaling (pending).
    """
    op = c.node.op_type
    x, y = c.node.input[0], c.node.input[1]
    if c.is_const(x) and c.is_const(y):
        fold = _divide if op == "Div" else _FOLD[op]
        c.set_output(fold(c.consts[x], c.consts[y]))
        return
    if not (c.is_const(x) or c.is_const(y)):
        if op != "Add":
            raise c.fail(f"{op} of two computed tensors is not supported; only with a constant "
                         "operand (one value per channel, or a scalar)")
        u, v = c.value(0), c.value(1)
        if u.layout != v.layout or u.node.shape != v.node.shape:
            raise c.fail(f"inputs {u.layout} {u.onnx_shape[1:]} and {v.layout} "
                         f"{v.onnx_shape[1:]} differ; broadcasting adds are not supported")
        c.set_output(c.call(L.Add(), [u, v], u.layout))
        return
    i = 1 if c.is_const(x) else 0  # the computed operand
    v = c.raw(i)
    if v.pad is not None:
        raise c.fail("arithmetic on the output of a Pad is not supported; a Pad is supported "
                     "only right before a Conv, an AveragePool or a MaxPool after a ReLU")
    k = per_channel(c, v, c.consts[c.node.input[1 - i]])
    entry = _bias_entry(c, i, v) if op == "Add" else None
    if entry is not None:
        entry.layer.use_bias = True  # type: ignore[attr-defined]  # a Dense or a ConvBase
        entry.weights["bias"] = k
        c.set_output(Value(v.node, v.layout))
        return
    if v.affine is None:
        # A leading x − k is a BatchNorm's mean: kept as its moving mean (see materialize).
        center = k if (op, i) == ("Sub", 0) else np.zeros_like(k)
        scale, shift = np.ones_like(k), np.zeros_like(k)
    else:
        scale, shift, center = v.affine
    if op == "Add":
        shift = shift + k
    elif op == "Sub":
        scale, shift = (scale, shift - k) if i == 0 else (-scale, k - shift)
    elif op == "Mul":
        scale, shift = scale * k, shift * k
    elif i == 0:
        scale, shift = scale / k, shift / k
    else:
        raise c.fail("dividing a constant by a computed tensor is not supported; only "
                     "division by a constant")
    c.set_output(Value(v.node, v.layout, affine=(scale, shift, center),
                       steps=v.steps + op[0]))


def _unique(c: Converter, base: str) -> str:
    """``base``, or ``base_1``, ``base_2``... whichever no layer has taken yet."""
    name, k = base, 1
    while name in c.taken:
        name, k = f"{base}_{k}", k + 1
    c.taken.add(name)
    return name


def materialize(c: Converter, v: Value) -> Value:
    """Turn the pending arithmetic on ``v`` into a Rescaling or BatchNormalization layer."""
    assert v.affine is not None
    made = c.materialized.get(id(v.affine))
    if made is not None:  # the same pending arithmetic read under another name (a Cast of it)
        return Value(made.node, v.layout)
    scale, shift, center = v.affine
    # Keras' BatchNorm is Sub(mean), Mul, Add: still a BatchNorm when a fresh one's constants
    # are equal in every channel; scalar arithmetic without that shape is a rescaling.
    batchnorm = "SM" in v.steps
    uniform = not batchnorm and np.all(scale == scale[0]) and np.all(shift == shift[0])
    layer: L.BatchNormalization | L.Rescaling
    if uniform:
        layer = L.Rescaling(float(scale[0]), float(shift[0]))
    else:
        layer = L.BatchNormalization(epsilon=EPSILON)
    # Keras-like names: the file names only the first op of the arithmetic ("/Sub_3").
    layer.name = _unique(c, "rescale" if uniform else "batch_normalization")
    out = c.call(layer, Value(v.node, v.layout), v.layout)
    if not uniform:
        # x·s + t = (x − center)·s + (t + center·s): Keras' mean and beta come back as they were;
        # its gamma and variance are one factor in the file, held as gamma with variance 1 − ε.
        entry = c.keep(layer, gamma=scale, beta=shift + center * scale)
        var = np.float32(1.0) - np.float32(EPSILON)
        entry.buffers = {"moving_mean": center, "moving_variance": np.full_like(scale, var)}
    c.materialized[id(v.affine)] = out
    return Value(out.node, v.layout)


def op_unary_const(c: Converter) -> None:
    """``Sqrt``/``Reciprocal``/``Neg`` of constants (e.g. a BatchNorm's 1/√(var + ε))."""
    x = c.const(0, "the operand (only constants are folded)")
    fn = {"Sqrt": np.sqrt, "Reciprocal": np.reciprocal, "Neg": np.negative}[c.node.op_type]
    c.set_output(fn(x))


def _spatial_reduction(c: Converter) -> tuple[Value, bool]:
    """The input of a ``ReduceMean``/``ReduceMax`` over both spatial axes, and its keepdims."""
    a = attributes(c.node)
    v = c.value(0)
    axes = a.get("axes")
    if axes is None and len(c.node.input) > 1 and c.node.input[1]:
        axes = c.const(1, "axes")
    spatial = {"NCHW": [2, 3], "NHWC": [1, 2]}.get(v.layout)
    got = None if axes is None else sorted(int(i) % len(v.onnx_shape) for i in np.ravel(axes))
    if spatial is None or got != spatial:
        raise c.fail(f"axes={got} of {v.layout} {v.onnx_shape[1:]} is not supported; only the "
                     "spatial axes of maps (global pooling)")
    return v, bool(a.get("keepdims", 1))


def op_reduce_mean(c: Converter) -> None:
    """``ReduceMean`` over both spatial axes: global average pooling (keepdims 0 or 1)."""
    v, keep = _spatial_reduction(c)
    layout = ("NC11" if v.layout == "NCHW" else "N11C") if keep else "NF"
    c.set_output(c.call(L.GlobalAvgPool2D(), v, layout))


def _global_max(c: Converter, v: Value, keep: bool) -> None:
    """A max over all of H×W: a MaxPool2D whose window is the whole map (then flat)."""
    h, w = v.node.shape[0], v.node.shape[1]
    pooled = c.call(L.MaxPool2D((h, w)), v, v.layout)  # (1, 1, C) maps, layout kept
    if not keep:
        layer = L.Flatten(name=_unique(c, f"{pooled.node.layer.name}_flatten"))
        pooled = c.call(layer, pooled, "NF")
    c.set_output(pooled)


def op_reduce_max(c: Converter) -> None:
    """``ReduceMax`` over both spatial axes: global max pooling (keepdims 0 or 1)."""
    _global_max(c, *_spatial_reduction(c))


def op_global_maxpool(c: Converter) -> None:
    """``GlobalMaxPool``: (N, C, H, W) -> (N, C, 1, 1)."""
    _global_max(c, c.value(0, ("NCHW",)), True)


def op_pad(c: Converter) -> None:
    """``Pad`` with zeros on the spatial axes of maps, held for the next Conv/AveragePool."""
    a = attributes(c.node)
    mode = a.get("mode", "constant")
    if mode != "constant":
        raise c.fail(f"mode={mode!r} is not supported; only constant zero padding (folded into "
                     "the next Conv or pool)")
    if c.opset < 11:
        pads, value = a.get("pads", []), a.get("value", 0.0)
    else:
        pads = c.const(1, "pads")
        value = c.optional_const(2) if len(c.node.input) > 2 else None
        if len(c.node.input) > 3 and c.node.input[3]:
            raise c.fail("the axes input is not supported; give pads for every axis")
    value = 0.0 if value is None else float(np.ravel(value)[0])
    if value != 0.0:
        raise c.fail(f"constant value {value} is not supported; only zero padding")
    v = c.value(0, ("NCHW", "NHWC"), pad_ok=True)
    p = [int(i) for i in np.ravel(pads)]
    h, w = (2, 3) if v.layout == "NCHW" else (1, 2)
    other = [p[j] for j in range(4) if j not in (h, w)] + [p[4 + j] for j in range(4)
                                                          if j not in (h, w)]
    if len(p) != 8 or any(other) or min(p) < 0:
        raise c.fail(f"pads={p} on {v.layout} tensors is not supported; only non-negative "
                     "padding of the two spatial axes")
    old = v.pad or (0, 0, 0, 0)
    new = (old[0] + p[h], old[1] + p[4 + h], old[2] + p[w], old[3] + p[4 + w])
    c.set_output(Value(v.node, v.layout, pad=new))


AFFINE_CONVERTERS: dict[str, Callable[[Converter], None]] = {
    "Add": op_arith, "Sub": op_arith, "Mul": op_arith, "Div": op_arith,
    "Sqrt": op_unary_const, "Reciprocal": op_unary_const, "Neg": op_unary_const,
    "ReduceMean": op_reduce_mean, "ReduceMax": op_reduce_max,
    "GlobalMaxPool": op_global_maxpool, "Pad": op_pad,
}
