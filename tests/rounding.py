"""Shared by the fast-path differential tests: "equal to rounding" in each dtype, and threads."""

from __future__ import annotations

from typing import Any

import numpy as np

# A drop-in sums in another order than the reference: allowed difference, relative to the
# larger of 1 and the reference's largest magnitude.
TOL = {np.float64: 1e-11, np.float32: 2e-5}


def assert_close(a: Any, b: Any, dtype: Any) -> None:
    """``a`` equals the reference ``b`` to ``dtype``'s rounding (:data:`TOL`)."""
    scale = max(1.0, float(np.abs(b).max(initial=0)))
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * scale)
