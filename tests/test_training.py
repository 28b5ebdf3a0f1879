"""The training path: fit / evaluate / predict on real data, determinism, the fused loss, errors."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet import autodiff as A
from glassnet import data
from glassnet import layers as L
from glassnet.backend import dtype_scope
from glassnet.errors import GlassnetError
from glassnet.training import TrainingDiverged
from glassnet.training.loop import batch_loss

SCE = "sparse_categorical_crossentropy"


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """300 real 8×8 digit images (sklearn's UCI digits) and their labels."""
    ds = data.load("digits")
    return ds.x_train[:300], ds.y_train[:300]


def small_cnn(seed: int = 0, head: str | None = "softmax") -> gn.Model:
    """conv 4@3×3 ReLU → 2×2 max pool → flatten → dense 10 (softmax head by default)."""
    return gn.Sequential([
        L.Input((8, 8, 1)),
        L.Conv2D(4, 3, activation="relu"), L.MaxPool2D(2),
        L.Flatten(), L.Dense(10, activation=head),
    ], seed=seed)


def weights(model: gn.Model) -> list[np.ndarray]:
    return [p.data.copy() for p in model.parameters()]


def trained(x: np.ndarray, y: np.ndarray, model_seed: int = 0, fit_seed: int = 0,
            epochs: int = 2, **fit_kw: object) -> tuple[gn.Model, object]:
    model = small_cnn(model_seed)
    model.compile(gn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), SCE, ["accuracy"])
    hist = model.fit(x, y, epochs=epochs, batch_size=32, seed=fit_seed, verbose=0, **fit_kw)
    return model, hist


# ----- learning ----------------------------------------------------------------------------------
def test_fit_lowers_the_loss_on_real_digits(digits):
    x, y = digits
    model = small_cnn()
    model.compile(gn.optim.Adam(model.parameters(), lr=1e-2), SCE, ["accuracy"])
    before = model.evaluate(x, y)
    hist = model.fit(x, y, epochs=6, batch_size=32, seed=0, verbose=0)
    after = model.evaluate(x, y)
    loss = hist.history["loss"]
    assert hist.epochs == 6 and len(loss) == 6 and hist.seconds > 0
    assert loss[-1] < 0.5 * loss[0]
    assert after["loss"] < 0.5 * before["loss"]
    assert after["accuracy"] > 0.8 > before["accuracy"]


def test_history_keys_with_validation_data(digits):
    x, y = digits
    _, hist = trained(x[:240], y[:240], validation_data=(x[240:], y[240:]))
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in hist.history.values())


def test_history_keys_without_validation_or_metrics(digits):
    x, y = digits
    model = small_cnn()
    model.compile("sgd", SCE, metrics=[])
    hist = model.fit(x, y, epochs=1, verbose=0)
    assert set(hist.history) == {"loss"}


def test_validation_split_holds_out_the_last_samples(digits):
    """validation_split=0.2 is the same as training on the first 80 % and validating on the rest."""
    x, y = digits
    m1, h1 = trained(x, y, validation_split=0.2)
    m2, h2 = trained(x[:240], y[:240], validation_data=(x[240:], y[240:]))
    assert set(h1.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h1.history == h2.history
    for a, b in zip(weights(m1), weights(m2), strict=True):
        np.testing.assert_array_equal(a, b)
    # The last epoch's val_loss is the held-out loss of the final weights.
    assert h1.history["val_loss"][-1] == pytest.approx(m1.evaluate(x[240:], y[240:])["loss"],
                                                        rel=1e-6)


def test_minibatch_gradient_is_the_batch_mean(digits):
    """One SGD step (lr=1) moves each weight by minus the mean of the per-example gradients."""
    x, y = digits[0][:8].astype(np.float64), digits[1][:8]
    with dtype_scope("float64"):
        model = small_cnn().build()
    params = model.parameters()
    w0 = weights(model)
    per_example = []
    for i in range(len(x)):
        for p in params:
            p.grad = None
        out = model.forward(x[i : i + 1], training=True)
        A.loss(SCE, out, y[i : i + 1]).backward()
        per_example.append([p.grad.copy() for p in params])
    mean = [np.mean([g[k] for g in per_example], axis=0) for k in range(len(params))]
    model.compile(gn.optim.SGD(params, lr=1.0), SCE)
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert any(np.abs(m).max() > 1e-3 for m in mean)
    for p, w, g in zip(params, w0, mean, strict=True):
        np.testing.assert_allclose(w - p.data, g, rtol=1e-10, atol=1e-13)


# ----- determinism -------------------------------------------------------------------------------
def test_same_seed_gives_identical_weights_and_history(digits):
    x, y = digits
    m1, h1 = trained(x, y, model_seed=3, fit_seed=5)
    m2, h2 = trained(x, y, model_seed=3, fit_seed=5)
    assert h1.history == h2.history
    for a, b in zip(weights(m1), weights(m2), strict=True):
        np.testing.assert_array_equal(a, b)


def test_different_seed_gives_different_results(digits):
    x, y = digits
    ref, h_ref = trained(x, y, model_seed=0, fit_seed=0)
    other_order, h_order = trained(x, y, model_seed=0, fit_seed=1)
    other_init = small_cnn(seed=1)
    assert h_ref.history["loss"] != h_order.history["loss"]
    assert not np.array_equal(weights(ref)[0], weights(other_order)[0])
    assert not np.array_equal(weights(small_cnn(seed=0))[0], weights(other_init)[0])


# ----- divergence --------------------------------------------------------------------------------
def test_nan_loss_stops_with_training_diverged(digits):
    x, y = digits
    model = small_cnn()
    model.compile(gn.optim.SGD(model.parameters(), lr=1e30), SCE)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match=r"epoch 1, batch \d+"):
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)


