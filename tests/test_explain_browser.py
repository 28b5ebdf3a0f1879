"""glassnet explain in a real headless Chromium (Playwright): the page's own JS arithmetic.

Opens the file:// page, clicks conv and pool cells and compares what the page shows with the
Python recomputation (``glassnet.explain.cells``) of the same embedded numbers, checks keyboard
navigation and the console, and saves screenshots under ``test-artifacts/``.

Skipped when Chromium or the ``playwright`` package is missing, except in CI (``CI=true``),
where that is a failure (``tests/browser.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import ARTIFACTS, page_data
from browser import Tab as BaseTab

from glassnet import zoo
from glassnet.explain import choose_input, explain_page
from glassnet.explain.cells import conv_cell, pool_cell
from glassnet.explain.numbers import unpack
from glassnet.explain.tracedata import trace_section

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"
TRACE = CASES / "trace_cnn_3x3_softmax2.json"
MAP_RTOL = 2e-5  # the embedded Python maps keep 6 significant digits
# The view's selection (not the whole state object, which holds every layer's values).
STATE = "() => { const s = window.glassnet.state; return {key: s.key, ch: s.ch, i: s.i, j: s.j}; }"


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    model = zoo.get("keras_mnist_convnet")
    model.build(seed=0)
    choice = choose_input(tuple(model.input_shape))
    trace = trace_section(TRACE) if TRACE.exists() else None
    text, _ = explain_page(model, choice, model_note="random initial weights (seed 0)",
                           trace=trace)
    path = tmp_path_factory.mktemp("explain") / "page.html"
    path.write_text(text, encoding="utf-8")
    return path, page_data(text)


class Tab(BaseTab):
    """A page whose in-page forward pass has run (``body[data-ready]``)."""

    def __init__(self, browser: Any, path: Path, width: int, height: int) -> None:
        super().__init__(browser, path, width, height)
        self.page.wait_for_selector("body[data-ready]")

    def open_cell(self, key: str, channel: int, i: int, j: int) -> None:
        self.page.click(f'button.thumb[data-layer="{key}"][data-channel="{channel}"]')
        cell = float(self.page.get_attribute("#out-canvas", "data-cell"))
        self.page.click("#out-canvas", position={"x": (j + 0.5) * cell + 1,
                                                 "y": (i + 0.5) * cell + 1})
        state = self.page.evaluate(STATE)
        assert (state["key"], state["ch"], state["i"], state["j"]) == (key, channel, i, j)

    def value(self, selector: str) -> float:
        return float(self.page.get_attribute(selector, "data-value"))


def layer(data: dict[str, Any], key: str) -> dict[str, Any]:
    return next(e for e in data["layers"] if e["key"] == key)


def busiest_cell(data: dict[str, Any], key: str, channel: int) -> tuple[int, int]:
    out = unpack(layer(data, key)["map"])[:, :, channel]
    i, j = np.unravel_index(int(np.argmax(np.abs(out))), out.shape)
    return int(i), int(j)


@pytest.fixture(scope="module")
def desktop(browser: Any, page_file: tuple[Path, dict[str, Any]]) -> Iterator[Tab]:
    tab = Tab(browser, page_file[0], 1280, 800)
    yield tab
    tab.page.close()


@pytest.mark.parametrize(("key", "channel"), [("conv2d", 3), ("conv2d_1", 5)])
def test_conv_cell_sum_computed_by_the_page(desktop: Tab, page_file, key: str,
                                            channel: int) -> None:
    data = page_file[1]
    i, j = busiest_cell(data, key, channel)
    desktop.open_cell(key, channel, i, j)
    ref = conv_cell(data, key, i, j, channel)
    shown = desktop.value("#conv-sum")
    assert abs(shown - ref.total) <= 1e-4 * max(abs(ref.total), 1e-12)
    assert desktop.value("#conv-z") == pytest.approx(ref.z, rel=1e-4)
    # The page shows its own float64 forward pass; Python's embedded map agrees to 6 digits.
    assert desktop.value("#cell-ref") == pytest.approx(
        unpack(layer(data, key)["map"])[i, j, channel], rel=MAP_RTOL, abs=1e-6)
    assert "ok" in desktop.page.get_attribute("#check", "class")


def test_pool_cell_winner(desktop: Tab, page_file) -> None:
    data = page_file[1]
    i, j = busiest_cell(data, "max_pooling2d", 2)
    desktop.open_cell("max_pooling2d", 2, i, j)
    ref = pool_cell(data, "max_pooling2d", i, j, 2)
    assert ref.winner is not None
    assert desktop.page.get_attribute("#pool-result", "data-winner") == "{},{}".format(*ref.winner)
    assert desktop.value("#pool-result") == pytest.approx(ref.value, rel=1e-6)
    desktop.page.screenshot(path=str(ARTIFACTS / "explain-pool-1280x800.png"))


def test_keyboard_navigation(desktop: Tab, page_file) -> None:
    data = page_file[1]
    desktop.open_cell("conv2d", 0, 5, 5)
    desktop.page.focus("#out-canvas")
    desktop.page.keyboard.press("ArrowDown")
    desktop.page.keyboard.press("ArrowRight")
    desktop.page.keyboard.press("]")
    state = desktop.page.evaluate(STATE)
    assert (state["i"], state["j"], state["ch"]) == (6, 6, 1)
    assert desktop.value("#cell-ref") == pytest.approx(
        unpack(layer(data, "conv2d")["map"])[6, 6, 1], rel=MAP_RTOL, abs=1e-6)
    desktop.page.focus('button.thumb[data-layer="conv2d"][data-channel="0"]')
    desktop.page.keyboard.press("ArrowRight")
    focused = desktop.page.evaluate("() => document.activeElement.dataset.layer")
    assert focused == "max_pooling2d"
    desktop.page.keyboard.press("Enter")
    assert desktop.page.evaluate("() => window.GLASSNET.state.key") == "max_pooling2d"


def test_softmax_and_trace_sections(desktop: Tab, page_file) -> None:
    s = page_file[1]["softmax"]
    assert desktop.value("#softmax-sum") == pytest.approx(s["sum"], rel=1e-5)
    assert desktop.value("#softmax-loss") == pytest.approx(s["loss"], rel=1e-4)
    if page_file[1]["trace"]:
        tabs = desktop.page.locator(".step-nav button")
        assert tabs.count() == len(page_file[1]["trace"]["steps"])
        tabs.nth(0).focus()
        desktop.page.keyboard.press("ArrowRight")
        assert "forward" in desktop.page.inner_text("#trace-panel h3")
        # The worked example says it is its own small network, and its loss step has one label.
        assert "separate worked example, not the model above" in desktop.page.inner_text(
            "#trace-note")
        desktop.page.click('.step-nav button.phase-loss')
        heading = desktop.page.inner_text("#trace-panel h3")
        assert heading.startswith("loss: ") and heading.count("loss:") == 1


def test_screenshots_and_no_console_errors(browser: Any, desktop: Tab, page_file) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tabs = [desktop]
    for width, height in ((1280, 800), (390, 844)):
        tab = Tab(browser, page_file[0], width, height)
        name = f"explain-{width}x{height}"
        tab.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        tab.page.screenshot(path=str(ARTIFACTS / f"{name}-full.png"), full_page=True)
        # Nothing may stick out sideways at either width (the overview scrolls inside itself).
        overflow = tab.page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"page is {overflow}px wider than the {width}px viewport"
        tabs.append(tab)
    for tab in tabs:
        assert tab.errors == []
    for tab in tabs[1:]:
        tab.page.close()
