"""Training curves: loss and accuracy per epoch, train against validation."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from glassnet.errors import GlassnetError, ShapeError
from glassnet.viz._figure import new_figure, save_png

# (panel title, train key, validation key, best = min or max)
PANELS = (
    ("loss", "loss", "val_loss", np.nanargmin),
    ("accuracy", "accuracy", "val_accuracy", np.nanargmax),
)


def plot_history(history: Mapping[str, Sequence[float]], path: str | os.PathLike[str]) -> Path:
    """Draw loss and accuracy per epoch, training against validation, in two panels.

    Missing keys are skipped: a history with only ``loss`` gives one panel with one curve. The
    best validation epoch (lowest ``val_loss``, highest ``val_accuracy``) is marked. Other keys
    (``lr``, timings) are ignored.

    Args:
        history: ``{"loss": [...], "val_loss": [...], "accuracy": [...], "val_accuracy": [...]}``,
            one value per epoch, as returned by ``Model.fit``.
        path: PNG file to write.

    Returns:
        The path written.

    Raises:
        GlassnetError: if none of the four keys holds any value, or a value is not a number.
        ShapeError: if a series is not a flat list of numbers.

    Shapes:
        each series: [epochs]; epochs are numbered from 1 on the x axis.
    """
    series: dict[str, np.ndarray] = {}
    for _, train_key, val_key, _ in PANELS:
        for key in (train_key, val_key):
            if key not in history:
                continue
            try:
                values = np.asarray(history[key], dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise GlassnetError(f"plot_history: history[{key!r}] must hold numbers; "
                                    f"received {history[key]!r:.60}") from exc
            if values.ndim != 1:
                raise ShapeError(f"plot_history: history[{key!r}] must be one number per epoch; "
                                 f"received shape {list(values.shape)}")
            if values.size:
                series[key] = values
    panels = [p for p in PANELS if p[1] in series or p[2] in series]
    if not panels:
        raise GlassnetError("plot_history: history has no values for loss, val_loss, accuracy "
                            f"or val_accuracy; received keys {sorted(history)}")

    fig = new_figure(5.0 * len(panels), 3.8)
    for ax, (title, train_key, val_key, best) in zip(
        fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
    ):
        for key, style in ((train_key, "-o"), (val_key, "--s")):
            if key in series:
                epochs = np.arange(1, series[key].size + 1)
                ax.plot(epochs, series[key], style, markersize=3, label=key.replace("_", " "))
        if val_key in series and not np.all(np.isnan(series[val_key])):
            i = int(best(series[val_key]))
            ax.plot(i + 1, series[val_key][i], "*", color="black", markersize=11,
                    label=f"best val: epoch {i + 1}")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(title)
        # Epochs are whole numbers: no 2.5 ticks on short runs.
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    return save_png(fig, path)
