"""The training loop: mini-batch gradient descent behind Keras-shaped fit/evaluate/predict.

One step: forward in training mode, the mean loss over the batch, one ``backward``, one optimizer
step. With a softmax output and a cross-entropy loss the softmax and the loss are fused: the loss
is taken from the logits with log-sum-exp and the gradient entering the network is (p − y)/N
(stable for any logits, and no softmax Jacobian to apply).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glassnet import autodiff as A
from glassnet.data.transforms import batches
from glassnet.errors import GlassnetError
from glassnet.layers.batchrows import batch_rows, skip_batch
from glassnet.models.graph import Model
from glassnet.tensor import Tensor, no_grad
from glassnet.training import durable, guards, strategy
from glassnet.training.callbacks import Callback
from glassnet.training.guards import LossGuard
from glassnet.training.guards import TrainingDiverged as TrainingDiverged  # re-exported
from glassnet.training.progress import EpochProgress
from glassnet.training.strategy import SingleProcess, Strategy, StrategyFactory

CROSS_ENTROPIES = ("categorical_crossentropy", "sparse_categorical_crossentropy")


@dataclass
class History:
    """Per-epoch metrics, as Keras' ``History``: ``history["loss"][e]`` for epoch e + 1."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int = 0
    seconds: float = 0.0

    def append(self, logs: dict[str, float]) -> None:
        """Record one epoch's logs."""
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))
        self.epochs += 1


def batch_loss(model: Model, out: Tensor, y: Any, loss: str, from_logits: bool) -> Tensor:
    """The mean loss of one batch, fused with the softmax head when possible.

    Shapes:
        out: (N, K) model output; y: (N,) labels or (N, K) targets -> scalar
    """
    logits = A.softmax_input(out) if loss in CROSS_ENTROPIES and model.ends_in_softmax else None
    if logits is not None:
        return A.softmax_cross_entropy(logits, y)
    return A.loss(loss, out, y, from_logits=from_logits)


def _correct(out: Any, y: Any) -> int:
    """Number of rows whose arg-max matches the label (or the one-hot target's arg-max)."""
    pred = out.argmax(axis=-1)
    target = y if y.ndim == 1 else y.argmax(axis=-1)
    return int((pred == target).sum())


@dataclass
class TrainConfig:
    """What ``compile`` fixed: the optimizer, the loss and whether accuracy is reported."""

    optimizer: Any
    loss: str
    accuracy: bool = True
    from_logits: bool = False


def train_epoch(
    model: Model,
    cfg: TrainConfig,
    data: Any,
    epoch: int,
    progress: EpochProgress | None,
    dp: Strategy | None = None,
    guard: LossGuard | None = None,
) -> dict[str, float]:
    """Run one epoch of mini-batch steps; return mean loss (and accuracy) over its samples.

    ``dp`` spreads the steps over processes (default: :class:`SingleProcess`, which does
    nothing). Data-parallel over MPI, each rank steps on its shard of every batch, the
    gradients are averaged across ranks before the (identical) optimizer step, and the metrics
    are summed over the ranks. ``guard`` watches the running loss for divergence (on each
    rank its own shard's losses).

    Raises:
        TrainingDiverged: naming the epoch and batch where the loss stopped being finite or
            diverged (see :mod:`glassnet.training.guards`).
    """
    dp = dp if dp is not None else SingleProcess(evaluate)
    params = model.parameters()
    total, seen, correct = 0.0, 0, 0
    for b, (xb, yb) in enumerate(data, start=1):
        for p in params:
            p.grad = None
        n_global = len(xb)
        guards.check_inputs(xb, epoch, b)
        start, stop = dp.rows(n_global)
        xb, yb = dp.shard(xb, yb)
        if len(xb) == 0:  # a last batch smaller than the world: nothing to compute here
            skip_batch(model.layers, n_global)  # but the random streams move on as elsewhere
            dp.allreduce_grads(params, 0, n_global)
            cfg.optimizer.step()
            continue
        with batch_rows(start, stop, n_global):  # dropout masks: the global batch's rows
            out = model.forward(xb, training=True)
        loss = batch_loss(model, out, yb, cfg.loss, cfg.from_logits)
        value = loss.item()
        guards.check_finite(value, epoch, b, cfg.optimizer)
        if guard is not None:
            n = len(xb)
            guard.observe(value, (total + value * n) / (seen + n), epoch, b)
        loss.backward()
        dp.allreduce_grads(params, len(xb), n_global)
        cfg.optimizer.step()
        n = len(xb)
        total += value * n
        seen += n
        if cfg.accuracy:
            correct += _correct(out.data, yb)
        if progress is not None:
            progress.advance(n_global, total / seen, correct / seen if cfg.accuracy else None)
    total, seen, correct = dp.reduce_metrics(total, seen, correct)  # type: ignore[assignment]
    logs = {"loss": total / max(seen, 1)}
    if cfg.accuracy:
        logs["accuracy"] = correct / max(seen, 1)
    return logs


def evaluate(
    model: Model, x: Any, y: Any, cfg: TrainConfig, batch_size: int = 256
) -> dict[str, float]:
    """Mean loss (and accuracy) over (x, y) in inference mode, batch by batch."""
    total, correct, n = 0.0, 0, len(x)
    with no_grad():
        for xb, yb in batches(x, y, batch_size):
            out = model.forward(xb, training=False)
            total += A.loss(cfg.loss, out, yb, from_logits=cfg.from_logits).item() * len(xb)
            if cfg.accuracy:
                correct += _correct(out.data, yb)
    logs = {"loss": total / max(n, 1)}
    if cfg.accuracy:
        logs["accuracy"] = correct / max(n, 1)
    return logs


