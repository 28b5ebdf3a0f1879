"""ONNX files written by ``torch.onnx.export`` in eval, training and static-batch modes.

Generated here, by the real PyTorch exporter, into a temporary directory. Oracles: the torch
module's own forward and onnxruntime on the file; counts: torch's ``numel`` of parameters
(trainable) and of BatchNorm running statistics (non-trainable).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from glassnet import cli  # noqa: E402
from glassnet.models.summary import summarize  # noqa: E402
from glassnet.onnx import load_onnx_model  # noqa: E402

TOL = 1e-5


def _modules(torch: Any) -> dict[str, Any]:
    nn, F = torch.nn, torch.nn.functional

    class Padded(nn.Module):
        """F.pad before a conv (a Pad node), x·0.5 (a Mul), a mean over H, W (ReduceMean)."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 6, 3, stride=2)
            self.fc = nn.Linear(6, 4)

        def forward(self, x: Any) -> Any:
            x = torch.relu(self.conv1(F.pad(x * 0.5, (1, 1, 1, 1))))
            x = F.avg_pool2d(F.pad(torch.relu(self.conv2(x)), (0, 1, 0, 1)), 2)
            return torch.softmax(self.fc(x.mean(dim=(2, 3))), dim=1)

    class WithBN(nn.Module):
        """Conv (no bias) -> BatchNorm -> ReLU -> conv -> view(N, -1) -> Linear."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(4)
            self.conv2, self.fc = nn.Conv2d(4, 6, 3, stride=2), nn.Linear(6 * 3 * 3, 5)

        def forward(self, x: Any) -> Any:
            x = torch.relu(self.conv2(torch.relu(self.bn(self.conv1(x)))))
            return self.fc(x.reshape(x.shape[0], -1))

    return {"padded": Padded, "bn": WithBN}


@pytest.fixture(scope="module")
def torch_files(torch: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The exported files, the modules (eval mode, float32) and a batch of 2."""
    out = tmp_path_factory.mktemp("torch_onnx")
    torch.manual_seed(0)
    made = {k: cls().float() for k, cls in _modules(torch).items()}
    with torch.no_grad():  # running statistics a real training run would have left
        bn = made["bn"].bn
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-1, 1)
    x = torch.randn(2, 3, 8, 8)
    modes = torch.onnx.TrainingMode
    files = {}
    for case, name, mode, dynamic in (("eval", "padded", modes.EVAL, True),
                                      ("training", "bn", modes.TRAINING, True),
                                      ("static", "bn", modes.EVAL, False)):
        module = made[name].train(mode == modes.TRAINING)
        path = out / f"{case}.onnx"
        # Without constant folding an eval export keeps the BatchNorm node (with folding, torch
        # merges it into the conv and the file no longer holds its parameters).
        torch.onnx.export(module, (x,), str(path), dynamo=False, training=mode,
                          input_names=["x"], output_names=["y"], do_constant_folding=dynamic,
                          dynamic_axes={"x": {0: "N"}} if dynamic else None)
        module.eval()
        files[case] = {"path": path, "module": module}
    files["x"] = x.numpy()
    return files


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("case", ["eval", "training", "static"])
def test_outputs_equal_torch(case: str, torch: Any, torch_files: dict[str, Any]) -> None:
    """Inference equals the torch module in eval mode (for any batch, static file or not)."""
    f = torch_files[case]
    model = load_onnx_model(f["path"])
    x = np.random.default_rng(1).standard_normal((5, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ref = f["module"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(nhwc(x)), ref, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("case", ["eval", "static"])
def test_outputs_equal_onnxruntime(case: str, torch_files: dict[str, Any]) -> None:
    f, x = torch_files[case], torch_files["x"]
    model = load_onnx_model(f["path"])
    np.testing.assert_allclose(model.predict(nhwc(x)), ort_run(f["path"], x), rtol=TOL, atol=TOL)


def test_training_mode_file_uses_batch_statistics_when_training(
        torch_files: dict[str, Any]) -> None:
    """onnxruntime runs a training-mode file with batch statistics; so does glassnet training."""
    f, x = torch_files["training"], torch_files["x"]
    model = load_onnx_model(f["path"])
    y = model.forward(nhwc(x), training=True).data
    np.testing.assert_allclose(y, ort_run(f["path"], x), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("case", ["eval", "training", "static"])
def test_counts_equal_torch_numel(case: str, torch_files: dict[str, Any]) -> None:
    module = torch_files[case]["module"]
    trainable = sum(p.numel() for p in module.parameters())
    stats = sum(b.numel() for n, b in module.named_buffers() if n.endswith(("_mean", "_var")))
    info = summarize(load_onnx_model(torch_files[case]["path"]))
    assert (info["trainable_params"], info["non_trainable_params"]) == (trainable, stats)


def test_cli_on_torch_files(torch_files: dict[str, Any], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """summary, import -> load_model, export round trip through the real CLI."""
    import glassnet as gn

    x = torch_files["x"]
    for case in ("eval", "training", "static"):
        src, ckpt = str(torch_files[case]["path"]), tmp_path / f"{case}.npz"
        back = tmp_path / f"{case}_back.onnx"
        assert cli.main(["summary", src, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["input_shape"] == [8, 8, 3]
        assert cli.main(["import", src, "--out", str(ckpt)]) == 0
        assert cli.main(["export", str(ckpt), "--onnx", str(back)]) == 0
        capsys.readouterr()
        expect = gn.load_model(ckpt).predict(nhwc(x))
        np.testing.assert_allclose(ort_run(back, nhwc(x)), expect, rtol=TOL, atol=TOL)
