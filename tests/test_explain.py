"""glassnet explain: the page data equals the model's forward pass; inputs; page assembly; CLI."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet.commands import explain as explain_cmd
from glassnet.errors import GlassnetError
from glassnet.explain import build_page_data, explain_page, render_page
from glassnet.explain.cells import activate, conv_cell, pool_cell
from glassnet.explain.html import data_json
from glassnet.explain.inputs import InputChoice, choose_input, read_image
from glassnet.explain.numbers import pack, round_value, unpack
from glassnet.explain.tracedata import trace_section

CASES = Path(__file__).resolve().parent / "cases"  # copies of ../shared/cases/
RTOL = 2e-5  # 6 significant digits of rounding


def small_model() -> gn.Sequential:
    """Every geometry the page handles: padding, stride, dilation, groups, both pools."""
    return gn.Sequential([
        L.Input((8, 8, 2)),
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="c1"),
        L.Conv2D(4, 2, dilation_rate=2, padding=1, groups=2, activation="tanh", name="c2"),
        L.MaxPool2D(3, strides=2, padding="same", name="mp"),
        L.AvgPool2D(2, strides=1, padding=1, name="ap"),
        L.Flatten(name="fl"),
        L.Dense(3, activation="softmax", name="out"),
    ], name="small")


@pytest.fixture(scope="module")
def page() -> tuple[gn.Sequential, InputChoice, dict]:
    model = small_model()
    model.build(seed=3)
    rng = np.random.default_rng(1)
    choice = InputChoice(rng.normal(size=(8, 8, 2)).astype(np.float32), "noise", 1,
                         ("a", "b", "c"))
    data = build_page_data(model, choice, model_note="random").data
    return model, choice, data


def layer(data: dict, key: str) -> dict:
    return next(e for e in data["layers"] if e["key"] == key)


def test_every_map_equals_feature_maps(page) -> None:
    model, choice, data = page
    maps = model.feature_maps(choice.x[None])
    assert [e["key"] for e in data["layers"]] == ["input_layer", *maps]
    for key, t in maps.items():
        entry = layer(data, key)
        assert entry["full"] and entry["shape"] == list(t.shape[1:])
        np.testing.assert_allclose(unpack(entry["map"]), t.data[0], rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(unpack(layer(data, "input_layer")["map"]), choice.x, rtol=RTOL)


def test_summary_numbers_are_embedded(page) -> None:
    model, _, data = page
    summary = model.summary(print_fn=None)
    for row in summary["layers"]:
        entry = layer(data, row["name"])
        assert (entry["params"], entry["macs"]) == (row["params"], row["macs"])
    assert data["model"]["total_params"] == summary["total_params"]


def test_geometry_is_resolved(page) -> None:
    _, _, data = page
    c1, c2 = layer(data, "c1")["info"], layer(data, "c2")["info"]
    assert c1["pads"] == [[0, 1], [0, 1]] and c1["strides"] == [2, 2]  # TF "same", 8 -> 4
    assert c2["groups"] == 2 and c2["dilation"] == [2, 2] and c2["pads"] == [[1, 1], [1, 1]]
    assert layer(data, "mp")["info"]["op"] == "max"
    assert unpack(layer(data, "c2")["weights"]["kernel"]).shape == (2, 2, 2, 4)


@pytest.mark.parametrize("key", ["c1", "c2"])
def test_conv_cell_products_sum_plus_bias_is_the_output(page, key: str) -> None:
    _, _, data = page
    entry = layer(data, key)
    out = unpack(entry["map"])
    act = entry["info"]["activation"]
    for i, j, f in np.ndindex(*out.shape):
        cell = conv_cell(data, key, i, j, f)
        assert cell.total == pytest.approx(cell.products.sum())
        assert activate(act, cell.total + cell.bias) == pytest.approx(out[i, j, f], abs=1e-5)


def test_conv_cell_padding_and_groups(page) -> None:
    _, _, data = page
    corner = conv_cell(data, "c2", 0, 0, 3)  # padding 1, dilation 2: row -1 is padded
    assert corner.rows == [-1, 1] and corner.cols == [-1, 1]
    assert corner.padded[0, 0].all() and not corner.padded[1, 1].any()
    assert (corner.window[corner.padded] == 0).all()
    assert corner.channels == [2, 3]  # filter 3 of 4 with 2 groups sees channels 2, 3
    edge = conv_cell(data, "c1", 3, 3, 0)  # "same", stride 2: the bottom/right row is padding
    assert edge.rows == [6, 7, 8] and edge.padded[2, 0].all()


def test_pool_cells_and_winners(page) -> None:
    _, _, data = page
    for key in ("mp", "ap"):
        out = unpack(layer(data, key)["map"])
        x = unpack(layer(data, layer(data, key)["inputs"][0])["map"])
        for i, j, c in np.ndindex(*out.shape):
            cell = pool_cell(data, key, i, j, c)
            assert cell.value == pytest.approx(out[i, j, c], rel=1e-4, abs=1e-5)
            if key == "mp":
                r, q = cell.winner
                assert x[r, q, c] == cell.value == np.nanmax(cell.window)
            else:
                assert cell.count == int(np.isfinite(cell.window).sum())


def test_softmax_section(page) -> None:
    model, choice, data = page
    s = data["softmax"]
    probs = model.predict(choice.x[None])[0] if hasattr(model, "predict") else None
    z = np.array(s["logits"])
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    np.testing.assert_allclose(p, s["model_probs"], rtol=1e-4)
    if probs is not None:
        np.testing.assert_allclose(s["probs"], probs, rtol=1e-4)
    assert s["label"] == 1 and s["class_names"] == ["a", "b", "c"]
    assert s["loss"] == pytest.approx(-np.log(s["probs"][1]), rel=1e-5)
    assert s["grad"] == pytest.approx(np.array(s["probs"]) - [0, 1, 0], abs=1e-6)


def test_logits_without_softmax_are_said() -> None:
    model = gn.Sequential([L.Input((4,)), L.Dense(3, name="logits")])
    data = build_page_data(model, InputChoice(np.ones(4, np.float32), "ones"),
                           model_note="x").data
    assert not data["softmax"]["in_model"] and "no softmax" in data["softmax"]["source"]
    assert data["softmax"]["label"] is None


def test_budget_reduces_thumbnails_with_a_warning() -> None:
    model = gn.Sequential([L.Input((64, 64, 3)), L.Conv2D(24, 3, name="big"),
                           L.GlobalAvgPool2D(), L.Dense(2)])
    choice = InputChoice(np.zeros((64, 64, 3), np.float32), "zeros")
    page = build_page_data(model, choice, model_note="x", max_bytes=400_000)
    big = layer(page.data, "big")
    # the map is a thumbnail (the page computes it), the weights are always there in full
    assert not big["full"] and not big["explorable"]
    assert unpack(big["weights"]["kernel"]).shape == (3, 3, 3, 24)
    step = big["step"]
    assert step > 1 and big["map"]["shape"] == [-(-62 // step), -(-62 // step), 16]
    assert page.warnings and "big" in page.warnings[-1] and "--max-mb" in page.warnings[-1]
    assert layer(page.data, "input_layer")["full"]  # the input is always embedded


def test_rounding() -> None:
    assert round_value(0.12345678) == 0.123457 and round_value(2.0) == 2
    assert round_value(float("nan")) is None and round_value(-1.5e-9) == -1.5e-9
    expected = '{"shape": [1, 2], "data": [0.333333, 1000000]}'
    assert json.dumps(pack([[1 / 3, 1e6 + 0.4]])) == expected


def test_page_is_self_contained(page) -> None:
    _, _, data = page
    text = render_page(data)
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"""(src|href)=["']?https?:""", text)
    block = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', text,
                      re.S)
    assert block and json.loads(block.group(1))["layers"][1]["key"] == "c1"


