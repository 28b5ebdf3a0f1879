"""Shared helpers of the browser tests: Debian's Chromium through Playwright, file:// pages.

``chromium()`` is a pytest fixture body (module scope in the test files): it skips when
Chromium or the ``playwright`` package is missing, except in CI (``CI=true``), where that is a
failure. Chromium: ``$GLASSNET_CHROMIUM`` or ``/usr/bin/chromium``. Screenshots go to
``test-artifacts/`` (kept by CI).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("GLASSNET_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps trying to reach the (closed) network.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def sync_playwright() -> Any:
    """Return Playwright's ``sync_playwright``, or skip (fail in CI) when it cannot run."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright as sp
    except ImportError:
        reason = "the playwright package is not installed (pip install playwright)"
    if reason is None and not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    return sp


def chromium() -> Iterator[Any]:
    """Yield one launched headless Chromium (use as the body of a module-scoped fixture)."""
    with sync_playwright()() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


def page_data(text: str) -> dict[str, Any]:
    """The JSON data block of an explainer page's HTML text."""
    block = re.search(r'id="page-data">(.*?)</script>', text, re.S)
    assert block, "no #page-data block in the page"
    return json.loads(block.group(1))  # type: ignore[no-any-return]


class Tab:
    """One open page at one viewport size, collecting console errors and page errors."""

    def __init__(self, browser: Any, path: Path, width: int = 1280, height: int = 800) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri())

    def js(self, script: str, arg: Any = None) -> Any:
        """Evaluate ``script`` (a JS function expression) with ``arg`` in the page."""
        return self.page.evaluate(script, arg)

    def close(self) -> None:
        """Close the page."""
        self.page.close()
