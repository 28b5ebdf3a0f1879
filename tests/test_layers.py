"""Layers: every layer's summary shape equals its real forward shape; counts; errors."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import layers as L
from glassnet.backend import dtype_scope
from glassnet.errors import GlassnetError, ShapeError
from glassnet.models import Model, Sequential

# (input shape, layer factory) — small inputs, odd sizes, every padding form.
CASES = [
    ((7, 9, 3), lambda: L.Conv2D(4, 3)),
    ((7, 9, 3), lambda: L.Conv2D(4, (3, 2), strides=2, padding="same")),
    ((8, 8, 3), lambda: L.Conv2D(5, 3, strides=(2, 1), padding=1, dilation_rate=2)),
    ((6, 6, 4), lambda: L.Conv2D(6, 3, padding=(0, 1, 2, 1), groups=2, use_bias=False)),
    ((6, 7, 4), lambda: L.Conv2D(8, 1, activation="relu6")),
    ((9, 9, 3), lambda: L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)),
    ((9, 8, 2), lambda: L.MaxPool2D(3, strides=2)),
    ((9, 8, 2), lambda: L.MaxPool2D(3, strides=2, ceil_mode=True)),
    ((7, 7, 2), lambda: L.MaxPool2D(3, strides=1, padding=1)),
    ((7, 6, 2), lambda: L.MaxPool2D(2, padding="same")),
    ((9, 9, 2), lambda: L.AvgPool2D(3, strides=2, padding=1)),
    ((9, 9, 2), lambda: L.AvgPool2D(2, ceil_mode=True, count_include_pad=True)),
    ((3, 5, 2), lambda: L.MaxPool2D(4, strides=2, ceil_mode=True)),  # one window, overhanging
    ((3, 3, 2), lambda: L.AvgPool2D((4, 2), strides=2, padding=(0, 1), ceil_mode=True,
                                    count_include_pad=True)),
    ((5, 4, 3), lambda: L.GlobalAvgPool2D()),
    ((5, 4, 3), lambda: L.Flatten()),
    ((12,), lambda: L.Flatten()),
    ((12,), lambda: L.Dense(5, activation="tanh")),
    ((5, 4, 3), lambda: L.Dropout(0.5, seed=1)),
    ((5, 4, 3), lambda: L.BatchNormalization()),
    ((6,), lambda: L.BatchNormalization(momentum=0.9, epsilon=1e-5)),
    ((5, 4, 3), lambda: L.Activation("sigmoid")),
    ((5, 4, 3), lambda: L.ReLU()),
    ((5, 4, 3), lambda: L.Softmax()),
    ((7,), lambda: L.Softmax()),
]


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(("shape", "make"), CASES)
def test_output_shape_equals_forward_shape(shape, make, training):
    layer = make()
    model = Sequential([L.Input(shape), layer])
    with dtype_scope("float64"):
        out = model(np.random.default_rng(0).normal(size=(2, *shape)), training=training)
    assert out.dtype == np.float64
    assert out.shape == (2, *layer.output_shape())
    assert model.summary(print_fn=None)["layers"][0]["output_shape"] == list(out.shape[1:])


def test_merge_layers_shapes_match_forward():
    x = L.Input((6, 6, 3))
    a = L.Conv2D(4, 3, padding="same")(x)
    b = L.Conv2D(4, 1)(x)
    s = L.Add()([a, b])
    c = L.Concatenate()([s, x, a])
    model = Model(x, c)
    assert c.shape == (6, 6, 11)
    with dtype_scope("float64"):
        maps = model.feature_maps(np.ones((2, 6, 6, 3)))
    for row in model.summary(print_fn=None)["layers"]:
        assert list(maps[row["name"]].shape[1:]) == row["output_shape"]


def test_concatenate_other_axes():
    x = L.Input((4, 5, 2))
    y = L.Concatenate(axis=2)([x, x])  # along W
    assert y.shape == (4, 10, 2)
    with dtype_scope("float64"):
        out = Model(x, y)(np.arange(80.0).reshape(2, 4, 5, 2))
    assert out.shape == (2, 4, 10, 2)
    np.testing.assert_array_equal(out.data[:, :, 5:], out.data[:, :, :5])


def test_flatten_is_keras_order():
    x = np.arange(2 * 2 * 3 * 4, dtype=np.float64).reshape(2, 2, 3, 4)  # NHWC
    out = Sequential([L.Input((2, 3, 4)), L.Flatten()])(x)
    np.testing.assert_array_equal(out.data, x.reshape(2, -1))


def test_conv_counts_and_explain():
    conv = L.Conv2D(96, 11, strides=4, name="conv1")
    node = conv(L.Input((227, 227, 3)))
    assert node.shape == (55, 55, 96)
    pc = conv.param_count()
    assert (int(pc.weights), int(pc.biases), int(pc.params)) == (34848, 96, 34944)
    assert int(conv.macs().macs) == 105415200
    text = "\n".join(conv.explain())
    assert "floor((227 + 0 − 10 − 1)/4) + 1 = 55" in text
    assert "11·11·3·96 = 34,848" in text


def test_depthwise_and_grouped_counts():
    dw = L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False)
    assert int(dw.param_count((8, 8, 16)).params) == 3 * 3 * 16 * 2
    assert dw.output_shape((8, 8, 16)) == (6, 6, 32)
    g = L.Conv2D(8, 3, groups=4)
    assert int(g.param_count((5, 5, 4)).params) == 3 * 3 * 1 * 8 + 8
    assert int(g.macs((5, 5, 4)).macs) == 3 * 3 * 3 * 3 * 1 * 8


def test_batchnorm_counts_and_buffers():
    bn = L.BatchNormalization()
    pc = bn.param_count((4, 4, 10))
    assert (int(pc.params), pc.trainable, int(pc.non_trainable)) == (40, 20, 20)
    model = Sequential([L.Input((4, 4, 10)), bn])
    assert len(model.parameters()) == 2
    assert set(bn.buffers) == {"moving_mean", "moving_variance"}


def test_batchnorm_momentum_is_keras_convention():
    bn = L.BatchNormalization(momentum=0.9)
    model = Sequential([L.Input((3,)), bn])
    with dtype_scope("float64"):
        x = np.random.default_rng(1).normal(3.0, 1.0, size=(16, 3))
        model(x, training=True)
    # moving = 0.9·0 + 0.1·batch_mean
    np.testing.assert_allclose(bn.buffers["moving_mean"], 0.1 * x.mean(axis=0), rtol=1e-12)


def test_dropout_train_vs_inference():
    model = Sequential([L.Input((100,)), L.Dropout(0.5, seed=3)])
    x = np.ones((4, 100))
    np.testing.assert_array_equal(model(x).data, x)
    out = model(x, training=True).data
    assert set(np.unique(out)) <= {0.0, 2.0} and 0 < (out == 0).mean() < 1


def test_relu6_and_activations():
    model = Sequential([L.Input((5,)), L.ReLU(max_value=6)])
    with dtype_scope("float64"):
        out = model(np.array([[-2.0, 0.5, 5.0, 6.5, 100.0]]))
    np.testing.assert_array_equal(out.data, [[0.0, 0.5, 5.0, 6.0, 6.0]])


def test_get_config_omits_defaults():
    assert L.Conv2D(8, 3, padding="same").get_config() == {
        "filters": 8, "kernel": 3, "padding": "same"
    }
    assert L.MaxPool2D(3, strides=2, name="p").get_config() == {"pool": 3, "stride": 2, "name": "p"}
    assert L.Conv2D(8, (3, 5)).get_config()["kernel"] == [3, 5]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: L.Conv2D(0, 3), r"conv2d: filters=0 must be a positive int"),
        (lambda: L.Conv2D(8, 3, groups=3), r"groups=3 does not divide filters=8"),
        (lambda: L.Conv2D(8, 3, padding="full"), r"padding='full'"),
        (lambda: L.Conv2D(8, 3, activation="relu7"), r"activation='relu7' is unknown; valid: "),
        (lambda: L.Dense(-1), r"dense: units=-1 must be a positive int"),
        (lambda: L.Dropout(1.0), r"rate=1.0 must be a number in \[0, 1\)"),
        (lambda: L.BatchNormalization(momentum=1.5), r"momentum=1.5 is out of range"),
        (lambda: L.Input((28, 28)), r"Input: shape=\(28, 28\) is invalid"),
        (lambda: L.MaxPool2D(0), r"pool_size=0"),
        (lambda: L.ReLU(max_value=-1), r"max_value=-1 must be a positive number"),
    ],
)
def test_construction_errors(make, match):
    with pytest.raises(GlassnetError, match=match):
        make()


def test_geometry_errors_name_the_layer():
    with pytest.raises(ShapeError, match=r"conv2: kernel 5 does not fit the padded input H 3"):
        Sequential([L.Input((3, 3, 1)), L.Conv2D(2, 5, name="conv2")])
    with pytest.raises(ShapeError, match=r"conv2d: groups=2 does not divide the input channels"):
        Sequential([L.Input((5, 5, 3)), L.Conv2D(4, 3, groups=2)])
    with pytest.raises(ShapeError, match=r"dense: expects flat inputs .* \(add a Flatten"):
        Sequential([L.Input((5, 5, 3)), L.Dense(4)])
    with pytest.raises(ShapeError, match=r"max_pooling2d: expects \(H, W, C\) feature maps"):
        Sequential([L.Input((5,)), L.MaxPool2D()])
    x = L.Input((4, 4, 2))
    with pytest.raises(ShapeError, match=r"add: input 1 has shape \[4, 4, 3\]"):
        L.Add()([x, L.Conv2D(3, 1)(x)])
    with pytest.raises(ShapeError, match=r"concatenate: input 1 has shape \[2, 2, 2\]"):
        L.Concatenate()([x, L.MaxPool2D()(x)])
    with pytest.raises(GlassnetError, match=r"add: takes a list of two or more inputs"):
        L.Add()(x)
    with pytest.raises(GlassnetError, match=r"can only be called on a node"):
        L.Dense(3)(np.zeros(3))
