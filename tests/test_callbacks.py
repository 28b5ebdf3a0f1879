"""Callbacks: EarlyStopping, ModelCheckpoint, CSVLogger, JSONLogger and the hook protocol."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import data
from glassnet import layers as L
from glassnet.errors import GlassnetError
from glassnet.training import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    ModelCheckpoint,
    load_checkpoint,
)

SCE = "sparse_categorical_crossentropy"


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ds = data.load("digits")
    return ds.x_train[:160], ds.y_train[:160], ds.x_test[:80], ds.y_test[:80]


def model_(batchnorm: bool = False, seed: int = 0) -> gn.Model:
    mid = [L.BatchNormalization(momentum=0.5)] if batchnorm else []
    model = gn.Sequential([
        L.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), *mid, L.MaxPool2D(2),
        L.Flatten(), L.Dense(10, activation="softmax"),
    ], seed=seed)
    model.compile(gn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), SCE, ["accuracy"])
    return model


def state(model: gn.Model) -> dict[str, np.ndarray]:
    """Weights and buffers by layer and name (everything that decides the model's outputs)."""
    out = {}
    for layer in model.layers:
        out |= {f"{layer.label}.{k}": np.array(p.data) for k, p in layer.weights.items()}
        out |= {f"{layer.label}.{k}": np.array(b) for k, b in layer.buffers.items()}
    return out


def assert_same_state(a: gn.Model, b: gn.Model) -> None:
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


def feed(cb: Callback, model: gn.Model, key: str, values: list[float]) -> list[int]:
    """Drive ``cb`` with synthetic epoch logs; return the epochs at which it stopped training."""
    cb.set_model(model)
    cb.on_train_begin()
    model.stop_training = False
    stops = []
    for epoch, v in enumerate(values, start=1):
        cb.on_epoch_end(epoch, {key: v})
        if model.stop_training:
            stops.append(epoch)
            break
    cb.on_train_end()
    return stops


# ----- EarlyStopping -----------------------------------------------------------------------------
@pytest.mark.parametrize(("patience", "stop"), [(0, 3), (1, 3), (2, 4), (3, 5)])
def test_early_stopping_patience_counts_epochs_without_improvement(patience, stop):
    """Keras' rule: stop once ``patience`` epochs in a row failed to improve (0 and 1 alike)."""
    losses = [1.0, 0.9, 0.95, 0.97, 0.99, 0.98, 0.96]  # best at epoch 2, then none better
    cb = EarlyStopping(monitor="val_loss", patience=patience)
    assert feed(cb, model_(), "val_loss", losses) == [stop]
    assert cb.stopped_epoch == stop


def test_early_stopping_improvement_resets_the_wait():
    cb = EarlyStopping(monitor="val_loss", patience=2)
    assert feed(cb, model_(), "val_loss", [1.0, 1.1, 0.9, 1.0, 0.8, 0.85]) == []


def test_early_stopping_min_delta_and_max_mode():
    cb = EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05)
    assert cb.mode == "max"
    # 0.52 and 0.54 are not better than 0.50 by 0.05.
    assert feed(cb, model_(), "val_accuracy", [0.5, 0.52, 0.54, 0.6]) == [2]


def test_early_stopping_in_fit(digits):
    x, y, xv, yv = digits
    cb = EarlyStopping(monitor="val_loss", min_delta=1e9, patience=1)  # nothing beats epoch 1
    hist = model_().fit(x, y, epochs=10, batch_size=32, validation_data=(xv, yv), callbacks=[cb],
                        verbose=0)
    assert hist.epochs == 2 == len(hist.history["val_loss"]) and cb.stopped_epoch == 2


@pytest.mark.parametrize("batchnorm", [False, True], ids=["plain", "batchnorm"])
def test_restore_best_weights(digits, batchnorm):
    """After stopping, the model is the best epoch's model: its val_loss is the best one."""
    x, y, xv, yv = digits
    model = model_(batchnorm)
    cb = EarlyStopping(monitor="val_loss", min_delta=1e9, patience=2, restore_best_weights=True)
    hist = model.fit(x, y, epochs=10, batch_size=32, validation_data=(xv, yv), callbacks=[cb],
                     verbose=0)
    assert hist.epochs > 1
    # Epoch 1's model, trained again from the same seeds.
    best = model_(batchnorm)
    best.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert_same_state(model, best)
    assert model.evaluate(xv, yv)["loss"] == pytest.approx(hist.history["val_loss"][0], rel=1e-6)


def test_early_stopping_without_restore_keeps_last_weights(digits):
    x, y, xv, yv = digits
    model = model_()
    cb = EarlyStopping(monitor="val_loss", min_delta=1e9, patience=1)
    hist = model.fit(x, y, epochs=10, batch_size=32, validation_data=(xv, yv), callbacks=[cb],
                     verbose=0)
    assert model.evaluate(xv, yv)["loss"] == pytest.approx(hist.history["val_loss"][-1], rel=1e-6)


def test_early_stopping_is_reusable():
    cb = EarlyStopping(monitor="loss", patience=0)
    model = model_()
    assert feed(cb, model, "loss", [1.0, 2.0]) == [2]
    assert feed(cb, model, "loss", [5.0, 4.0, 3.0]) == []  # best and wait were reset


