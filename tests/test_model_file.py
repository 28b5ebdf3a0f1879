"""Model files (DESIGN.md §5): round trips and every error, matched by message."""

from __future__ import annotations

import json

import pytest

from glassnet import zoo
from glassnet.errors import GlassnetError, ShapeError
from glassnet.models import from_config, load_model_file, save_model_file

DESIGN_EXAMPLE = """\
name: mnist-cnn
input: [28, 28, 1]
layers:
  - {type: conv2d, filters: 12, kernel: 3, padding: same, activation: relu}
  - {type: conv2d, filters: 24, kernel: 6, stride: 2, padding: same, activation: relu}
  - {type: maxpool2d, pool: 2}
  - {type: flatten}
  - {type: dense, units: 200, activation: relu}
  - {type: dense, units: 10, activation: softmax}
"""


def test_design_example_loads(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(DESIGN_EXAMPLE)
    model = load_model_file(path)
    info = model.summary(print_fn=None)
    assert info["model"] == "mnist-cnn"
    assert [r["output_shape"] for r in info["layers"]] == [
        [28, 28, 12], [14, 14, 24], [7, 7, 24], [1176], [200], [10]
    ]
    assert info["total_params"] == 120 + 10392 + 235400 + 2010


@pytest.mark.parametrize("name", ["lenet5", "keras_mnist_convnet", "alexnet", "vgg11", "tiny_vgg"])
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, name, suffix):
    model = zoo.get(name)
    path = tmp_path / f"m{suffix}"
    save_model_file(model, path)
    again = load_model_file(path)
    assert again.to_config() == model.to_config()
    assert again.summary(print_fn=None) == model.summary(print_fn=None)


def test_every_layer_type_round_trips():
    config = {"name": "all", "input": [16, 16, 3], "layers": [
        {"type": "conv2d", "filters": 4, "kernel": [3, 2], "stride": 1, "padding": [1, 1],
         "dilation": 2, "groups": 1, "use_bias": False, "name": "c"},
        {"type": "batchnorm", "momentum": 0.9, "epsilon": 1e-5},
        {"type": "relu", "max_value": 6},
        {"type": "depthwise_conv2d", "kernel": 3, "depth_multiplier": 2, "padding": "same"},
        {"type": "activation", "activation": "tanh"},
        {"type": "maxpool2d", "pool": 3, "stride": 2, "ceil_mode": True},
        {"type": "avgpool2d", "pool": 2, "count_include_pad": True},
        {"type": "global_avgpool2d"},
        {"type": "dropout", "rate": 0.25, "seed": 1},
        {"type": "dense", "units": 3},
        {"type": "softmax"},
    ]}
    model = from_config(config)
    assert from_config(model.to_config()).to_config() == model.to_config()
    assert model.output_shape == (3,)


def test_input_override(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"input": [28, 28, 1], "layers": [{"type": "flatten"}]}))
    model = load_model_file(path, input_shape=(4, 4, 2))
    assert model.output_shape == (32,) and model.name == "m"


@pytest.mark.parametrize(("config", "match"), [
    ({"input": [8, 8, 1], "layers": [{"type": "conv2d", "filters": 2, "kernel": 3},
                                     {"type": "relu"},
                                     {"type": "conv2d", "filter": 2, "kernel": 3}]},
     r"layers\[2\]: unknown key 'filter' for type conv2d; valid keys: filters, kernel, stride"),
    ({"input": [8, 8, 1], "layers": [{"type": "conv"}]},
     r"layers\[0\]: unknown type 'conv'; valid types: conv2d, depthwise_conv2d, maxpool2d"),
    ({"input": [8, 8, 1], "layers": [{"kernel": 3}]}, r"layers\[0\]: missing key 'type'"),
    ({"input": [8, 8, 1], "layers": [{"type": "conv2d", "kernel": 3}]},
     r"layers\[0\] \(conv2d\): missing key 'filters'"),
    ({"input": [8, 8, 1], "layers": [{"type": "dense", "units": 0}]},
     r"layers\[0\] \(dense\): dense: units=0 must be a positive int"),
    ({"input": [8, 8, 1], "layers": ["flatten"]}, r"layers\[0\]: expected a mapping"),
    ({"input": [8, 8, 1], "layer": []}, r"model file: unknown key 'layer'; valid keys: name, "),
    ({"layers": [{"type": "flatten"}]}, r"model file: missing key 'input'"),
    ({"input": [8, 8, 1], "layers": []}, r"'layers' must be a non-empty list"),
    ({"input": 28, "layers": [{"type": "flatten"}]}, r"input=28 must be a list"),
    ({"input": [28, 28], "layers": [{"type": "flatten"}]}, r"Input: shape=\[28, 28\] is invalid"),
    ([1, 2], r"model file: expected a mapping with keys name, input, layers"),
])
def test_config_errors(config, match):
    with pytest.raises(GlassnetError, match=match):
        from_config(config)


def test_impossible_geometry_names_the_layer():
    config = {"input": [3, 3, 1], "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 5, "name": "conv2"}]}
    with pytest.raises(ShapeError, match=r"conv2: kernel 5 does not fit the padded input H 3 "
                                         r"\(input 3, padding 0\+0\)"):
        from_config(config)


def test_parse_error_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(GlassnetError, match=r"model file .*bad.json: not valid JSON"):
        load_model_file(bad)
    with pytest.raises(FileNotFoundError):
        load_model_file(tmp_path / "missing.yaml")


def test_graph_models_cannot_be_written():
    with pytest.raises(GlassnetError, match=r"to_config: layer1.0.add \(Add\) cannot be written"):
        zoo.resnet18().to_config()
