"""The confusion matrix: the counts (pure NumPy) and their picture."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError, ShapeError
from glassnet.viz._figure import new_figure, save_png
from glassnet.viz._labels import as_labels

# Above this many classes the per-cell numbers would overlap; the colours still tell the story.
MAX_ANNOTATED_CLASSES = 30


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Count how often each true class was predicted as each class.

    Args:
        y_true: true class indices, or one-hot rows.
        y_pred: predicted class indices, or score / probability rows (their argmax is taken).
        num_classes: K; by default one more than the largest index in either array.

    Returns:
        ``cm`` with ``cm[i, j]`` = number of examples of true class i predicted as class j, so
        rows sum to the class counts and the trace is the number of correct predictions.

    Raises:
        ShapeError: if the label arrays are not [N] / [N, K] or differ in N.
        GlassnetError: if a label is negative, not whole, or not below ``num_classes``.

    Shapes:
        y_true, y_pred: [N] or [N, K]; returns int64 [K, K].
    """
    where = "confusion_matrix"
    t = as_labels(y_true, where=where, name="y_true")
    p = as_labels(y_pred, where=where, name="y_pred")
    if t.shape != p.shape:
        raise ShapeError(f"{where}: y_true has {t.shape[0]} examples but y_pred has "
                         f"{p.shape[0]}; expected the same N")
    largest = int(max(t.max(initial=-1), p.max(initial=-1)))
    if num_classes is None:
        num_classes = largest + 1
    elif num_classes < 1 or largest >= num_classes:
        raise GlassnetError(f"{where}: num_classes={num_classes} but the labels go up to "
                            f"{largest}; expected num_classes > every label")
    k = num_classes
    # Each (true, pred) pair gets the flat index true·K + pred; one bincount counts them all.
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.int64)


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    path: str | os.PathLike[str],
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
) -> Path:
    """Draw the confusion matrix as a heat map with the count written in each cell.

    Args:
        y_true: true class indices, or one-hot rows.
        y_pred: predicted class indices, or score / probability rows.
        path: PNG file to write.
        class_names: one name per class (K names); by default the indices 0..K-1.
        normalize: colour each row by its fraction of the true class (recall per class), and
            write the fraction under the count.

    Returns:
        The path written.

    Raises:
        ShapeError: as ``confusion_matrix``.
        GlassnetError: as ``confusion_matrix``, if there are no examples, or if a label is not
            below ``len(class_names)``.

    Shapes:
        y_true, y_pred: [N] or [N, K].
    """
    where = "plot_confusion_matrix"
    cm = confusion_matrix(y_true, y_pred)
    if class_names is not None:
        if cm.shape[0] > len(class_names):
            raise GlassnetError(f"{where}: class_names has {len(class_names)} names but the "
                                f"labels go up to {cm.shape[0] - 1}; expected one name per class")
        # Classes named but never seen still get their (empty) row and column.
        grow = len(class_names) - cm.shape[0]
        cm = np.pad(cm, ((0, grow), (0, grow)))
    n = int(cm.sum())
    if n == 0:
        raise GlassnetError(f"{where}: y_true and y_pred are empty; expected N >= 1")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    correct = int(np.trace(cm))

    rows = cm.sum(axis=1, keepdims=True)
    # A class with no true examples has an all-zero row; show it as 0 rather than 0/0.
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    shown = frac if normalize else cm

    side = min(4.0 + 0.45 * k, 12.0)
    fig = new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(1, cm.max()))
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of true class" if normalize else "count")
    tilt = k > 10 or max(map(len, names)) > 6  # long or many names would collide flat
    ax.set_xticks(range(k), names, rotation=45 if tilt else 0, ha="right" if tilt else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix: accuracy {correct / n:.1%} ({correct}/{n})")

    if k <= MAX_ANNOTATED_CLASSES:
        threshold = 0.5 * (1 if normalize else max(1, cm.max()))
        for i in range(k):
            for j in range(k):
                text = f"{cm[i, j]}\n{frac[i, j]:.0%}" if normalize else f"{cm[i, j]}"
                colour = "white" if shown[i, j] > threshold else "black"
                ax.text(j, i, text, ha="center", va="center", color=colour,
                        fontsize=9 if k <= 12 else 7)
    return save_png(fig, path)
