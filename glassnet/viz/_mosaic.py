"""Tile many small images into one picture, so a grid costs one Axes instead of one per cell.

NOTE: a Matplotlib Axes costs tens of milliseconds to create and lay out; a 64-filter grid drawn
as 64 Axes took seconds, as one tiled image it takes a fraction of that and looks the same.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class Mosaic(NamedTuple):
    canvas: np.ndarray  # [rows·(h + gap_y) + 1, cols·(w + gap_x) − gap_x, 3], white gaps
    tops: list[tuple[float, float]]  # (x centre, y top) of each tile, in canvas pixels
    unit: float  # inches per canvas pixel at the intended figure size


def unit_range(a: np.ndarray) -> np.ndarray:
    """Min-max scale ``a`` to [0, 1]; a constant (or non-finite) array becomes mid-grey 0.5."""
    lo, hi = float(np.min(a)), float(np.max(a))
    if not math.isfinite(hi - lo) or hi - lo <= 0:
        return np.full(a.shape, 0.5)
    return (a - lo) / (hi - lo)


def grid(count: int) -> tuple[int, int]:
    """Rows and columns of the most square grid that holds ``count`` cells."""
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def tile(tiles: np.ndarray, cols: int, *, tile_inches: float, label_inches: float) -> Mosaic:
    """Lay ``tiles`` out row by row, leaving room above each for a label.

    Args:
        tiles: RGB images in [0, 1], all the same size.
        cols: tiles per row.
        tile_inches: how wide (the longer side) one tile should be drawn.
        label_inches: free height above each tile for its label.

    Returns:
        The canvas, where each tile's label goes, and the inches per canvas pixel.

    Shapes:
        tiles: [n, h, w, 3].
    """
    n, h, w, _ = tiles.shape
    unit = tile_inches / max(h, w)
    gap_x = max(1, round(0.08 * tile_inches / unit))
    # round first: 0.2 / 0.1 is 2.0000000000000004, which must not become 3 pixels.
    gap_y = max(1, math.ceil(round(label_inches / unit, 6)))
    rows = math.ceil(n / cols)
    canvas = np.ones((rows * (h + gap_y) + 1, cols * (w + gap_x) - gap_x, 3))
    tops = []
    for i in range(n):
        y = (i // cols) * (h + gap_y) + gap_y
        x = (i % cols) * (w + gap_x)
        canvas[y : y + h, x : x + w] = tiles[i]
        # imshow puts pixel centres on integers, so a tile's top edge is at y − 0.5.
        tops.append((x + (w - 1) / 2, y - 0.5))
    return Mosaic(canvas, tops, unit)


def show(ax: Axes, mosaic: Mosaic, labels: list[str], colours: list[str] | None = None,
         fontsize: float = 7) -> None:
    """Draw the mosaic on ``ax`` without ticks or frame, with one label above each tile."""
    ax.imshow(mosaic.canvas, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    for k, ((x, y), text) in enumerate(zip(mosaic.tops, labels, strict=True)):
        colour = "black" if colours is None else colours[k]
        ax.text(x, y - 0.5, text, ha="center", va="bottom", fontsize=fontsize, color=colour)