def test_data_json_cannot_close_the_script() -> None:
    text = data_json({"name": "</script><script>alert(1)</script>"})
    assert "</" not in text and json.loads(text)["name"].startswith("</script>")


def test_png_input_gray_conversion_and_errors(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    rgb = np.zeros((28, 28, 3))
    rgb[..., 0] = 1.0
    path = tmp_path / "red.png"
    mpimg.imsave(path, rgb)
    choice = read_image(path, (28, 28, 1))
    assert choice.x.shape == (28, 28, 1) and "grayscale" in choice.note
    assert choice.x.max() == pytest.approx(0.299, abs=1e-3)
    assert read_image(path, (28, 28, 3)).x.shape == (28, 28, 3)  # alpha dropped
    assert read_image(path, (784,)).x.shape == (784,)
    resized = read_image(path, (32, 20, 1))  # any size: area averaging, said in the note
    assert resized.x.shape == (32, 20, 1) and "resized from 28×28 to 32×20" in resized.note
    assert resized.x.max() == pytest.approx(0.299, abs=1e-3)
    gray = tmp_path / "gray.png"
    mpimg.imsave(gray, np.zeros((5, 5)), cmap="gray")
    with pytest.raises(GlassnetError, match="no such file"):
        read_image(tmp_path / "missing.png", (5, 5, 1))
    with pytest.raises(GlassnetError, match="cannot be combined"):
        choose_input((5, 5, 1), image=str(gray), index=3)


def test_default_inputs() -> None:
    mnist = choose_input((28, 28, 1))
    assert mnist.label is not None and "mnist-5k test image #0" in mnist.note
    noise = choose_input((8, 8, 3), seed=2)
    assert noise.label is None and "random" in noise.note and noise.x.shape == (8, 8, 3)
    np.testing.assert_array_equal(noise.x, choose_input((8, 8, 3), seed=2).x)
    with pytest.raises(GlassnetError, match="out of range"):
        choose_input((28, 28, 1), data="mnist-5k", index=10**6)


def test_trace_section_steps() -> None:
    section = trace_section(CASES / "trace_cnn_3x3_softmax2.json")
    phases = [s["phase"] for s in section["steps"]]
    assert phases == ["input", *["forward"] * 4, "loss", *["backward"] * 4, *["update"] * 3]
    back = [s["title"].split()[1] for s in section["steps"] if s["phase"] == "backward"]
    assert back == ["3", "2", "1", "0"]
    labels = [i["label"] for s in section["steps"] for i in s["items"]]
    assert "dL/dz = p − y  (softmax + cross-entropy)" in labels


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    explain_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["explain", *argv])
    return int(args.func(args))


