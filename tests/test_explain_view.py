"""The explainer page's VIEW in a real headless Chromium: input, animation, backprop, graphs.

A digit drawn with mouse events on the page's canvas is read back out of the page and run
through the model's own ``predict`` in Python: the page's probabilities must agree (≤ 1e-4), and
the drawing must have been prepared like MNIST (ink box scaled to 20 px, centre of mass in the
middle). The kernel animation has OH·OW steps; every conv cell lists all its input channels'
partial sums, which add up to the total; a dense unit's listed terms plus its "rest" line add up
to its sum; the backprop view's loss is Python's −log p_y; the overview draws a graph model's
skip and branch edges. Layout and accessibility: ``test_explain_view_access.py``. Screenshots
go to ``test-artifacts/``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import ARTIFACTS, Tab, page_data
from explain_view_pages import open_tab

import glassnet as gn
from glassnet import layers as L
from glassnet.explain import choose_input, explain_page
from glassnet.explain.inputs import read_image
from glassnet.models.summary import summarize

PROB_TOL = 1e-4  # the bound: in-page probabilities vs Python's predict
# The view's selection (not the whole state object, which holds every layer's values).
STATE = "() => { const s = window.glassnet.state; return {key: s.key, ch: s.ch, i: s.i, j: s.j}; }"


def predict(model: Any, pixels: list[float]) -> np.ndarray:
    x = np.asarray(pixels, dtype=np.float32).reshape((1, *model.input_shape))
    return np.asarray(model.predict(x))[0].astype(np.float64)


def draw(tab: Tab, strokes: list[list[tuple[float, float]]]) -> None:
    """Draw strokes on the canvas with real mouse events; points in 0..1 of the canvas."""
    box = tab.page.locator("#draw-canvas").bounding_box()
    tab.page.locator("#draw-canvas").scroll_into_view_if_needed()
    box = tab.page.locator("#draw-canvas").bounding_box()
    mouse = tab.page.mouse
    for stroke in strokes:
        x0, y0 = stroke[0]
        mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        mouse.down()
        for x, y in stroke[1:]:
            mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=6)
        mouse.up()


def test_drawn_digit_is_prepared_like_mnist_and_predicted_like_python(desktop: Tab,
                                                                      mnist) -> None:
    model = mnist[0]
    # A "7" drawn off-centre in the top-left part of the canvas.
    draw(desktop, [[(0.10, 0.12), (0.55, 0.12), (0.30, 0.62)]])
    pixels = desktop.js("() => window.glassnet.input()")
    x = np.asarray(pixels).reshape(28, 28)
    ink = np.argwhere(x > 0)
    height, width = ink.max(axis=0) - ink.min(axis=0) + 1
    assert max(height, width) == 20  # the ink box scaled to 20 px (MNIST's recipe)
    mass = x.sum()
    cy, cx = (x * np.arange(28)[:, None]).sum() / mass, (x * np.arange(28)[None, :]).sum() / mass
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5  # centre of mass in the middle
    page_p = np.asarray(desktop.js("() => window.glassnet.probabilities()"))
    python_p = predict(model, pixels)
    assert np.max(np.abs(page_p - python_p)) <= PROB_TOL
    assert int(desktop.page.get_attribute("#top-pred", "data-class")) == int(np.argmax(python_p))
    shown = [float(v) for v in desktop.page.eval_on_selector_all(
        "#softmax-table tbody td[data-value]", "(tds) => tds.map((t) => t.dataset.value)")]
    assert np.max(np.abs(np.asarray(shown) - python_p)) <= PROB_TOL
    # Every view follows: the open conv cell shows the new input's feature map value.
    maps = model.feature_maps(np.asarray(pixels, dtype=np.float32).reshape(1, 28, 28, 1))
    st = desktop.js(STATE)
    ref = float(np.asarray(maps[st["key"]].data)[0, st["i"], st["j"], st["ch"]])
    assert desktop.page.get_attribute("#check", "class").endswith("ok")
    assert float(desktop.page.get_attribute("#cell-ref", "data-value")) == pytest.approx(
        ref, rel=1e-4, abs=1e-5)
    ARTIFACTS.mkdir(exist_ok=True)
    desktop.page.locator("#input").screenshot(path=str(ARTIFACTS / "explain-drawn-digit.png"))


def test_a_finger_draws_on_a_phone(browser: Any, mnist) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True)
    page = context.new_page()
    page.goto(mnist[1].as_uri())
    page.wait_for_selector("body[data-ready]")
    page.locator("#draw-canvas").scroll_into_view_if_needed()
    box = page.locator("#draw-canvas").bounding_box()
    cdp = context.new_cdp_session(page)
    points = [(0.5, 0.15), (0.5, 0.45), (0.5, 0.85)]  # a "1", by touch events
    for n, (x, y) in enumerate(points):
        kind = "touchStart" if n == 0 else "touchMove"
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [
            {"x": box["x"] + x * box["width"], "y": box["y"] + y * box["height"]}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_function("() => (window.glassnet.state.inputNote || '').startsWith('your')")
    pixels = page.evaluate("() => window.glassnet.input()")
    page_p = np.asarray(page.evaluate("() => window.glassnet.probabilities()"))
    assert np.max(np.abs(page_p - predict(mnist[0], pixels))) <= PROB_TOL
    x = np.asarray(pixels).reshape(28, 28)
    ink = np.argwhere(x > 0)
    height, width = ink.max(axis=0) - ink.min(axis=0) + 1
    assert height == 20 and width <= 4  # the whole stroke, not a dot where the finger landed
    context.close()


def test_gallery_image_runs_in_the_page(desktop: Tab, mnist) -> None:
    model, _, data = mnist
    k = 3
    desktop.page.click(f'.sample[data-sample="{k}"]')
    pixels = desktop.js("() => window.glassnet.input()")
    python_p = predict(model, pixels)
    page_p = np.asarray(desktop.js("() => window.glassnet.probabilities()"))
    assert np.max(np.abs(page_p - python_p)) <= PROB_TOL
    label = data["inputs"][k]["label"]
    assert desktop.page.inner_text("#softmax-table tr.truth td.cls") == \
        data["softmax"]["class_names"][label]
    loss = float(desktop.page.get_attribute("#softmax-loss", "data-value"))
    assert loss == pytest.approx(-math.log(python_p[label]), rel=1e-4)


def test_uploaded_image_is_read_like_the_command_line(desktop: Tab, mnist,
                                                     tmp_path: Path) -> None:
    from PIL import Image

    model = mnist[0]
    rgb = np.random.default_rng(5).integers(0, 256, size=(37, 45, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    desktop.page.set_input_files("#upload", str(path))
    desktop.page.wait_for_function("() => (window.glassnet.state.inputNote || '')"
                                   ".startsWith('the uploaded image')")
    pixels = np.asarray(desktop.js("() => window.glassnet.input()"))
    cli = read_image(path, (28, 28, 1)).x.reshape(-1).astype(np.float64)
    assert np.max(np.abs(pixels - cli)) <= 1e-6  # gray, /255, area-resized 45×37 -> 28×28
    page_p = np.asarray(desktop.js("() => window.glassnet.probabilities()"))
    assert np.max(np.abs(page_p - predict(model, list(pixels)))) <= PROB_TOL


def test_kernel_animation_has_one_step_per_output_cell(desktop: Tab, mnist) -> None:
    data = mnist[2]
    for key in ("conv2d", "conv2d_1"):
        desktop.js("(key) => window.glassnet.select(key, 1, [0, 0])", key)
        oh, ow = next(e["shape"] for e in data["layers"] if e["key"] == key)[:2]
        assert int(desktop.page.get_attribute("#conv-anim", "data-steps")) == oh * ow
        assert desktop.js("() => window.glassnet.animationSteps()") == oh * ow
    desktop.page.click("#anim-step")
    st = desktop.js(STATE)
    assert (st["i"], st["j"]) == (0, 1)
    desktop.page.click("#anim-back")
    desktop.page.click("#anim-back")  # wraps round to the last cell
    st = desktop.js(STATE)
    assert (st["i"], st["j"]) == (oh - 1, ow - 1)
    desktop.page.click("#anim-first")
    desktop.page.select_option("#anim-speed", "40")
    desktop.page.click("#anim-play")
    desktop.page.wait_for_function("() => window.glassnet.state.i * 100 + window.glassnet.state.j"
                                   " >= 5")
    desktop.page.click("#anim-play", timeout=2000)  # pause: a real click, while it plays
    k = int(desktop.page.get_attribute("#conv-anim", "data-step"))
    desktop.page.wait_for_timeout(150)
    assert int(desktop.page.get_attribute("#conv-anim", "data-step")) == k  # paused
    assert desktop.js("() => window.glassnet.state.playing") is None
    # Hover an output cell: its window is named (and outlined on the input).
    cell = float(desktop.page.get_attribute("#out-canvas", "data-cell"))
    desktop.page.hover("#out-canvas", position={"x": 2.5 * cell, "y": 3.5 * cell})
    assert desktop.page.inner_text("#hover-note").startswith("hover: O[3, 2, 1]")
    desktop.page.screenshot(path=str(ARTIFACTS / "explain-kernel-animation.png"))


def test_all_partial_sums_add_up_to_the_conv_total(desktop: Tab) -> None:
    desktop.js("() => window.glassnet.select('conv2d_1', 7, [4, 5])")
    if not desktop.page.get_attribute("#chan-sums", "open"):
        desktop.page.click("#chan-sums summary")
    # The table is filled by the <details> element's "toggle" event, which the browser fires
    # after the click returns (CI once read the rows before it: 0 of 32).
    desktop.page.wait_for_selector("#chan-sum-table tr[data-part]", timeout=5000)
    parts = [float(v) for v in desktop.page.eval_on_selector_all(
        "#chan-sum-table tr[data-part]", "(rows) => rows.map((r) => r.dataset.part)")]
    assert len(parts) == 32  # every input channel of conv2d_1, not 4 of them
    total = float(desktop.page.get_attribute("#conv-sum", "data-value"))
    assert sum(parts) == pytest.approx(total, rel=1e-12, abs=1e-12)
    assert float(desktop.page.get_attribute("#chan-sum-total", "data-value")) == pytest.approx(
        total, rel=1e-12, abs=1e-12)
    assert desktop.page.get_attribute("#check", "class").endswith("ok")


def test_dense_terms_and_rest_close_the_sum(desktop: Tab) -> None:
    desktop.js("() => window.glassnet.select('dense', 0, [0, 4])")
    products = [float(v) for v in desktop.page.eval_on_selector_all(
        "#dense-terms tr[data-product]", "(rows) => rows.map((r) => r.dataset.product)")]
    rest = float(desktop.page.get_attribute("#dense-rest", "data-value"))
    total = float(desktop.page.get_attribute("#dense-sum", "data-value"))
    assert len(products) == 8
    assert sum(products) + rest == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert "1,592" in desktop.page.inner_text("#dense-terms tr.rest")
    assert desktop.page.get_attribute("#check", "class").endswith("ok")


def test_formulas_are_the_ones_summary_explain_prints(desktop: Tab, mnist) -> None:
    model = mnist[0]
    python = {row["name"]: row["explain"] for row in summarize(model, explain=True)["layers"]}
    for key in ("conv2d", "max_pooling2d", "conv2d_1", "flatten", "dense"):
        desktop.js("(key) => window.glassnet.select(key, 0, [0, 0])", key)
        shown = desktop.page.eval_on_selector_all("#summary-formulas .formula",
                                                  "(ds) => ds.map((d) => d.textContent)")
        # The page data carries the lines `glassnet summary --explain` prints: all of them.
        assert shown == python[key], key


def test_backprop_view(desktop: Tab, mnist) -> None:
    model = mnist[0]
    desktop.page.click('.sample[data-sample="0"]')
    label = mnist[2]["inputs"][0]["label"]
    assert desktop.page.input_value("#bp-label") == str(label)  # the true label by default
    python_p = predict(model, desktop.js("() => window.glassnet.input()"))
    loss = float(desktop.page.get_attribute("#bp-loss", "data-value"))
    assert loss == pytest.approx(-math.log(python_p[label]), rel=1e-4)
    assert desktop.page.get_attribute("#bp-dlogits-check", "class").endswith("ok")
    other = (label + 1) % 10
    desktop.page.select_option("#bp-label", str(other))
    loss = float(desktop.page.get_attribute("#bp-loss", "data-value"))
    assert loss == pytest.approx(-math.log(python_p[other]), rel=1e-4)
    dz = [float(v) for v in desktop.page.eval_on_selector_all(
        "#bp-dlogits td[data-value]", "(tds) => tds.map((t) => t.dataset.value)")]
    onehot = np.eye(10)[other]
    assert np.max(np.abs(np.asarray(dz) - (python_p - onehot))) <= PROB_TOL
    # One gradient map per layer after the input, and dL/dW of a chosen filter checked.
    assert desktop.page.locator("#grad-maps .layer").count() == len(mnist[2]["layers"]) - 1
    for key in ("conv2d", "conv2d_1", "dense"):
        desktop.page.click(f'#grad-maps .layer[data-layer="{key}"] button')
        desktop.page.select_option("#bp-unit", "1")
        assert desktop.page.get_attribute("#bp-check", "class").endswith("ok"), key
    desktop.page.locator("#backprop").screenshot(path=str(ARTIFACTS / "explain-backprop.png"))


def test_overview_draws_skip_and_branch_edges(browser: Any, tmp_path: Path) -> None:
    inp = L.Input((6, 10, 1), name="image")
    a = L.Conv2D(3, 3, padding="same", activation="relu", name="a")(inp)
    b = L.Conv2D(3, 3, padding="same", activation="relu", name="b")(a)
    b = L.BatchNormalization(name="bn")(b)
    c = L.Conv2D(2, 1, activation="relu", name="c")(a)
    s = L.Add(name="skip_add")([a, b])
    x = L.Concatenate(name="branch_cat")([s, c])
    out = L.Dense(3, activation="softmax", name="out")(L.Flatten(name="flat")(x))
    model = gn.Model(inp, out).build(seed=0)
    text, _ = explain_page(model, choose_input((6, 10, 1)), model_note="random")
    path = tmp_path / "graph.html"
    path.write_text(text, encoding="utf-8")
    tab = open_tab(browser, path)
    data = page_data(text)
    want = {(src, e["key"]) for e in data["layers"] for src in e["inputs"]}
    got = tab.js("""() => [...document.querySelectorAll('#columns svg.edges path.edge')]
                   .map((p) => [p.dataset.from, p.dataset.to, p.classList.contains('skip')])""")
    assert {(f, t) for f, t, _ in got} == want and len(got) == len(want)
    order = [e["key"] for e in data["layers"]]
    for f, t, skip in got:
        assert skip == (order.index(t) - order.index(f) > 1)
    assert any(skip for _, _, skip in got)
    # Thumbnails keep the maps' aspect ratio (6×10 here).
    for key in ("image", "a", "branch_cat"):
        box = tab.page.locator(f'#columns button.thumb[data-layer="{key}"] canvas').first
        size = box.bounding_box()
        assert size["width"] / size["height"] == pytest.approx(10 / 6, rel=0.05), key
    # The merge layers' cells are explained too, and checked: a + b, which input a channel is.
    for key, cell in (("skip_add", [2, 3]), ("branch_cat", [4, 1]), ("bn", [1, 1])):
        for channel in range(5 if key == "branch_cat" else 3):
            tab.js("([key, ch, cell]) => window.glassnet.select(key, ch, cell)",
                   [key, channel, cell])
            assert tab.page.get_attribute("#check", "class").endswith("ok"), (key, channel)
    tab.page.locator("#overview").screenshot(path=str(ARTIFACTS / "explain-graph-edges.png"))
    assert tab.errors == []
    tab.close()


class Tripler(L.Layer):
    """A layer the in-page engine does not know: 3·x."""

    base_name = "tripler"

    def forward(self, x: Any, training: bool = False) -> Any:
        from glassnet import autodiff as A

        return A.scale(x, 3.0)


def test_a_model_the_engine_cannot_run_says_so(browser: Any, tmp_path: Path) -> None:
    model = gn.Sequential([L.Input((4, 4, 1)), L.Conv2D(2, 3, name="c"), Tripler(name="thrice"),
                           L.Flatten(), L.Dense(3, activation="softmax")])
    model.build(seed=0)
    text, _ = explain_page(model, choose_input((4, 4, 1)), model_note="random")
    path = tmp_path / "unknown.html"
    path.write_text(text, encoding="utf-8")
    tab = open_tab(browser, path)
    # The Python numbers stay on screen; no input control that could only fail is offered.
    assert "thrice" in tab.page.inner_text("#engine-error")
    assert tab.page.locator("#input .inparts").count() == 0
    assert "cannot run this model" in tab.page.inner_text("#backprop-body")
    tab.js("() => window.glassnet.select('c', 1, [1, 1])")
    assert tab.page.get_attribute("#check", "class").endswith("ok")
    assert tab.errors == []
    tab.close()
