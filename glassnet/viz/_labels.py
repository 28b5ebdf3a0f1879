"""Turn label arrays (class indices, or one-hot / scores) into validated 1-D class indices."""

from __future__ import annotations

from typing import Any

import numpy as np

from glassnet.errors import GlassnetError, ShapeError


def as_labels(y: Any, *, where: str, name: str) -> np.ndarray:
    """Return ``y`` as int64 class indices, taking the argmax of a 2-D one-hot or score array.

    Args:
        y: class indices, or one row of one-hot / probabilities / logits per example.
        where: the calling function, for error messages.
        name: the argument's name, for error messages.

    Returns:
        The class indices.

    Raises:
        ShapeError: if ``y`` is not 1-D or 2-D.
        GlassnetError: if 1-D labels are negative or not whole numbers.

    Shapes:
        y: [N] or [N, K]; returns [N].
    """
    arr = np.asarray(y)
    if arr.ndim == 2:
        return np.argmax(arr, axis=1).astype(np.int64)
    if arr.ndim != 1:
        raise ShapeError(f"{where}: {name} must be class indices [N] or scores [N, K]; "
                         f"received shape {list(arr.shape)}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.number) and np.all(arr == np.round(arr))):
            raise GlassnetError(f"{where}: {name} must hold whole class indices; "
                                f"received dtype {arr.dtype}, e.g. {arr.ravel()[0]!r}")
    labels = arr.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise GlassnetError(f"{where}: {name} has a negative class index {labels.min()}; "
                            "expected indices >= 0")
    return labels
