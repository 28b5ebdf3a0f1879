"""ONNX import: real files from PyTorch modules and from ``onnx.helper``, checked against
onnxruntime (outputs, float32, 1e-5) and against the sources' parameter counts."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
nn = torch.nn

from glassnet.onnx import load_onnx_model  # noqa: E402

TOL = 1e-5


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def check_against_ort(path: Path, hwc: tuple[int, ...], n: int = 3, **kw: Any) -> Any:
    """Import ``path``; assert predict == onnxruntime within TOL; return the model."""
    model = load_onnx_model(path, **kw)
    x = np.random.default_rng(1).standard_normal((n, *hwc)).astype(np.float32)
    ref = model.from_onnx_output(ort_run(path, model.to_onnx_input(x)))
    out = model.predict(x)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=TOL, atol=TOL)
    return model


# ----- PyTorch modules ---------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """ResNet basic block with a projection shortcut (stride 2, 8 -> 16 channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False),
                                        nn.BatchNorm2d(16))

    def forward(self, x: Any) -> Any:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.downsample(x))


class Inception(nn.Module):
    """Inception v1 module: 1×1, 1×1→3×3, 1×1→5×5, 3×3 max pool (ceil_mode)→1×1, concat."""

    def __init__(self, c: int = 12) -> None:
        super().__init__()

        def cr(i: int, o: int, k: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, k, padding=k // 2), nn.ReLU())

        self.b1 = cr(c, 8, 1)
        self.b2 = nn.Sequential(cr(c, 6, 1), cr(6, 10, 3))
        self.b3 = nn.Sequential(cr(c, 4, 1), cr(4, 6, 5))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1, ceil_mode=True), cr(c, 5, 1))

    def forward(self, x: Any) -> Any:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expand + ReLU6, 3×3 depthwise + ReLU6, 1×1 project, residual."""

    def __init__(self, c: int = 8, t: int = 6) -> None:
        super().__init__()
        h = c * t
        self.conv = nn.Sequential(
            nn.Conv2d(c, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            nn.Conv2d(h, h, 3, padding=1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c),
        )

    def forward(self, x: Any) -> Any:
        return x + self.conv(x)


class LeNet5(nn.Module):
    """LeNet-5 (ReLU, max pool); the flatten is PyTorch's C, H, W order."""

    def __init__(self, view: bool = False) -> None:
        super().__init__()
        self.view = view
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        )

    def forward(self, x: Any) -> Any:
        x = self.features(x)
        x = x.view(x.size(0), -1) if self.view else torch.flatten(x, 1)
        return self.classifier(x)


def randomize_bn(module: Any) -> None:
    """Non-trivial BatchNorm statistics (and no equal initializers for the exporter to merge)."""
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=g) + 0.5
            m.bias.data = torch.randn(c, generator=g) * 0.1
            m.running_mean = torch.randn(c, generator=g) * 0.1
            m.running_var = torch.rand(c, generator=g) + 0.5


def export_torch(module: Any, chw: tuple[int, int, int], path: Path, keep_bn: bool) -> Path:
    module = module.float().eval()
    x = torch.randn(2, *chw, dtype=torch.float32)
    kw = {"training": torch.onnx.TrainingMode.PRESERVE} if keep_bn else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, **kw)
    return path


TORCH_CASES = {
    "resnet_basic_block": (BasicBlock, (8, 16, 16)),
    "inception_module": (Inception, (12, 9, 9)),
    "mobilenet_v2_block": (InvertedResidual, (8, 10, 10)),
    "lenet5": (LeNet5, (1, 32, 32)),
    "lenet5_view": (lambda: LeNet5(view=True), (1, 32, 32)),
}


@pytest.mark.parametrize("case", TORCH_CASES)
def test_torch_module_counts_and_outputs(case: str, tmp_path: Path) -> None:
    make, (c, h, w) = TORCH_CASES[case]
    torch.manual_seed(0)
    module = make()
    randomize_bn(module)
    path = export_torch(module, (c, h, w), tmp_path / f"{case}.onnx", keep_bn=True)
    model = check_against_ort(path, (h, w, c))
    info = model.summary(print_fn=None)
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for k, b in module.named_buffers() if "running" in k)
    assert info["trainable_params"] == params
    assert info["total_params"] == params + buffers
    # and the source itself agrees (float32 PyTorch vs the imported glassnet model)
    x = np.random.default_rng(2).standard_normal((2, h, w, c)).astype(np.float32)
    with torch.no_grad():
        ref = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(model.predict(x), model.from_onnx_output(ref), rtol=1e-4,
                               atol=1e-4)


def test_torch_default_export_folds_bn(tmp_path: Path) -> None:
    """The default eval export folds BN into conv biases: counts follow the file."""
    module = BasicBlock()
    randomize_bn(module)
    path = export_torch(module, (8, 16, 16), tmp_path / "folded.onnx", keep_bn=False)
    model = check_against_ort(path, (16, 16, 8))
    proto = onnx.load(str(path))
    total = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    assert model.count_params() == total
    assert not any(type(la).__name__ == "BatchNormalization" for la in model.layers)


def test_lenet_keeps_channel_first_flatten(tmp_path: Path) -> None:
    path = export_torch(LeNet5(), (1, 32, 32), tmp_path / "lenet.onnx", keep_bn=False)
    model = load_onnx_model(path)
    kinds = [type(la).__name__ for la in model.layers]
    assert "FlattenCHW" in kinds
    info = model.summary(print_fn=None)
    shapes = [r["output_shape"] for r in info["layers"]]
    assert shapes[:3] == [[28, 28, 6], [28, 28, 6], [14, 14, 6]]
    assert info["total_macs"] == 117600 + 240000 + 48000 + 10080 + 840
