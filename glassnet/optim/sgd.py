"""Stochastic gradient descent: torch's SGD and the AlexNet paper's velocity rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from glassnet.backend import get_xp
from glassnet.errors import GlassnetError
from glassnet.optim.base import Optimizer, check_range


class SGD(Optimizer):
    """Stochastic gradient descent, step for step identical to ``torch.optim.SGD``.

    With ``d = g + weight_decay * w`` (L2 penalty added to the gradient, torch convention)::

        b <- d                                   (first step)
        b <- momentum * b + (1 - dampening) * d  (later steps)
        u <- d + momentum * b  if nesterov else  b      (u = d when momentum == 0)
        w <- w - lr * u

    Args:
        params: parameters (objects with ``.data`` and ``.grad``).
        lr: learning rate, >= 0 (default 0.01, the Keras default).
        momentum: momentum factor in [0, 1).
        dampening: dampening of the momentum in [0, 1].
        weight_decay: L2 coefficient, >= 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening = 0).

    Raises:
        GlassnetError: if an argument is outside its valid range.
    """

    _HYPER = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )

    def _configure(self, **hyper: Any) -> None:
        super()._configure(**hyper)
        name = type(self).__name__
        self.momentum = check_range(name, "momentum", hyper["momentum"], 0.0, 1.0)
        self.dampening = check_range(
            name, "dampening", hyper["dampening"], 0.0, 1.0, high_closed=True
        )
        self.weight_decay = check_range(name, "weight_decay", hyper["weight_decay"], 0.0)
        self.nesterov = bool(hyper["nesterov"])
        if self.nesterov and (self.momentum == 0 or self.dampening != 0):
            raise GlassnetError(
                f"{name}: nesterov=True needs momentum in (0, 1) and dampening=0; received "
                f"momentum={self.momentum:g}, dampening={self.dampening:g}"
            )

    def _update(self, i: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        xp = get_xp(w)
        d, owned = g, False
        if self.weight_decay != 0:
            d, owned = self._tmp(i, "grad", w), True
            xp.multiply(w, self.weight_decay, out=d)
            xp.add(d, g, out=d)
        if self.momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # torch starts the buffer at the first gradient itself (no dampening applied).
                buf = state["momentum_buffer"] = xp.array(d, dtype=w.dtype, copy=True)
            else:
                xp.multiply(buf, self.momentum, out=buf)
                if self.dampening == 0:
                    xp.add(buf, d, out=buf)
                else:
                    t = self._tmp(i, "damp", w)
                    xp.multiply(d, 1.0 - self.dampening, out=t)
                    xp.add(buf, t, out=buf)
            if self.nesterov:
                t = self._tmp(i, "damp", w)
                xp.multiply(buf, self.momentum, out=t)
                xp.add(d, t, out=t)
                d, owned = t, True
            else:
                # The buffer is state: it must not be scaled in place by _descend.
                d, owned = buf, False
        self._descend(i, w, d, self.lr, owned)


class AlexNetSGD(Optimizer):
    """SGD with the AlexNet paper's velocity rule (Krizhevsky et al. 2012, section 5).

    ::

        v <- momentum * v - weight_decay * lr * w - lr * dL/dw
        w <- w + v

    NOTE: with a constant ``lr`` this is exactly ``SGD(lr, momentum, weight_decay=weight_decay)``
    (substitute ``v = -lr * b`` in torch's rule; both start from zero velocity), so the two give
    the same weights up to rounding (tested against torch). They differ only when ``lr``
    changes: here the velocity keeps the old ``lr`` baked into it (a new ``lr`` affects only new
    gradients), whereas torch's buffer is rescaled by the new ``lr`` at once.

    Args:
        params: parameters (objects with ``.data`` and ``.grad``).
        lr: learning rate ``epsilon``, >= 0 (paper: 0.01, divided by 10 on plateaus).
        momentum: momentum in [0, 1) (paper: 0.9).
        weight_decay: weight decay in [0, inf) (paper: 0.0005).

    Raises:
        GlassnetError: if an argument is outside its valid range.
    """

    _HYPER = ("lr", "momentum", "weight_decay")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def _configure(self, **hyper: Any) -> None:
        super()._configure(**hyper)
        name = type(self).__name__
        self.momentum = check_range(name, "momentum", hyper["momentum"], 0.0, 1.0)
        self.weight_decay = check_range(name, "weight_decay", hyper["weight_decay"], 0.0)

    def _update(self, i: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        xp = get_xp(w)
        v = state.get("velocity")
        if v is None:
            v = state["velocity"] = xp.zeros_like(w)
        t = self._tmp(i, "grad", w)
        # t = lr * (weight_decay * w + g): the paper's two terms share the factor epsilon.
        xp.multiply(w, self.weight_decay, out=t)
        xp.add(t, g, out=t)
        xp.multiply(t, self.lr, out=t)
        xp.multiply(v, self.momentum, out=v)
        xp.subtract(v, t, out=v)
        xp.add(w, v, out=w)
