"""ONNX ops that become glassnet layers: Conv, Gemm/MatMul, pools, activations, merges, BN.

Each converter reads the current node from the :class:`~glassnet.onnx.importer.Converter`,
calls one glassnet layer on its input values and keeps the weights, converted to glassnet's
layouts: conv ``[F, C_in/groups, KH, KW] -> [KH, KW, C_in/groups, F]``, dense ``[in, out]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from glassnet import layers as L
from glassnet.arith.geometry import PaddingSpec, same_padding_1d
from glassnet.layers.conv import ConvBase
from glassnet.onnx.import_affine import AFFINE_CONVERTERS
from glassnet.onnx.import_shape import SHAPE_CONVERTERS
from glassnet.onnx.importer import Converter
from glassnet.onnx.layers import LeakyReLU
from glassnet.onnx.nodes import attributes
from glassnet.onnx.values import Value

MAPS = ("NCHW",)
ANY = ("NCHW", "NHWC", "NC11", "NF")


def _padding(
    c: Converter, a: dict[str, Any], kernel: tuple[int, int], strides: tuple[int, int],
    dilation: tuple[int, int], in_hw: tuple[int, int],
) -> PaddingSpec:
    """Glassnet's padding from ``auto_pad`` / ``pads`` ([top, left, bottom, right])."""
    auto = a.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return "valid"
    if auto == "SAME_UPPER":  # TensorFlow's rule: the odd pixel at the bottom/right
        return "same"
    if auto == "SAME_LOWER":
        (t, b), (left, r) = (same_padding_1d(in_hw[d], kernel[d], strides[d], dilation[d])
                             for d in range(2))
        return (b, t, r, left)  # the odd pixel moves to the top/left
    if auto not in ("NOTSET", ""):
        raise c.fail(f"auto_pad={auto!r} is unknown")
    pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
    if len(pads) != 4:
        raise c.fail(f"pads={pads} must have 4 values (2-D windows only)")
    top, left, bottom, right = pads
    return top if len(set(pads)) == 1 else (top, bottom, left, right)


def _window(c: Converter, a: dict[str, Any], kernel: Any, v: Value) -> dict[str, Any]:
    """Kernel, strides, dilations and padding of a 2-D window op (a pending Pad added)."""
    if len(kernel) != 2:
        raise c.fail(f"kernel_shape={list(kernel)}: only 2-D windows are supported")
    k = (int(kernel[0]), int(kernel[1]))
    s = tuple(int(i) for i in a.get("strides", (1, 1)))
    d = tuple(int(i) for i in a.get("dilations", (1, 1)))
    hw = (v.node.shape[0], v.node.shape[1])
    padding = _padding(c, a, k, s, d, hw)
    if v.pad is not None:
        if isinstance(padding, str) and padding != "valid":
            raise c.fail(f"auto_pad={a.get('auto_pad')!r} after a Pad node is not supported; "
                         "only explicit pads")
        own: tuple[int, ...] = (0, 0, 0, 0) if isinstance(padding, str) else (
            (padding,) * 4 if isinstance(padding, int) else tuple(int(p) for p in padding))
        total = tuple(p + q for p, q in zip(own, v.pad, strict=True))
        padding = total[0] if len(set(total)) == 1 else total
    return {"kernel": k, "strides": s, "dilation": d, "padding": padding}


