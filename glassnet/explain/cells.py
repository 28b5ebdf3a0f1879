"""One output cell recomputed from the page's own numbers, by the formula the page shows.

This is the Python twin of the page's JavaScript (``assets/page.js``): the tests check it
against the model's forward pass, and the browser tests check the page against it.

Convolution (cross-correlation), for output cell (i, j) of filter f in group g = f // (F/G):
    O[i, j, f] = act(Σ_{u,v,c} X[i·S_h + u·D_h − P_top, j·S_w + v·D_w − P_left, g·C_g + c]
                          · K[u, v, c, f] + b[f])
with X = 0 outside the input (the padding). Pooling takes the max (padding never wins) or the
mean over the window's counted positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from glassnet.explain.numbers import unpack


@dataclass(frozen=True)
class ConvCell:
    """The numbers of one convolution output cell.

    Attributes:
        window: the input values under the kernel, 0 where padded.
        padded: True where the kernel position falls in the padding.
        kernel: the kernel slice K[:, :, :, f].
        products: window · kernel elementwise.
        total: the sum of the products.
        bias: b[f] (0 without bias).
        z: total + bias (pre-activation).
        rows, cols: the input row/column of each kernel row/column (may be outside the input).
        channels: the input channels the filter sees (its group).

    Shapes:
        window, padded, kernel, products: (KH, KW, C_in/groups).
    """

    window: np.ndarray
    padded: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    total: float
    bias: float
    z: float
    rows: list[int]
    cols: list[int]
    channels: list[int]


def _layer(data: dict[str, Any], key: str) -> dict[str, Any]:
    for entry in data["layers"]:
        if entry["key"] == key:
            return entry
    raise KeyError(f"no layer {key!r} in the page data")


def _input_map(data: dict[str, Any], entry: dict[str, Any]) -> np.ndarray:
    return unpack(_layer(data, entry["inputs"][0])["map"])


def layer_weights(data: dict[str, Any], entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """The exact weights of ``entry``'s layer (embedded once, on the layer's first call)."""
    for other in data["layers"]:
        if other["name"] == entry["name"] and "weights" in other:
            return {k: unpack(w) for k, w in other["weights"].items()}
    return {}


def conv_cell(data: dict[str, Any], key: str, i: int, j: int, f: int) -> ConvCell:
    """Recompute conv output cell (i, j, f) of layer ``key`` from the embedded values."""
    entry = _layer(data, key)
    info = entry["info"]
    x = _input_map(data, entry)
    weights = layer_weights(data, entry)
    k = weights["kernel"]
    kh, kw, cg, filters = k.shape
    group = f // (filters // info["groups"])
    channels = list(range(group * cg, (group + 1) * cg))
    (sh, sw), (dh, dw) = info["strides"], info["dilation"]
    top, left = info["pads"][0][0], info["pads"][1][0]
    rows = [i * sh + u * dh - top for u in range(kh)]
    cols = [j * sw + v * dw - left for v in range(kw)]
    window = np.zeros((kh, kw, cg))
    padded = np.ones((kh, kw, cg), dtype=bool)
    for u, r in enumerate(rows):
        for v, c in enumerate(cols):
            if 0 <= r < x.shape[0] and 0 <= c < x.shape[1]:
                window[u, v] = x[r, c, channels]
                padded[u, v] = False
    kernel = k[:, :, :, f]
    products = window * kernel
    total = float(products.sum())
    bias = float(weights["bias"][f]) if "bias" in weights else 0.0
    return ConvCell(window, padded, kernel, products, total, bias, total + bias, rows, cols,
                    channels)


def activate(name: str, z: float, slope: float = 0.2, cap: float | None = None) -> float:
    """Apply an elementwise activation by name to one number."""
    if name == "relu":
        return max(z, 0.0)
    if name in ("relu6", "relu_cap"):
        return min(max(z, 0.0), 6.0 if cap is None else float(cap))
    if name == "leaky_relu":
        return z if z > 0 else slope * z
    if name == "sigmoid":
        return float(1.0 / (1.0 + np.exp(-z)))
    if name == "tanh":
        return float(np.tanh(z))
    return z


@dataclass(frozen=True)
class PoolCell:
    """The numbers of one pooling output cell.

    Attributes:
        window: the input values under the window (NaN where outside the input).
        rows, cols: the input row/column of each window row/column.
        value: the max, or the mean over the counted positions.
        winner: (row, col) in the input of the max (first in row-major order), None for avg.
        count: the divisor of an average (window positions counted).
    """

    window: np.ndarray
    rows: list[int]
    cols: list[int]
    value: float
    winner: tuple[int, int] | None
    count: int


def pool_cell(data: dict[str, Any], key: str, i: int, j: int, c: int) -> PoolCell:
    """Recompute pooling output cell (i, j, c) of layer ``key`` from the embedded values."""
    entry = _layer(data, key)
    info = entry["info"]
    x = _input_map(data, entry)
    h, w = x.shape[:2]
    (kh, kw), (sh, sw) = info["pool_size"], info["strides"]
    (top, bottom), (left, right) = info["pads"]
    rows = [i * sh + u - top for u in range(kh)]
    cols = [j * sw + v - left for v in range(kw)]
    window = np.full((kh, kw), np.nan)
    for u, r in enumerate(rows):
        for v, col in enumerate(cols):
            if 0 <= r < h and 0 <= col < w:
                window[u, v] = x[r, col, c]
    if info["op"] == "max":
        u, v = np.unravel_index(int(np.nanargmax(window)), window.shape)
        return PoolCell(window, rows, cols, float(window[u, v]), (rows[u], cols[v]), 0)
    if info["count_include_pad"]:
        count = sum(-top <= r < h + bottom for r in rows) * sum(
            -left <= col < w + right for col in cols)
    else:
        count = int(np.isfinite(window).sum())
    return PoolCell(window, rows, cols, float(np.nansum(window)) / count, None, count)
