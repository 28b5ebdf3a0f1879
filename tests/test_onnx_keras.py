"""ONNX files written by Keras 3 (torch backend) ``model.export(path, format="onnx")``.

The files are generated here, by the real Keras, into a temporary directory: the keras.io MNIST
convnet with zero (fresh) and non-zero biases, and a small model with Rescaling, ZeroPadding2D,
BatchNormalization and GlobalAveragePooling2D. Oracles: Keras' own ``predict`` and onnxruntime.
In CI (``CI=true``) a missing Keras is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REQUIRE_ORACLES

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from glassnet import cli  # noqa: E402
from glassnet.models.summary import summarize  # noqa: E402
from glassnet.onnx import load_onnx_model  # noqa: E402

TOL = 1e-5


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if REQUIRE_ORACLES:
        import keras  # a failure in CI, never a skip
    else:
        keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on {keras.backend.backend()}; these files need the torch backend")
    return keras


def _export(model: Any, path: Path, x: np.ndarray) -> dict[str, Any]:
    """Export ``model`` and return the file with Keras' predictions and parameter split."""
    model.predict(x[:1], verbose=0)  # Keras exports only a model that has been called
    model.export(str(path), format="onnx", verbose=False)
    return {
        "path": path, "x": x, "keras": np.asarray(model.predict(x, verbose=0)),
        "trainable": sum(int(np.prod(w.shape)) for w in model.trainable_weights),
        "non_trainable": sum(int(np.prod(w.shape)) for w in model.non_trainable_weights),
        "total": int(model.count_params()),
    }


