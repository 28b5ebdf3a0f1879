"""RMSProp (Tieleman & Hinton 2012), identical to ``torch.optim.RMSprop``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from glassnet.backend import get_xp
from glassnet.optim.base import Optimizer, check_range


class RMSProp(Optimizer):
    """RMSProp, step for step identical to ``torch.optim.RMSprop``.

    With ``d = g + weight_decay * w``::

        s <- alpha * s + (1 - alpha) * d * d
        a <- alpha * a + (1 - alpha) * d                    (centered only)
        r <- sqrt(s - a * a) + eps   if centered, else  sqrt(s) + eps
        b <- momentum * b + d / r;  w <- w - lr * b         (momentum > 0)
        w <- w - lr * d / r                                 (momentum = 0)

    NOTE: ``eps`` is added OUTSIDE the square root (torch's placement). TensorFlow 1's
    ``RMSPropOptimizer`` adds it inside (``sqrt(s + eps)``); the two differ while ``s`` is tiny.

    Args:
        params: parameters (objects with ``.data`` and ``.grad``).
        lr: learning rate, >= 0.
        alpha: decay rate of the squared-gradient average, in [0, 1).
        eps: added to the denominator, >= 0.
        momentum: momentum factor in [0, 1).
        centered: divide by the estimated variance instead of the raw second moment.
        weight_decay: L2 coefficient added to the gradient, >= 0.

    Raises:
        GlassnetError: if an argument is outside its valid range.
    """

    _HYPER = ("lr", "alpha", "eps", "momentum", "centered", "weight_decay")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            alpha=alpha,
            eps=eps,
            momentum=momentum,
            centered=centered,
            weight_decay=weight_decay,
        )

    def _configure(self, **hyper: Any) -> None:
        super()._configure(**hyper)
        name = type(self).__name__
        self.alpha = check_range(name, "alpha", hyper["alpha"], 0.0, 1.0)
        self.eps = check_range(name, "eps", hyper["eps"], 0.0)
        self.momentum = check_range(name, "momentum", hyper["momentum"], 0.0, 1.0)
        self.centered = bool(hyper["centered"])
        self.weight_decay = check_range(name, "weight_decay", hyper["weight_decay"], 0.0)

    def _update(self, i: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        xp = get_xp(w)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(w)
        state["step"] += 1
        # Created lazily so a snapshot loaded with other options still works.
        if self.centered and "grad_avg" not in state:
            state["grad_avg"] = xp.zeros_like(w)
        if self.momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(w)

        d = g
        if self.weight_decay != 0:
            d = self._tmp(i, "grad", w)
            xp.multiply(w, self.weight_decay, out=d)
            xp.add(d, g, out=d)

        s, r = state["square_avg"], self._tmp(i, "work", w)
        xp.multiply(d, d, out=r)
        xp.multiply(r, 1.0 - self.alpha, out=r)
        xp.multiply(s, self.alpha, out=s)
        xp.add(s, r, out=s)
        if self.centered:
            a = state["grad_avg"]
            # a <- a + (1 - alpha) * (d - a): torch's lerp form.
            xp.subtract(d, a, out=r)
            xp.multiply(r, 1.0 - self.alpha, out=r)
            xp.add(a, r, out=a)
            xp.multiply(a, a, out=r)
            xp.subtract(s, r, out=r)
            xp.sqrt(r, out=r)
        else:
            xp.sqrt(s, out=r)
        xp.add(r, self.eps, out=r)
        xp.divide(d, r, out=r)

        if self.momentum > 0:
            b = state["momentum_buffer"]
            xp.multiply(b, self.momentum, out=b)
            xp.add(b, r, out=b)
            self._descend(i, w, b, self.lr, owned=False)
        else:
            self._descend(i, w, r, self.lr, owned=True)