def test_cli_writes_the_page(tmp_path: Path, capsys) -> None:
    out = tmp_path / "p.html"
    spec = CASES / "trace_conv5x5_pad1.json"
    assert run_cli(["keras_mnist_convnet", "--trace", str(spec), "--out", str(out)]) == 0
    text = out.read_text()
    assert "keras_mnist_convnet" in text and '"trace":{' in text
    assert "random initial weights (seed 0)" in text
    assert f"wrote {out}" in capsys.readouterr().out
    assert len(text) < 1_500_000


def test_cli_checkpoint_and_warnings(tmp_path: Path, capsys) -> None:
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.build(seed=0)
    ckpt = tmp_path / "m.npz"
    model.save(ckpt)
    out = tmp_path / "c.html"
    assert run_cli([str(ckpt), "--out", str(out), "--max-mb", "0.081"]) == 0
    text = out.read_text()
    assert "checkpoint m.npz" in text
    assert "warning" in capsys.readouterr().err
    with pytest.raises(GlassnetError, match="no such checkpoint"):
        run_cli([str(tmp_path / "nope.npz"), "--out", str(out)])
    with pytest.raises(GlassnetError, match="--max-mb"):
        run_cli(["lenet5", "--max-mb", "0", "--out", str(out)])


def test_explain_page_reports_oversize() -> None:
    model = gn.Sequential([L.Input((4,)), L.Dense(2)])
    text, warnings = explain_page(model, InputChoice(np.ones(4, np.float32), "x"),
                                  model_note="x", max_bytes=1000)
    assert text.startswith("<!doctype html>") and any("MB" in w for w in warnings)


# ----- exact arrays, resizing, example inputs, the engine's data --------------------------------


def test_pack_exact_round_trip() -> None:
    from glassnet.explain.numbers import exact_bytes, pack_exact

    a = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    packed = pack_exact(a)
    assert packed["shape"] == [3, 4, 5] and packed["dtype"] == "float32"
    np.testing.assert_array_equal(unpack(packed), a.astype(np.float64))  # bit-exact
    assert len(packed["b64"]) == exact_bytes(a.size) == 320
    b = np.array([1 / 3, -2e-300])
    assert unpack(pack_exact(b)).tolist() == b.tolist()  # float64 stays float64


