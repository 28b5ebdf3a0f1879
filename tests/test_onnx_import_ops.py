"""ONNX import op by op: graphs written with ``onnx.helper`` (independent of glassnet's exporter),
run by onnxruntime and by the imported glassnet model (float32, 1e-5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from glassnet.errors import GlassnetError  # noqa: E402
from glassnet.onnx import load_onnx_model  # noqa: E402

TOL = 1e-5


class G:
    """A small graph builder: ``w`` adds a weight initializer (counted), ``c`` a constant."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.weights = 0
        self.k = 0

    def w(self, *shape: int, positive: bool = False) -> str:
        arr = self.rng.uniform(0.5, 1.5, shape) if positive else self.rng.normal(0, 0.5, shape)
        self.weights += arr.size
        return self.c(arr.astype(np.float32))

    def c(self, arr: Any) -> str:
        name = f"const{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op: str, inputs: list[str], n_out: int = 1, **attrs: Any) -> str:
        self.k += 1
        outs = [f"t{self.k}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=f"{op.lower()}{self.k}", **attrs))
        return outs[0]

    def save(self, path: Path, x_dims: list[Any], y: str, opset: int = 17) -> Path:
        self.nodes.append(helper.make_node("Identity", [y], ["y"], name="out"))
        graph = helper.make_graph(
            self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        model = onnx.shape_inference.infer_shapes(model)  # fills in the output's shape
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(path))
        return path


def run_both(path: Path, hwc: tuple[int, ...], n: int = 3, **kw: Any) -> tuple[Any, float]:
    model = load_onnx_model(path, **kw)
    x = np.random.default_rng(1).standard_normal((n, *hwc)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = model.from_onnx_output(sess.run(None, {"x": model.to_onnx_input(x)})[0])
    out = model.predict(x)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=TOL, atol=TOL)
    return model, float(np.abs(out - ref).max())


CONV_CASES = {
    "pads_1": dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    "asymmetric_pads_stride_2": dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 2]),
    "same_upper_odd": dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    "same_lower": dict(kernel_shape=[4, 4], strides=[2, 2], auto_pad="SAME_LOWER"),
    "valid": dict(kernel_shape=[3, 2], auto_pad="VALID"),
    "dilated": dict(kernel_shape=[3, 3], dilations=[2, 2], pads=[2, 2, 2, 2]),
    "grouped": dict(kernel_shape=[3, 3], group=2),
    "depthwise_x2": dict(kernel_shape=[3, 3], group=4, pads=[1, 1, 1, 1]),
    "no_bias": dict(kernel_shape=[1, 1]),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_attributes(case: str, tmp_path: Path) -> None:
    a = CONV_CASES[case]
    g, c_in = G(), 4
    f = 8 if case == "depthwise_x2" else 6
    kh, kw = a["kernel_shape"]
    inputs = ["x", g.w(f, c_in // a.get("group", 1), kh, kw)]
    if case != "no_bias":
        inputs.append(g.w(f))
    y = g.op("Conv", inputs, **a)
    model, _ = run_both(g.save(tmp_path / "m.onnx", ["N", c_in, 9, 9], y), (9, 9, c_in))
    assert model.count_params() == g.weights
    kind = type(model.layers[0]).__name__
    assert kind == ("DepthwiseConv2D" if case == "depthwise_x2" else "Conv2D")


@pytest.mark.parametrize("trans_b,alpha,beta,c_shape", [
    (0, 1.0, 1.0, (5,)), (1, 0.5, 2.0, (1, 5)), (1, 1.0, 1.0, None),
])
def test_gemm_after_channel_first_flatten(trans_b: int, alpha: float, beta: float,
                                          c_shape: Any, tmp_path: Path) -> None:
    g = G()
    h = g.op("Conv", ["x", g.w(3, 2, 3, 3), g.w(3)], kernel_shape=[3, 3])
    flat = g.op("Flatten", [h], axis=1)
    inputs = [flat, g.w(*((5, 27) if trans_b else (27, 5)))]
    if c_shape:
        inputs.append(g.w(*c_shape))
    y = g.op("Gemm", inputs, alpha=alpha, beta=beta, transB=trans_b)
    model, _ = run_both(g.save(tmp_path / "m.onnx", ["N", 2, 5, 5], y), (5, 5, 2))
    assert model.count_params() == g.weights


def test_matmul_add_is_one_dense(tmp_path: Path) -> None:
    g = G()
    y = g.op("Add", [g.op("MatMul", ["x", g.w(12, 7)]), g.w(7)])
    model, _ = run_both(g.save(tmp_path / "m.onnx", ["N", 12], y), (12,))
    assert [type(la).__name__ for la in model.layers] == ["Dense"]
    assert model.count_params() == 12 * 7 + 7


@pytest.mark.parametrize("op,attrs,extra", [
    ("Relu", {}, 0), ("LeakyRelu", {"alpha": 0.3}, 0), ("Sigmoid", {}, 0), ("Tanh", {}, 0),
    ("Clip", {}, 2), ("Clip", {}, 1), ("Softmax", {"axis": 1}, 0), ("Softmax", {}, 0),
])
def test_activations_on_maps(op: str, attrs: dict[str, Any], extra: int, tmp_path: Path) -> None:
    g = G()
    h = g.op("Conv", ["x", g.w(4, 3, 1, 1), g.w(4)], kernel_shape=[1, 1])
    h = g.op("Mul", [h, g.c(np.float32(5))]) if False else h
    inputs = [h] + [g.c(np.float32(v)) for v in (0.0, 6.0)][:extra]
    y = g.op(op, inputs, **attrs)
    run_both(g.save(tmp_path / "m.onnx", ["N", 3, 4, 5], y), (4, 5, 3))


POOL_CASES = {
    "max_pad_ceil": ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                     ceil_mode=1)),
    "max_overlap_asym": ("MaxPool", dict(kernel_shape=[3, 2], strides=[2, 1], pads=[0, 0, 1, 1])),
    "avg_exclude_pad": ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2],
                                            pads=[1, 1, 1, 1])),
    "avg_include_pad": ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2],
                                            pads=[1, 1, 1, 1], count_include_pad=1)),
    "avg_ceil": ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    "avg_same_upper": ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2],
                                           auto_pad="SAME_UPPER")),
}


