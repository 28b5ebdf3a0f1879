"""Callbacks that watch training: early stopping, checkpoints, CSV/JSON logs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from glassnet.errors import GlassnetError
from glassnet.fileio import atomic_write, write_text
from glassnet.models.graph import Model


class Callback:
    """Hooks called by ``fit``; subclasses override what they need.

    A callback that writes files sets ``root_only = True``: under data-parallel training
    (``docs/distributed.md``) it runs on rank 0 only, and so do its subclasses.
    """

    model: Model | None = None
    root_only: bool = False

    def set_model(self, model: Model) -> None:
        """Attach the model being trained."""
        self.model = model

    @property
    def trained_model(self) -> Model:
        """The model :meth:`set_model` attached.

        Raises:
            GlassnetError: before ``fit`` attached one.
        """
        if self.model is None:
            raise GlassnetError(f"{type(self).__name__}: no model yet; fit() attaches it")
        return self.model

    def on_train_begin(self) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch with its metrics (``loss``, ``accuracy``, ``val_*``)."""

    def on_train_end(self) -> None:
        """Called once after the last epoch."""


def _monitor_value(logs: dict[str, float], monitor: str, who: str) -> float:
    if monitor not in logs:
        raise GlassnetError(f"{who}: monitor={monitor!r} is not among the logs {sorted(logs)}")
    return logs[monitor]


def _improved(value: float, best: float, mode: str, min_delta: float) -> bool:
    if mode == "max":
        return value > best + min_delta
    return value < best - min_delta


def _mode(monitor: str, mode: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise GlassnetError(f"{who}: mode={mode!r} must be 'auto', 'min' or 'max'")
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    return mode


def _state_arrays(model: Model) -> list[Any]:
    """Every array that defines the model's function: parameters and buffers (BN statistics)."""
    arrays = [p.data for p in model.parameters()]
    for layer in model.layers:
        arrays.extend(getattr(layer, "buffers", {}).values())
    return arrays


class EarlyStopping(Callback):
    """Stop once ``monitor`` fails to improve by ``min_delta`` for ``patience`` epochs in a row.

    Args:
        monitor: a log key, e.g. "val_loss" or "val_accuracy".
        patience: epochs without improvement before stopping.
        min_delta: the smallest change that counts as an improvement.
        mode: "min", "max" or "auto" (max for accuracies).
        restore_best_weights: copy back the best epoch's weights (and batch-norm statistics)
            when stopping.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode = _mode(monitor, mode, "EarlyStopping")
        self.restore_best_weights = restore_best_weights
        self.stopped_epoch = 0

    def on_train_begin(self) -> None:
        """Reset the best value and the wait counter."""
        self.best = -math.inf if self.mode == "max" else math.inf
        self.wait = 0
        self.best_weights: list[Any] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Track the best value; set ``model.stop_training`` when patience runs out."""
        value = _monitor_value(logs, self.monitor, "EarlyStopping")
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = [a.copy() for a in _state_arrays(self.trained_model)]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trained_model.stop_training = True
            if self.best_weights is not None:
                for a, w in zip(_state_arrays(self.trained_model), self.best_weights, strict=True):
                    a[...] = w


class ModelCheckpoint(Callback):
    """Save the model (atomically) after each epoch, or only when ``monitor`` improves.

    ``path`` may contain ``{epoch}`` and any log key, e.g. ``"ckpt-{epoch:02d}.npz"``.
    """

    root_only = True

    def __init__(
        self,
        path: str | Path,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
        optimizer: Any = None,
    ) -> None:
        self.path, self.monitor, self.save_best_only = str(path), monitor, save_best_only
        self.mode = _mode(monitor, mode, "ModelCheckpoint")
        self.optimizer = optimizer
        self.best = -math.inf if self.mode == "max" else math.inf
        self.saved: list[Path] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Save when due."""
        from glassnet.training.checkpoint import save_checkpoint

        if self.save_best_only:
            value = _monitor_value(logs, self.monitor, "ModelCheckpoint")
            if not _improved(value, self.best, self.mode, 0.0):
                return
            self.best = value
        path = Path(self.path.format(epoch=epoch, **logs))
        save_checkpoint(self.trained_model, path, optimizer=self.optimizer, extra={"epoch": epoch})
        self.saved.append(path)


class CSVLogger(Callback):
    """Write one CSV row of metrics per epoch (header from the first epoch's keys)."""

    root_only = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Rewrite the whole file atomically with the new row."""
        self.rows.append({"epoch": epoch, **logs})
        with atomic_write(self.path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)


class JSONLogger(Callback):
    """Write the metrics of every epoch so far as a JSON list (atomically)."""

    root_only = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Rewrite the file with the new epoch appended."""
        self.rows.append({"epoch": epoch, **logs})
        write_text(self.path, json.dumps(self.rows, indent=1))