def op_conv(c: Converter) -> None:
    """``Conv`` (group, dilations, pads, strides, auto_pad) -> Conv2D or DepthwiseConv2D."""
    a, v = attributes(c.node), c.value(0, MAPS, pad_ok=True)
    w, b = c.const(1, "the weight"), c.optional_const(2)
    if w.ndim != 4:
        raise c.fail(f"weight shape {list(w.shape)}: only 2-D convolutions are supported")
    f, c_group, kh, kw = w.shape
    group, c_in = int(a.get("group", 1)), v.node.shape[2]
    if c_group * group != c_in:
        raise c.fail(f"weight {list(w.shape)} with group={group} does not fit C_in={c_in}")
    g = _window(c, a, a.get("kernel_shape", (kh, kw)), v)
    if g["kernel"] != (kh, kw):
        raise c.fail(f"kernel_shape={list(g['kernel'])} differs from the weight {list(w.shape)}")
    common = {"strides": g["strides"], "padding": g["padding"], "dilation_rate": g["dilation"],
              "use_bias": b is not None}
    layer: ConvBase
    if group == c_in and group > 1 and f % c_in == 0:
        layer = L.DepthwiseConv2D(g["kernel"], depth_multiplier=f // c_in, **common)
    else:
        layer = L.Conv2D(int(f), g["kernel"], groups=group, **common)
    c.set_output(c.call(layer, v, "NCHW"))
    c.keep(layer, kernel=w.transpose(2, 3, 1, 0), **({} if b is None else {"bias": b}))


def _dense(c: Converter, v: Value, w: np.ndarray, bias: np.ndarray | None) -> None:
    """Dense with kernel ``w`` [in, out] on the flat value ``v``."""
    if w.shape[0] != v.node.shape[0]:
        raise c.fail(f"weight [in, out] = {list(w.shape)} does not fit {v.node.shape[0]} inputs")
    layer = L.Dense(int(w.shape[1]), use_bias=bias is not None)
    c.set_output(c.call(layer, v, "NF"))
    c.keep(layer, kernel=w, **({} if bias is None else {"bias": bias}))


def op_gemm(c: Converter) -> None:
    """``Gemm``: Y = alpha·X·B' + beta·C (transB allowed; X must be the left operand)."""
    a, v = attributes(c.node), c.value(0, ("NF",))
    if a.get("transA", 0):
        raise c.fail("transA=1 is not supported (the input must be the left operand)")
    b = c.const(1, "B")
    w = (b.T if a.get("transB", 0) else b) * np.float32(a.get("alpha", 1.0))
    bias = c.optional_const(2)
    if bias is not None:
        if bias.size not in (1, w.shape[1]) or bias.ndim > 2 or (bias.ndim == 2 and len(bias) != 1):
            raise c.fail(f"C of shape {list(bias.shape)} is not a per-unit bias ({w.shape[1]})")
        bias = np.broadcast_to(bias.reshape(-1), (w.shape[1],)) * np.float32(a.get("beta", 1.0))
    _dense(c, v, w, bias)


def op_matmul(c: Converter) -> None:
    """``MatMul`` of the features by a constant [in, out] (an ``Add`` after it is the bias)."""
    w = c.const(1, "the right operand")
    if w.ndim != 2:
        raise c.fail(f"the constant has shape {list(w.shape)}; expected [in, out]")
    _dense(c, c.value(0, ("NF",)), w, None)


def op_concat(c: Converter) -> None:
    """``Concat`` of tensors (along channels or a spatial axis), or of constants (folded)."""
    axis = int(attributes(c.node)["axis"])
    names = list(c.node.input)
    if all(c.is_const(n) for n in names):
        c.set_output(np.concatenate([c.consts[n] for n in names], axis=axis))
        return
    vs = [c.value(i) for i in range(len(names))]
    layout = vs[0].layout
    if any(v.layout != layout for v in vs):
        raise c.fail(f"inputs have different layouts {[v.layout for v in vs]}")
    axis %= len(vs[0].onnx_shape)
    public = {"NCHW": {1: -1, 2: 1, 3: 2}, "NHWC": {1: 1, 2: 2, 3: -1}}.get(layout, {1: -1})
    if axis not in public:
        raise c.fail(f"axis={axis} of {layout} tensors is not supported")
    c.set_output(c.call(L.Concatenate(axis=public[axis]), vs, layout))


def _activation(make: Callable[[dict[str, Any]], Any]) -> Callable[[Converter], None]:
    """A converter for an elementwise activation (any layout, kept)."""

    def convert(c: Converter) -> None:
        v = c.value(0, ANY)
        c.set_output(c.call(make(attributes(c.node)), v, v.layout))

    return convert


def op_clip(c: Converter) -> None:
    """``Clip(min=0, max=M)`` -> ReLU(max_value=M) (ReLU6 for M = 6); other mins are errors."""
    a = attributes(c.node)
    lo = a.get("min") if c.opset < 11 else c.optional_const(1)
    hi = a.get("max") if c.opset < 11 else c.optional_const(2)
    lo = None if lo is None else float(np.ravel(lo)[0])
    hi = None if hi is None or np.isinf(np.ravel(hi)[0]) else float(np.ravel(hi)[0])
    if lo != 0.0 or (hi is not None and hi <= 0):
        raise c.fail(f"Clip(min={lo}, max={hi}) is not supported; only min=0 (ReLU, ReLU6)")
    v = c.value(0, ANY)
    c.set_output(c.call(L.ReLU(max_value=hi), v, v.layout))


def op_softmax(c: Converter) -> None:
    """``Softmax`` over channels (or features); opset < 13 on maps only when H = W = 1."""
    v = c.value(0, ANY)
    rank = len(v.onnx_shape)
    axis = int(attributes(c.node).get("axis", 1 if c.opset < 13 else -1)) % rank
    flattening = c.opset < 13 and rank == 4 and v.layout != "NC11"
    public = {"NCHW": {1: -1, 2: 1, 3: 2}, "NHWC": {1: 1, 2: 2, 3: -1},
              "N11C": {3: -1}}.get(v.layout, {1: -1})
    if flattening or axis not in public:
        raise c.fail(f"axis={axis} on {v.layout} {v.onnx_shape[1:]} (opset {c.opset}) is not "
                     "supported; only the channel (or feature) axis")
    c.set_output(c.call(L.Softmax(axis=public[axis]), v, v.layout))


def op_maxpool(c: Converter) -> None:
    """``MaxPool`` (pads, strides, ceil_mode, auto_pad; no dilation, no Indices output).

    A zero Pad before it folds into its padding only after a ReLU: there every value is ≥ 0, so
    a zero in a window that also holds a real value never wins over it (the pads must be
    smaller than the window).
    """
    a, v = attributes(c.node), c.value(0, MAPS, pad_ok=True)
    c.check_outputs(1)
    g = _window(c, a, a["kernel_shape"], v)
    if v.pad is not None:
        p = g["padding"]
        pads = [p] * 4 if isinstance(p, int) else list(p)
        if not isinstance(v.node.layer, L.ReLU) or max(pads) >= min(g["kernel"]):
            raise c.fail("a Pad before a MaxPool is supported only on ReLU outputs with pads "
                         f"smaller than the window; got pads {pads} after "
                         f"{type(v.node.layer).__name__}")
    if g["dilation"] != (1, 1):
        raise c.fail(f"dilations={list(g['dilation'])} are not supported for pooling")
    layer = L.MaxPool2D(g["kernel"], strides=g["strides"], padding=g["padding"],
                        ceil_mode=bool(a.get("ceil_mode", 0)))
    c.set_output(c.call(layer, v, "NCHW"))


def op_avgpool(c: Converter) -> None:
    """``AveragePool`` (count_include_pad, ceil_mode, pads, strides, auto_pad).

    A zero Pad before it (with no pads of its own) counts its zeros, as ONNX does.
    """
    a, v = attributes(c.node), c.value(0, MAPS, pad_ok=True)
    if v.pad is not None:
        if any(int(p) for p in a.get("pads", [0])) or a.get("auto_pad", "NOTSET") != "NOTSET":
            raise c.fail("a Pad node before an AveragePool with pads of its own is not "
                         "supported; only one of the two")
        a["count_include_pad"] = 1
    g = _window(c, a, a["kernel_shape"], v)
    if g["dilation"] != (1, 1):
        raise c.fail(f"dilations={list(g['dilation'])} are not supported for pooling")
    layer = L.AvgPool2D(g["kernel"], strides=g["strides"], padding=g["padding"],
                        ceil_mode=bool(a.get("ceil_mode", 0)),
                        count_include_pad=bool(a.get("count_include_pad", 0)))
    c.set_output(c.call(layer, v, "NCHW"))


def op_global_avgpool(c: Converter) -> None:
    """``GlobalAveragePool``: (N, C, H, W) -> (N, C, 1, 1), held as flat (C,)."""
    c.set_output(c.call(L.GlobalAvgPool2D(), c.value(0, MAPS), "NC11"))


def op_batchnorm(c: Converter) -> None:
    """``BatchNormalization`` over channels or features.

    A training-mode export (``training_mode=1``) is read as the same layer with the running
    statistics the file carries: glassnet's BatchNorm uses batch statistics when training and
    the moving ones at inference, as the original did.
    """
    a, v = attributes(c.node), c.value(0, ("NCHW", "NC11", "N11C", "NF"))
    c.check_outputs(1)
    layer = L.BatchNormalization(momentum=float(a.get("momentum", 0.9)),
                                 epsilon=float(a.get("epsilon", 1e-5)))
    c.set_output(c.call(layer, v, v.layout))
    entry = c.keep(layer, gamma=c.const(1, "scale"), beta=c.const(2, "B"))
    entry.buffers = {"moving_mean": c.const(3, "mean"), "moving_variance": c.const(4, "var")}


def op_dropout(c: Converter) -> None:
    """``Dropout`` (identity at inference; kept as a layer with its rate)."""
    v = c.value(0, ANY)
    c.check_outputs(1)
    ratio = attributes(c.node).get("ratio", 0.5) if c.opset < 12 else c.optional_const(1)
    rate = 0.5 if ratio is None else float(np.ravel(ratio)[0])
    c.set_output(c.call(L.Dropout(rate), v, v.layout))


CONVERTERS: dict[str, Callable[[Converter], None]] = {
    "Conv": op_conv, "Gemm": op_gemm, "MatMul": op_matmul, "Concat": op_concat,
    "Relu": _activation(lambda a: L.ReLU()),
    "LeakyRelu": _activation(lambda a: LeakyReLU(alpha=float(a.get("alpha", 0.01)))),
    "Sigmoid": _activation(lambda a: L.Activation("sigmoid")),
    "Tanh": _activation(lambda a: L.Activation("tanh")),
    "Clip": op_clip, "Softmax": op_softmax, "MaxPool": op_maxpool, "AveragePool": op_avgpool,
    "GlobalAveragePool": op_global_avgpool, "BatchNormalization": op_batchnorm,
    "Dropout": op_dropout, **SHAPE_CONVERTERS, **AFFINE_CONVERTERS,
}


def supported_ops() -> list[str]:
    """The ONNX op types the importer reads, sorted."""
    return sorted(CONVERTERS)
