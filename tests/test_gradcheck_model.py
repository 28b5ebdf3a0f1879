"""gn.gradcheck on whole models and `glassnet gradcheck`."""

import json

import numpy as np

import glassnet as gn
from glassnet import layers as L
from glassnet.cli import main
from glassnet.tensor import Tensor


def _small_model(activation="softmax"):
    return gn.Sequential([
        L.Input((6, 6, 2)), L.Conv2D(3, 3, activation="relu"), L.MaxPool2D(2),
        L.Flatten(), L.Dense(4, activation=activation),
    ])


def test_model_gradcheck_passes_and_restores_float32(rng):
    model = _small_model()
    before = [p.data.copy() for p in model.parameters()]
    res = gn.gradcheck(model, rng.random((3, 6, 6, 2)), np.array([0, 3, 1]))
    assert res.ok, str(res)
    assert set(res.errors) == {p.name for p in model.parameters()}
    for p, b in zip(model.parameters(), before, strict=True):
        assert p.data.dtype == np.float32 and p.grad is None
        np.testing.assert_array_equal(p.data, b)


def test_model_gradcheck_catches_a_broken_backward(rng, monkeypatch):
    from glassnet import autodiff as A

    real = A.relu

    def wrong_relu(x):  # forward right, backward doubled
        out = real(x)
        return Tensor.from_op(out.data, (x,), lambda g: (2 * g * (x.data > 0),))

    monkeypatch.setattr("glassnet.layers.activations.A.relu", wrong_relu)
    model = gn.Sequential([L.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)])
    res = gn.gradcheck(model, rng.random((2, 4)), np.array([0, 1]))
    assert not res.ok


def test_cli_gradcheck_json(capsys):
    assert main(["gradcheck", "lenet5", "--batch", "2", "--samples", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and len(out["errors"]) == 10