@pytest.fixture(scope="session")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The Keras-written files, each with what Keras itself says about its model."""
    keras = _keras()
    from keras import layers

    out = tmp_path_factory.mktemp("keras_onnx")
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    mnist = keras.Sequential([  # the keras.io "Simple MNIST convnet"
        keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
        layers.Dropout(0.5), layers.Dense(10, activation="softmax"),
    ])
    x28 = rng.random((4, 28, 28, 1), dtype=np.float32)
    files = {"mnist_zero_bias": _export(mnist, out / "mnist0.onnx", x28)}
    for layer in mnist.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.uniform(-0.5, 0.5, layer.bias.shape).astype(np.float32))
    files["mnist_bias"] = _export(mnist, out / "mnist1.onnx", x28)
    bn = keras.Sequential([
        keras.Input((10, 10, 3)), layers.Rescaling(1 / 127.5, offset=-1.0),
        layers.ZeroPadding2D(1), layers.Conv2D(6, 3), layers.BatchNormalization(), layers.ReLU(),
        layers.GlobalAveragePooling2D(), layers.Dense(5, activation="softmax"),
    ])
    norm = bn.layers[3]
    norm.set_weights([rng.uniform(lo, hi, 6).astype(np.float32)
                      for lo, hi in ((0.5, 1.5), (-0.5, 0.5), (-0.5, 0.5), (0.5, 2.0))])
    x10 = (rng.random((4, 10, 10, 3), dtype=np.float32) * 255).astype(np.float32)
    files["bn_gap"] = _export(bn, out / "bn_gap.onnx", x10)
    files["bn_gap"]["batchnorm"] = [*norm.get_weights(), norm.epsilon]
    files["functional"] = _export(_functional(keras, rng), out / "functional.onnx",
                                  rng.standard_normal((4, 14, 14, 3)).astype(np.float32))
    return files


def _functional(keras: Any, rng: np.random.Generator) -> Any:
    """Zero padding, then a strided "same" conv (Keras computes its Pad from the Shape), depthwise
    and separable convs, LeakyReLU, ReLU6, a residual Add, Concatenates, global max and mean."""
    from keras import layers

    inp = keras.Input((14, 14, 3))
    x = layers.ZeroPadding2D(1)(inp)  # the strided conv's Shape arithmetic reads a padded map
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.ReLU(max_value=6)(layers.BatchNormalization()(x))
    y = layers.LeakyReLU(0.1)(layers.DepthwiseConv2D(3, padding="same")(x))
    x = layers.Add()([x, layers.SeparableConv2D(8, 3, padding="same")(y)])
    x = layers.Concatenate()([layers.AveragePooling2D(2)(x),
                              layers.MaxPooling2D(2, padding="same")(x)])
    x = layers.Concatenate()([layers.GlobalMaxPooling2D()(x),
                              layers.GlobalAveragePooling2D()(x)])
    model = keras.Model(inp, layers.Dense(4, activation="softmax")(
        layers.Dense(16, activation="tanh")(x)))
    norm = next(la for la in model.layers if isinstance(la, layers.BatchNormalization))
    norm.set_weights([rng.uniform(lo, hi, 8).astype(np.float32)
                      for lo, hi in ((0.5, 1.5), (-0.5, 0.5), (-0.5, 0.5), (0.5, 2.0))])
    return model


CASES = ["mnist_zero_bias", "mnist_bias", "bn_gap", "functional"]


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("case", CASES)
def test_outputs_equal_keras_and_onnxruntime(case: str, keras_files: dict[str, Any]) -> None:
    f = keras_files[case]
    model = load_onnx_model(f["path"])
    assert model.onnx_input_layout == "NHWC"  # found through Keras' no-op Cast nodes
    y = model.predict(f["x"])
    np.testing.assert_allclose(y, f["keras"], rtol=TOL, atol=TOL)
    np.testing.assert_allclose(y, ort_run(f["path"], f["x"]), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("case", CASES)
def test_counts_equal_keras(case: str, keras_files: dict[str, Any]) -> None:
    f = keras_files[case]
    info = summarize(load_onnx_model(f["path"]))
    assert (info["trainable_params"], info["non_trainable_params"], info["total_params"]) == (
        f["trainable"], f["non_trainable"], f["total"])


def test_layers_read(keras_files: dict[str, Any]) -> None:
    """Bias Adds fold into the convs; Sub/Mul/Add is a BatchNorm; Rescaling and Pad add none."""
    types = [type(la).__name__ for la in load_onnx_model(keras_files["bn_gap"]["path"]).layers]
    assert types == ["Rescaling", "Conv2D", "BatchNormalization", "ReLU",
                     "GlobalAvgPool2D", "Dense", "Softmax"]
    mnist = load_onnx_model(keras_files["mnist_zero_bias"]["path"])
    convs = [la for la in mnist.layers if type(la).__name__ == "Conv2D"]
    assert [c.use_bias for c in convs] == [True, True]
    assert not np.any(convs[0].weights["bias"].data)


def test_cli_summary_import_train_export(keras_files: dict[str, Any], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The real CLI on the Keras file: summary, import -> load_model, fine-tune, round trip."""
    import glassnet as gn

    f = keras_files["mnist_bias"]
    src, ckpt, back = str(f["path"]), tmp_path / "m.npz", tmp_path / "back.onnx"
    assert cli.main(["summary", src, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["total_params"], info["input_shape"]) == (f["total"], [28, 28, 1])
    assert cli.main(["summary", src, "--explain"]) == 0
    assert "P = W + b" in capsys.readouterr().out
    assert cli.main(["import", src, "--out", str(ckpt)]) == 0
    capsys.readouterr()
    loaded = gn.load_model(ckpt)
    np.testing.assert_allclose(loaded.predict(f["x"]), f["keras"], rtol=TOL, atol=TOL)
    assert cli.main(["export", str(ckpt), "--onnx", str(back)]) == 0
    np.testing.assert_allclose(ort_run(back, f["x"]), f["keras"], rtol=TOL, atol=TOL)
    run = tmp_path / "run"
    assert cli.main(["train", src, "--data", "mnist-5k", "--epochs", "1", "--limit", "256",
                     "--batch-size", "64", "--no-plots", "--json", "--out", str(run)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["model"] == src and 0.0 <= result["mean_test_accuracy"] <= 1.0


def test_cli_gradcheck_compare_explain_evaluate(keras_files: dict[str, Any], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The other commands that take MODEL, on the Keras files (and a checkpoint of one)."""
    bn, mnist = str(keras_files["bn_gap"]["path"]), str(keras_files["mnist_bias"]["path"])
    assert cli.main(["gradcheck", bn]) == 0
    assert "PASS" in capsys.readouterr().out
    assert cli.main(["compare", bn, mnist, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert [(r["total_params"], r["trainable_params"]) for r in rows] == [
        (keras_files[k]["total"], keras_files[k]["trainable"]) for k in ("bn_gap", "mnist_bias")]
    page = tmp_path / "page.html"
    assert cli.main(["explain", bn, "--out", str(page)]) == 0 and page.stat().st_size > 0
    ckpt = tmp_path / "m.npz"
    assert cli.main(["import", mnist, "--out", str(ckpt)]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", str(ckpt), "--data", "mnist-5k", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= result["test_accuracy"] <= 1.0



def test_keras_batchnorm_mean_and_beta_come_back(keras_files: dict[str, Any]) -> None:
    """Keras writes BatchNorm as Sub(mean), Mul(γ/√(var + ε)), Add(beta): mean and beta come
    back as Keras holds them; γ and the variance arrive fused, as one factor."""
    gamma, beta, mean, var, eps = keras_files["bn_gap"]["batchnorm"]
    model = load_onnx_model(keras_files["bn_gap"]["path"])
    norm = next(la for la in model.layers if type(la).__name__ == "BatchNormalization")
    np.testing.assert_allclose(norm.buffers["moving_mean"], mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(norm.weights["beta"].data, beta, rtol=1e-6, atol=1e-6)
    factor = norm.weights["gamma"].data / np.sqrt(norm.buffers["moving_variance"] + norm.epsilon)
    np.testing.assert_allclose(factor, gamma / np.sqrt(var + eps), rtol=1e-6)
