"""Pictures of arrays: first-layer filters, one example's feature maps, labelled samples."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError, ShapeError
from glassnet.viz._figure import new_figure, save_png
from glassnet.viz._labels import as_labels


def _unit_range(a: np.ndarray) -> np.ndarray:
    """Min-max scale ``a`` to [0, 1]; a constant array becomes mid-grey (0.5)."""
    lo, hi = float(np.min(a)), float(np.max(a))
    if hi - lo <= 0 or not math.isfinite(hi - lo):
        return np.full(a.shape, 0.5)
    return (a - lo) / (hi - lo)


def _grid(count: int) -> tuple[int, int]:
    """Rows and columns of the most square grid that holds ``count`` cells."""
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def _check_positive(where: str, name: str, value: int) -> None:
    if not isinstance(value, int | np.integer) or value < 1:
        raise GlassnetError(f"{where}: {name} must be a positive integer; received {value!r}")


def plot_filters(w: Any, path: str | os.PathLike[str], max_filters: int = 64) -> Path:
    """Draw first-layer conv kernels as a grid of small images, one per output filter.

    With 3 input channels each filter is shown in colour (RGB), min-max scaled on its own, so
    its colour preference is visible whatever its magnitude. Otherwise each filter is shown in
    grey: the single channel, or the mean over the C_in channels.

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
        w: [KH, KW, C_in, F].
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4 or w.size == 0:
        raise ShapeError("plot_filters: w must be a conv kernel [KH, KW, C_in, F]; "
                         f"received shape {list(w.shape)}")
    _check_positive("plot_filters", "max_filters", max_filters)
    kh, kw, c_in, f = w.shape
    count = min(f, max_filters)
    rows, cols = _grid(count)
    cell = 0.9 if max(kh, kw) < 8 else 1.2
    fig = new_figure(cols * cell, rows * cell + 0.6)
    mode = "RGB" if c_in == 3 else ("grey" if c_in == 1 else f"grey, mean of {c_in} channels")
    fig.suptitle(f"w [KH, KW, C_in, F] = [{kh}, {kw}, {c_in}, {f}]: filters 0-{count - 1} "
                 f"({mode})", fontsize=9)
    for i, ax in enumerate(fig.subplots(rows, cols, squeeze=False).ravel()):
        ax.set_axis_off()
        if i >= count:
            continue
        kernel = w[:, :, :, i]
        if c_in == 3:
            ax.imshow(_unit_range(kernel), interpolation="nearest")
        else:
            ax.imshow(_unit_range(kernel.mean(axis=2)), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
        ax.set_title(str(i), fontsize=7, pad=2)
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
        each map: [H, W, C] (NHWC without N).
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

    cols = min(max_channels, max(a.shape[2] for _, a in layers))
    fig = new_figure(1.0 * cols + 1.4, 1.15 * len(layers) + 0.3)
    grid = fig.subplots(len(layers), cols, squeeze=False)
    for (name, a), row in zip(layers, grid, strict=True):
        h, w, c = a.shape
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= c or j >= max_channels:
                ax.set_axis_off()
                continue
            ax.imshow(a[:, :, j], cmap="viridis", interpolation="nearest")
            ax.set_title(f"c{j}", fontsize=7, pad=2)
        shown = f", first {cols}" if c > cols else ""
        row[0].set_ylabel(f"{name}\n{h}×{w}×{c}{shown}", fontsize=8, rotation=0, ha="right",
                          va="center")
    return save_png(fig, path)


def _display_image(img: np.ndarray, integer: bool) -> np.ndarray:
    """Map one HWC image to [0, 1] for imshow.

    Bytes are divided by 255, floats already in [0, 1] kept, others (standardised) min-max scaled.
    """
    if integer:
        return np.clip(img / 255.0, 0.0, 1.0)
    if img.min() >= 0.0 and img.max() <= 1.0:
        return img
    return _unit_range(img)


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
    if x.ndim != 4 or x.shape[3] not in (1, 3) or x.shape[0] == 0:
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
    rows, cols = _grid(count)
    fig = new_figure(cols * 1.5, rows * 1.6)
    integer = np.issubdtype(x.dtype, np.integer)
    for i, ax in enumerate(fig.subplots(rows, cols, squeeze=False).ravel()):
        ax.set_axis_off()
        if i >= count:
            continue
        img = _display_image(x[i].astype(np.float64), integer)
        if x.shape[3] == 1:
            ax.imshow(img[:, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(img, interpolation="nearest")
        t = int(labels["y_true"][i])
        if "y_pred" in labels:
            p = int(labels["y_pred"][i])
            ax.set_title(f"true {label(t)}\npred {label(p)}", fontsize=8,
                         color="black" if p == t else "red")
        else:
            ax.set_title(label(t), fontsize=8)
    return save_png(fig, path)
