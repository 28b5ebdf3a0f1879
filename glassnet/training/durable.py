"""Durable runs: a checkpoint at the end of every epoch, resume after an interrupt.

``fit(..., checkpoint_dir=DIR)`` writes ``DIR/last.npz`` after each finished epoch with
:func:`glassnet.training.checkpoint.save_checkpoint` (temp file in the same folder, then a
rename: an interrupt during the write leaves the previous epoch's file whole). It holds
everything the next epoch depends on:

* the weights and buffers (BatchNorm moving statistics);
* the optimizer state (momentum buffers, Adam moments, step counts) and hyper-parameters;
* every random stream of the run: each layer's own generator (Dropout masks) and the fit
  generator that draws the batch order;
* the epochs finished, the history and the divergence guard's reference loss.

``fit(..., checkpoint_dir=DIR, resume=True)`` restores all of it and trains the remaining
epochs; with the same data and arguments the weights end bit-identical to an uninterrupted run.
Callbacks' own state (EarlyStopping's patience counter, ...) is not saved.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError
from glassnet.models.api import TrainConfig
from glassnet.models.graph import Model
from glassnet.training.checkpoint import load_checkpoint, save_checkpoint

CHECKPOINT_NAME = "last.npz"
# Test hook (not a mock: the real signal path runs): after this many epoch checkpoints written
# by this process, it sends itself SIGINT, exactly as a Ctrl-C at that moment would.
INTERRUPT_AFTER = "GLASSNET_INTERRUPT_AFTER_EPOCHS"
_written = [0]  # epoch checkpoints written by this process (for the hook)


@dataclass
class Restored:
    """What :func:`restore` read back: epochs finished, history and guard state."""

    epochs_done: int
    history: dict[str, list[float]]
    guard: dict[str, Any]


def checkpoint_path(folder: str | Path) -> Path:
    """The file holding a run's last finished epoch."""
    return Path(folder) / CHECKPOINT_NAME


def save_epoch(
    folder: str | Path,
    model: Model,
    optimizer: Any,
    rng: np.random.Generator,
    epochs_done: int,
    history: dict[str, list[float]],
    guard: dict[str, Any],
) -> Path:
    """Write the checkpoint of a finished epoch atomically (see the module docstring).

    Args:
        folder: the run's checkpoint folder (created if missing).
        model: the model (weights, buffers, layer generators).
        optimizer: its optimizer (state saved).
        rng: the fit generator (batch order).
        epochs_done: epochs of this ``fit`` finished so far.
        history: the per-epoch logs so far.
        guard: the divergence guard's state.

    Returns:
        The path written.
    """
    path = checkpoint_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {"durable": {"epochs_done": epochs_done, "history": history, "guard": guard}}
    save_checkpoint(model, path, optimizer=optimizer, extra=extra, fit_rng=rng)
    _written[0] += 1
    hook = os.environ.get(INTERRUPT_AFTER, "").strip()
    if hook.isdigit() and _written[0] == int(hook):
        os.kill(os.getpid(), signal.SIGINT)
    return path


def restore(
    folder: str | Path, model: Model, cfg: TrainConfig, rng: np.random.Generator
) -> Restored | None:
    """Load the last finished epoch into ``model``, ``cfg.optimizer`` and ``rng``.

    Returns:
        What was restored, or None when the folder holds no checkpoint yet (a fresh start).

    Raises:
        GlassnetError: a checkpoint that does not fit the model, that no ``fit`` wrote, or
            whose optimizer is another class than ``cfg.optimizer``.
    """
    path = checkpoint_path(folder)
    if not path.exists():
        return None
    ck = load_checkpoint(path, model=model)
    model.train_config = cfg  # load_checkpoint compiles with the file's optimizer: keep ours
    state = ck.extra.get("durable")
    if not isinstance(state, dict) or ck.fit_rng_state is None or ck.optimizer is None:
        raise GlassnetError(f"resume: {path} was not written by fit(checkpoint_dir=...)")
    mine, saved = type(cfg.optimizer).__name__, type(ck.optimizer).__name__
    if mine != saved:
        raise GlassnetError(f"resume: {path} holds a {saved} optimizer but fit uses {mine}")
    cfg.optimizer.load_state_dict(ck.optimizer.state_dict())
    rng.bit_generator.state = ck.fit_rng_state
    return Restored(int(state["epochs_done"]), dict(state["history"]), dict(state["guard"]))


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM raise :class:`KeyboardInterrupt` (as SIGINT does) inside the block.

    The previous handler comes back when the block ends. Only the main thread can install
    handlers; elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