@pytest.mark.parametrize("case", POOL_CASES)
def test_pools(case: str, tmp_path: Path) -> None:
    op, attrs = POOL_CASES[case]
    g = G()
    y = g.op(op, ["x"], **attrs)
    run_both(g.save(tmp_path / "m.onnx", ["N", 3, 9, 9], y), (9, 9, 3))


@pytest.mark.parametrize("tail", ["Flatten", "Squeeze", "Reshape", "none"])
def test_global_avgpool_then_flat(tail: str, tmp_path: Path) -> None:
    g = G()
    h = g.op("GlobalAveragePool", [g.op("Relu", ["x"])])
    if tail == "Flatten":
        h = g.op("Flatten", [h])
    elif tail == "Squeeze":
        h = g.op("Squeeze", [h, g.c(np.array([2, 3], dtype=np.int64))])
    elif tail == "Reshape":
        h = g.op("Reshape", [h, g.c(np.array([0, -1], dtype=np.int64))])
    y = g.op("Softmax", [h], axis=1)
    model, _ = run_both(g.save(tmp_path / "m.onnx", ["N", 6, 5, 5], y), (5, 5, 6))
    assert model.output_shape == (6,)


def test_batchnorm_concat_add_dropout_identity(tmp_path: Path) -> None:
    g = G()
    bn = [g.w(3, positive=True), g.w(3), g.w(3), g.w(3, positive=True)]
    a = g.op("BatchNormalization", ["x", *bn], epsilon=1e-3)
    b = g.op("Conv", ["x", g.w(3, 3, 3, 3)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    s = g.op("Identity", [g.op("Add", [a, b])])
    cat = g.op("Concat", [s, a], axis=1)
    d = g.op("Dropout", [cat, g.c(np.float32(0.25))])
    flat = g.op("Flatten", [d])
    bn2 = [g.w(96, positive=True), g.w(96), g.w(96), g.w(96, positive=True)]
    y = g.op("BatchNormalization", [flat, *bn2])
    model, _ = run_both(g.save(tmp_path / "m.onnx", ["N", 3, 4, 4], y), (4, 4, 3))
    assert model.count_params() == g.weights
    kinds = {type(la).__name__ for la in model.layers}
    assert {"Add", "Concatenate", "Dropout", "BatchNormalization", "FlattenCHW"} <= kinds


def test_nhwc_input_and_map_output(tmp_path: Path) -> None:
    """A leading Transpose from NHWC is the input layout; a map output is compared NHWC."""
    g = G()
    t = g.op("Transpose", ["x"], perm=[0, 3, 1, 2])
    y = g.op("Conv", [t, g.w(5, 2, 3, 3), g.w(5)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    model, _ = run_both(g.save(tmp_path / "m.onnx", ["N", 7, 6, 2], y), (7, 6, 2))
    assert model.input_shape == (7, 6, 2) and model.onnx_input_layout == "NHWC"
    assert model.output_shape == (7, 6, 5) and model.onnx_output_layout == "NCHW"


def test_nhwc_flatten_and_shape_arithmetic(tmp_path: Path) -> None:
    """Transpose to NHWC before Flatten keeps H, W, C order; Shape/Gather/Concat fold."""
    g = G()
    h = g.op("Conv", ["x", g.w(4, 3, 3, 3)], kernel_shape=[3, 3])
    t = g.op("Transpose", [h], perm=[0, 2, 3, 1])
    n = g.op("Gather", [g.op("Shape", [t]), g.c(np.array(0, dtype=np.int64))], axis=0)
    shape = g.op("Concat", [g.op("Unsqueeze", [n, g.c(np.array([0], dtype=np.int64))]),
                            g.c(np.array([-1], dtype=np.int64))], axis=0)
    y = g.op("Gemm", [g.op("Reshape", [t, shape]), g.w(36, 3)])
    model, _ = run_both(g.save(tmp_path / "m.onnx", ["N", 3, 5, 5], y), (5, 5, 3))
    assert "Flatten" in [type(la).__name__ for la in model.layers]


def test_opset_10_attributes(tmp_path: Path) -> None:
    """Before opset 11/12/13: Clip bounds, Dropout ratio are attributes; Softmax flattens."""
    g = G()
    h = g.op("Clip", [g.op("Conv", ["x", g.w(4, 2, 3, 3)], kernel_shape=[3, 3])], min=0.0,
             max=6.0)
    h = g.op("Dropout", [g.op("Flatten", [h])], ratio=0.3)
    y = g.op("Softmax", [g.op("Gemm", [h, g.w(36, 5), g.w(5)])], axis=1)
    run_both(g.save(tmp_path / "m.onnx", ["N", 2, 5, 5], y, opset=10), (5, 5, 2))


def test_symbolic_spatial_dims_need_input_shape(tmp_path: Path) -> None:
    g = G()
    y = g.op("Relu", [g.op("Conv", ["x", g.w(4, 3, 3, 3)], kernel_shape=[3, 3])])
    path = g.save(tmp_path / "m.onnx", ["N", 3, "H", "W"], y)
    with pytest.raises(GlassnetError, match=r"symbolic dims .*give input_shape"):
        load_onnx_model(path)
    run_both(path, (8, 10, 3), input_shape=(8, 10, 3))


ERROR_CASES = {
    "unsupported_op": (lambda g: g.op("Erf", ["x"]),
                       r"node 'erf1': op Erf is not supported; supported ops: Add, .*Conv, "),
    "clip_not_relu": (lambda g: g.op("Clip", ["x", g.c(np.float32(-1)), g.c(np.float32(1))]),
                      r"'clip1' \(Clip\): Clip\(min=-1.0, max=1.0\) is not supported"),
    "gemm_trans_a": (lambda g: g.op("Gemm", [g.op("Flatten", ["x"]), g.w(48, 2)], transA=1),
                     r"'gemm2' \(Gemm\): transA=1 is not supported"),
    "reshape_3d": (lambda g: g.op("Reshape", ["x", g.c(np.array([0, 3, -1]))]),
                   r"Reshape of NCHW \[3, 4, 4\] to \[N, 3, -1\] is not supported"),
    "weight_not_constant": (lambda g: g.op("Conv", ["x", g.op("Relu", ["x"])]),
                            r"'conv2' \(Conv\): the weight \(input 1, 't1_0'\) must be a constant"),
    "sub_computed": (lambda g: g.op("Sub", ["x", "x"]),
                     r"'sub1' \(Sub\): Sub of two computed tensors is not supported"),
    "maxpool_indices": (lambda g: g.op("Relu", [g.nodes.append(helper.make_node(
        "MaxPool", ["x"], ["p", "idx"], name="mp", kernel_shape=[2, 2])) or "idx"]),
        r"'mp' \(MaxPool\): output 'idx' is used"),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_name_the_node(case: str, tmp_path: Path) -> None:
    make, pattern = ERROR_CASES[case]
    g = G()
    y = make(g)
    if case == "maxpool_indices":  # onnx.checker rejects an int64 tensor into Relu; skip it
        g.nodes.append(helper.make_node("Identity", ["p"], ["y"], name="out"))
        graph = helper.make_graph(
            g.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], g.inits)
        onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
        path = tmp_path / "m.onnx"
    else:
        path = g.save(tmp_path / "m.onnx", ["N", 3, 4, 4], y)
    with pytest.raises(GlassnetError, match=pattern):
        load_onnx_model(path)


def test_not_an_onnx_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf \xff\xff")
    with pytest.raises(GlassnetError, match="not a readable ONNX model"):
        load_onnx_model(bad)
    with pytest.raises(FileNotFoundError):
        load_onnx_model(tmp_path / "missing.onnx")