def test_training_diverged_names_the_resumed_epoch(digits):
    x, y = digits
    model = small_cnn()
    model.compile(gn.optim.SGD(model.parameters(), lr=1e30), SCE)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match=r"epoch 6, batch \d+"):
        model.fit(x, y, epochs=1, batch_size=32, initial_epoch=5, verbose=0)
    assert issubclass(TrainingDiverged, GlassnetError)


# ----- evaluate / predict ------------------------------------------------------------------------
def test_predict_shapes_and_values(digits):
    x, y = digits
    model, _ = trained(x, y)
    probs = model.predict(x, batch_size=64)  # 300 = 4·64 + 44: the last batch is partial
    assert probs.shape == (300, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs, model.forward(x).data, rtol=1e-5, atol=1e-7)
    assert model.predict(x[:0]).shape == (0, 10)


def test_evaluate_matches_predict(digits):
    x, y = digits
    model, _ = trained(x, y)
    probs = model.predict(x).astype(np.float64)
    res = model.evaluate(x, y, batch_size=100)
    assert set(res) == {"loss", "accuracy"}
    assert res["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == y))
    assert res["loss"] == pytest.approx(-np.mean(np.log(probs[np.arange(len(y)), y])), rel=1e-5)


def test_predict_works_without_compile(digits):
    assert small_cnn().predict(digits[0][:5]).shape == (5, 10)


def test_dropout_is_off_in_evaluate_and_predict(digits):
    x, y = digits
    model = gn.Sequential([L.Input((8, 8, 1)), L.Flatten(), L.Dropout(0.5),
                           L.Dense(10, activation="softmax")], seed=0)
    model.compile("sgd", SCE)
    np.testing.assert_array_equal(model.predict(x[:20]), model.predict(x[:20]))
    assert model.evaluate(x, y) == model.evaluate(x, y)


# ----- the fused softmax + cross-entropy ---------------------------------------------------------
@pytest.mark.parametrize("loss", [SCE, "categorical_crossentropy"])
def test_fused_loss_equals_unfused_in_float64(digits, loss):
    x = digits[0][:16].astype(np.float64)
    y = digits[1][:16] if loss == SCE else data.one_hot(digits[1][:16], 10, dtype=np.float64)
    with dtype_scope("float64"):
        model = small_cnn().build()
    params = model.parameters()

    def value_and_grads(fused: bool) -> tuple[float, list[np.ndarray]]:
        for p in params:
            p.grad = None
        out = model.forward(x, training=True)
        if fused:
            assert A.softmax_input(out) is not None  # the fit path really fuses here
            value = batch_loss(model, out, y, loss, from_logits=False)
        else:
            value = A.loss(loss, out, y)
        value.backward()
        return value.item(), [p.grad.copy() for p in params]

    v_fused, g_fused = value_and_grads(True)
    v_plain, g_plain = value_and_grads(False)
    assert v_fused == pytest.approx(v_plain, rel=1e-12)
    for a, b in zip(g_fused, g_plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)


def test_fused_loss_is_finite_for_saturated_logits(digits):
    x, y = digits[0][:16].astype(np.float64), digits[1][:16]
    with dtype_scope("float64"):
        model = small_cnn().build()
    model.get_layer("dense").weights["kernel"].data[...] *= 1e4  # logits in the thousands
    out = model.forward(x, training=True)
    value = batch_loss(model, out, y, SCE, from_logits=False)
    value.backward()
    assert np.isfinite(value.item())
    assert all(np.isfinite(p.grad).all() for p in model.parameters())


def test_from_logits_model_trains_like_the_softmax_model(digits):
    """Dense logits + from_logits=True takes the same steps as a softmax head (same weights)."""
    x, y = digits
    soft, h_soft = trained(x, y)
    logit = small_cnn(head=None)
    logit.compile(gn.optim.SGD(logit.parameters(), lr=0.1, momentum=0.9), SCE, from_logits=True)
    h_logit = logit.fit(x, y, epochs=2, batch_size=32, seed=0, verbose=0)
    np.testing.assert_allclose(h_logit.history["loss"], h_soft.history["loss"], rtol=1e-4)
    for a, b in zip(weights(soft), weights(logit), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_one_hot_targets_train_like_sparse_labels(digits):
    """categorical_crossentropy on one-hot rows takes the same steps as the sparse loss."""
    x, y = digits
    sparse, h_sparse = trained(x, y)
    dense = small_cnn()
    dense.compile(gn.optim.SGD(dense.parameters(), lr=0.1, momentum=0.9),
                  "categorical_crossentropy", ["accuracy"])
    h_dense = dense.fit(x, data.one_hot(y, 10), epochs=2, batch_size=32, seed=0, verbose=0)
    np.testing.assert_allclose(h_dense.history["loss"], h_sparse.history["loss"], rtol=1e-6)
    assert h_dense.history["accuracy"] == h_sparse.history["accuracy"]
    for a, b in zip(weights(sparse), weights(dense), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# ----- errors ------------------------------------------------------------------------------------
def test_compile_unknown_loss():
    with pytest.raises(GlassnetError, match=r"compile: loss='hinge' is not one of"):
        small_cnn().compile("sgd", "hinge")


def test_compile_unknown_optimizer():
    with pytest.raises(GlassnetError, match=r"compile: optimizer='adagrad' is not one of .*'sgd'"):
        small_cnn().compile("adagrad", SCE)


def test_compile_unknown_metric():
    with pytest.raises(GlassnetError, match=r"compile: metrics \['f1'\] are unknown"):
        small_cnn().compile("sgd", SCE, metrics=["accuracy", "f1"])


def test_compile_optimizer_of_another_model():
    other = gn.Sequential([L.Input((4,)), L.Dense(2)])
    with pytest.raises(GlassnetError, match=r"optimizer holds 2 parameters but the model has 4"):
        small_cnn().compile(gn.optim.SGD(other.parameters()), SCE)


def test_fit_and_evaluate_before_compile(digits):
    x, y = digits
    with pytest.raises(GlassnetError, match=r"fit: call model.compile"):
        small_cnn().fit(x, y, verbose=0)
    with pytest.raises(GlassnetError, match=r"evaluate: call model.compile"):
        small_cnn().evaluate(x, y)


def compiled() -> gn.Model:
    model = small_cnn()
    model.compile("sgd", SCE)
    return model


def test_fit_x_y_length_mismatch(digits):
    x, y = digits
    with pytest.raises(GlassnetError, match=r"x has 300 samples but y has 299"):
        compiled().fit(x, y[:-1], verbose=0)


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True])
def test_fit_bad_epochs(digits, epochs):
    with pytest.raises(GlassnetError, match=rf"epochs={epochs!r} must be a positive int"):
        compiled().fit(*digits, epochs=epochs, verbose=0)


def test_fit_bad_batch_size(digits):
    with pytest.raises(GlassnetError, match=r"batch_size=0 must be a positive int"):
        compiled().fit(*digits, batch_size=0, verbose=0)


@pytest.mark.parametrize("split", [1.0, -0.1])
def test_fit_bad_validation_split(digits, split):
    with pytest.raises(GlassnetError, match=rf"validation_split={split} must be in \(0, 1\)"):
        compiled().fit(*digits, validation_split=split, verbose=0)
