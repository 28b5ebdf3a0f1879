"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019), identical to torch.optim's."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from glassnet.backend import get_xp
from glassnet.errors import GlassnetError
from glassnet.optim.base import Optimizer, check_range


class Adam(Optimizer):
    """Adam, step for step identical to ``torch.optim.Adam``.

    At step ``t`` (counted per parameter from 1), with ``d = g + weight_decay * w``::

        m <- beta1 * m + (1 - beta1) * d
        v <- beta2 * v + (1 - beta2) * d * d
        v_hat <- max(v_hat, v)    if amsgrad, else v_hat = v
        w <- w - lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)

    NOTE: the bias corrections are folded into a scalar step size and into the denominator
    (torch's form), so ``eps`` is added to ``sqrt(v_hat / (1 - beta2^t))``, not to ``sqrt(v)``
    as in the paper's "efficient" variant with ``eps_hat``.

    Args:
        params: parameters (objects with ``.data`` and ``.grad``).
        lr: learning rate, >= 0.
        betas: decay rates ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: L2 coefficient added to the gradient, >= 0.
        amsgrad: use the running maximum of ``v`` (Reddi et al. 2018).

    Raises:
        GlassnetError: if an argument is outside its valid range.
    """

    _HYPER = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    # AdamW sets this: decay the weights directly instead of adding to the gradient.
    _DECOUPLED = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )

    def _configure(self, **hyper: Any) -> None:
        super()._configure(**hyper)
        name = type(self).__name__
        betas = hyper["betas"]
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise GlassnetError(
                f"{name}: betas={betas!r} is not a pair; expected (beta1, beta2) in [0, 1)"
            ) from None
        self.betas = (
            check_range(name, "betas[0]", beta1, 0.0, 1.0),
            check_range(name, "betas[1]", beta2, 0.0, 1.0),
        )
        self.eps = check_range(name, "eps", hyper["eps"], 0.0)
        self.weight_decay = check_range(name, "weight_decay", hyper["weight_decay"], 0.0)
        self.amsgrad = bool(hyper["amsgrad"])

    def _update(self, i: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        xp = get_xp(w)
        beta1, beta2 = self.betas
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(w)
            state["exp_avg_sq"] = xp.zeros_like(w)
            if self.amsgrad:
                state["max_exp_avg_sq"] = xp.zeros_like(w)
        state["step"] += 1
        step = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = self._tmp(i, "work", w)

        from glassnet.accel import update  # the seam; numba loads on first use

        if not self.amsgrad and update.usable(w, g, m, v):
            decay = self.lr * self.weight_decay if self._DECOUPLED else self.weight_decay
            update.adam(w, g, m, v, betas=self.betas, eps=self.eps,
                        step_size=self.lr / (1.0 - beta1**step),
                        bias_correction2_sqrt=math.sqrt(1.0 - beta2**step),
                        weight_decay=decay, decoupled=self._DECOUPLED)
            return
        d = g
        if self.weight_decay != 0:
            if self._DECOUPLED:
                xp.multiply(w, 1.0 - self.lr * self.weight_decay, out=w)
            else:
                d = self._tmp(i, "grad", w)
                xp.multiply(w, self.weight_decay, out=d)
                xp.add(d, g, out=d)

        # m <- m + (1 - beta1) * (d - m): torch's lerp form of the moving average.
        xp.subtract(d, m, out=t)
        xp.multiply(t, 1.0 - beta1, out=t)
        xp.add(m, t, out=m)
        xp.multiply(d, d, out=t)
        xp.multiply(t, 1.0 - beta2, out=t)
        xp.multiply(v, beta2, out=v)
        xp.add(v, t, out=v)

        # Python floats, so float32 parameters stay float32 (NumPy's weak scalar rule).
        step_size = self.lr / (1.0 - beta1**step)
        bias_correction2_sqrt = math.sqrt(1.0 - beta2**step)
        if self.amsgrad:
            v_max = state.get("max_exp_avg_sq")
            if v_max is None:  # amsgrad switched on by load_state_dict
                v_max = state["max_exp_avg_sq"] = xp.zeros_like(w)
            xp.maximum(v_max, v, out=v_max)
            v = v_max
        xp.sqrt(v, out=t)
        xp.divide(t, bias_correction2_sqrt, out=t)
        xp.add(t, self.eps, out=t)
        xp.divide(m, t, out=t)
        self._descend(i, w, t, step_size, owned=True)


class AdamW(Adam):
    """Adam with decoupled weight decay, step for step identical to ``torch.optim.AdamW``.

    Before the Adam update the weights shrink: ``w <- w * (1 - lr * weight_decay)``; the
    gradient itself is not changed (unlike ``Adam(weight_decay=...)``, an L2 penalty).

    Args:
        params: parameters (objects with ``.data`` and ``.grad``).
        lr: learning rate, >= 0.
        betas: decay rates ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: decoupled decay coefficient, >= 0 (default 0.01, torch's).
        amsgrad: use the running maximum of ``v``.

    Raises:
        GlassnetError: if an argument is outside its valid range.
    """

    _DECOUPLED = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )
