"""The summary: the JSON contract of DESIGN.md §4, golden tables, explanations."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from glassnet import layers as L
from glassnet import zoo
from glassnet.models import Sequential, render_summary

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GLASSNET_UPDATE_GOLDEN") == "1"
LAYER_KEYS = {"name", "type", "output_shape", "weights", "biases", "params", "macs"}


def test_design_json_example_alexnet():
    info = zoo.alexnet().summary(print_fn=None)
    assert info["model"] == "alexnet" and info["input_shape"] == [227, 227, 3]
    assert {k: info["layers"][0][k] for k in LAYER_KEYS} == {
        "name": "conv1", "type": "Conv2D", "output_shape": [55, 55, 96],
        "weights": 34848, "biases": 96, "params": 34944, "macs": 105415200,
    }
    assert (info["total_params"], info["trainable_params"], info["non_trainable_params"]) == (
        62378344, 62378344, 0
    )
    assert info["total_macs"] == 1135256096
    json.dumps(info)  # JSON-able


def test_columns_add_up_and_keys():
    for name in ("lenet5", "resnet18", "googlenet"):
        info = zoo.get(name).summary(print_fn=None)
        rows = info["layers"]
        assert all(LAYER_KEYS <= set(r) for r in rows)
        assert sum(r["params"] for r in rows) == info["total_params"]
        assert sum(r["macs"] for r in rows) == info["total_macs"]
        assert all(r["weights"] + r["biases"] + r["non_trainable_params"] == r["params"]
                   for r in rows)
        assert info["total_flops"] == 2 * info["total_macs"]


def test_memory_figures():
    info = zoo.lenet5().summary(print_fn=None)
    assert info["param_memory_bytes"] == 4 * 61706
    elems = sum(int.__mul__(*r["output_shape"][:2]) * r["output_shape"][2]
                if len(r["output_shape"]) == 3 else r["output_shape"][0] for r in info["layers"])
    assert info["activation_memory_bytes"] == 4 * elems
    assert info["input_memory_bytes"] == 4 * 32 * 32


def test_explain_has_formulas_with_numbers():
    info = zoo.alexnet().summary(explain=True, print_fn=None)
    lines = info["layers"][0]["explain"]
    formula = "OH = OW: O = floor((I + 2P − D·(K−1) − 1)/S) + 1"
    assert f"{formula} = floor((227 + 0 − 10 − 1)/4) + 1 = 55" in lines
    assert "W = K_h·K_w·C_in·N = 11·11·3·96 = 34,848" in lines
    assert "MACs = OH·OW·K_h·K_w·C_in·N = 55·55·11·11·3·96 = 105,415,200" in lines
    pool = info["layers"][1]["explain"]
    assert any("floor((55 + 0 − 3)/2) + 1 = 27" in line for line in pool)
    printed = []
    zoo.alexnet().summary(explain=True, print_fn=printed.append)
    assert "conv1 (Conv2D) -> (None, 55, 55, 96)" in printed[0]


def test_print_fn_receives_the_table():
    printed = []
    assert zoo.keras_mnist_convnet().summary(print_fn=printed.append) is None
    text = printed[0]
    assert "Total params: 34,826" in text and "Non-trainable params: 0" in text
    assert "(None, 26, 26, 32)" in text and "convention: MACs count" in text


def test_batchnorm_trainable_split():
    m = Sequential([L.Input((4, 4, 3)), L.Conv2D(8, 3, use_bias=False), L.BatchNormalization()])
    info = m.summary(print_fn=None)
    assert (info["total_params"], info["trainable_params"], info["non_trainable_params"]) == (
        216 + 32, 216 + 16, 16
    )


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "resnet18"])
def test_golden_tables(name):
    text = render_summary(zoo.get(name).summary(print_fn=None)) + "\n"
    path = GOLDEN / f"summary_{name}.txt"
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"created {path}; review it and rerun")
    assert text == path.read_text(), f"regenerate with GLASSNET_UPDATE_GOLDEN=1 and review {path}"


def test_depth_counts_subclasses_of_conv2d() -> None:
    class MyConv(L.Conv2D):  # a user's conv is still a conv
        pass

    model = Sequential([L.Input((8, 8, 1)), MyConv(2, 3), L.Conv2D(2, 3), L.Flatten(),
                        L.Dense(3)])
    assert model.summary(print_fn=None)["depth"] == 3
