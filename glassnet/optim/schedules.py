"""Learning-rate schedules, each stepping exactly like its ``torch.optim.lr_scheduler`` twin.

A schedule wraps an optimizer (anything with a settable ``.lr``) and is stepped once per epoch,
after that epoch's optimizer steps: ``StepLR``, ``ExponentialLR`` and ``CosineAnnealingLR`` by
``.step()``, ``ReduceLROnPlateau`` by ``.step(metric)``. Like torch's, the first three are
*chainable*: each step rescales the optimizer's current ``lr`` (so the sequences match torch's
to the last bit) rather than recomputing it from a closed form.
"""

from __future__ import annotations

import math
from typing import Any

from glassnet.errors import GlassnetError
from glassnet.optim.base import check_range


def _check_int(owner: str, arg: str, value: Any, low: int) -> int:
    """Return ``value`` if it is an int >= ``low``, else raise GlassnetError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise GlassnetError(f"{owner}: {arg}={value!r} is not an integer >= {low}")
    return value


class LRScheduler:
    """Base class: remembers the starting ``lr`` and counts epochs; subclasses give ``_next_lr``.

    Args:
        optimizer: the optimizer whose ``lr`` the schedule sets.
    """

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self.base_lr: float = float(optimizer.lr)
        self.last_epoch = 0

    def step(self) -> None:
        """End an epoch: advance the epoch counter and set the optimizer's new ``lr``."""
        self.last_epoch += 1
        self.optimizer.lr = self._next_lr(float(self.optimizer.lr))

    def _next_lr(self, lr: float) -> float:
        """Return the ``lr`` for epoch ``last_epoch`` given the current one."""
        raise NotImplementedError

    def get_last_lr(self) -> float:
        """Return the learning rate the optimizer holds now."""
        return float(self.optimizer.lr)

    def state_dict(self) -> dict[str, Any]:
        """Return the schedule's counters as a plain dict (the optimizer is not included)."""
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore counters saved by :meth:`state_dict`."""
        vars(self).update(state_dict)


class StepLR(LRScheduler):
    """Multiply ``lr`` by ``gamma`` every ``step_size`` epochs.

    ``lr_e = lr_0 * gamma^(e // step_size)`` (computed by repeated multiplication, as torch).

    Args:
        optimizer: the optimizer whose ``lr`` the schedule sets.
        step_size: epochs between decays, an integer >= 1.
        gamma: decay factor, > 0 (default 0.1).

    Raises:
        GlassnetError: if an argument is outside its valid range.
    """

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size = _check_int("StepLR", "step_size", step_size, 1)
        self.gamma = check_range("StepLR", "gamma", gamma, 0.0, low_closed=False)

    def _next_lr(self, lr: float) -> float:
        return lr * self.gamma if self.last_epoch % self.step_size == 0 else lr


class ExponentialLR(LRScheduler):
    """Multiply ``lr`` by ``gamma`` every epoch: ``lr_e = lr_0 * gamma^e``.

    Args:
        optimizer: the optimizer whose ``lr`` the schedule sets.
        gamma: decay factor, > 0.

    Raises:
        GlassnetError: if ``gamma`` is not > 0.
    """

    def __init__(self, optimizer: Any, gamma: float) -> None:
        super().__init__(optimizer)
        self.gamma = check_range("ExponentialLR", "gamma", gamma, 0.0, low_closed=False)

    def _next_lr(self, lr: float) -> float:
        return lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing (Loshchilov & Hutter 2017, without restarts), as torch computes it.

    ``lr_e = eta_min + (lr_0 - eta_min) * (1 + cos(pi * e / T_max)) / 2``. Past ``T_max`` the
    cosine keeps going, so ``lr`` climbs back up over the next ``T_max`` epochs (torch does too).

    NOTE: torch computes each value from the previous one (the ratio of consecutive cosine
    terms); we do the same so the sequences agree to rounding even when the ``lr`` is changed
    from outside. At ``e = T_max + 1 (mod 2 T_max)`` the ratio's denominator is 0, so that
    epoch uses the additive form, again as torch does.

    Args:
        optimizer: the optimizer whose ``lr`` the schedule sets.
        T_max: half period in epochs, an integer >= 1.
        eta_min: the lowest ``lr``, >= 0.

    Raises:
        GlassnetError: if an argument is outside its valid range.
    """

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        super().__init__(optimizer)
        self.T_max = _check_int("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = check_range("CosineAnnealingLR", "eta_min", eta_min, 0.0)

    def _next_lr(self, lr: float) -> float:
        e, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if (e - 1 - t_max) % (2 * t_max) == 0:
            return lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        ratio = (1 + math.cos(math.pi * e / t_max)) / (1 + math.cos(math.pi * (e - 1) / t_max))
        return ratio * (lr - eta_min) + eta_min


class ReduceLROnPlateau(LRScheduler):
    """Multiply ``lr`` by ``factor`` when a metric has not improved for ``patience`` epochs.

    Stepped with the epoch's metric: ``step(val_loss)``. A value improves on the best so far
    when it is better by more than ``threshold`` (relative: ``best * (1 -+ threshold)``, or
    absolute: ``best -+ threshold``). After ``patience + 1`` epochs in a row without
    improvement the ``lr`` becomes ``max(lr * factor, min_lr)`` (skipped when that changes it by
    no more than ``eps``), then ``cooldown`` epochs pass before bad epochs count again.

    Args:
        optimizer: the optimizer whose ``lr`` the schedule sets.
        mode: ``"min"`` (lower metric is better, e.g. loss) or ``"max"`` (e.g. accuracy).
        factor: multiplier in (0, 1).
        patience: bad epochs tolerated before a reduction, an integer >= 0.
        threshold: smallest change that counts as an improvement, >= 0.
        threshold_mode: ``"rel"`` or ``"abs"``.
        cooldown: epochs to wait after a reduction, an integer >= 0.
        min_lr: floor for the ``lr``, >= 0.
        eps: smallest ``lr`` change worth making, >= 0.

    Raises:
        GlassnetError: if an argument is outside its valid range or not a valid choice.
    """

    def __init__(
        self,
        optimizer: Any,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(optimizer)
        name = "ReduceLROnPlateau"
        if mode not in ("min", "max"):
            raise GlassnetError(f"{name}: mode={mode!r} is not one of ['min', 'max']")
        if threshold_mode not in ("rel", "abs"):
            raise GlassnetError(
                f"{name}: threshold_mode={threshold_mode!r} is not one of ['rel', 'abs']"
            )
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = check_range(name, "factor", factor, 0.0, 1.0, low_closed=False)
        self.patience = _check_int(name, "patience", patience, 0)
        self.threshold = check_range(name, "threshold", threshold, 0.0)
        self.cooldown = _check_int(name, "cooldown", cooldown, 0)
        self.min_lr = check_range(name, "min_lr", min_lr, 0.0)
        self.eps = check_range(name, "eps", eps, 0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than the threshold."""
        sign = -1.0 if self.mode == "min" else 1.0
        if self.threshold_mode == "rel":
            margin = self.best * (1.0 + sign * self.threshold)
        else:
            margin = self.best + sign * self.threshold
        return value < margin if self.mode == "min" else value > margin

    def step(self, metric: float) -> None:  # type: ignore[override]
        """End an epoch whose monitored value was ``metric``; reduce ``lr`` on a plateau."""
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            old = float(self.optimizer.lr)
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
