"""Pictures of arrays: first-layer filters, one example's feature maps, labelled samples."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError, ShapeError
from glassnet.viz import _mosaic
from glassnet.viz._figure import new_figure, save_png
from glassnet.viz._labels import as_labels

# Feature maps smaller than this (pixels, longer side) are enlarged by whole-pixel repetition,
# so a 2×2 map after the last pooling is as visible as the 28×28 input map.
MIN_MAP_PIXELS = 24


def _check_positive(where: str, name: str, value: int) -> None:
    if not isinstance(value, int | np.integer) or value < 1:
        raise GlassnetError(f"{where}: {name} must be a positive integer; received {value!r}")


def _grey_to_rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., np.newaxis], 3, axis=-1)


def plot_filters(w: Any, path: str | os.PathLike[str], max_filters: int = 64) -> Path:
    """Draw first-layer conv kernels as a grid of small images, one per output filter.

    With 3 input channels each filter is shown in colour (RGB), min-max scaled on its own, so
    its colour preference is visible whatever its magnitude. Otherwise each filter is shown in
    grey, also min-max scaled: the single channel, or the mean over the C_in channels.

    Args:
        w: conv kernel.
        path: PNG file to write.
        max_filters: draw filters 0 .. max_filters-1 at most.

    Returns:
        The path written.

    Raises:
        ShapeError: if ``w`` is not 4-D or has a zero-sized axis.
        GlassnetError: if ``max_filters`` is not a positive integer.

    Shapes:
        w: [KH, KW, C_in, F]; each tile is one w[:, :, :, f], titled f.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4 or w.size == 0:
        raise ShapeError("plot_filters: w must be a conv kernel [KH, KW, C_in, F]; "
                         f"received shape {list(w.shape)}")
    _check_positive("plot_filters", "max_filters", max_filters)
    kh, kw, c_in, f = w.shape
    count = min(f, max_filters)
    kernels = np.moveaxis(w[:, :, :, :count], 3, 0)  # [count, KH, KW, C_in]
    if c_in == 3:
        tiles = np.stack([_mosaic.unit_range(k) for k in kernels])
    else:
        tiles = np.stack([_grey_to_rgb(_mosaic.unit_range(k.mean(axis=2))) for k in kernels])
    _, cols = _mosaic.grid(count)
    mosaic = _mosaic.tile(tiles, cols, tile_inches=0.55, label_inches=0.16)
    height, width = mosaic.canvas.shape[:2]
    fig = new_figure(max(width * mosaic.unit, 3.2) + 0.2, height * mosaic.unit + 0.5)
    mode = "RGB" if c_in == 3 else ("grey" if c_in == 1 else f"grey: mean of {c_in} channels")
    fig.suptitle(f"w [KH, KW, C_in, F] = [{kh}, {kw}, {c_in}, {f}]\n"
                 f"filters 0–{count - 1}, {mode}", fontsize=9)
    _mosaic.show(fig.add_subplot(), mosaic, [str(i) for i in range(count)])
    return save_png(fig, path)


def plot_feature_maps(
    maps: Sequence[tuple[str, Any]], path: str | os.PathLike[str], max_channels: int = 16
) -> Path:
    """Draw one example's feature maps: one row per layer, one heat map per channel.

    Each channel is coloured on its own scale (viridis, dark = low), so a weak but structured
    channel is as visible as a strong one.

    Args:
        maps: ``(layer name, feature map)`` pairs for a single example, in layer order; a map
            with a leading batch axis of 1 is accepted.
        path: PNG file to write.
        max_channels: draw channels 0 .. max_channels-1 of each layer at most.

    Returns:
        The path written.

    Raises:
        ShapeError: if a map is not [H, W, C] (or [1, H, W, C]) or has a zero-sized axis.
        GlassnetError: if ``maps`` is empty or ``max_channels`` is not a positive integer.

    Shapes:
        each map: [H, W, C] (NHWC without N); each tile is one map[:, :, c], titled c.
    """
    where = "plot_feature_maps"
    _check_positive(where, "max_channels", max_channels)
    layers: list[tuple[str, np.ndarray]] = []
    for name, fmap in maps:
        a = np.asarray(fmap, dtype=np.float64)
        if a.ndim == 4 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 3 or a.size == 0:
            raise ShapeError(f"{where}: layer {name!r} map must be [H, W, C] for one example; "
                             f"received shape {list(np.shape(fmap))}")
        layers.append((str(name), a))
    if not layers:
        raise GlassnetError(f"{where}: maps is empty; expected at least one (name, map) pair")

    fig = new_figure(1.0, 1.0)  # sized below, once the rows are known; imports matplotlib
    from matplotlib import colormaps

    viridis = colormaps["viridis"]
    rows = []
    for _, a in layers:
        h, w, c = a.shape
        shown = np.moveaxis(a[:, :, : min(c, max_channels)], 2, 0)  # [channels, H, W]
        r = math.ceil(MIN_MAP_PIXELS / max(h, w))
        shown = shown.repeat(r, axis=1).repeat(r, axis=2)
        tiles = np.stack([viridis(_mosaic.unit_range(m))[..., :3] for m in shown])
        rows.append(_mosaic.tile(tiles, len(tiles), tile_inches=0.7, label_inches=0.14))
    heights = [m.canvas.shape[0] * m.unit for m in rows]
    widths = [m.canvas.shape[1] * m.unit for m in rows]
    fig.set_size_inches(max(widths) + 1.6, sum(heights) + 0.15 * len(rows) + 0.2)
    axes = fig.subplots(len(rows), 1, squeeze=False, height_ratios=heights)[:, 0]
    for (name, a), mosaic, ax in zip(layers, rows, axes, strict=True):
        h, w, c = a.shape
        count = len(mosaic.tops)
        _mosaic.show(ax, mosaic, [str(j) for j in range(count)])
        ax.set_anchor("W")  # rows of different widths line up on the left, under their labels
        first = f"\nchannels 0–{count - 1}" if count < c else ""
        ax.set_ylabel(f"{name}\n{h}×{w}×{c}{first}", fontsize=8, rotation=0, ha="right",
                      va="center")
    return save_png(fig, path)


