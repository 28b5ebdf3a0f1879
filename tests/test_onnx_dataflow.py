"""The importer reads ONNX by dataflow: patterns written with onnx.helper, checked by onnxruntime.

Each graph spells one layer the way some exporter does (a bias as a broadcast ``Add``, BatchNorm
as ``Sub``/``Div``/``Sqrt``/``Mul``/``Add``, global pooling as ``ReduceMean``, a ``Pad`` before a
window op); each refusal must name the node and its op in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from glassnet.errors import GlassnetError  # noqa: E402
from glassnet.models.summary import summarize  # noqa: E402
from glassnet.onnx import load_onnx_model  # noqa: E402

TOL = 1e-5


class G:
    """A tiny graph builder: nodes named ``op`` + a counter, random float32 initializers."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.rng = np.random.default_rng(0)

    def c(self, array: Any) -> str:
        name = f"k{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def w(self, *shape: int, lo: float = -0.5, hi: float = 0.5) -> str:
        return self.c(self.rng.uniform(lo, hi, shape).astype(np.float32))

    def op(self, op: str, inputs: list[str], **attrs: Any) -> str:
        name = f"{op.lower()}{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def save(self, path: Path, shape: list[Any], out: str) -> Path:
        graph = helper.make_graph(
            self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        model.ir_version = 8
        onnx.save(model, str(path))
        return path


def check(path: Path, nchw: bool = True) -> Any:
    """Import ``path``; its predictions must equal onnxruntime's on the same batch."""
    model = load_onnx_model(path)
    x = np.random.default_rng(1).standard_normal((3, *model.input_shape)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if nchw else x
    ref = model.from_onnx_output(sess.run(None, {"x": feed})[0])
    np.testing.assert_allclose(model.predict(x), ref, rtol=TOL, atol=TOL)
    return model


@pytest.mark.parametrize("zero", [True, False])
def test_nchw_bias_add_folds_into_the_conv(zero: bool, tmp_path: Path) -> None:
    g = G()
    bias = np.zeros((1, 4, 1, 1), np.float32) if zero else g.rng.uniform(-1, 1, (1, 4, 1, 1))
    y = g.op("Relu", [g.op("Add", [g.op("Conv", ["x", g.w(4, 3, 3, 3)]),
                                   g.c(bias.astype(np.float32))])])
    model = check(g.save(tmp_path / "m.onnx", ["N", 3, 6, 6], y))
    assert [type(la).__name__ for la in model.layers] == ["Conv2D", "ReLU"]
    assert model.count_params() == 4 * 27 + 4


def test_batchnorm_written_with_div_and_sqrt(tmp_path: Path) -> None:
    """(x − mean) / √(var + ε) · γ + β, all constants per channel: one BatchNorm layer."""
    g = G()
    h = g.op("Conv", ["x", g.w(4, 3, 3, 3), g.w(4)])
    std = g.op("Sqrt", [g.op("Add", [g.w(1, 4, 1, 1, lo=0.5, hi=2.0), g.c(np.float32(1e-3))])])
    h = g.op("Div", [g.op("Sub", [h, g.w(1, 4, 1, 1)]), std])
    y = g.op("Add", [g.op("Mul", [h, g.w(4, 1, 1, lo=0.5, hi=1.5)]), g.w(4, 1, 1)])
    model = check(g.save(tmp_path / "m.onnx", ["N", 3, 6, 6], y))
    assert [type(la).__name__ for la in model.layers] == ["Conv2D", "BatchNormalization"]
    info = summarize(model)
    assert (info["trainable_params"], info["non_trainable_params"]) == (4 * 27 + 4 + 8, 8)


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("op,layer", [("ReduceMean", "GlobalAvgPool2D"),
                                      ("ReduceMax", "MaxPool2D")])
def test_reduce_over_space_is_global_pooling(op: str, layer: str, keepdims: int,
                                             tmp_path: Path) -> None:
    g = G()
    h = g.op("Conv", ["x", g.w(5, 3, 3, 3)])
    h = g.op(op, [h, g.c(np.array([2, 3]))], keepdims=keepdims)
    y = g.op("Softmax", [g.op("Flatten", [h]) if keepdims else h], axis=1)
    model = check(g.save(tmp_path / "m.onnx", ["N", 3, 7, 7], y))
    assert layer in [type(la).__name__ for la in model.layers]


def test_global_max_pool(tmp_path: Path) -> None:
    g = G()
    y = g.op("GlobalMaxPool", [g.op("Conv", ["x", g.w(5, 3, 3, 3)])])
    check(g.save(tmp_path / "m.onnx", ["N", 3, 7, 6], y))


def test_nhwc_input_through_casts_pad_and_rescaling(tmp_path: Path) -> None:
    """Cast, Identity, x·s + t and a zero Pad (NHWC pads) before the NHWC -> NCHW Transpose."""
    g = G()
    h = g.op("Identity", [g.op("Cast", ["x"], to=TensorProto.FLOAT)])
    h = g.op("Add", [g.op("Mul", [h, g.c(np.float32(2.0))]), g.c(np.float32(-1.0))])
    h = g.op("Pad", [h, g.c(np.array([0, 1, 2, 0, 0, 2, 1, 0]))])
    h = g.op("Conv", [g.op("Transpose", [h], perm=[0, 3, 1, 2]), g.w(4, 2, 3, 3)])
    y = g.op("AveragePool", [g.op("Pad", [h, g.c(np.array([0, 0, 1, 1, 0, 0, 0, 0]))])],
             kernel_shape=[2, 2], strides=[2, 2])
    model = check(g.save(tmp_path / "m.onnx", ["N", 5, 5, 2], y), nchw=False)
    assert model.onnx_input_layout == "NHWC"
    assert [type(la).__name__ for la in model.layers] == ["Rescaling", "Conv2D", "AvgPool2D"]


def test_pad_then_maxpool_after_relu(tmp_path: Path) -> None:
    """Zeros never win a max over ReLU outputs: the Pad folds into the MaxPool's padding."""
    g = G()
    h = g.op("Relu", [g.op("Conv", ["x", g.w(4, 3, 3, 3)])])
    h = g.op("Pad", [h, g.c(np.array([0, 0, 1, 0, 0, 0, 1, 1]))])
    y = g.op("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1])
    model = check(g.save(tmp_path / "m.onnx", ["N", 3, 9, 8], y))
    assert [type(la).__name__ for la in model.layers] == ["Conv2D", "ReLU", "MaxPool2D"]


def test_static_batch_reshape(tmp_path: Path) -> None:
    g = G()
    h = g.op("Relu", [g.op("Conv", ["x", g.w(2, 3, 3, 3)])])
    y = g.op("Gemm", [g.op("Reshape", [h, g.c(np.array([3, -1]))]), g.w(5, 2 * 4 * 4)], transB=1)
    check(g.save(tmp_path / "m.onnx", [3, 3, 6, 6], y))


def _pad(mode: str = "constant", value: float | None = None) -> Callable[[G], str]:
    def make(g: G) -> str:
        ins = ["x", g.c(np.array([0, 0, 1, 1, 0, 0, 1, 1]))]
        if value is not None:
            ins.append(g.c(np.float32(value)))
        return g.op("Conv", [g.op("Pad", ins, mode=mode), g.w(2, 3, 3, 3)])
    return make


REFUSALS: dict[str, tuple[Callable[[G], str], str]] = {
    "reflect_pad": (_pad("reflect"), r"'pad0' \(Pad\): mode='reflect' is not supported; only"),
    "nonzero_pad": (_pad(value=1.0), r"'pad0' \(Pad\): constant value 1.0 is not supported"),
    "pad_before_maxpool": (
        lambda g: g.op("MaxPool", [g.op("Pad", ["x", g.c(np.array([0, 0, 1, 1, 0, 0, 1, 1]))])],
                       kernel_shape=[2, 2]),
        r"'maxpool1' \(MaxPool\): a Pad before a MaxPool is supported only on ReLU outputs "
        r"with pads smaller than the window; got pads \[1, 1, 1, 1\] after Input"),
    "pad_before_relu": (
        lambda g: g.op("Relu", [g.op("Pad", ["x", g.c(np.array([0, 0, 1, 1, 0, 0, 1, 1]))])]),
        r"'relu1' \(Relu\): input 0 is zero-padded by a Pad node; a Pad is supported only "
        r"right before a Conv, an AveragePool or a MaxPool after a ReLU"),
    "pad_channels": (
        lambda g: g.op("Conv", [g.op("Pad", ["x", g.c(np.array([0, 1, 0, 0, 0, 0, 0, 0]))]),
                                g.w(2, 4, 3, 3)]),
        r"'pad0' \(Pad\): pads=\[0, 1, 0, 0, 0, 0, 0, 0\] on NCHW tensors is not supported"),
    "not_per_channel": (lambda g: g.op("Mul", ["x", g.w(1, 1, 6, 6)]),
                        r"'mul0' \(Mul\): constant \[1, 1, 6, 6\] is not one value per channel"),
    "divide_by_tensor": (lambda g: g.op("Div", [g.c(np.float32(1)), "x"]),
                         r"'div0' \(Div\): dividing a constant by a computed tensor"),
    "mul_two_tensors": (lambda g: g.op("Mul", ["x", "x"]),
                        r"'mul0' \(Mul\): Mul of two computed tensors is not supported"),
    "reduce_channels": (lambda g: g.op("ReduceMean", ["x", g.c(np.array([1]))]),
                        r"'reducemean0' \(ReduceMean\): axes=\[1\] of NCHW .* only the spatial"),
    "softmax_batch": (lambda g: g.op("Softmax", [g.op("Flatten", ["x"])], axis=0),
                      r"'softmax1' \(Softmax\): axis=0 on NF \[108\] .* only the channel"),
    "transpose_nchw": (lambda g: g.op("Transpose", ["x"], perm=[0, 2, 1, 3]),
                       r"'transpose0' \(Transpose\): perm=\[0, 2, 1, 3\] on NCHW tensors is not "
                       r"supported; on NCHW only \[0, 2, 3, 1\]"),
    "reshape_other_batch": (
        lambda g: g.op("Reshape", ["x", g.c(np.array([4, -1]))]),
        r"'reshape0' \(Reshape\): .*to \[4, -1\] is not supported; .*static batch 2\)"),
    "bad_constant_reshape": (
        lambda g: g.op("Add", ["x", g.op("Reshape", [g.w(26), g.c(np.array([32]))])]),
        r"'reshape0' \(Reshape\): cannot be read \(ValueError: cannot reshape"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_name_node_and_op(case: str, tmp_path: Path) -> None:
    make, pattern = REFUSALS[case]
    g = G()
    path = g.save(tmp_path / "m.onnx", [2, 3, 6, 6], make(g))
    with pytest.raises(GlassnetError, match=pattern) as info:
        load_onnx_model(path)
    assert len(str(info.value).splitlines()) == 1


def test_pending_arithmetic_read_twice_becomes_one_layer(tmp_path: Path) -> None:
    """A BatchNorm-as-arithmetic read by two Casts (a residual) is one layer, not two."""
    g = G()
    h = g.op("Conv", ["x", g.w(3, 3, 3, 3), g.w(3)])
    h = g.op("Add", [g.op("Mul", [h, g.w(1, 3, 1, 1, lo=0.5, hi=1.5)]), g.w(1, 3, 1, 1)])
    a, b = g.op("Cast", [h], to=TensorProto.FLOAT), g.op("Cast", [h], to=TensorProto.FLOAT)
    y = g.op("Add", [g.op("Relu", [a]), b])
    model = check(g.save(tmp_path / "m.onnx", ["N", 3, 6, 6], y))
    assert [type(la).__name__ for la in model.layers].count("BatchNormalization") == 1
