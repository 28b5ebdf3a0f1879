"""Make the README's explainer screenshot: a digit drawn in the page, its prediction, the kernel.

    python scripts/explain_screenshot.py glassnet-demo/model.npz docs/images/explain-draw.png

Writes the page of CHECKPOINT with ``glassnet explain``, opens it in Debian's Chromium
(Playwright), draws a "3" with mouse events on the page's canvas, stops the kernel animation
of the first convolution a few steps in, and stacks two views into one PNG: the header (the
prediction) with the input section, and the inside of the convolution.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
# A "3" as strokes, in fractions of the drawing canvas.
THREE = [[(0.30, 0.22), (0.50, 0.15), (0.66, 0.24), (0.62, 0.40), (0.45, 0.48),
          (0.64, 0.56), (0.68, 0.72), (0.52, 0.84), (0.30, 0.80)]]


def main(checkpoint: str, out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "page.html"
        subprocess.run([sys.executable, "-m", "glassnet.cli", "explain", checkpoint,
                        "--out", str(page_path)], check=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(page_path.as_uri())
            page.wait_for_selector("body[data-ready]")
            box = page.locator("#draw-canvas").bounding_box()
            for stroke in THREE:
                page.mouse.move(box["x"] + stroke[0][0] * box["width"],
                                box["y"] + stroke[0][1] * box["height"])
                page.mouse.down()
                for x, y in stroke[1:]:
                    page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"],
                                    steps=8)
                page.mouse.up()
            page.evaluate("() => window.glassnet.select('conv2d', 3, [0, 0])")
            for _ in range(12 * 26 + 9):  # into the digit's top stroke
                page.evaluate("() => document.getElementById('anim-step').click()")
            top = Path(tmp) / "top.png"
            detail = Path(tmp) / "detail.png"
            header = page.locator("header").bounding_box()
            section = page.locator("#input").bounding_box()
            page.screenshot(path=str(top), full_page=True, clip={
                "x": 0, "y": 0, "width": 1100, "height": section["y"] + section["height"] + 8})
            assert header["y"] == 0
            page.locator("#detail").screenshot(path=str(detail))
            browser.close()
        a, b = Image.open(top), Image.open(detail)
        sheet = Image.new("RGB", (max(a.width, b.width), a.height + b.height), "#f4f5f7")
        sheet.paste(a, (0, 0))
        sheet.paste(b, ((sheet.width - b.width) // 2, a.height))
        sheet.save(out, optimize=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
