"""The explainer page's engine (assets/engine.js) in a real headless Chromium.

``window.glassnet.forward`` must equal the model's own ``predict`` (float32, fast path) within
1e-4 on the probabilities and ``feature_maps`` on every layer, for a Sequential model and for a
graph model that holds every layer kind glassnet has (Add, Concatenate, BatchNorm, separable
and depthwise convolutions, every pooling, ...). ``window.glassnet.backward`` must equal
glassnet's own float64 backward pass on the reference core (``glassnet.explain.gradients``),
every layer's dL/d(output) and every dL/dW. Also: ``explain lenet5 --data mnist-5k``, an
``--input`` image of another size, and resnet18 over the size budget with its cells open.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import ARTIFACTS, Tab, page_data

import glassnet as gn
from glassnet import layers as L
from glassnet.commands import explain as explain_cmd
from glassnet.explain import InputChoice, explain_page
from glassnet.explain.gradients import backward_pass
from glassnet.explain.numbers import unpack
from glassnet.onnx.layers import FlattenCHW, LeakyReLU

PROB_TOL = 1e-4  # the bound: in-page probabilities vs Python's predict
GRAD_RTOL = 1e-6  # float64 against float64: only the order of the sums differs

# forward(x) and, with a label, backward: everything as plain lists for Python.
RUN = """([x, label]) => {
  const g = window.glassnet, r = g.forward(x), list = (a) => Array.from(a);
  const out = {p: r.probabilities, logits: r.logits,
    layers: r.layers.map((l) => ({name: l.name, shape: l.shape, values: list(l.values)}))};
  if (label !== null) {
    const b = g.backward(r, label);
    Object.assign(out, {loss: b.loss, dlogits: b.dlogits,
      grads: b.grads.map((l) => ({name: l.name, shape: l.shape, values: list(l.values)})),
      // pairs, not an object: Playwright would drop a key "__proto__" on the way to Python
      weights: Object.entries(b.weights).map(([k, w]) =>
        [k, {shape: w.shape, values: list(w.values)}])});
  }
  return out;
}"""


def every_layer_model() -> gn.Model:
    """A small graph with every layer kind the engine runs, in awkward geometries."""
    inp = L.Input((11, 13, 3), name="image")
    x = L.Rescaling(0.5, offset=-0.25, name="rescale")(inp)
    x = L.ZeroPadding2D(((1, 0), (2, 1)), name="zpad")(x)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(x)
    x = L.BatchNormalization(name="bn")(x)
    a = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)
    a = L.ReLU(max_value=6, name="relu6")(a)
    b = L.SeparableConv2D(6, 3, padding=2, dilation_rate=2, activation="tanh", name="sep")(x)
    c = L.Conv2D(4, 2, padding=(0, 1, 1, 0), activation="sigmoid", name="c_odd")(x)
    c = L.Softmax(axis=-1, name="chan_softmax")(c)
    x = L.Concatenate(name="cat")([a, b, c])
    x = L.Conv2D(8, 1, groups=2, activation="leaky_relu", name="grouped")(x)
    s = L.Conv2D(8, 1, use_bias=False, name="shortcut")(a)
    x = L.Add(name="add")([x, s])
    x = LeakyReLU(0.05, name="leaky")(x)
    x = L.MaxPool2D(3, strides=2, padding=1, ceil_mode=True, name="maxpool")(x)
    y = L.AvgPool2D(2, strides=1, padding=(1, 0, 1, 0), count_include_pad=True,
                    name="avgpool")(x)
    z = L.AvgPool2D(2, strides=1, padding="same", name="avgsame")(x)
    x = L.Add(name="add2")([L.Activation("sigmoid", name="sig")(y), z])
    g1 = L.GlobalAvgPool2D(name="gap")(x)
    g2 = L.GlobalMaxPool2D(name="gmp")(x)
    f = FlattenCHW(name="flat_chw")(L.Dropout(0.5, name="drop")(x))
    x = L.Concatenate(name="cat_flat")([g1, g2, f])
    x = L.Dense(12, activation="relu6", name="fc")(x)
    x = L.Reshape((2, 2, 3), name="reshape")(x)
    x = L.Flatten(name="flat")(x)
    x = L.BatchNormalization(name="bn_flat")(x)
    out = L.Dense(5, activation="softmax", name="out")(x)
    model = gn.Model(inp, out, name="every_layer")
    model.build(seed=4)
    rng = np.random.default_rng(5)
    for layer in model.layers:  # moving statistics that are not the identity
        for k, v in layer.buffers.items():
            shift = rng.uniform(0.5, 2.0, v.shape) if "variance" in k else rng.normal(0, 0.3,
                                                                                       v.shape)
            layer.buffers[k] = shift.astype(v.dtype)
        if "gamma" in layer.weights:
            gamma = layer.weights["gamma"]
            gamma.data = rng.uniform(0.5, 1.5, gamma.data.shape).astype(np.float32)
    return model


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    explain_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["explain", *argv])
    return int(args.func(args))


def open_page(browser: Any, text: str, path: Path) -> Tab:
    path.write_text(text, encoding="utf-8")
    return Tab(browser, path)


def assert_close_maps(js: list[dict[str, Any]], ref: dict[str, np.ndarray], rtol: float) -> None:
    """Every layer's JS values against the reference, relative to the map's largest value."""
    for entry in js:
        want = ref[entry["name"]]
        got = np.asarray(entry["values"]).reshape(entry["shape"])
        assert got.shape == want.shape, entry["name"]
        err = float(np.abs(got - want).max(initial=0.0))
        scale = max(float(np.abs(want).max(initial=0.0)), 1.0)
        assert err <= rtol * scale, f"{entry['name']}: max |js − python| = {err:.3g}"


def check_backward(tab: Tab, model: gn.Model, x: np.ndarray, label: int) -> float:
    """Compare the page's backward pass with Python's; return the worst relative difference."""
    res = tab.js(RUN, [x.reshape(-1).tolist(), label])
    res["weights"] = dict(res["weights"])
    ref = backward_pass(model, x, label)
    assert res["loss"] == pytest.approx(ref.loss, rel=1e-9)
    np.testing.assert_allclose(res["dlogits"], ref.dlogits, rtol=1e-9, atol=1e-12)
    assert [g["name"] for g in res["grads"]] == list(ref.outputs)
    worst = 0.0
    pairs = [(g["name"], g["values"], g["shape"], ref.outputs[g["name"]]) for g in res["grads"]]
    pairs += [(k, w["values"], w["shape"], ref.weights[k]) for k, w in res["weights"].items()]
    assert set(res["weights"]) == set(ref.weights)
    for name, values, shape, want in pairs:
        got = np.asarray(values).reshape(shape)
        assert got.shape == want.shape, name
        scale = max(float(np.abs(want).max(initial=0.0)), 1e-12)
        err = float(np.abs(got - want).max(initial=0.0)) / scale
        assert err <= GRAD_RTOL, f"{name}: max |js − python| / max |python| = {err:.3g}"
        worst = max(worst, err)
    return worst


# ----- a graph model with every layer kind ---------------------------------------------------


@pytest.fixture(scope="module")
def graph_tab(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Tab, gn.Model]]:
    model = every_layer_model()
    x = np.random.default_rng(0).uniform(0, 1, (11, 13, 3)).astype(np.float32)
    text, _ = explain_page(model, InputChoice(x, "noise", 2), model_note="random")
    tab = open_page(browser, text, tmp_path_factory.mktemp("engine") / "graph.html")
    yield tab, model
    assert tab.errors == []
    tab.close()


def test_graph_forward_equals_predict_and_feature_maps(graph_tab) -> None:
    tab, model = graph_tab
    kinds = {e["info"]["kind"] for e in tab.js("() => window.glassnet.data.layers")}
    assert kinds >= {"conv", "separable", "dense", "pool", "gap", "gmp", "batchnorm", "flatten",
                     "reshape", "identity", "elementwise", "softmax", "add", "concat",
                     "zeropad", "rescaling"}
    xs = np.random.default_rng(1).uniform(-1, 2, (3, 11, 13, 3)).astype(np.float32)
    probs = model.predict(xs)
    for x, want in zip(xs, probs, strict=True):
        res = tab.js(RUN, [x.reshape(-1).tolist(), None])
        assert np.abs(np.asarray(res["p"]) - want).max() <= PROB_TOL
        maps = {k: np.asarray(t.data[0], np.float64)
                for k, t in model.feature_maps(x[None]).items()}
        maps["image"] = x.astype(np.float64)
        assert_close_maps(res["layers"], maps, 1e-5)


def test_graph_backward_equals_python_float64(graph_tab) -> None:
    tab, model = graph_tab
    x = np.random.default_rng(2).uniform(0, 1, (11, 13, 3)).astype(np.float32)
    assert check_backward(tab, model, x, 3) <= GRAD_RTOL


def test_engine_rejects_bad_calls(graph_tab) -> None:
    tab, _ = graph_tab
    msg = tab.js("() => { try { window.glassnet.forward([1, 2]); } "
                 "catch (e) { return e.message; } }")
    assert "expected 429 input values (11×13×3), got 2" in msg
    msg = tab.js("""() => { const g = window.glassnet, r = g.forward(g.data.input.pixels.data);
        try { g.backward(r, 7); } catch (e) { return e.message; } }""")
    assert "label must be an integer in [0, 5)" in msg


# ----- lenet5 for mnist-5k, as train builds it; an image of another size ---------------------


@pytest.fixture(scope="module")
def lenet(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Tab, gn.Model, dict[str, Any]]]:
    out = tmp_path_factory.mktemp("lenet") / "lenet.html"
    assert run_cli(["lenet5", "--data", "mnist-5k", "--index", "3", "--out", str(out)]) == 0
    model, _ = explain_cmd.load_explained_model("lenet5", 0, "mnist-5k")
    tab = Tab(browser, out)
    yield tab, model, page_data(out.read_text(encoding="utf-8"))
    assert tab.errors == []
    tab.close()


def test_lenet5_for_mnist_forward_equals_predict(lenet) -> None:
    tab, model, data = lenet
    assert model.input_shape == (28, 28, 1) and data["model"]["input_shape"] == [28, 28, 1]
    examples = data["inputs"]
    assert [e["label"] for e in examples] == list(range(10))
    assert all("mnist-5k test image #" in e["note"] for e in examples)
    xs = np.stack([unpack(e["pixels"]) for e in examples]).astype(np.float32)
    probs = model.predict(xs)
    for x, want in zip(xs, probs, strict=True):
        res = tab.js(RUN, [x.reshape(-1).tolist(), None])
        assert np.abs(np.asarray(res["p"]) - want).max() <= PROB_TOL
    # the page's own input is the exact one Python used
    x0 = unpack(data["input"]["pixels"]).astype(np.float32)
    res = tab.js("() => window.glassnet.forward(window.glassnet.data.input.pixels.data)"
                 ".probabilities")
    assert np.abs(np.asarray(res) - model.predict(x0[None])[0]).max() <= PROB_TOL


def test_lenet5_backward_conv_and_dense_weights(lenet) -> None:
    tab, model, data = lenet
    x = unpack(data["inputs"][7]["pixels"]).astype(np.float32)
    assert check_backward(tab, model, x, 7) <= GRAD_RTOL


def test_input_image_of_another_size(browser: Any, tmp_path: Path, capsys) -> None:
    import matplotlib.image as mpimg

    img = np.zeros((60, 45, 3))
    img[10:50, 15:30] = [1.0, 0.8, 0.2]
    png = tmp_path / "big.png"
    mpimg.imsave(png, img)
    out = tmp_path / "p.html"
    assert run_cli(["lenet5", "--data", "mnist-5k", "--input", str(png), "--out",
                    str(out)]) == 0
    captured = capsys.readouterr()
    assert "resized from 60×45 to 28×28" in captured.out and captured.err == ""
    data = page_data(out.read_text(encoding="utf-8"))
    assert "resized from 60×45 to 28×28 by area averaging" in data["input"]["note"]
    model, _ = explain_cmd.load_explained_model("lenet5", 0, "mnist-5k")
    x = unpack(data["input"]["pixels"]).astype(np.float32)
    assert x.shape == (28, 28, 1) and 0 < x.max() <= 1
    tab = Tab(browser, out)
    res = tab.js("() => window.glassnet.forward(window.glassnet.data.input.pixels.data)"
                 ".probabilities")
    assert np.abs(np.asarray(res) - model.predict(x[None])[0]).max() <= PROB_TOL
    assert tab.errors == []
    tab.close()


# ----- a big model over the size budget --------------------------------------------------------


def test_resnet18_over_the_budget_keeps_every_cell_open(browser: Any, tmp_path: Path) -> None:
    model = gn.zoo.get("resnet18", input_shape=(32, 32, 3), num_classes=10)
    model.build(seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype(np.float32)
    text, warnings = explain_page(model, InputChoice(x, "noise"), model_note="random")
    size = len(text.encode("utf-8"))
    assert any("weights take" in w and "all are embedded" in w for w in warnings)
    assert any("thumbnails only" in w for w in warnings)
    data = page_data(text)
    thumbs = [e["key"] for e in data["layers"] if not e["full"]]
    assert thumbs, "expected maps left out at the default budget"
    tab = open_page(browser, text, tmp_path / "resnet18.html")
    tab.page.wait_for_selector("#out-canvas")
    state = tab.js("""() => window.glassnet.data.layers.map((l) => [l.key, l.full,
        l.explorable, l.map.data.length, l.shape.reduce((a, b) => a * b, 1)])""")
    for key, full, explorable, n, want in state[1:]:
        assert full and explorable and n == want, key
    res = tab.js("() => window.glassnet.forward(window.glassnet.data.input.pixels.data)"
                 ".probabilities")
    logits = model.predict(x[None])[0].astype(np.float64)  # resnet18 outputs logits
    want = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert not model.ends_in_softmax and np.abs(np.asarray(res) - want).max() <= PROB_TOL
    # open a cell of a conv layer whose map was not embedded: the page's check passes
    key = next(k for k in thumbs if next(e for e in data["layers"] if e["key"] == k)
               ["info"]["kind"] == "conv")
    tab.page.click(f'button.thumb[data-layer="{key}"][data-channel="1"]')
    cell = float(tab.page.get_attribute("#out-canvas", "data-cell"))
    tab.page.click("#out-canvas", position={"x": 1.5 * cell + 1, "y": 1.5 * cell + 1})
    assert "ok" in (tab.page.get_attribute("#check", "class") or "")
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(ARTIFACTS / "explain-resnet18-cell.png"))
    assert tab.errors == []
    tab.close()
    print(f"resnet18 32×32×3 page: {size / 1e6:.1f} MB")


def test_names_that_are_object_keys_stay_data(browser: Any, tmp_path: Path) -> None:
    """Layers called like JS object internals run as any other (tables without prototype);
    a layer called twice gets the sum of both calls' weight gradients."""
    inp = L.Input((5, 5, 2), name="constructor")
    a = L.Conv2D(3, 3, padding="same", activation="relu", name="__proto__")(inp)
    b = L.Conv2D(3, 1, name="toString")(inp)
    x = L.Add(name="hasOwnProperty")([a, b])
    shared = L.Conv2D(2, 1, activation="tanh", name="shared")  # called twice: "shared:2"
    x = L.Concatenate(name="cat")([x, shared(shared(inp))])
    x = L.Flatten(name="<img src=x onerror=\"window.__pwned=1\">")(x)
    out = L.Dense(4, activation="softmax", name="valueOf")(x)
    model = gn.Model(inp, out, name="__proto__")
    model.build(seed=2)
    x0 = np.random.default_rng(3).normal(size=(5, 5, 2)).astype(np.float32)
    text, _ = explain_page(model, InputChoice(x0, "noise", 1), model_note="random")
    tab = open_page(browser, text, tmp_path / "names.html")
    res = tab.js(RUN, [x0.reshape(-1).tolist(), None])
    assert np.abs(np.asarray(res["p"]) - model.predict(x0[None])[0]).max() <= PROB_TOL
    assert check_backward(tab, model, x0, 1) <= GRAD_RTOL
    assert tab.js("() => window.__pwned") is None and tab.errors == []
    tab.close()


