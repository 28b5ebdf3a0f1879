"""``glassnet export`` / ``glassnet import`` / ``glassnet summary model.onnx`` and checkpoints of
imported models, through ``main(argv)``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from glassnet import cli  # noqa: E402
from glassnet.onnx import load_onnx_model  # noqa: E402
from glassnet.training.imported import load_imported  # noqa: E402

TOL = 1e-5


@pytest.fixture(autouse=True)
def commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the two commands even before cli.COMMANDS lists them."""
    extra = tuple(c for c in ("export", "import_") if c not in cli.COMMANDS)
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, *extra))


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def nchw_file(path: Path) -> Path:
    """A small NCHW CNN written with onnx.helper: conv, BN, ReLU, pool, flatten, gemm, softmax."""
    rng = np.random.default_rng(0)

    def w(name: str, *shape: int, lo: float = -0.5, hi: float = 0.5) -> Any:
        return numpy_helper.from_array(rng.uniform(lo, hi, shape).astype(np.float32), name)

    inits = [w("k", 6, 1, 3, 3), w("kb", 6), w("g", 6, lo=0.5, hi=1.5), w("b", 6), w("m", 6),
             w("v", 6, lo=0.5, hi=1.5), w("fc", 10, 6 * 13 * 13), w("fcb", 10)]
    nodes = [
        helper.make_node("Conv", ["x", "k", "kb"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["z"], name="fc", transB=1),
        helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "nchw_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def test_export_then_import_zoo_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, ckpt = tmp_path / "r18.onnx", tmp_path / "r18.npz"
    assert cli.main(["export", "resnet18", "--input", "32x32x3", "--onnx", str(path)]) == 0
    assert "opset 17, input (N, 32, 32, 3) NHWC" in capsys.readouterr().out
    assert cli.main(["import", str(path), "--out", str(ckpt)]) == 0
    assert "the ONNX file's input is NHWC" in capsys.readouterr().out
    model = load_imported(ckpt)
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x), ort_run(path, x), rtol=TOL, atol=TOL)


def test_import_nchw_then_export_nhwc(tmp_path: Path) -> None:
    """NCHW file -> checkpoint -> NHWC file: both files compute the same function."""
    src, ckpt, out = nchw_file(tmp_path / "src.onnx"), tmp_path / "m.npz", tmp_path / "out.onnx"
    assert cli.main(["import", str(src), "--out", str(ckpt)]) == 0
    assert cli.main(["export", str(ckpt), "--onnx", str(out)]) == 0
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    ref = ort_run(src, x.transpose(0, 3, 1, 2).copy())
    np.testing.assert_allclose(ort_run(out, x), ref, rtol=TOL, atol=TOL)
    model = load_imported(ckpt)
    np.testing.assert_allclose(model.predict(x), ref, rtol=TOL, atol=TOL)
    assert model.onnx_input_layout == "NCHW" and model.input_shape == (28, 28, 1)
    assert "FlattenCHW" in [type(la).__name__ for la in model.layers]


@pytest.mark.parametrize("argv,message", [
    (["import", "{bad}", "--out", "{tmp}/m.npz"], "(Sub): Sub of two computed tensors is not"),
    (["export", "{ckpt}", "--input", "28x28x1", "--onnx", "{tmp}/m.onnx"], "keeps the input"),
    (["export", "lenet5", "--opset", "12", "--onnx", "{tmp}/m.onnx"], "opset=12 is out of"),
    (["import", "{tmp}/missing.onnx", "--out", "{tmp}/m.npz"], "does not exist"),
])
def test_errors_are_one_line(argv: list[str], message: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    graph = helper.make_graph(
        [helper.make_node("Sub", ["x", "x"], ["y"], name="sub")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    onnx.save(helper.make_model(graph), str(bad))
    ckpt = tmp_path / "c.npz"
    assert cli.main(["import", str(nchw_file(tmp_path / "s.onnx")), "--out", str(ckpt)]) == 0
    capsys.readouterr()
    args = [a.format(bad=bad, tmp=tmp_path, ckpt=ckpt) for a in argv]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def _hooked(fn: Any, needle: str) -> bool:
    return needle in inspect.getsource(fn)


def test_summary_of_onnx_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from glassnet.training.resolve import resolve_model

    if not _hooked(resolve_model, "onnx"):
        pytest.skip("training/resolve.py: resolve_model does not read .onnx files yet")
    src = nchw_file(tmp_path / "m.onnx")
    assert cli.main(["summary", str(src), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    proto = onnx.load(str(src))
    assert info["total_params"] == sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    assert info["input_shape"] == [28, 28, 1]
    assert info["total_macs"] == 26 * 26 * 9 * 6 + 1014 * 10
    assert cli.main(["summary", str(src), "--explain"]) == 0
    assert "C·H·W = 6·13·13 = 1,014" in capsys.readouterr().out


def test_plain_load_checkpoint_and_evaluate(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from glassnet.training import checkpoint

    if not _hooked(checkpoint.rebuild, "glassnet-graph"):
        pytest.skip("training/checkpoint.py: rebuild() does not dispatch graph configs yet")
    ckpt = tmp_path / "m.npz"
    assert cli.main(["import", str(nchw_file(tmp_path / "m.onnx")), "--out", str(ckpt)]) == 0
    model = checkpoint.load_checkpoint(ckpt).model
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x), load_imported(ckpt).predict(x))
    capsys.readouterr()
    assert cli.main(["evaluate", str(ckpt), "--data", "mnist-5k", "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["test_accuracy"] <= 1


def test_imported_input_shape_override(tmp_path: Path) -> None:
    src = nchw_file(tmp_path / "m.onnx")
    with pytest.raises(Exception, match="does not fit the file's input"):
        load_onnx_model(src, input_shape=(28, 28, 3))
