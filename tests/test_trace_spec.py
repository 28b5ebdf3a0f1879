"""Spec validation: every error is one GlassnetError line naming the path in the spec."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CASES_DIR

from glassnet.errors import GlassnetError
from glassnet.tracing import load_spec, parse_spec

BASE = json.loads((CASES_DIR / "trace_cnn_3x3_softmax2.json").read_text())["spec"]


def spec_with(**changes: Any) -> dict[str, Any]:
    """The 3×3 course spec with top-level keys replaced (None deletes the key)."""
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def layer_with(i: int, **changes: Any) -> dict[str, Any]:
    """The 3×3 course spec with keys of layers[i] replaced (None deletes the key)."""
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            spec["layers"][i].pop(key, None)
        else:
            spec["layers"][i][key] = value
    return spec


def conv_net(x: Any, **conv: Any) -> dict[str, Any]:
    return {"input": x, "layers": [{"type": "conv2d", **conv}]}


CASES = [
    # top level
    (spec_with(lrate=0.1), r"^lrate: unknown key; valid keys are \['input'"),
    (spec_with(input=None), r"^input: missing"),
    (spec_with(layers=None), r"^layers: missing"),
    (spec_with(layers=[]), r"^layers: expected a non-empty list"),
    (spec_with(input=[[1, 2], [3]]), r"^input: expected a rectangular array of numbers"),
    (spec_with(input="image"), r"^input: expected a number or nested lists of numbers, got str"),
    (spec_with(input=[[1.0, float("nan")]]), r"^input: every value must be a finite number"),
    (spec_with(input=[[]]), r"^input: empty array of shape \[1, 0\]"),
    (spec_with(input=[[[[1.0]]]], input_layout=None), r"^input: expected a vector, an H×W or an"),
    (spec_with(input_layout="CHW"), r"^input_layout: 'CHW' is not one of \['HW', 'HWC', 'flat'\]"),
    (spec_with(input_layout="HWC"),
     r"^input: input_layout HWC needs a 3-D array, got shape \[3, 3\]"),
    (spec_with(loss="hinge"), r"^loss: 'hinge' is not one of \['mse', "),
    (spec_with(target=None), r"^target: missing \(loss is given"),
    (spec_with(loss=None), r"^loss: missing \(target is given"),
    (spec_with(target=[1, 0, 0]),
     r"^target: expected shape \[2\] \(the last layer's output\), got \[3\]"),
    (spec_with(grad_output=[1, 0]), r"^grad_output: give either loss \+ target or grad_output"),
    (spec_with(loss=None, target=None, grad_output=[[1, 0]]),
     r"^grad_output: expected shape \[2\]"),
    (spec_with(lr=-0.5), r"^lr: expected a number >= 0, got -0.5"),
    (spec_with(lr="fast"), r"^lr: expected a number >= 0, got 'fast'"),
    (spec_with(loss=None, target=None), r"^lr: given, but the spec has neither loss"),
    # layers: types and keys
    (spec_with(layers=["flatten"]), r"^layers\[0\]: expected an object"),
    (layer_with(1, type=None), r"^layers\[1\]\.type: missing; one of \['conv2d'"),
    (layer_with(0, type="conv3d"), r"^layers\[0\]\.type: 'conv3d' is not one of \['conv2d'"),
    (layer_with(0, filters=2), r"^layers\[0\]\.filters: unknown key for conv2d; valid keys are"),
    (layer_with(3, activation="swish"),
     r"^layers\[3\]\.activation: 'swish' is not one of \['relu'"),
    (layer_with(0, alpha=0.2), r"^layers\[0\]\.alpha: only leaky_relu takes alpha"),
    (layer_with(0, activation="leaky_relu", alpha="x"), r"^layers\[0\]\.alpha: expected a number"),
    (layer_with(0, activation="softmax"), r"^layers\[0\]\.activation: softmax needs a flat vector"),
    (spec_with(layers=[{"type": "flatten"}, {"type": "activation"}], loss=None, target=None,
               lr=None), r"^layers\[1\]\.activation: missing; one of"),
    # dense
    (layer_with(2, weights=[[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]),
     r"^layers\[2\]\.weights: expected \[4, 2\] \(in, out\), got \[2, 4\]$"),
    (layer_with(2, weights=[0.1, 0.2]),
     r"^layers\[2\]\.weights: expected \[in, out\] = \[4, out\]"),
    (layer_with(2, weights=None), r"^layers\[2\]\.weights: missing \(dense needs weights"),
    (layer_with(2, bias=[0.2, 0.2, 0.2]), r"^layers\[2\]\.bias: expected 2 values \(out\), got"),
    (spec_with(layers=[BASE["layers"][2]]),
     r"^layers\[0\]: dense needs a flat input \(add a flatten"),
    # conv
    (layer_with(0, kernel=[[[0.9]]]),
     r"^layers\[0\]\.kernel: expected \[KH, KW\] or \[KH, KW, C_in"),
    (layer_with(0, kernel="F"), r"^layers\[0\]\.kernel: expected a number or nested lists"),
    (layer_with(0, kernel=None), r"^layers\[0\]\.kernel: missing \(conv2d needs kernel"),
    (layer_with(0, kernel=[[[[1.0, 2.0]] * 2] * 2] * 2),
     r"^layers\[0\]\.kernel: expected \[KH, KW, 1, C_out\] \(C_in = the input's 1 channels\)"),
    (conv_net([[[1.0] * 3] * 2] * 2, kernel=[[1.0]]),
     r"^layers\[0\]\.kernel: a \[KH, KW\] kernel works on one channel but the input has 3"),
    (layer_with(0, bias=[0.1, 0.2]),
     r"^layers\[0\]\.bias: expected 1 value \(C_out\), got shape \[2\]"),
    (layer_with(0, kernel=[[1.0] * 4] * 4),
     r"^layers\[0\]: kernel 4 does not fit the padded input H 3"),
    (layer_with(0, stride=0), r"^layers\[0\]: stride=0 must be a positive int or a pair"),
    (layer_with(0, padding="full"), r"^layers\[0\]\.padding: padding='full' is not one of"),
    (conv_net([1.0, 2.0], kernel=[[1.0]]),
     r"^layers\[0\]: conv2d needs an HW or HWC map; its input"),
    # pooling
    (conv_net([[1.0, 2.0], [3.0, 4.0]], kernel=[[1.0]]) | {"layers": [{"type": "maxpool2d"}]},
     r"^layers\[0\]\.pool: missing \(maxpool2d needs a pool size\)"),
    ({"input": [[1.0] * 4] * 4, "layers": [{"type": "avgpool2d", "pool": 2, "padding": 2}]},
     r"^layers\[0\]\.padding: 2\+2 on H must be smaller than the pool size 2"),
    ({"input": [[1.0] * 4] * 4, "layers": [{"type": "maxpool2d", "pool": 2, "ceil_mode": 1}]},
     r"^layers\[0\]\.ceil_mode: expected true or false"),
    ({"input": [[1.0] * 4] * 4,
      "layers": [{"type": "avgpool2d", "pool": 2, "count_include_pad": "yes"}]},
     r"^layers\[0\]\.count_include_pad: expected true or false"),
]


@pytest.mark.parametrize(("spec", "match"), CASES)
def test_invalid_spec_names_the_path(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(GlassnetError, match=match):
        parse_spec(spec)


def test_error_is_one_line() -> None:
    for spec, _ in CASES:
        with pytest.raises(GlassnetError) as info:
            parse_spec(spec)
        assert "\n" not in str(info.value)


def test_top_level_not_an_object() -> None:
    with pytest.raises(GlassnetError, match=r"^spec: expected an object with keys"):
        parse_spec([1, 2, 3])


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(GlassnetError, match=r"no such spec file"):
        load_spec(tmp_path / "missing.json")
    (tmp_path / "net.txt").write_text("{}")
    with pytest.raises(GlassnetError, match=r"expected a \.json, \.yaml or \.yml file, got \.txt"):
        load_spec(tmp_path / "net.txt")
    (tmp_path / "bad.json").write_text("{\"input\": [1, 2,]}")
    with pytest.raises(GlassnetError, match=r"bad\.json: not valid JSON"):
        load_spec(tmp_path / "bad.json")
    (tmp_path / "bad.yaml").write_text("input: [1, 2\nlayers: {")
    with pytest.raises(GlassnetError, match=r"bad\.yaml: not valid YAML"):
        load_spec(tmp_path / "bad.yaml")


def test_case_file_with_spec_key_is_accepted() -> None:
    spec = load_spec(CASES_DIR / "trace_cnn_3x3_softmax2.json")
    assert spec.mode == "loss" and spec.lr == 0.5 and len(spec.layers) == 4
    assert spec.name == "trace_cnn_3x3_softmax2.json"


def test_layouts_and_shapes_are_inferred() -> None:
    spec = parse_spec(spec_with(input_layout=None))
    assert spec.input_layout == "HW"
    assert [(layer.out_layout, layer.out_shape) for layer in spec.layers] == [
        ("HW", (2, 2)), ("flat", (4,)), ("flat", (2,)), ("flat", (2,))]
