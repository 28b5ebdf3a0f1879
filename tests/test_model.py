"""Sequential and graph models: naming, lazy building, sharing, forward, errors."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import layers as L
from glassnet import zoo
from glassnet.backend import dtype_scope
from glassnet.errors import GlassnetError, ShapeError
from glassnet.models import Model, Sequential


def test_keras_style_auto_names_per_model():
    m = Sequential([L.Input((8, 8, 1)), L.Conv2D(2, 3), L.Conv2D(2, 3), L.Flatten(),
                    L.Dense(3, name="dense_1"), L.Dense(2)])
    assert [layer.name for layer in m.layers] == [
        "conv2d", "conv2d_1", "flatten", "dense_1", "dense"
    ]
    m2 = Sequential([L.Conv2D(2, 3)], input_shape=(5, 5, 1))
    assert m2.layers[0].name == "conv2d"  # counters are per model
    assert m2.to_config()["layers"][0] == {"type": "conv2d", "filters": 2, "kernel": 3}


def test_sequential_errors():
    with pytest.raises(GlassnetError, match=r"Sequential: the input shape is unknown"):
        Sequential([L.Dense(3)])
    with pytest.raises(GlassnetError, match=r"layers\[1\] is an Input; only the first may be"):
        Sequential([L.Input((3,)), L.Input((3,))])
    with pytest.raises(GlassnetError, match=r"layers\[0\] is a str, not a layer"):
        Sequential(["dense"], input_shape=(3,))
    with pytest.raises(GlassnetError, match=r"layer name 'a' is used by two different layers"):
        Sequential([L.Dense(3, name="a"), L.Dense(3, name="a")], input_shape=(3,))
    with pytest.raises(GlassnetError, match=r"disagrees with the Input"):
        Sequential([L.Input((3,))], input_shape=(4,))


def test_forward_input_shape_error():
    m = zoo.lenet5()
    with pytest.raises(ShapeError, match=r"lenet5: input has shape \[2, 28, 28, 1\]; expected "
                                         r"\[N, 32, 32, 1\]"):
        m(np.zeros((2, 28, 28, 1)))


def test_summary_does_not_allocate_and_build_is_lazy():
    m = zoo.vgg16()
    info = m.summary(print_fn=None)
    assert info["total_params"] == 138_357_544
    assert not m.built and all(not layer.weights for layer in m.layers)
    small = zoo.lenet5()
    assert not small.built
    small(np.zeros((1, 32, 32, 1), dtype=np.float32))
    assert small.built and small.dtype == np.float32
    assert sum(p.data.size for p in small.parameters()) == 61_706


def test_same_seed_same_weights():
    a = [p.data for p in zoo.lenet5(seed=3).parameters()]
    b = [p.data for p in zoo.lenet5(seed=3).parameters()]
    c = [p.data for p in zoo.lenet5(seed=4).parameters()]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_shared_layer_counted_once():
    x = L.Input((6, 6, 4))
    conv = L.Conv2D(4, 3, padding="same", name="shared")
    y = conv(conv(x))
    m = Model(x, L.GlobalAvgPool2D()(y))
    assert len(m.parameters()) == 2
    info = m.summary(print_fn=None)
    rows = [r for r in info["layers"] if r["name"] == "shared"]
    assert [r["params"] for r in rows] == [148, 0] and rows[1]["shared"]
    assert [r["macs"] for r in rows] == [6 * 6 * 9 * 4 * 4] * 2  # computed at each call
    assert info["total_params"] == 148
    with dtype_scope("float64"):
        maps = m.feature_maps(np.ones((1, 6, 6, 4)))
    assert set(maps) == {"shared", "shared:2", "global_average_pooling2d"}
    with pytest.raises(ShapeError, match=r"shared: called on input shape"):
        conv(L.Input((5, 5, 4)))


def test_graph_model_errors():
    x, other = L.Input((4, 4, 1)), L.Input((4, 4, 1))
    y = L.Add()([x, other])
    with pytest.raises(GlassnetError, match=r"the output must depend on the given Input only"):
        Model(x, y)
    with pytest.raises(GlassnetError, match=r"inputs must be an Input"):
        Model(L.Conv2D(1, 1)(x), y)
    with pytest.raises(GlassnetError, match=r"exactly one input and one output"):
        Model([x, other], y)


def test_sequential_add_and_indexing():
    m = Sequential([L.Input((4,))])
    m.add(L.Dense(3))
    m.add(L.Dense(2, activation="softmax"))
    assert len(m) == 2 and m[1].name == "dense_1" and m.output_shape == (2,)
    out = m(np.ones((5, 4)))
    np.testing.assert_allclose(out.data.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(GlassnetError, match=r"cannot add layers after the model is built"):
        m.add(L.Dense(2))
    with pytest.raises(GlassnetError, match=r"no layer named 'x'"):
        m.get_layer("x")


def test_backward_reaches_every_parameter():
    m = zoo.keras_mnist_convnet()
    out = m(np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32), training=True)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in m.parameters())


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "mobilenet_v2"])
def test_small_graph_zoo_forward_matches_summary(name):
    # 32×32 is the smallest size these geometries allow; every layer's real shape is checked.
    model = zoo.get(name, input_shape=(32, 32, 3), num_classes=7)
    maps = model.feature_maps(np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32))
    for row in model.summary(print_fn=None)["layers"]:
        assert list(maps[row["name"]].shape[1:]) == row["output_shape"], row["name"]
    assert maps["fc" if name != "mobilenet_v2" else "classifier"].shape == (1, 7)
