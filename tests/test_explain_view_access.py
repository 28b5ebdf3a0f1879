"""The explainer page's layout and accessibility in a real headless Chromium.

At 390 px no table column is cut off unless its box scrolls and says so; every text has
contrast ≥ 4.5:1 against the background it is drawn on (from the computed styles) and is
≥ 13 px; the keyboard reaches every section, the detail view and the probability bars.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib

import pytest
from browser import ARTIFACTS, Tab


def test_phone_hides_no_column(phone: Tab) -> None:
    page = phone.page
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    for table in ("#softmax-scores", "#softmax-table", "#bp-dlogits"):
        box = page.locator(table).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, table
    # Any cell past the right edge must sit in a box that scrolls and says so.
    cut = page.evaluate("""() => [...document.querySelectorAll("td, th")].filter((c) => {
        const r = c.getBoundingClientRect();
        if (!r.width || r.right <= 390) return false;
        const box = c.closest(".scrolls");
        const hint = box && box.nextElementSibling;
        return !(box && hint && hint.classList.contains("scroll-hint"));
      }).map((c) => c.closest("table").id || c.closest("table").className)""")
    assert cut == []
    # Every formula fits, or it (or the box it sits in) scrolls and says so.
    for key in ("conv2d", "max_pooling2d", "dense"):
        phone.js("(key) => window.glassnet.select(key, 0, [1, 1])", key)
        page.click("#summary-formulas summary")
        hidden_js = """() => [...document.querySelectorAll(".formula")].filter((f) => {
            const box = f.closest(".scrolls") || f;
            if (box.scrollWidth <= box.clientWidth + 2) return false;
            const hint = box.nextElementSibling;
            return !(hint && hint.classList.contains("scroll-hint"));
          }).map((f) => f.textContent)"""
        # The hints are added by the "toggle" event, fired after the click returns: give it
        # up to 2 s, then check (a formula still without a hint fails below).
        from playwright.sync_api import TimeoutError as PlaywrightTimeout  # the fixture has it

        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(f"() => ({hidden_js})().length === 0", timeout=2000)
        hidden = page.evaluate(hidden_js)
        assert hidden == [], key
    page.screenshot(path=str(ARTIFACTS / "explain-view-390x844-full.png"), full_page=True)


# Contrast of every element that draws text, against the background it is drawn on (the
# ancestors' background colours composited), by WCAG 2's relative luminance.
CONTRAST = """() => {
  const rgba = (s) => { const m = s.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const over = (top, under) => { const a = top[3];
    return [0, 1, 2].map((k) => top[k] * a + under[k] * (1 - a)).concat([1]); };
  function background(node) {
    const layers = [];
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    return layers.reverse().reduce((acc, c) => over(c, acc), [255, 255, 255, 1]);
  }
  const lum = (c) => { const f = (v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const out = [];
  for (const node of document.querySelectorAll("body *")) {
    if (node.closest("svg, canvas, script, style, [hidden], .sr-only, option")) continue;
    const text = [...node.childNodes].filter((t) => t.nodeType === 3)
      .map((t) => t.textContent.trim()).join("");
    if (!text) continue;
    const r = node.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    const st = getComputedStyle(node);
    if (st.visibility === "hidden") continue;
    const fg = over(rgba(st.color), background(node)), bg = background(node);
    const hi = Math.max(lum(fg), lum(bg)), lo = Math.min(lum(fg), lum(bg));
    out.push({text: text.slice(0, 30), tag: node.tagName, cls: node.className,
      ratio: (hi + 0.05) / (lo + 0.05), size: parseFloat(st.fontSize)});
  }
  return out;
}"""


@pytest.mark.parametrize("which", ["desktop", "phone"])
def test_text_contrast_and_size(which: str, request: pytest.FixtureRequest) -> None:
    tab = request.getfixturevalue(which)
    tab.js("() => window.glassnet.select('conv2d', 0, [3, 3])")
    items = tab.js(CONTRAST)
    assert len(items) > 100  # the check saw the page's text
    low = [(i["text"], i["cls"], round(i["ratio"], 2)) for i in items if i["ratio"] < 4.5]
    small = [(i["text"], i["cls"], i["size"]) for i in items if i["size"] < 13]
    assert low == [], low
    assert small == [], small


def test_keyboard_reaches_sections_detail_and_bars(desktop: Tab, mnist) -> None:
    page = desktop.page
    page.focus(".jump a")
    page.keyboard.press("Shift+Tab")  # the skip link is the first stop of the page
    assert page.evaluate("() => document.activeElement.className") == "skip"
    hrefs = page.eval_on_selector_all(".jump a:not([hidden])", "(as) => as.map((a) => "
                                      "a.getAttribute('href'))")
    assert {"#input", "#overview", "#detail", "#softmax", "#backprop"} <= set(hrefs)
    # One Tab stop in the whole overview; arrows do the rest.
    assert page.locator('#columns .nav-item[tabindex="0"]').count() == 1
    page.focus('button.thumb[data-layer="conv2d"][data-channel="0"]')
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "out-canvas"
    assert desktop.js("() => window.glassnet.state.key") == "conv2d"
    page.focus('button.thumb[data-layer="max_pooling2d_1"][data-channel="0"]')
    for _ in range(4):  # flatten, dropout, then the probability bars
        page.keyboard.press("ArrowRight")
    assert page.evaluate("() => document.activeElement.dataset.unit") == "0"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.dataset.unit") == "1"
    page.keyboard.press("Enter")
    assert desktop.js("() => window.glassnet.state.key") == "dense"
