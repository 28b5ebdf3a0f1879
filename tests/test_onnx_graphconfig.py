"""Checkpoints of imported models: the graph description, its round trip and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from glassnet import layers as L
from glassnet import zoo
from glassnet.errors import GlassnetError
from glassnet.models import Model
from glassnet.onnx.graphconfig import graph_from_config, graph_to_config
from glassnet.onnx.layers import FlattenCHW, LeakyReLU
from glassnet.onnx.model import ImportedModel
from glassnet.training.imported import load_imported, save_imported


def every_layer_model() -> ImportedModel:
    inp = L.Input((6, 5, 3))
    a = L.Conv2D(4, 3, padding=(1, 1, 0, 2), name="conv")(inp)
    b = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False)(inp)
    b = L.Conv2D(4, 1)(LeakyReLU(0.3)(b))
    s = L.ReLU(max_value=6)(L.Add()([a, b]))
    p = L.AvgPool2D(2, strides=1, padding="same", count_include_pad=True, ceil_mode=True)(s)
    c = L.Concatenate()([L.MaxPool2D(2, strides=1, padding="same")(s), p])
    c = L.BatchNormalization(momentum=0.9, epsilon=1e-5)(c)
    f = L.Dropout(0.3)(FlattenCHW()(L.Activation("tanh")(c)))
    y = L.Softmax()(L.Dense(5)(f))
    model = ImportedModel(inp, y, name="every")
    model.onnx_input_layout, model.onnx_output_layout = "NCHW", "NF"
    rng = np.random.default_rng(0)
    model.build()
    for layer in model.layers:
        for p_ in layer.weights.values():
            p_.data[...] = rng.normal(0, 0.5, p_.data.shape)
        for buf in layer.buffers.values():
            buf[...] = rng.uniform(0.5, 1.5, buf.shape)
    return model


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = every_layer_model()
    path = save_imported(model, tmp_path / "every")
    assert path.name == "every.npz"
    back = load_imported(path)
    assert isinstance(back, ImportedModel) and back.onnx_input_layout == "NCHW"
    assert [la.name for la in back.layers] == [la.name for la in model.layers]
    x = np.random.default_rng(1).standard_normal((2, 6, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    assert back.summary(print_fn=None) == model.summary(print_fn=None)


def test_flatten_chw_order_and_leaky_relu() -> None:
    model = Model(inp := L.Input((2, 3, 4)), FlattenCHW()(inp))
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(model.predict(x)[0], x[0].transpose(2, 0, 1).ravel())
    leaky = Model(inp2 := L.Input((3,)), LeakyReLU(0.25)(inp2))
    np.testing.assert_allclose(leaky.predict(np.array([[-4.0, 0.0, 2.0]])), [[-1.0, 0.0, 2.0]])
    with pytest.raises(GlassnetError, match=r"alpha='x' must be a number"):
        LeakyReLU("x")  # type: ignore[arg-type]


@pytest.mark.parametrize("edit,pattern", [
    (lambda c: c.update(format="other"), r"format 'other' is not 'glassnet-graph'"),
    (lambda c: c["nodes"][0]["layer"].update(type="lstm"), r"nodes\[0\] has an unknown type"),
    (lambda c: c["nodes"][0]["layer"].update(colour=1), r"nodes\[0\] \(conv2d\) has unknown keys"),
    (lambda c: c["nodes"][1].update(inputs=[7]), r"nodes\[1\] has bad inputs \[7\]"),
])
def test_graph_config_errors(edit: Any, pattern: str) -> None:
    config = graph_to_config(every_layer_model())
    edit(config)
    with pytest.raises(GlassnetError, match=pattern):
        graph_from_config(config)


def test_graph_config_refuses_shared_and_unknown_layers() -> None:
    inp = L.Input((4,))
    dense = L.Dense(4, name="shared")
    with pytest.raises(GlassnetError, match="layer 'shared' is shared"):
        graph_to_config(Model(inp, dense(dense(inp))))

    class Mystery(L.Layer):
        type_name = "mystery"

    with pytest.raises(GlassnetError, match="of type Mystery cannot be described"):
        graph_to_config(Model(inp2 := L.Input((4,)), Mystery(name="m")(inp2)))


def test_load_imported_refuses_other_checkpoints(tmp_path: Path) -> None:
    path = zoo.keras_mnist_mlp().save(tmp_path / "mlp.npz")
    with pytest.raises(GlassnetError, match="not an imported graph model"):
        load_imported(path)
    with pytest.raises(FileNotFoundError):
        load_imported(tmp_path / "missing.npz")
