"""Training guards: non-finite loss, divergence, empty data (issue 16, item 4).

Real models on the bundled digits; the CLI cases run ``glassnet train`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import data
from glassnet import layers as L
from glassnet.errors import GlassnetError
from glassnet.training import TrainingDiverged
from glassnet.training.guards import DIVERGENCE_FACTOR, LossGuard

REPO = Path(__file__).resolve().parent.parent
SCE = "sparse_categorical_crossentropy"
TINY = {"name": "tiny-digits", "input": [8, 8, 1], "layers": [
    {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
    {"type": "maxpool2d", "pool": 2}, {"type": "flatten"},
    {"type": "dense", "units": 10, "activation": "softmax"}]}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """300 real 8x8 digit images and their labels."""
    ds = data.load("digits")
    return ds.x_train[:300], ds.y_train[:300]


def small_cnn(lr: float, optimizer: str = "adam") -> gn.Model:
    model = gn.Sequential([L.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"),
                           L.MaxPool2D(2), L.Flatten(), L.Dense(10, activation="softmax")],
                          seed=0)
    cls = gn.optim.Adam if optimizer == "adam" else gn.optim.SGD
    model.compile(cls(model.parameters(), lr=lr), SCE, ["accuracy"])
    return model


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "glassnet.cli", "train", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "error" in ln.lower()]


def test_lr_1e6_diverges_and_stops_naming_epoch_and_batch(digits):
    x, y = digits
    model = small_cnn(lr=1e6)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as info:
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    msg = str(info.value)
    assert "diverged at epoch 1, batch " in msg and "\n" not in msg
    assert f"{DIVERGENCE_FACTOR:g} x the starting loss" in msg


def test_a_healthy_run_does_not_trip_the_guard(digits):
    x, y = digits
    model = small_cnn(lr=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning
        hist = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    assert hist.epochs == 3 and hist.history["loss"][-1] < hist.history["loss"][0]


def test_on_divergence_continue_warns_once_and_finishes(digits):
    x, y = digits
    model = small_cnn(lr=1e6)
    with np.errstate(all="ignore"), pytest.warns(UserWarning, match="diverged") as caught:
        hist = model.fit(x, y, epochs=2, batch_size=32, verbose=0, on_divergence="continue")
    assert hist.epochs == 2
    assert sum("diverged" in str(w.message) for w in caught) == 1


def test_a_smaller_factor_stops_sooner_than_the_default():
    guard = LossGuard(factor=2.0)
    guard.observe(1.0, 1.0, 1, 1)  # the reference
    guard.observe(1.9, 1.45, 1, 2)
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 3"):
        guard.observe(5.0, 2.6, 1, 3)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"on_divergence": "ignore"}, "on_divergence='ignore' is invalid"),
    ({"divergence_factor": 1.0}, "divergence_factor=1.0 is invalid"),
    ({"resume": True}, "resume=True needs checkpoint_dir"),
])
def test_bad_guard_arguments_are_errors(digits, kwargs, match):
    x, y = digits
    with pytest.raises(GlassnetError, match=match):
        small_cnn(lr=1e-2).fit(x, y, verbose=0, **kwargs)


def test_nan_input_stops_naming_epoch_and_batch(digits):
    x, y = digits
    x = x.copy()
    x[40, 3, 3, 0] = np.nan  # sample 40: in batch 2 of 32 without shuffling
    model = small_cnn(lr=1e-2)
    # NOTE: the ReLU maps NaN to 0, so the loss alone would stay finite: the inputs are checked.
    with pytest.raises(TrainingDiverged, match=r"inputs of epoch 1, batch 2 hold NaN .*row 8 "):
        model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0)


def test_a_nan_loss_stops_naming_epoch_and_batch(digits):
    x, y = digits
    model = small_cnn(lr=1e30, optimizer="sgd")
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match=r"loss is nan at "
                                                  r"epoch 1, batch \d+; .*NaN"):
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, divergence_factor=1e300)


def test_zero_training_samples_is_an_error(digits):
    x, y = digits
    with pytest.raises(GlassnetError, match="training data has 0 samples"):
        small_cnn(lr=1e-2).fit(x[:0], y[:0], verbose=0)


@pytest.mark.parametrize("how", ["split", "data"])
def test_an_empty_validation_set_is_an_error(digits, how):
    x, y = digits
    kwargs = ({"validation_split": 0.01} if how == "split"  # 1% of 10 rounds to 0 samples
              else {"validation_data": (x[:0], y[:0])})
    with pytest.raises(GlassnetError, match="validation data has 0 samples"):
        small_cnn(lr=1e-2).fit(x[:10], y[:10], verbose=0, **kwargs)


def test_cli_lr_1e6_stops_in_one_line_and_saves_no_model(tmp_path):
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    out = tmp_path / "run"
    proc = cli("tiny.json", "--data", "digits", "--epochs", "2", "--limit", "300",
               "--batch-size", "32", "--lr", "1e6", "--no-plots", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = error_lines(proc.stderr)
    assert "diverged at epoch 1" in line and "--on-divergence continue" in line
    assert not (out / "model.npz").exists() and not (out / "summary.json").exists()


def test_cli_on_divergence_continue_finishes(tmp_path):
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    out = tmp_path / "run"
    proc = cli("tiny.json", "--data", "digits", "--epochs", "1", "--limit", "300",
               "--batch-size", "32", "--lr", "1e6", "--no-plots", "--out", str(out),
               "--on-divergence", "continue", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "diverged" in proc.stderr and (out / "model.npz").exists()


def test_cli_empty_validation_split_is_one_line(tmp_path):
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    proc = cli("tiny.json", "--data", "digits", "--limit", "10", "--validation-split", "0.01",
               "--no-plots", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = error_lines(proc.stderr)
    assert "validation data has 0 samples" in line