def predict(model: Model, x: Any, batch_size: int = 256) -> np.ndarray:
    """Model outputs for every row of x (inference mode), concatenated.

    Shapes:
        x: (N, *input_shape) -> (N, *output_shape)
    """
    outs = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(model.forward(x[i : i + batch_size], training=False).data)
    return np.concatenate(outs) if outs else np.zeros((0, *model.output_shape))


def _split_validation(
    x: Any, y: Any, validation_split: float, seed: int
) -> tuple[Any, Any, tuple[Any, Any]]:
    if not 0 < validation_split < 1:
        raise GlassnetError(f"fit: validation_split={validation_split} must be in (0, 1)")
    # Keras takes the last fraction (before shuffling): deterministic and seed-independent.
    cut = len(x) - int(round(len(x) * validation_split))
    return x[:cut], y[:cut], (x[cut:], y[cut:])


def fit(
    model: Model,
    cfg: TrainConfig,
    x: Any,
    y: Any,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float = 0.0,
    shuffle: bool = True,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    verbose: int = 1,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    initial_epoch: int = 0,
    rng: np.random.Generator | None = None,
    distributed: bool | None = None,
    parallel: StrategyFactory | None = None,
    on_divergence: str = "stop",
    divergence_factor: float = guards.DIVERGENCE_FACTOR,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> History:
    """Train ``model`` on (x, y); see :meth:`glassnet.models.Model.fit`.

    ``parallel`` builds the strategy of a distributed call (``distributed=True``, or None
    under a multi-rank launcher; see :func:`glassnet.training.strategy.choose`); the engine
    that ``glassnet/__init__.py`` installs passes :func:`glassnet.dist.data_parallel`.

    The other arguments beyond :meth:`~glassnet.models.Model.fit`'s: ``on_divergence``
    "stop" (default) raises :class:`TrainingDiverged` when the running mean loss exceeds
    ``divergence_factor`` (default 10) × the loss of the first batches; "continue" warns once
    and trains on (see :mod:`glassnet.training.guards`). ``checkpoint_dir`` gets
    ``last.npz`` after every finished epoch: weights, buffers, optimizer state, every random
    stream, history (see :mod:`glassnet.training.durable`); during the call SIGTERM raises
    ``KeyboardInterrupt`` as SIGINT does, and the last finished epoch stays on disk.
    ``resume=True`` continues from that folder's checkpoint when there is one: ``epochs``
    counts the whole run, so the call trains the epochs not yet done and returns the whole
    history, and the weights end bit-identical to an uninterrupted call with the same
    arguments.

    Raises:
        GlassnetError: bad epochs/batch size/validation/divergence arguments, mismatched x
            and y, no training samples or an empty validation set, or a checkpoint to resume
            that does not fit.
        TrainingDiverged: when the loss stops being finite or diverges.
    """
    if len(x) != len(y):
        raise GlassnetError(f"fit: x has {len(x)} samples but y has {len(y)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise GlassnetError(f"fit: epochs={epochs!r} must be a positive int")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise GlassnetError(f"fit: batch_size={batch_size!r} must be a positive int")
    guards.check_options(on_divergence, divergence_factor)
    if resume and checkpoint_dir is None:
        raise GlassnetError("fit: resume=True needs checkpoint_dir (the folder to resume from)")
    if validation_split and validation_data is None:
        x, y, validation_data = _split_validation(x, y, validation_split, seed)
    guards.check_samples(len(x), None if validation_data is None else len(validation_data[0]))
    dtype = model.build().dtype
    x = np.asarray(x, dtype=dtype)
    rng = rng if rng is not None else np.random.default_rng(seed)
    guard = LossGuard(float(divergence_factor), on_divergence)
    history = History()
    restored = durable.restore(checkpoint_dir, model, cfg, rng) if resume else None
    if restored is not None:
        for i in range(restored.epochs_done):
            history.append({k: v[i] for k, v in restored.history.items()})
        guard.load(restored.guard)
    dp = strategy.choose(distributed, parallel, model, batch_size=batch_size, samples=len(x),
                         rng=rng)
    if dp is not None:  # only rank 0 prints and writes files
        verbose, callbacks = (verbose if dp.is_root else 0), dp.callbacks(callbacks)
    else:
        dp = SingleProcess(evaluate)
    data = batches(x, y, batch_size, shuffle=shuffle, rng=rng)
    model.stop_training = False
    start = time.perf_counter()
    for cb in callbacks:
        cb.set_model(model)
        cb.on_train_begin()
    last = initial_epoch + epochs
    with durable.sigterm_as_interrupt():
        for epoch in range(initial_epoch + history.epochs + 1, last + 1):
            with EpochProgress(epoch, last, len(x), len(data), verbose) as bar:
                logs = train_epoch(model, cfg, data, epoch, bar, dp, guard)
                if validation_data is not None:
                    val = dp.evaluate(model, validation_data[0], validation_data[1], cfg)
                    logs.update({f"val_{k}": v for k, v in val.items()})
                bar.finish(logs)
            history.append(logs)
            if checkpoint_dir is not None and dp.is_root:
                durable.save_epoch(checkpoint_dir, model, cfg.optimizer, rng, history.epochs,
                                   history.history, guard.state())
            if on_epoch is not None:
                on_epoch(epoch, logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    for cb in callbacks:
        cb.on_train_end()
    history.seconds = time.perf_counter() - start
    return history
