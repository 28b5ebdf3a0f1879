"""Pure-NumPy numeric gradients for checking every backward (float64 centred differences)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def numeric_grad(f: Callable[[np.ndarray], Any], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Return d f / d x by centred differences: (f(x + eps·e_i) − f(x − eps·e_i)) / (2·eps).

    ``f`` maps an array shaped like ``x`` to a scalar. ``x`` is copied to float64 and perturbed
    one element at a time in the copy (``x`` itself is left untouched); the error is O(eps²)
    truncation plus O(1e-16/eps) rounding, so ~1e-10 relative for smooth, well-scaled f.
    """
    xc = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(xc)
    flat, gflat = xc.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = float(f(xc))
        flat[i] = old - eps
        down = float(f(xc))
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def rel_error(a: Any, b: Any) -> float:
    """Max abs difference scaled by the larger max magnitude: max|a − b| / max(|a|, |b|)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0)) / max(scale, 1e-300)
