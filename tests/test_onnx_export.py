"""ONNX export: every zoo model and a trained checkpoint, run by onnxruntime and compared with
glassnet's predict (float32, 1e-5); the layer conversions one by one; errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from glassnet import layers as L  # noqa: E402
from glassnet import zoo  # noqa: E402
from glassnet.errors import GlassnetError  # noqa: E402
from glassnet.models import Model, Sequential  # noqa: E402
from glassnet.onnx import export_onnx, load_onnx_model, to_onnx  # noqa: E402

TOL = 1e-5

# The smallest convenient input each zoo model's geometry allows (num_classes=10 keeps the
# heads small); models not listed use their native input, already small.
ZOO_INPUTS: dict[str, tuple[int, int, int]] = {
    "alexnet": (67, 67, 3),  # the smallest input that survives three 3/2 pools
    "alexnet_torchvision": (63, 63, 3),
    **{f"vgg{d}": (32, 32, 3) for d in (11, 13, 16, 19)},  # five 2×2 pools: 32 -> 1
    **{name: (32, 32, 3) for name in ("resnet18", "resnet34", "resnet50", "googlenet",
                                      "mobilenet_v2")},
}


def randomize(model: Model, seed: int = 0) -> Model:
    """Build, then give BatchNorm statistics and biases non-trivial values."""
    rng = np.random.default_rng(seed)
    model.build()
    for layer in model.layers:
        if "moving_mean" in layer.buffers:
            c = layer.buffers["moving_mean"].shape[0]
            layer.buffers["moving_mean"][...] = rng.normal(0, 0.1, c)
            layer.buffers["moving_variance"][...] = rng.uniform(0.5, 1.5, c)
            layer.weights["gamma"].data[...] = rng.uniform(0.5, 1.5, c)
            layer.weights["beta"].data[...] = rng.normal(0, 0.1, c)
        if "bias" in layer.weights:
            b = layer.weights["bias"].data
            b[...] = rng.normal(0, 0.1, b.shape)
    return model


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def assert_matches(model: Model, path: Path, n: int = 2, seed: int = 0) -> float:
    x = np.random.default_rng(seed).random((n, *model.input_shape), dtype=np.float32)
    out, ref = model.predict(x), ort_run(path, x)
    assert out.shape == ref.shape
    np.testing.assert_allclose(ref, out, rtol=TOL, atol=TOL)
    return float(np.abs(out - ref).max())


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_model_equals_onnxruntime(name: str, tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {}
    if name in ZOO_INPUTS:
        kwargs = {"input_shape": ZOO_INPUTS[name], "num_classes": 10}
    model = randomize(zoo.get(name, **kwargs))
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    assert_matches(model, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == ["N", *model.input_shape]  # dynamic batch


def test_dynamic_batch_and_round_trip(tmp_path: Path) -> None:
    model = randomize(zoo.resnet18(input_shape=(32, 32, 3), num_classes=10))
    path = export_onnx(model, tmp_path / "r18.onnx", opset=13)
    for n in (1, 5):
        assert_matches(model, path, n=n)
    back = load_onnx_model(path)
    assert back.onnx_input_layout == "NHWC"
    assert back.count_params() == model.count_params()
    ours, theirs = model.summary(print_fn=None), back.summary(print_fn=None)
    assert ours["total_macs"] == theirs["total_macs"]
    assert ours["trainable_params"] == theirs["trainable_params"]
    x = np.random.default_rng(3).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=TOL, atol=TOL)


def test_layer_conversions(tmp_path: Path) -> None:
    """Conv padding/dilation/groups, every activation, pools, BN on flat data, map output."""
    inp = L.Input((11, 10, 4))
    a = L.Conv2D(8, 3, strides=2, padding="same", activation="leaky_relu")(inp)
    b = L.Conv2D(8, 3, strides=2, padding=(1, 1, 0, 1), groups=2,
                 activation="sigmoid")(inp)
    s = L.Add()([a, b])
    c = L.DepthwiseConv2D(3, padding=2, dilation_rate=2, depth_multiplier=2,
                          activation="relu6")(s)
    c = L.AvgPool2D(3, strides=2, padding=1, count_include_pad=True)(c)  # (3, 3, 16)
    d = L.MaxPool2D(3, strides=2, padding="same")(L.Conv2D(16, 1, activation="tanh")(s))
    d = L.AvgPool2D(2, strides=1, padding="same")(d)
    e = L.MaxPool2D(2, ceil_mode=True)(s)  # (6, 5) -> (3, 3)
    e = L.AvgPool2D(2, strides=1, padding=(0, 1, 1, 0), ceil_mode=True)(e)
    m = L.Concatenate()([c, d, e])
    m = L.ReLU(max_value=3.5)(L.BatchNormalization(momentum=0.9)(m))
    m = L.Softmax(axis=-1)(L.Concatenate(axis=1)([m, m]))
    maps = Model(inp, m, name="maps")
    flat = L.Dense(6, use_bias=False, activation="softmax")(
        L.BatchNormalization()(L.Dense(7, activation="relu")(L.Flatten()(m))))
    for model in (maps, Model(inp, flat, name="flat")):
        randomize(model)
        path = export_onnx(model, tmp_path / f"{model.name}.onnx")
        assert_matches(model, path, n=3)


def test_trained_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keras_mnist_convnet fitted for 1 epoch on 500 real MNIST images, saved, exported."""
    from glassnet import cli, data
    from glassnet.training.checkpoint import load_checkpoint

    ds = data.load("mnist-5k")
    model = zoo.keras_mnist_convnet()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(ds.x_train[:500], ds.y_train[:500], epochs=1, batch_size=50, seed=0, verbose=0)
    ckpt = model.save(tmp_path / "mnist.npz")
    out = tmp_path / "mnist.onnx"
    if "export" not in cli.COMMANDS:  # until cli.COMMANDS lists it
        monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "export"))
    assert cli.main(["export", str(ckpt), "--onnx", str(out)]) == 0
    x = ds.x_test[:200]
    ref = ort_run(out, x)
    loaded = load_checkpoint(ckpt).model
    np.testing.assert_allclose(ref, model.predict(x), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ref, loaded.predict(x), rtol=TOL, atol=TOL)
    assert (ref.argmax(1) == ds.y_test[:200]).mean() > 0.5  # it did learn something


def test_opset_range_and_unknown_layer(tmp_path: Path) -> None:
    model = zoo.lenet5()
    with pytest.raises(GlassnetError, match=r"opset=12 is out of range; expected 13\.\."):
        to_onnx(model, opset=12)

    class Mystery(L.Layer):
        def forward(self, x: Any, training: bool = False) -> Any:
            return x

    odd = Sequential([L.Input((4,)), Mystery(name="mystery")])
    with pytest.raises(GlassnetError, match="layer 'mystery' of type Mystery has no ONNX"):
        export_onnx(odd, tmp_path / "odd.onnx")
    assert list(tmp_path.iterdir()) == []


def test_atomic_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    export_onnx(zoo.keras_mnist_mlp(), path)
    onnx.checker.check_model(str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