# ----- ModelCheckpoint ---------------------------------------------------------------------------
def test_model_checkpoint_every_epoch_with_formatted_names(tmp_path, digits):
    x, y, xv, yv = digits
    model = model_()
    cb = ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}-{val_loss:.4f}.npz",
                         optimizer=model.optimizer)
    hist = model.fit(x, y, epochs=3, batch_size=32, validation_data=(xv, yv), callbacks=[cb],
                     verbose=0)
    names = [f"ckpt-{e:02d}-{v:.4f}.npz" for e, v in enumerate(hist.history["val_loss"], 1)]
    assert [p.name for p in cb.saved] == names
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)  # no temp files
    last = load_checkpoint(cb.saved[-1])
    assert last.extra == {"epoch": 3}
    assert last.optimizer is not None
    assert_same_state(model, last.model)


def test_model_checkpoint_save_best_only(tmp_path):
    model = model_()
    cb = ModelCheckpoint(tmp_path / "e{epoch}.npz", monitor="val_loss", save_best_only=True)
    feed(cb, model, "val_loss", [0.5, 0.7, 0.4, 0.4, 0.45, 0.3])
    assert [p.name for p in cb.saved] == ["e1.npz", "e3.npz", "e6.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1.npz", "e3.npz", "e6.npz"]


def test_model_checkpoint_save_best_only_max_mode(tmp_path):
    cb = ModelCheckpoint(tmp_path / "best.npz", monitor="val_accuracy", save_best_only=True)
    assert cb.mode == "max"
    feed(cb, model_(), "val_accuracy", [0.5, 0.4, 0.6])
    assert [p.name for p in cb.saved] == ["best.npz", "best.npz"]
    assert load_checkpoint(tmp_path / "best.npz").extra == {"epoch": 3}


def test_model_checkpoint_best_file_holds_the_best_epoch(tmp_path, digits):
    x, y, xv, yv = digits
    model = model_()
    cb = ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss", save_best_only=True)
    hist = model.fit(x, y, epochs=3, batch_size=32, validation_data=(xv, yv), callbacks=[cb],
                     verbose=0)
    best_epoch = int(np.argmin(hist.history["val_loss"])) + 1
    ck = load_checkpoint(tmp_path / "best.npz")
    assert ck.extra == {"epoch": best_epoch}
    assert ck.model.evaluate(xv, yv)["loss"] == pytest.approx(min(hist.history["val_loss"]),
                                                              rel=1e-6)


# ----- loggers -----------------------------------------------------------------------------------
def test_csv_logger(tmp_path, digits):
    x, y, xv, yv = digits
    path = tmp_path / "log.csv"
    hist = model_().fit(x, y, epochs=3, batch_size=32, validation_data=(xv, yv),
                        callbacks=[CSVLogger(path)], verbose=0)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for key, values in hist.history.items():
        assert [float(r[key]) for r in rows] == values
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_json_logger(tmp_path, digits):
    x, y, _, _ = digits
    path = tmp_path / "log.json"
    hist = model_().fit(x, y, epochs=2, batch_size=32, callbacks=[JSONLogger(path)], verbose=0)
    rows = json.loads(path.read_text())
    assert rows == [{"epoch": e + 1, "loss": hist.history["loss"][e],
                     "accuracy": hist.history["accuracy"][e]} for e in range(2)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.json"]


# ----- the protocol and errors -------------------------------------------------------------------
def test_hooks_are_called_in_order(digits):
    events: list[object] = []

    class Recorder(Callback):
        def on_train_begin(self) -> None:
            events.append(("begin", self.model is model))

        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            events.append((epoch, sorted(logs)))
            if epoch == 2:
                self.model.stop_training = True

        def on_train_end(self) -> None:
            events.append("end")

    model = model_()
    hist = model.fit(*digits[:2], epochs=5, batch_size=64, callbacks=[Recorder()], verbose=0)
    assert events == [("begin", True), (1, ["accuracy", "loss"]), (2, ["accuracy", "loss"]),
                      "end"]
    assert hist.epochs == 2


@pytest.mark.parametrize("cb", [
    EarlyStopping(monitor="val_loss"),
    ModelCheckpoint("unused-{epoch}.npz", monitor="val_loss", save_best_only=True),
], ids=["EarlyStopping", "ModelCheckpoint"])
def test_unknown_monitor_key(cb, digits):
    who = type(cb).__name__
    with pytest.raises(GlassnetError,
                       match=rf"{who}: monitor='val_loss' is not among the logs "
                             r"\['accuracy', 'loss'\]"):
        model_().fit(*digits[:2], epochs=1, callbacks=[cb], verbose=0)


@pytest.mark.parametrize("cls", [EarlyStopping, ModelCheckpoint])
def test_bad_mode(cls):
    args = ("x.npz",) if cls is ModelCheckpoint else ()
    with pytest.raises(GlassnetError, match=r"mode='up' must be 'auto', 'min' or 'max'"):
        cls(*args, mode="up")
