"""Keras model files written by the real Keras 3 (torch backend), read without Keras.

The fixtures are generated here (``keras_fixtures.py``): three small models saved as ``.keras``
and ``.h5`` with Keras' own predictions and trainable/non-trainable split. Without Keras the
tests skip; in CI (``CI=true``) or with ``GLASSNET_REQUIRE_TORCH=1`` a missing Keras fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, REQUIRE_ORACLES

from glassnet.cli import main
from glassnet.errors import GlassnetError
from glassnet.keras import SUPPORTED, load_keras_model

HAVE_KERAS = importlib.util.find_spec("keras") is not None
if not HAVE_KERAS and REQUIRE_ORACLES:
    raise ImportError("keras is required in CI: pip install 'glassnet[test]'")
pytestmark = pytest.mark.skipif(not HAVE_KERAS, reason="keras is not installed (the oracle)")

CASES = [(name, ext) for name in ("mnist_convnet", "branchy", "odds") for ext in ("keras", "h5")]


@pytest.fixture(scope="session")
def made(tmp_path_factory):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras_fixtures

    return keras_fixtures.write_all(tmp_path_factory.mktemp("keras"))


@pytest.mark.parametrize("name,ext", CASES)
def test_reads_real_keras_files(made, name, ext):
    case = made[name]
    model = load_keras_model(case["files"][ext])
    # predictions within 1e-5 of keras_model.predict (float32)
    diff = float(np.abs(model.predict(case["x"]) - case["y"]).max())
    assert diff <= 1e-5, diff
    info = model.summary(print_fn=None)
    assert info["trainable_params"] == case["trainable"]
    assert info["non_trainable_params"] == case["non_trainable"]
    assert info["total_params"] == case["trainable"] + case["non_trainable"]
    names = [n for n in case["names"] if not n.startswith("input_layer") and n not in (
        "image", "pixels")]
    assert [layer.name for layer in model.layers] == names


def test_refuses_unsupported_layer_in_one_line(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    model = keras.Sequential([keras.Input((6, 4)), keras.layers.LSTM(3, name="memory"),
                              keras.layers.Dense(2)])
    model.save(tmp_path / "rnn.keras")
    with pytest.raises(GlassnetError) as err:
        load_keras_model(tmp_path / "rnn.keras")
    msg = str(err.value)
    assert "\n" not in msg
    assert "'memory' is a LSTM, which glassnet does not read; supported: InputLayer" in msg
    assert all(cls in msg for cls in SUPPORTED)


def test_refuses_unsupported_option(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    model = keras.Sequential([keras.Input((6, 6, 2)),
                              keras.layers.Conv2D(2, 3, activation="elu", name="c")])
    model.save(tmp_path / "elu.h5")
    with pytest.raises(GlassnetError, match=r"Keras layer 'c' \(Conv2D\): activation='elu' is "
                       r"not supported; expected one of linear, relu"):
        load_keras_model(tmp_path / "elu.h5")


def test_cli_summary_import_and_load(made, tmp_path, capsys):
    path = made["branchy"]["files"]["keras"]
    assert main(["summary", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["trainable_params"] == made["branchy"]["trainable"]
    assert [layer["name"] for layer in info["layers"]][:2] == ["stem", "stem_bn"]
    assert main(["summary", str(path), "--explain"]) == 0
    assert "W = K_h·K_w·C_in·M + C_in·M·N" in capsys.readouterr().out
    out = tmp_path / "b.npz"
    assert main(["import", str(made["branchy"]["files"]["h5"]), "--out", str(out)]) == 0
    import glassnet as gn

    loaded = gn.load_model(out)
    diff = np.abs(loaded.predict(made["branchy"]["x"]) - made["branchy"]["y"]).max()
    assert float(diff) <= 1e-5
    direct = gn.load_model(path)
    assert direct.count_params() == loaded.count_params()


def test_cli_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    assert main(["summary", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a Keras 3 .keras file" in err and "\n" not in err


@pytest.mark.parametrize("name", ["mnist_convnet", "branchy", "odds"])
def test_export_round_trip_in_onnxruntime(made, tmp_path, name):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    case = made[name]
    out = tmp_path / f"{name}.onnx"
    assert main(["export", str(case["files"]["keras"]), "--onnx", str(out)]) == 0
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: case["x"]})[0]
    assert float(np.abs(y - case["y"]).max()) <= 1e-5


def test_train_fine_tunes_a_keras_file(made, tmp_path, capsys):
    # `glassnet train model.h5 --data mnist-5k`: one short epoch on a few samples from Keras'
    # weights (the CLI's main; test_cli_train runs the real process)
    path = made["mnist_convnet"]["files"]["h5"]
    assert main(["train", str(path), "--data", "mnist-5k", "--limit", "256", "--epochs", "1",
                 "--no-plots", "--json", "--out", str(tmp_path / "run")]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["runs"][0]["epochs"] == 1
    assert (tmp_path / "run").is_dir()


def _save(tmp_path, name, model):
    path = tmp_path / name
    model.save(path)
    return path


def test_refuses_channels_first_and_shared_layers(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    layers = keras.layers
    cf = keras.Sequential([keras.Input((3, 8, 8)),
                           layers.Conv2D(2, 3, data_format="channels_first", name="cf")])
    with pytest.raises(GlassnetError, match=r"Keras layer 'cf' \(Conv2D\): "
                       r"data_format='channels_first' is not supported; expected 'channels_last'"):
        load_keras_model(_save(tmp_path, "cf.keras", cf))
    inp = keras.Input((6, 6, 2))
    conv = layers.Conv2D(2, 1, name="twice")
    shared = keras.Model(inp, layers.Add()([conv(inp), conv(inp)]))
    with pytest.raises(GlassnetError, match="layer 'twice' is called 2 times; shared layers"):
        load_keras_model(_save(tmp_path, "shared.keras", shared))


def test_unknown_input_size_needs_and_takes_input_shape(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    fcn = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3),
                            keras.layers.GlobalMaxPooling2D()])
    path = _save(tmp_path, "fcn.h5", fcn)
    with pytest.raises(GlassnetError, match=r"has unknown sizes; give one with --input HxWxC"):
        load_keras_model(path)
    model = load_keras_model(path, input_shape=(9, 7, 3))
    x = np.random.default_rng(0).random((2, 9, 7, 3)).astype("float32")
    assert float(np.abs(model.predict(x) - fcn.predict(x, verbose=0)).max()) <= 1e-5


def test_other_commands_take_keras_files(made, tmp_path, capsys):
    files = made["branchy"]["files"]
    assert main(["gradcheck", str(files["keras"])]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["compare", str(files["h5"]), str(made["odds"]["files"]["keras"])]) == 0
    out = capsys.readouterr().out
    assert f"{made['odds']['trainable']:,}" in out
    page = tmp_path / "page.html"
    assert main(["explain", str(files["keras"]), "--out", str(page)]) == 0
    assert page.is_file() and "weights read from branchy.keras" in page.read_text()
    convnet = made["mnist_convnet"]["files"]["keras"]
    assert main(["evaluate", str(convnet), "--data", "mnist-5k", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= result["test_accuracy"] <= 1.0


def test_reading_imports_neither_keras_nor_tensorflow(made):
    # a fresh process: only h5py is needed to read the files
    code = (
        "import sys; from glassnet.keras import load_keras_model; "
        f"load_keras_model({str(made['branchy']['files']['keras'])!r}); "
        f"load_keras_model({str(made['branchy']['files']['h5'])!r}); "
        "bad = [m for m in ('keras', 'tensorflow', 'torch') if m in sys.modules]; "
        "print(bad); assert not bad, bad"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]


def test_refuses_frozen_layers(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="frozen")])
    model.layers[0].trainable = False
    with pytest.raises(GlassnetError, match=r"Keras layer 'frozen' \(Dense\): trainable=False "
                       r"is not supported; expected True"):
        load_keras_model(_save(tmp_path, "frozen.keras", model))


def test_malformed_config_is_one_line(made, tmp_path):
    import zipfile

    src = made["mnist_convnet"]["files"]["keras"]
    bad = tmp_path / "bad_config.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "config.json":
                cfg = json.loads(data)
                del cfg["config"]["layers"][1]["config"]["filters"]
                data = json.dumps(cfg).encode()
            zout.writestr(item, data)
    with pytest.raises(GlassnetError, match=r"bad_config.keras: malformed Keras model config"):
        load_keras_model(bad)
