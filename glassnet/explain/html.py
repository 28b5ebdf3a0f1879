"""Assemble the self-contained page: the template with its styles, script and data inlined.

The template ``assets/page.html`` holds three markers, replaced by the contents of
``assets/page.css``, the scripts of :data:`JS_ASSETS` (in order, in the one script element) and
the page data as JSON. Nothing is fetched at view
time: the file works offline, by double-click, with no server.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

CSS_MARK = "/*@CSS@*/"
JS_MARK = "/*@JS@*/"
DATA_MARK = "@DATA@"
TITLE_MARK = "@TITLE@"
# The engine first (ops.js: its array arithmetic; engine.js: the model, window.glassnet.forward,
# backward and the decoded data), then the view (page.js) that draws with it.
JS_ASSETS = ("ops.js", "engine.js", "page.js")
# Outside strings JSON has none of these characters, so escaping them everywhere is exact.
_SCRIPT_SAFE = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"))


def asset(name: str) -> str:
    """Return the text of a file in ``glassnet/explain/assets`` (package data)."""
    return resources.files("glassnet.explain").joinpath("assets", name).read_text("utf-8")


def data_json(data: dict[str, Any]) -> str:
    """Serialise the page data for a ``<script type="application/json">`` block.

    NOTE: ``<``, ``>`` and ``&`` are written as JSON escapes (backslash-u003c ...: the same strings
    to ``JSON.parse``), so no value, such as a layer named ``</script><script>...``, can close
    the script element early or open an HTML comment in it; ``allow_nan=False`` because JSON
    has no NaN (the data uses null).
    """
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    # NOTE: three str.replace calls, not str.translate: on a 60 MB page (resnet18's weights)
    # translate took 7.6 s, the replaces 0.02 s.
    for char, escaped in _SCRIPT_SAFE:
        text = text.replace(char, escaped)
    return text


def render_page(data: dict[str, Any]) -> str:
    """Return the complete HTML page showing ``data`` (from ``build_page_data``)."""
    page = asset("page.html")
    for mark in (CSS_MARK, JS_MARK, DATA_MARK, TITLE_MARK):
        if page.count(mark) != 1:  # a broken template is a packaging bug, not user input
            raise RuntimeError(f"explain template: marker {mark!r} must occur exactly once")
    title = html.escape(f"glassnet explain — {data['model']['name']}")
    # Replace the data last: its text is never searched for markers.
    page = page.replace(TITLE_MARK, title).replace(CSS_MARK, asset("page.css"))
    # NOTE: a newline and ";" between the files, so a script without a final semicolon cannot
    # run into the next one.
    page = page.replace(JS_MARK, "\n;\n".join(asset(name) for name in JS_ASSETS))
    head, tail = page.split(DATA_MARK)
    return head + data_json(data) + tail
