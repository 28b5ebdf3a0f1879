"""Guards on a training run: a loss that stops being finite, a loss that diverges, empty data.

Divergence is judged against the run's own start: the reference is the loss of its first batch
(computed with the initial weights, before any step could move them), and the run has
*diverged* when the running mean loss of the current epoch exceeds ``factor`` × that
reference. The default factor, 10, is far outside what
a healthy run does: its loss falls from the start (cross-entropy over K classes starts near
ln K, 2.3 for 10 classes) and batch-to-batch noise in a running mean stays within a small
multiple of it, while 10 × 2.3 = 23 nats means the network gives the right class a probability
of about e⁻²³, i.e. it is confidently wrong everywhere — what a far too large learning rate
does (lr 1e6 took the loss to 1e22 in issue 16). Later batches cannot serve as the reference:
with such a learning rate the second batch already sees wrecked weights.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from glassnet.errors import GlassnetError

DIVERGENCE_FACTOR = 10.0
ON_DIVERGENCE = ("stop", "continue")


class TrainingDiverged(GlassnetError):
    """The loss became NaN or infinite, or grew past the divergence bound."""


def check_samples(n_train: int, n_val: int | None) -> None:
    """Refuse a run with no training samples or an empty validation set.

    Args:
        n_train: training samples (after any validation split).
        n_val: validation samples, or None when there is no validation.

    Raises:
        GlassnetError: naming the empty set.
    """
    if n_train == 0:
        raise GlassnetError("fit: the training data has 0 samples; expected at least 1")
    if n_val == 0:
        raise GlassnetError(
            "fit: the validation data has 0 samples; expected at least 1 (raise "
            "validation_split or pass more data)"
        )


def check_options(on_divergence: str, factor: float) -> None:
    """Validate ``fit``'s divergence arguments.

    Raises:
        GlassnetError: an unknown ``on_divergence`` or a factor that is not > 1.
    """
    if on_divergence not in ON_DIVERGENCE:
        raise GlassnetError(
            f"fit: on_divergence={on_divergence!r} is invalid; expected one of {ON_DIVERGENCE}"
        )
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor > 1:
        raise GlassnetError(f"fit: divergence_factor={factor!r} is invalid; expected a number > 1")


def check_inputs(xb: Any, epoch: int, batch: int) -> None:
    """Stop on a batch whose inputs hold NaN or infinite values.

    NOTE: checked on the input, not only on the loss: a ReLU maps NaN to 0 (NaN > 0 is
    False), so a NaN pixel can train silently on a wrong value.

    Raises:
        TrainingDiverged: naming the epoch, the batch and the first bad row of the batch.
    """
    if np.issubdtype(np.asarray(xb).dtype, np.floating) and not np.isfinite(xb).all():
        bad = np.flatnonzero(~np.isfinite(np.asarray(xb).reshape(len(xb), -1)).all(axis=1))
        raise TrainingDiverged(
            f"fit: the inputs of epoch {epoch}, batch {batch} hold NaN or infinite values "
            f"(row {int(bad[0])} of the batch, {len(bad)} rows in all); clean the data"
        )


def check_finite(value: float, epoch: int, batch: int, optimizer: Any) -> None:
    """Stop on a NaN or infinite batch loss.

    Raises:
        TrainingDiverged: naming the epoch, the batch and the learning rate.
    """
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"fit: loss is {value} at epoch {epoch}, batch {batch}; lower the learning rate "
            f"(optimizer lr={getattr(optimizer, 'lr', '?')}) or check the data for NaN/inf"
        )


@dataclass
class LossGuard:
    """Watches the running loss of a run for divergence (see the module docstring).

    Args:
        factor: the bound, as a multiple of the reference loss.
        on_divergence: "stop" raises :class:`TrainingDiverged`; "continue" warns once.
        reference: the loss of the run's first batch (None until it is seen).
        warned: whether the "continue" warning was given.
    """

    factor: float = DIVERGENCE_FACTOR
    on_divergence: str = "stop"
    reference: float | None = None
    warned: bool = False

    def observe(self, value: float, running: float, epoch: int, batch: int) -> None:
        """Record one batch loss; check the epoch's running mean against the bound.

        Args:
            value: this batch's mean loss.
            running: the mean loss of the epoch so far (this batch included).
            epoch: the epoch (1-based), for the message.
            batch: the batch (1-based), for the message.

        Raises:
            TrainingDiverged: on divergence with ``on_divergence="stop"``.
        """
        if self.reference is None:
            self.reference = value
            return
        bound = self.factor * self.reference
        if self.reference <= 0 or running <= bound:
            return
        message = (
            f"fit: training diverged at epoch {epoch}, batch {batch}: the running mean loss "
            f"{running:.4g} exceeds {self.factor:g} x the starting loss {self.reference:.4g}"
        )
        if self.on_divergence == "stop":
            raise TrainingDiverged(
                f"{message}; lower the learning rate, or pass on_divergence='continue' "
                "(glassnet train --on-divergence continue)"
            )
        if not self.warned:
            self.warned = True
            warnings.warn(f"{message}; continuing (on_divergence='continue')", stacklevel=3)

    def state(self) -> dict[str, Any]:
        """A JSON-able copy of the guard's state (saved with each epoch's checkpoint)."""
        return asdict(self)

    def load(self, state: dict[str, Any]) -> None:
        """Restore the reference loss saved by :meth:`state` (the options stay as given)."""
        self.reference = state.get("reference")
        self.warned = bool(state.get("warned", False))
