"""The explainer page of keras_mnist_convnet (seed 0) and its desktop and phone tabs: the fixtures
the view tests share (``test_explain_view*.py``), registered by conftest; ``browser`` is
conftest's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Tab, page_data

from glassnet import zoo
from glassnet.explain import choose_input, example_inputs, explain_page


@pytest.fixture(scope="module")
def mnist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, dict[str, Any]]:
    model = zoo.get("keras_mnist_convnet")
    model.build(seed=0)
    shape = tuple(model.input_shape)
    text, _ = explain_page(model, choose_input(shape), model_note="random initial weights "
                           "(seed 0)", examples=example_inputs(shape))
    path = tmp_path_factory.mktemp("view") / "page.html"
    path.write_text(text, encoding="utf-8")
    return model, path, page_data(text)


def open_tab(browser: Any, path: Path, width: int = 1280, height: int = 800) -> Tab:
    tab = Tab(browser, path, width, height)
    tab.page.wait_for_selector("body[data-ready]")
    return tab


@pytest.fixture(scope="module")
def desktop(browser: Any, mnist) -> Iterator[Tab]:
    tab = open_tab(browser, mnist[1])
    yield tab
    assert tab.errors == []
    tab.close()


@pytest.fixture(scope="module")
def phone(browser: Any, mnist) -> Iterator[Tab]:
    tab = open_tab(browser, mnist[1], 390, 844)
    yield tab
    assert tab.errors == []
    tab.close()
