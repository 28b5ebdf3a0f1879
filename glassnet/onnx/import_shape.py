"""ONNX ops that move data without computing: constants, shape arithmetic and flattening.

Shape arithmetic (``Shape``, ``Gather``, ``Unsqueeze``, ``Squeeze``, ``Concat``, ``Cast`` on
constants) is folded with NumPy, the batch size standing as :data:`~glassnet.onnx.values.BATCH`;
that is how PyTorch's ``x.view(x.size(0), -1)`` reaches a ``Reshape`` as ``[N, -1]``.
"""

from __future__ import annotations

import math

import numpy as np

from glassnet.onnx.importer import Converter
from glassnet.onnx.layers import FlattenCHW
from glassnet.onnx.nodes import attributes
from glassnet.onnx.values import BATCH, Value


def _flatten(c: Converter, v: Value) -> Value:
    """Flatten one sample: NCHW keeps ONNX's C, H, W order, NHWC glassnet's H, W, C."""
    from glassnet.layers import Flatten

    if v.layout in ("NF", "NC11", "N11C"):
        return Value(v.node, "NF")  # (N, C, 1, 1) -> (N, C) is the same order either way
    return c.call(FlattenCHW() if v.layout == "NCHW" else Flatten(), v, "NF")


def op_flatten(c: Converter) -> None:
    """``Flatten(axis=1)``: (N, ...) -> (N, F)."""
    v = c.value(0)
    axis = attributes(c.node).get("axis", 1)
    if axis % len(v.onnx_shape) != 1:
        raise c.fail(f"axis={axis} is not supported; only axis=1 (keep the batch axis)")
    c.set_output(_flatten(c, v))


def op_reshape(c: Converter) -> None:
    """``Reshape`` to ``[N, -1]`` (or ``[N, F]``) after maps; constants are folded."""
    shape = [int(s) for s in c.const(1, "the target shape")]
    if c.is_const(c.node.input[0]):
        c.set_output(c.consts[c.node.input[0]].reshape(shape))
        return
    v = c.value(0)
    allowzero = attributes(c.node).get("allowzero", 0)
    dims = v.onnx_shape
    target = [dims[i] if s == 0 and not allowzero and i < len(dims) else s
              for i, s in enumerate(shape)]
    features = math.prod(dims[1:])
    # A static-batch export writes its batch as a number: the same flattening per sample.
    batches = (BATCH, 1) if c.file_batch is None else (BATCH, 1, c.file_batch)
    ok = len(target) == 2 and (
        (target[0] in batches and target[1] in (-1, features))
        or (target[0] == -1 and target[1] == features)
    )
    if not ok:
        shown = ", ".join("N" if s == BATCH else str(s) for s in target)
        raise c.fail(
            f"Reshape of {v.layout} {dims[1:]} to [{shown}] is not supported; only [N, -1] "
            "(flattening each sample; N the batch"
            + (f", or the file's static batch {c.file_batch})" if c.file_batch else ")")
        )
    c.set_output(_flatten(c, v))


def op_transpose(c: Converter) -> None:
    """Fold constants; on maps, (0, 2, 3, 1) tags NHWC and (0, 3, 1, 2) back to NCHW."""
    perm = attributes(c.node).get("perm")
    if c.is_const(c.node.input[0]):
        c.set_output(np.transpose(c.consts[c.node.input[0]], perm))
        return
    v = c.raw(0)  # pending arithmetic or padding is per channel/spatial: it moves along
    exclusive = c.consumers[c.node.input[0]] == 1
    perm = list(range(len(v.onnx_shape)))[::-1] if perm is None else list(perm)
    turns = {("NCHW", (0, 2, 3, 1)): "NHWC", ("NHWC", (0, 3, 1, 2)): "NCHW",
             ("NC11", (0, 2, 3, 1)): "N11C", ("N11C", (0, 3, 1, 2)): "NC11"}
    if perm == sorted(perm):
        c.set_output(v.alias(exclusive=exclusive))
    elif (v.layout, tuple(perm)) in turns:
        c.set_output(v.alias(turns[v.layout, tuple(perm)], exclusive))
    else:
        allowed = [list(p) for (lay, p) in turns if lay == v.layout]
        raise c.fail(
            f"perm={perm} on {v.layout} tensors is not supported; on {v.layout} only "
            f"{allowed[0] if allowed else 'the identity'} (NCHW <-> NHWC)"
        )


def _axes(c: Converter) -> list[int] | None:
    """The ``axes`` of Squeeze/Unsqueeze: an attribute before opset 13, an input after."""
    a = attributes(c.node).get("axes")
    if a is None and len(c.node.input) > 1 and c.node.input[1]:
        a = c.const(1, "axes")
    return None if a is None else [int(i) for i in np.ravel(a)]


