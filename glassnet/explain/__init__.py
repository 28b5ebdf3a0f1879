"""``glassnet explain``: a self-contained HTML page that shows a model's own numbers.

``pagedata`` computes the JSON the page embeds (one forward pass, every value), ``html`` inlines
it with the page's styles and script (``assets/``), ``cells`` recomputes a clicked cell in
Python the way the page does in JavaScript, ``tracedata`` turns a §6 trace into page steps.

>>> from glassnet.explain import explain_page
>>> text, warnings = explain_page(model, choice, model_note="random init, seed 0")
"""

from __future__ import annotations

from typing import Any

from glassnet.explain.html import render_page
from glassnet.explain.inputs import InputChoice, choose_input, example_inputs
from glassnet.explain.pagedata import DEFAULT_MAX_BYTES, PageData, build_page_data

__all__ = [
    "DEFAULT_MAX_BYTES", "InputChoice", "PageData", "build_page_data", "choose_input",
    "example_inputs", "explain_page", "render_page",
]


def explain_page(
    model: Any, choice: InputChoice, *, model_note: str,
    max_bytes: int = DEFAULT_MAX_BYTES, trace: dict[str, Any] | None = None,
    examples: list[InputChoice] | None = None,
) -> tuple[str, list[str]]:
    """Return ``(html text, warnings)`` of the explainer page of ``model`` on ``choice``.

    Args:
        model: a glassnet model.
        choice: the input (see :func:`choose_input`).
        model_note: where the weights come from, shown on the page.
        max_bytes: size budget of the page (reduced thumbnails beyond, with a warning).
        trace: a trace section from :func:`glassnet.explain.tracedata.trace_section`.
        examples: inputs the page offers (see :func:`glassnet.explain.inputs.example_inputs`).
    """
    page = build_page_data(model, choice, model_note=model_note, max_bytes=max_bytes,
                           trace=trace, examples=examples)
    text = render_page(page.data)
    warnings = list(page.warnings)
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        warnings.append(f"the page is {size / 1e6:.1f} MB (over the {max_bytes / 1e6:.1f} MB "
                        "budget)")
    return text, warnings