def test_resize_area_keeps_means() -> None:
    from glassnet.explain.inputs import area_weights, resize_area

    img = np.arange(16.0).reshape(4, 4, 1)
    blocks = img.reshape(2, 2, 2, 2).mean(axis=(1, 3))  # 2×2 block means, computed directly
    np.testing.assert_allclose(resize_area(img, 2, 2)[:, :, 0], blocks)
    np.testing.assert_allclose(resize_area(img[:2, :2], 4, 4)[::2, ::2, 0], img[:2, :2, 0])
    odd = np.random.default_rng(1).random((7, 5, 3))
    out = resize_area(odd, 3, 4)
    assert out.shape == (3, 4, 3)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), odd.mean(axis=(0, 1)))
    np.testing.assert_allclose(area_weights(7, 3).sum(axis=1), 1.0)


def test_example_inputs() -> None:
    from glassnet.explain.inputs import example_inputs

    mnist = example_inputs((28, 28, 1))
    assert [e.label for e in mnist] == list(range(10))
    assert all(e.x.shape == (28, 28, 1) and "mnist-5k test image #" in e.note for e in mnist)
    noise = example_inputs((6, 6, 2), seed=3)
    assert len(noise) == 4 and all(e.label is None for e in noise)
    assert not any(np.array_equal(e.x, choose_input((6, 6, 2), seed=3).x) for e in noise)


def test_weights_always_embedded_exactly_with_a_warning() -> None:
    model = gn.Sequential([L.Input((30,)), L.Dense(400, name="wide"), L.Dense(3, name="out")])
    model.build(seed=1)
    page = build_page_data(model, InputChoice(np.ones(30, np.float32), "ones"),
                           model_note="x", max_bytes=20_000)
    wide = layer(page.data, "wide")["weights"]
    np.testing.assert_array_equal(unpack(wide["kernel"]),
                                  model.get_layer("wide").weights["kernel"].data)
    assert unpack(wide["bias"]).shape == (400,)
    n = f"{model.count_params():,} weights take"
    assert any(n in w and "all are embedded" in w for w in page.warnings)
    assert unpack(page.data["input"]["pixels"]).tolist() == [1.0] * 30


def test_layer_kinds_and_graph_edges() -> None:
    inp = L.Input((6, 6, 2), name="x")
    a = L.Conv2D(3, 3, padding="same", name="a")(inp)
    b = L.SeparableConv2D(3, 3, padding="same", name="b")(inp)
    s = L.Add(name="sum")([a, b])
    c = L.Concatenate(name="cat")([s, L.BatchNormalization(name="bn")(a)])
    out = L.Dense(2, name="out")(L.Flatten(name="fl")(L.Softmax(axis=1, name="sm")(c)))
    model = gn.Model(inp, out)
    data = build_page_data(model, InputChoice(np.zeros((6, 6, 2), np.float32), "zeros"),
                           model_note="x").data
    kinds = {e["key"]: e["info"]["kind"] for e in data["layers"]}
    assert kinds == {"x": "input", "a": "conv", "b": "separable", "sum": "add", "bn": "batchnorm",
                     "cat": "concat", "sm": "softmax", "fl": "flatten", "out": "dense"}
    assert layer(data, "sum")["inputs"] == ["a", "b"] and layer(data, "cat")["inputs"] == [
        "sum", "bn"]
    assert layer(data, "cat")["info"]["axis"] == 2 and layer(data, "sm")["info"]["axis"] == 0
    assert set(layer(data, "b")["weights"]) == {"depthwise_kernel", "pointwise_kernel", "bias"}
    assert set(layer(data, "bn")["weights"]) == {"gamma", "beta", "moving_mean",
                                                 "moving_variance"}


def test_cli_data_builds_the_zoo_model_for_the_data() -> None:
    model, _ = explain_cmd.load_explained_model("lenet5", 0, "mnist-5k")
    assert model.input_shape == (28, 28, 1) and model.output_shape == (10,)
    assert explain_cmd.load_explained_model("lenet5", 0)[0].input_shape == (32, 32, 1)


def test_scripts_are_inlined_in_order(page) -> None:
    from glassnet.explain.html import JS_ASSETS, asset

    text = render_page(page[2])
    starts = [text.index(asset(name).splitlines()[0]) for name in JS_ASSETS]
    assert JS_ASSETS[-1] == "page.js" and starts == sorted(starts)
    assert text.count("<script>") == 1  # one script element: ops, engine, then the view
