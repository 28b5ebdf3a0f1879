"""Numerical vs analytical gradients: float64 centred differences, relative error per input.

For a function f of tensors with (any-shaped) output, the check uses the scalar
L = Σ out · R with a fixed random R, so every output element contributes and dL/d(out) = R.
For each input element x_i:  numeric_i = (L(x_i + ε) − L(x_i − ε)) / 2ε, and
relative error = |analytic − numeric| / max(|analytic| + |numeric|, floor), maximised over
the elements of each input.

NOTE: the floor (default 1e-3) stops gradients that are truly zero (a dead ReLU, a pooled-out
input) from dividing rounding noise by zero: the centred difference of a float64 loss L carries
an error near 1e-16·|L|/ε ≈ 1e-10·|L|, so such elements are in effect compared absolutely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glassnet.backend import dtype_scope
from glassnet.errors import GlassnetError
from glassnet.tensor import Tensor, no_grad


@dataclass
class GradcheckResult:
    """Max relative error per input (by position or parameter name) and whether all pass."""

    errors: dict[str, float] = field(default_factory=dict)
    tolerance: float = 1e-6

    @property
    def ok(self) -> bool:
        """True when every input's max relative error is below the tolerance."""
        return all(e < self.tolerance for e in self.errors.values())

    @property
    def max_error(self) -> float:
        """The largest relative error over all inputs."""
        return max(self.errors.values(), default=0.0)

    def __str__(self) -> str:
        lines = [f"{k}: max relative error {v:.3e}" for k, v in self.errors.items()]
        verdict = "PASS" if self.ok else "FAIL"
        return "\n".join(lines + [f"{verdict} (tolerance {self.tolerance:g})"])


def _relative_error(a: np.ndarray, n: np.ndarray, floor: float = 1e-3) -> float:
    denom = np.maximum(np.abs(a) + np.abs(n), floor)
    return float(np.max(np.abs(a - n) / denom)) if a.size else 0.0


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
    seed: int = 0,
    names: list[str] | None = None,
) -> GradcheckResult:
    """Compare ``fn``'s backward with centred differences, in float64.

    Args:
        fn: takes the inputs as tensors, returns a tensor.
        *inputs: arrays or tensors; each is copied to a float64 tensor that requires grad.
        eps: the finite-difference step.
        tolerance: the pass mark for the relative error.
        seed: seeds the random projection R of the output.
        names: labels of the inputs in the result (default "input0", "input1", …).

    Returns:
        A :class:`GradcheckResult` with the max relative error per input.

    Raises:
        GlassnetError: if ``fn`` does not return a tensor connected to the inputs.
    """
    with dtype_scope("float64"):
        tensors = [
            Tensor(np.array(getattr(x, "data", x), dtype=np.float64), requires_grad=True)
            for x in inputs
        ]
        out = fn(*tensors)
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise GlassnetError("gradcheck: fn must return a Tensor computed from its inputs")
        r = np.random.default_rng(seed).standard_normal(out.shape)
        out.backward(r)
        result = GradcheckResult(tolerance=tolerance)
        labels = names or [f"input{i}" for i in range(len(tensors))]
        for label, t in zip(labels, tensors, strict=True):
            analytic = np.zeros_like(t.data) if t.grad is None else np.asarray(t.grad)
            numeric = _numeric_grad(lambda: float(np.sum(fn(*tensors).data * r)), t.data, eps)
            result.errors[label] = _relative_error(analytic, numeric)
    return result


def _numeric_grad(loss: Callable[[], float], x: np.ndarray, eps: float) -> np.ndarray:
    """Centred differences of a scalar ``loss()`` with respect to ``x``, perturbed in place."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    with no_grad():
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = loss()
            flat[i] = old - eps
            down = loss()
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
    return grad
