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

from glassnet.accel import reference_mode
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

    A model may stand in for ``fn``: ``gradcheck(model, x, y)`` checks the gradient of its loss
    with respect to every parameter (see :func:`gradcheck_model`).
    """
    if hasattr(fn, "parameters") and hasattr(fn, "forward"):
        return gradcheck_model(fn, *inputs, eps=eps, tolerance=tolerance, seed=seed)
    with dtype_scope("float64"), reference_mode():
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


def _centred(loss: Callable[[], float], flat: np.ndarray, indices: Any, eps: float) -> np.ndarray:
    """(loss(x_i + ε) − loss(x_i − ε)) / 2ε for each index i of ``flat`` (perturbed in place)."""
    out = np.empty(len(indices))
    with no_grad():
        for j, i in enumerate(indices):
            old = flat[i]
            flat[i] = old + eps
            up = loss()
            flat[i] = old - eps
            down = loss()
            flat[i] = old
            out[j] = (up - down) / (2 * eps)
    return out


def _numeric_grad(loss: Callable[[], float], x: np.ndarray, eps: float) -> np.ndarray:
    """Centred differences of a scalar ``loss()`` with respect to every element of ``x``."""
    flat = x.reshape(-1)
    return _centred(loss, flat, range(flat.size), eps).reshape(x.shape).astype(x.dtype)


def gradcheck_model(
    model: Any,
    x: Any,
    y: Any,
    *,
    loss: str = "sparse_categorical_crossentropy",
    samples: int = 8,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
    seed: int = 0,
) -> GradcheckResult:
    """Check dL/dθ of a model's mean batch loss for every parameter θ, in float64.

    The parameters are switched to float64 for the check and restored afterwards. Inference mode
    is used (dropout off, batch norm on its moving statistics) so the loss is a deterministic
    function of the parameters. Big tensors are checked at ``samples`` random elements each
    (every element when smaller), since each element costs two forward passes.

    Args:
        model: a glassnet model.
        x: a small input batch (N, *input_shape).
        y: labels (N,) or targets (N, K).
        loss: the loss name; a softmax output with a cross-entropy is fused as in training.
        samples: elements checked per parameter.
        eps: the finite-difference step.
        tolerance: the pass mark.
        seed: picks the sampled elements.

    Returns:
        Max relative error per parameter (by parameter name).
    """
    from glassnet.training.loop import batch_loss

    params = model.parameters()
    saved = [p.data for p in params]
    from_logits = not getattr(model, "ends_in_softmax", True)
    rng = np.random.default_rng(seed)
    x64 = np.asarray(x, dtype=np.float64)
    result = GradcheckResult(tolerance=tolerance)
    old_dtype = model.dtype
    try:
        for p in params:
            p.data, p.grad = p.data.astype(np.float64), None
        model.dtype = np.dtype(np.float64)

        def value() -> float:
            return float(batch_loss(model, model.forward(x64), y, loss, from_logits).item())

        with reference_mode():  # the numbers of the readable core, not of the fast drop-ins
            batch_loss(model, model.forward(x64), y, loss, from_logits).backward()
            for i, p in enumerate(params):
                flat, analytic = p.data.reshape(-1), np.asarray(p.grad).reshape(-1)
                picks = np.arange(flat.size) if flat.size <= samples else rng.choice(
                    flat.size, samples, replace=False
                )
                numeric = _centred(value, flat, picks, eps)
                result.errors[p.name or f"param{i}"] = _relative_error(analytic[picks], numeric)
    finally:
        for p, data in zip(params, saved, strict=True):
            p.data, p.grad = data, None
        model.dtype = old_dtype
    return result