def test_flat_float64_model(browser: Any, tmp_path: Path) -> None:
    """A vector input, float64 weights (embedded as float64) and a model that outputs logits."""
    from glassnet.backend import dtype_scope

    model = gn.Sequential([
        L.Input((7,)), L.Dense(9, activation="sigmoid", name="h1"), L.Dropout(0.3, name="d"),
        L.BatchNormalization(name="bn"), L.Activation("tanh", name="t"), L.Dense(4, name="logits"),
    ], name="mlp")
    with dtype_scope("float64"):
        model.build(seed=5)
    x = np.random.default_rng(4).normal(size=7)
    text, _ = explain_page(model, InputChoice(x.astype(np.float32), "noise", 0),
                           model_note="float64")
    data = page_data(text)
    assert next(e for e in data["layers"] if e["key"] == "h1")["weights"]["kernel"][
        "dtype"] == "float64"
    tab = open_page(browser, text, tmp_path / "mlp.html")
    res = tab.js(RUN, [x.tolist(), None])
    logits = model.predict(x[None])[0]
    np.testing.assert_allclose(res["logits"], logits, rtol=1e-12, atol=1e-12)
    assert np.abs(np.asarray(res["p"]) - np.exp(logits) / np.exp(logits).sum()).max() < 1e-12
    assert check_backward(tab, model, x, 2) <= GRAD_RTOL
    assert tab.errors == []
    tab.close()


class Doubler(L.Layer):
    """A layer the page does not know (kind "other"): 2·x."""

    base_name = "doubler"

    def forward(self, x: Any, training: bool = False) -> Any:
        from glassnet import autodiff as A

        return A.scale(x, 2.0)


def test_an_unknown_layer_is_named_not_run(browser: Any, tmp_path: Path) -> None:
    model = gn.Sequential([L.Input((4, 4, 1)), L.Conv2D(2, 3, name="c"), Doubler(name="twice"),
                           L.Flatten(), L.Dense(3, activation="softmax")])
    model.build(seed=0)
    x = np.ones((4, 4, 1), np.float32)
    page = explain_page(model, InputChoice(x, "ones"), model_note="x", max_bytes=125_000)
    assert any("cannot run these layers" in w and "twice" in w for w in page[1])
    tab = open_page(browser, page[0], tmp_path / "unknown.html")
    assert "the page cannot run twice" in tab.js("() => window.glassnet.error")
    msg = tab.js("() => { try { window.glassnet.forward(Array(16).fill(1)); } "
                 "catch (e) { return e.message; } }")
    assert '"twice"' in msg and "not supported" in msg
    assert tab.errors == []
    tab.close()
