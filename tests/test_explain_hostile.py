"""A model whose layer names are HTML or script runs nothing in the explainer page.

Layer names come from model files, checkpoints and ONNX node names: anyone's text. The page is
opened in a real headless Chromium (Playwright, as in ``test_explain_browser.py``), every layer
is selected so every caption and formula that names a layer is drawn, and the page must show the
names as text with no script run (``window.__pwned`` stays undefined) and no element injected.

Skipped when Chromium or ``playwright`` is missing, except in CI (``CI=true``), where that fails
(``tests/browser.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import Tab, chromium

import glassnet as gn
from glassnet import layers as L
from glassnet.explain import InputChoice, explain_page
from glassnet.explain.html import data_json

IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "</script><script>window.__pwned=2</script>"
COMMENT = "<!--<script>window.__pwned=3//"
QUOTES = "x\" onmouseover='window.__pwned=4' &amp; <b>bold</b>"
HOSTILE = [IMG, SCRIPT, COMMENT, QUOTES]


def hostile_model() -> gn.Sequential:
    model = gn.Sequential([
        L.Input((6, 6, 1)),
        L.Conv2D(2, 3, activation="sigmoid", name=IMG),
        L.MaxPool2D(2, name=SCRIPT),
        L.Flatten(name=COMMENT),
        L.Dense(3, name=QUOTES),
    ])
    model.build(seed=0)
    return model


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = hostile_model()
    rng = np.random.default_rng(0)
    # Class names and input notes are text from files too: hostile as well.
    classes = (IMG, SCRIPT, QUOTES)
    choice = InputChoice(rng.random((6, 6, 1)).astype(np.float32), COMMENT, 1, classes)
    examples = [InputChoice(rng.random((6, 6, 1)).astype(np.float32), name, k % 3, classes)
                for k, name in enumerate(HOSTILE)]
    text, _ = explain_page(model, choice, model_note="random initial weights (seed 0)",
                           examples=examples)
    path = tmp_path_factory.mktemp("hostile") / "page.html"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tab(page_file: Path) -> Iterator[tuple[Any, list[str]]]:
    for browser in chromium():
        t = Tab(browser, page_file)
        t.page.wait_for_selector("body[data-ready]")  # the in-page engine ran on these names
        yield t.page, t.errors
        t.close()


def test_no_script_runs_and_the_names_are_text(tab: tuple[Any, list[str]]) -> None:
    page, errors = tab
    for name in HOSTILE:
        # Selecting a layer draws its captions, formulas and input figure (which names the
        # layer before it); clicking its button goes through the page's own handler.
        page.evaluate("(key) => window.GLASSNET.select(key, 0, false)", name)
        page.evaluate("""(key) => [...document.querySelectorAll("button[data-layer]")]
                          .find((b) => b.dataset.layer === key).click()""", name)
        assert page.evaluate("() => window.GLASSNET.state.key") == name
        assert page.evaluate("() => document.getElementById('detail-body').innerText").count(
            name) >= 1
    # Every example input, every label of the backprop view, every gradient map.
    for k in range(len(HOSTILE)):
        page.click(f'.sample[data-sample="{k}"]')
        for label in range(3):
            page.select_option("#bp-label", str(label))
    for button in page.locator("#grad-maps button").all():
        button.click()
    assert page.evaluate("() => document.getElementById('backprop-body').innerText").count(
        IMG) >= 2
    page.wait_for_timeout(300)  # an injected <img onerror> would fire once its load fails
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert page.evaluate("() => document.querySelectorAll('img, script:not([id])').length") == 1
    text = page.evaluate("() => document.body.innerText")
    for name in HOSTILE:
        assert name in text
    assert errors == []


def test_the_data_block_cannot_close_its_script_element(page_file: Path) -> None:
    text = page_file.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', text,
                      re.S)
    assert block is not None
    assert "<" not in block.group(1) and ">" not in block.group(1)
    names = [layer["key"] for layer in json.loads(block.group(1))["layers"]]
    assert names[1:] == HOSTILE


def test_data_json_round_trips_every_escaped_character() -> None:
    value = {"s": "a</script><!-- & > \u2028 é", "n": [1, 2.5, None]}
    text = data_json(value)
    assert not re.search(r"[<>&]", text)
    assert json.loads(text) == value