def _display_image(img: np.ndarray, integer: bool) -> np.ndarray:
    """Map one HWC image to [0, 1] for display.

    Bytes are divided by 255, floats already in [0, 1] kept, others (standardised) min-max scaled.
    """
    if integer:
        return np.clip(img / 255.0, 0.0, 1.0)
    if img.min() >= 0.0 and img.max() <= 1.0:
        return img
    return _mosaic.unit_range(img)


def plot_samples(
    x: Any,
    y_true: Any,
    y_pred: Any | None,
    path: str | os.PathLike[str],
    n: int = 16,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Draw the first ``n`` images in a grid, each titled with its true and predicted label.

    Wrong predictions are titled in red. Byte images are divided by 255; float images already in
    [0, 1] are shown as they are, others (standardised) are min-max scaled per image.

    Args:
        x: images, 1 (grey) or 3 (RGB) channels.
        y_true: true class indices, or one-hot rows.
        y_pred: predicted indices or score rows; None to show only the true labels.
        path: PNG file to write.
        n: draw images 0 .. n-1 at most.
        class_names: names to show instead of class indices.

    Returns:
        The path written.

    Raises:
        ShapeError: if ``x`` is not [N, H, W, 1|3] or the label arrays do not have N entries.
        GlassnetError: if ``n`` is not a positive integer, a label is invalid or has no name.

    Shapes:
        x: [N, H, W, C] with C in {1, 3}; y_true, y_pred: [N] or [N, K].
    """
    where = "plot_samples"
    _check_positive(where, "n", n)
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[3] not in (1, 3) or 0 in x.shape:
        raise ShapeError(f"{where}: x must be images [N, H, W, C] with C = 1 or 3 and N >= 1; "
                         f"received shape {list(x.shape)}")
    labels = {"y_true": as_labels(y_true, where=where, name="y_true")}
    if y_pred is not None:
        labels["y_pred"] = as_labels(y_pred, where=where, name="y_pred")
    for name, y in labels.items():
        if y.shape[0] != x.shape[0]:
            raise ShapeError(f"{where}: x has {x.shape[0]} images but {name} has {y.shape[0]} "
                             "labels; expected the same N")
        if class_names is not None and y.size and y.max() >= len(class_names):
            raise GlassnetError(f"{where}: {name} has class {y.max()} but class_names has "
                                f"{len(class_names)} names")

    def label(k: int) -> str:
        return str(k) if class_names is None else str(class_names[k])

    count = min(n, x.shape[0])
    integer = bool(np.issubdtype(x.dtype, np.integer))
    images = [_display_image(img.astype(np.float64), integer) for img in x[:count]]
    tiles = np.stack([img if img.shape[2] == 3 else _grey_to_rgb(img[:, :, 0]) for img in images])
    true = labels["y_true"][:count].tolist()
    if "y_pred" in labels:
        pred = labels["y_pred"][:count].tolist()
        titles = [f"true {label(t)}\npred {label(p)}" for t, p in zip(true, pred, strict=True)]
        colours = ["black" if t == p else "red" for t, p in zip(true, pred, strict=True)]
    else:
        titles, colours = [label(t) for t in true], None
    _, cols = _mosaic.grid(count)
    mosaic = _mosaic.tile(tiles, cols, tile_inches=1.1, label_inches=0.36 if colours else 0.2)
    height, width = mosaic.canvas.shape[:2]
    fig = new_figure(width * mosaic.unit + 0.2, height * mosaic.unit + 0.2)
    _mosaic.show(fig.add_subplot(), mosaic, titles, colours, fontsize=8)
    return save_png(fig, path)