def op_squeeze(c: Converter) -> None:
    """Fold constants; (N, C, 1, 1) after GlobalAveragePool -> (N, C)."""
    axes = _axes(c)
    if c.is_const(c.node.input[0]):
        x = c.consts[c.node.input[0]]
        c.set_output(np.squeeze(x, axis=None if axes is None else tuple(axes)))
        return
    v = c.value(0, ("NC11", "N11C"))
    want = [2, 3] if v.layout == "NC11" else [1, 2]
    if axes is None or sorted(a % 4 for a in axes) != want:
        raise c.fail(f"axes={axes} of {v.layout} is not supported; only {tuple(want)}")
    c.set_output(Value(v.node, "NF"))


def op_unsqueeze(c: Converter) -> None:
    """Fold constants (shape arithmetic)."""
    x = c.const(0, "the data")
    axes = _axes(c) or []
    out = x
    rank = x.ndim + len(axes)
    for a in sorted(i % rank for i in axes):
        out = np.expand_dims(out, a)
    c.set_output(out)


def op_constant(c: Converter) -> None:
    """``Constant``: ``value``, ``value_float(s)`` or ``value_int(s)``."""
    a = attributes(c.node)
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            c.set_output(np.asarray(a[key], dtype=dtype))
            return
    raise c.fail(f"attributes {sorted(a)} are not supported; expected value, value_float(s) "
                 "or value_int(s)")


def op_identity(c: Converter) -> None:
    """Pass the input through (constant or computed)."""
    name = c.node.input[0]
    exclusive = c.consumers[name] == 1
    c.set_output(c.consts[name] if c.is_const(name) else c.raw(0).alias(exclusive=exclusive))


def op_shape(c: Converter) -> None:
    """The shape as int64, the batch dim as BATCH; ``start``/``end`` slice it (opset 15)."""
    name = c.node.input[0]
    shape = list(c.consts[name].shape) if c.is_const(name) else c.raw(0).onnx_shape
    a = attributes(c.node)
    c.set_output(np.array(shape[a.get("start", 0):a.get("end", len(shape))], dtype=np.int64))


def op_gather(c: Converter) -> None:
    """Fold ``Gather`` on constants."""
    data, idx = c.const(0, "the data"), c.const(1, "the indices")
    c.set_output(np.take(data, idx.astype(np.int64), axis=attributes(c.node).get("axis", 0)))


def op_cast(c: Converter) -> None:
    """Fold ``Cast`` on constants; a cast of a computed tensor to float32 is the identity."""
    from glassnet.onnx._deps import require_onnx

    to = np.dtype(require_onnx().helper.tensor_dtype_to_np_dtype(attributes(c.node)["to"]))
    name = c.node.input[0]
    if c.is_const(name):
        c.set_output(c.consts[name].astype(to))
    elif to == np.float32:
        c.set_output(c.raw(0).alias(exclusive=c.consumers[name] == 1))
    else:
        raise c.fail(f"a cast of a computed tensor to {to} is not supported")


def op_constant_of_shape(c: Converter) -> None:
    """Fold ``ConstantOfShape`` (Keras builds padding amounts with it)."""
    shape = [int(i) for i in np.ravel(c.const(0, "the shape"))]
    value = attributes(c.node).get("value")
    fill = np.zeros(1, np.float32) if value is None else np.ravel(value)
    c.set_output(np.full(shape, fill[0], dtype=fill.dtype))


def op_slice(c: Converter) -> None:
    """Fold ``Slice`` on constants (starts/ends/axes/steps: attributes before opset 10)."""
    data = c.const(0, "the data (only constants are sliced)")
    a = attributes(c.node)
    if c.opset < 10:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = c.const(1, "starts"), c.const(2, "ends")
        axes, steps = c.optional_const(3), c.optional_const(4)
    starts, ends = np.ravel(starts), np.ravel(ends)
    axes = range(len(starts)) if axes is None else np.ravel(axes)
    steps = np.ones(len(starts), np.int64) if steps is None else np.ravel(steps)
    index = [slice(None)] * data.ndim
    for ax, lo, hi, st in zip(axes, starts, ends, steps, strict=True):
        n = data.shape[int(ax)]
        # ONNX clamps ends like INT64_MAX; Python slices clamp too, once they fit an int.
        index[int(ax)] = slice(int(max(min(lo, n), -n - 1)), int(max(min(hi, n), -n - 1)),
                               int(st))
    c.set_output(data[tuple(index)])


SHAPE_CONVERTERS = {
    "ConstantOfShape": op_constant_of_shape, "Slice": op_slice,
    "Flatten": op_flatten, "Reshape": op_reshape, "Transpose": op_transpose,
    "Squeeze": op_squeeze, "Unsqueeze": op_unsqueeze, "Constant": op_constant,
    "Identity": op_identity, "Shape": op_shape, "Gather": op_gather, "Cast": op_cast,
}
