"""The graph-free inference plan (models/infer.py) gives the graph path's numbers.

``model.forward`` under ``no_grad()`` in inference mode runs the plan; with gradients enabled
it records the graph. In reference mode both run the same ops on the same arrays, so float64
results must be bit-identical; on the fast paths the plan may fold a BatchNorm into the
convolution before it and run 3×3 convolutions as Winograd F(2×2, 3×3) (inference only): equal
to float64 rounding.
"""

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet import zoo
from glassnet.backend import dtype_scope
from glassnet.tensor import no_grad


def both_paths(model, x):
    with no_grad():
        planned = model.forward(x).data
    assert getattr(model, "_plan_cache", None) is not None  # the plan really ran
    graph = model.forward(x, training=False).data  # gradients on: the recorded graph path
    return planned, graph


ZOO_MODELS = [
    ("lenet5", (32, 32, 1)),
    ("keras_mnist_convnet", (28, 28, 1)),
    ("keras_mnist_mlp", (28, 28, 1)),
    ("tiny_vgg", (32, 32, 3)),
    ("resnet18", (32, 32, 3)),  # Add, batch norm, strided and padded convs
    ("googlenet", (32, 32, 3)),  # Concatenate, overlapping pools
    ("mobilenet_v2", (32, 32, 3)),  # depthwise (grouped) convs, ReLU6
]


@pytest.mark.parametrize("name,shape", ZOO_MODELS)
def test_zoo_models_plan_equals_graph(rng, name, shape):
    with dtype_scope("float64"):
        model = zoo.get(name, input_shape=shape, seed=1).build()
        x = rng.random((2, *shape))
        planned, graph = both_paths(model, x)
        assert planned.dtype == np.float64
        np.testing.assert_allclose(planned, graph, rtol=1e-11, atol=1e-13)
        model._plan_cache = None
        with gn.reference_mode():
            planned, graph = both_paths(model, x)
    np.testing.assert_array_equal(planned, graph)


def test_every_layer_kind_plan_equals_graph(rng):
    with dtype_scope("float64"):
        model = gn.Sequential([
            L.Input((12, 11, 4)),
            L.Conv2D(6, 3, strides=2, padding="same", dilation_rate=1, activation="tanh"),
            L.Conv2D(6, 3, padding=1, groups=2, activation="relu"),
            L.MaxPool2D(2),  # conv(relu) -> max-pool: the fused pair
            L.DepthwiseConv2D(2, padding="same"),
            L.BatchNormalization(),
            L.ReLU(max_value=6),
            L.Conv2D(5, 2, dilation_rate=2, activation="relu"),
            L.AvgPool2D(2, strides=1, padding="same"),
            L.MaxPool2D(3, strides=2, padding="same"),
            L.Activation("sigmoid"),
            L.Dropout(0.5),
            L.Flatten(),
            L.Dense(7, activation="leaky_relu"),
            L.Dense(3, activation="softmax"),
        ], seed=2).build()
        x = rng.standard_normal((3, 12, 11, 4))
        model.compile(gn.optim.SGD(model.parameters(), lr=0.01))
        model.fit(x, np.array([0, 1, 2]), epochs=1, batch_size=3, verbose=0)  # BN statistics
        planned, graph = both_paths(model, x)
    np.testing.assert_array_equal(planned, graph)


def test_plan_reads_the_current_weights(rng):
    model = zoo.get("lenet5", seed=0).build()
    model.compile(gn.optim.SGD(model.parameters(), lr=0.5))
    x, y = rng.random((4, 32, 32, 1)).astype(np.float32), np.array([0, 1, 2, 3])
    before, _ = both_paths(model, x)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)  # updates the weights in place
    after, graph = both_paths(model, x)
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(after, graph)


def test_feature_maps_and_training_mode_do_not_use_the_plan(rng):
    model = zoo.get("keras_mnist_convnet", seed=0).build()
    x = rng.random((2, 28, 28, 1)).astype(np.float32)
    with no_grad():
        maps = model.feature_maps(x)
        train_out = model.forward(x, training=True).data  # dropout active: not the plan
    assert getattr(model, "_plan_cache", None) is None
    assert set(maps) == {layer.name for layer in model.layers}
    assert train_out.shape == (2, 10)


@pytest.mark.parametrize("batch", [1, 3])
def test_merge_layers_run_on_arrays_with_the_graphs_numbers(rng, monkeypatch, batch):
    """Add (three inputs) and Concatenate (channels; flat features) have array steps: the
    plan never wraps them in tensors, and their sums and joins are the graph path's (bit for
    bit from batch 2; at batch 1 the convolutions and Dense layers around them run the
    small-batch kernels: equal to rounding)."""
    with dtype_scope("float64"):
        inp = L.Input((5, 4, 3))
        a = L.Conv2D(3, 1, activation="relu")(inp.node)
        b = L.Conv2D(3, 3, padding="same")(inp.node)
        s = L.Add()([inp.node, a, b])
        c = L.Concatenate()([s, a, inp.node])
        f1 = L.Dense(4)(L.Flatten()(c))
        f2 = L.Dense(2)(L.Flatten()(s))
        model = gn.Model(inp, L.Concatenate(axis=1)([f1, f2]), seed=3).build()
        merges = (L.Add, L.Concatenate)
        real = {k: k.forward for k in merges}
        used = []
        for kind in merges:
            monkeypatch.setattr(kind, "forward", lambda self, xs, training=False, _k=kind: (
                used.append(_k) or real[_k](self, xs, training)))
        x = rng.standard_normal((batch, 5, 4, 3))
        with no_grad():
            planned = model.forward(x).data
        assert used == []  # the plan's merge steps took arrays
        graph = model.forward(x, training=False).data
        assert len(used) == 3  # the graph path's took tensors
    if batch == 1:
        np.testing.assert_allclose(planned, graph, rtol=1e-13, atol=1e-13)
    else:
        np.testing.assert_array_equal(planned, graph)
