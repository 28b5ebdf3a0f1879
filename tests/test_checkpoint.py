"""Checkpoints: exact round trips, exact resumption, clear errors, atomic writes, zoo models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import data
from glassnet import layers as L
from glassnet.backend import dtype_scope
from glassnet.errors import GlassnetError
from glassnet.training import load_checkpoint, save_checkpoint

SCE = "sparse_categorical_crossentropy"


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    ds = data.load("digits")
    return ds.x_train[:200], ds.y_train[:200]


def net(seed: int = 0, filters: int = 4) -> gn.Model:
    """conv → BatchNorm → ReLU → pool → flatten → dropout 0.3 → dense 10 softmax."""
    return gn.Sequential([
        L.Input((8, 8, 1)),
        L.Conv2D(filters, 3), L.BatchNormalization(momentum=0.9), L.Activation("relu"),
        L.MaxPool2D(2), L.Flatten(), L.Dropout(0.3), L.Dense(10, activation="softmax"),
    ], seed=seed)


def compiled(optimizer: str = "sgd", seed: int = 0) -> gn.Model:
    model = net(seed)
    params = model.parameters()
    opt = (gn.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-4)
           if optimizer == "sgd" else gn.optim.Adam(params, lr=1e-2))
    model.compile(opt, SCE, ["accuracy"])
    return model


def arrays(model: gn.Model) -> dict[str, np.ndarray]:
    """Every weight and buffer by layer and name."""
    out = {}
    for layer in model.layers:
        for k, p in layer.weights.items():
            out[f"{layer.label}/{k}"] = np.array(p.data)
        for k, b in layer.buffers.items():
            out[f"{layer.label}/buffer/{k}"] = np.array(b)
    return out


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def dropout_rng(model: gn.Model) -> np.random.Generator:
    return model.get_layer("dropout").rng


# ----- round trip --------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_round_trip_restores_everything(tmp_path, digits, optimizer):
    model = compiled(optimizer)
    model.fit(*digits, epochs=1, batch_size=32, seed=0, verbose=0)
    assert model.get_layer("batch_normalization").buffers["moving_mean"].any()  # BN has moved
    path = model.save(tmp_path / "m")
    assert path == tmp_path / "m.npz"

    ck = load_checkpoint(path)
    assert_same_arrays(arrays(model), arrays(ck.model))
    assert ck.model.get_layer("dense").weights["kernel"].dtype == np.float32
    saved, loaded = model.optimizer.state_dict(), ck.optimizer.state_dict()
    assert type(ck.optimizer) is type(model.optimizer) and saved["hyper"] == loaded["hyper"]
    assert saved["state"].keys() == loaded["state"].keys() and saved["state"]
    for i in saved["state"]:
        assert saved["state"][i].keys() == loaded["state"][i].keys()
        for k, v in saved["state"][i].items():
            np.testing.assert_array_equal(v, loaded["state"][i][k], err_msg=f"{i}/{k}")
    # The dropout generator continues where the saved one was.
    assert dropout_rng(ck.model).bit_generator.state == dropout_rng(model).bit_generator.state
    np.testing.assert_array_equal(dropout_rng(ck.model).random(5), dropout_rng(model).random(5))
    # And the loaded model is compiled with the restored optimizer.
    assert ck.model.optimizer is ck.optimizer
    assert ck.model.evaluate(*digits) == model.evaluate(*digits)


def test_load_model_and_save_without_optimizer(tmp_path, digits):
    model = compiled()
    model.fit(*digits, epochs=1, batch_size=32, verbose=0)
    path = model.save(tmp_path / "m.npz", include_optimizer=False)
    assert load_checkpoint(path).optimizer is None
    loaded = gn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(digits[0]), model.predict(digits[0]))
    assert loaded.evaluate(*digits) == model.evaluate(*digits)


def test_extra_and_fit_rng_state_are_kept(tmp_path):
    model = net().build()
    rng = np.random.default_rng(123)
    rng.random(7)
    ck = load_checkpoint(save_checkpoint(model, tmp_path / "c", extra={"epoch": 3}, fit_rng=rng))
    assert ck.extra == {"epoch": 3}
    assert ck.fit_rng_state == rng.bit_generator.state
    assert load_checkpoint(save_checkpoint(model, tmp_path / "d")).fit_rng_state is None


def test_load_into_a_given_model(tmp_path):
    src = net(seed=1).build()
    dst = net(seed=2).build()
    load_checkpoint(save_checkpoint(src, tmp_path / "c"), model=dst)
    assert_same_arrays(arrays(src), arrays(dst))


def test_float64_model_round_trip(tmp_path):
    with dtype_scope("float64"):
        model = net().build()
    ck = load_checkpoint(save_checkpoint(model, tmp_path / "c"))
    assert ck.model.dtype == np.float64
    assert_same_arrays(arrays(model), arrays(ck.model))


# ----- resume ------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_equals_uninterrupted_training(tmp_path, digits, optimizer):
    """2 epochs, save (with the fit RNG), load, 2 more epochs == 4 epochs in one go, exactly."""
    x, y = digits
    ref = compiled(optimizer)
    h_ref = ref.fit(x, y, epochs=4, batch_size=32, seed=0, verbose=0)

    first = compiled(optimizer)
    rng = np.random.default_rng(0)  # what fit(seed=0) would create
    h1 = first.fit(x, y, epochs=2, batch_size=32, rng=rng, verbose=0)
    path = save_checkpoint(first, tmp_path / "half", optimizer=first.optimizer, fit_rng=rng)
    del first

    ck = load_checkpoint(path)
    resumed_rng = np.random.default_rng()
    resumed_rng.bit_generator.state = ck.fit_rng_state
    h2 = ck.model.fit(x, y, epochs=2, batch_size=32, initial_epoch=2, rng=resumed_rng,
                      verbose=0)
    assert h1.history["loss"] + h2.history["loss"] == h_ref.history["loss"]
    assert h1.history["accuracy"] + h2.history["accuracy"] == h_ref.history["accuracy"]
    assert_same_arrays(arrays(ck.model), arrays(ref))


def test_resume_logs_epochs_after_initial_epoch(tmp_path, digits):
    seen = []
    model = compiled()
    model.fit(*digits, epochs=2, batch_size=64, initial_epoch=3, verbose=0,
              on_epoch=lambda epoch, logs: seen.append(epoch))
    assert seen == [4, 5]


# ----- errors ------------------------------------------------------------------------------------
def test_mismatched_shapes_name_layer_weight_and_shapes(tmp_path):
    path = save_checkpoint(net(filters=4).build(), tmp_path / "c")
    with pytest.raises(GlassnetError, match=r"layer 'conv2d' kernel has shape \[3, 3, 1, 4\] "
                                            r"in the file but the model expects \[3, 3, 1, 6\]"):
        load_checkpoint(path, model=net(filters=6))


def test_checkpoint_with_an_unknown_layer_entry(tmp_path):
    small = gn.Sequential([L.Input((4,)), L.Dense(3)])
    big = gn.Sequential([L.Input((4,)), L.Dense(3), L.Dense(2)])
    path = save_checkpoint(big.build(), tmp_path / "c")
    with pytest.raises(GlassnetError, match=r"entries 'w/1/kernel', 'w/1/bias' have "
                                            r"no matching weight"):
        load_checkpoint(path, model=small)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(GlassnetError, match=r"not a glassnet checkpoint \(no 'meta' entry\)"):
        load_checkpoint(path)
    np.savez(path, meta=np.array(json.dumps({"format": "keras"})))
    with pytest.raises(GlassnetError, match=r"format 'keras' is unknown"):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.npz does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


# ----- atomic writes -----------------------------------------------------------------------------
def test_save_leaves_no_temp_file(tmp_path):
    model = net().build()
    save_checkpoint(model, tmp_path / "c.npz")
    save_checkpoint(model, tmp_path / "c.npz")  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    model = net().build()
    path = save_checkpoint(model, tmp_path / "c.npz")
    before = path.read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    model.get_layer("dense").weights["kernel"].data[...] = 0
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(model, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_save_creates_parent_directories(tmp_path):
    path = save_checkpoint(net().build(), tmp_path / "a" / "b" / "c.npz")
    assert path.exists()


# ----- zoo models --------------------------------------------------------------------------------
def test_zoo_checkpoint_rebuilds_from_zoo_name(tmp_path):
    model = gn.zoo.keras_mnist_convnet(num_classes=5, seed=3)
    model.compile("adam", SCE)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    path = model.save(tmp_path / "zoo")
    meta = json.loads(str(np.load(path)["meta"]))
    assert meta["architecture"] == {"zoo": "keras_mnist_convnet",
                                    "kwargs": {"num_classes": 5, "seed": 3}}
    loaded = gn.load_model(path)
    assert loaded.zoo_name == "keras_mnist_convnet" and loaded.output_shape == (5,)
    assert_same_arrays(arrays(model), arrays(loaded))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_zoo_lenet5_round_trip(tmp_path):
    model = gn.zoo.lenet5()
    loaded = gn.load_model(save_checkpoint(model, Path(tmp_path) / "lenet5"))
    assert loaded.zoo_name == "lenet5"
    assert loaded.count_params() == 61706
    assert_same_arrays(arrays(model), arrays(loaded))
