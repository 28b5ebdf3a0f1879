"""One contiguous buffer holding many arrays back to back: what a single MPI collective sends.

Sending each parameter's gradient in its own collective costs one latency per parameter (and
pickling, with mpi4py's lower-case methods); packing them into one preallocated flat array
costs one copy per step and lets one ``Allreduce`` move everything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from glassnet.errors import ShapeError


class FlatBuffer:
    """A flat array and a view of it shaped like each of several arrays, in order.

    Args:
        shapes: the shape of each packed array.
        dtype: the buffer's dtype (the model's: float32 or float64).

    Shapes:
        data: (sum of prod(shape),); views[i]: shapes[i], each a view into ``data``.
    """

    def __init__(self, shapes: Sequence[tuple[int, ...]], dtype: Any) -> None:
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [0, *np.cumsum(sizes, dtype=np.int64).tolist()]
        self.data = np.zeros(self.offsets[-1], dtype=dtype)
        bounds = zip(self.offsets[:-1], self.offsets[1:], self.shapes, strict=True)
        self.views = [self.data[start:stop].reshape(shape) for start, stop, shape in bounds]

    @classmethod
    def like(cls, arrays: Sequence[Any], dtype: Any = None) -> FlatBuffer:
        """A buffer with one slot per array of ``arrays`` (dtype: the first array's)."""
        first = arrays[0] if arrays else np.zeros(0)
        return cls([np.shape(a) for a in arrays], dtype if dtype is not None else first.dtype)

    def __len__(self) -> int:
        """Number of packed arrays."""
        return len(self.views)

    @property
    def nbytes(self) -> int:
        """Bytes of the flat array (what one collective sends)."""
        return int(self.data.nbytes)

    def pack(self, arrays: Sequence[Any | None], scale: float = 1.0) -> np.ndarray:
        """Copy ``scale · arrays[i]`` into slot i (zeros where an array is None); return data.

        Raises:
            ShapeError: if the count or a shape differs from the buffer's.
        """
        self._check(arrays, "pack")
        for view, a in zip(self.views, arrays, strict=True):
            if a is None:
                view[...] = 0
            elif scale == 1.0:
                view[...] = a
            else:
                np.multiply(a, scale, out=view, casting="same_kind")
        return self.data

    def unpack(self, arrays: Sequence[Any]) -> None:
        """Copy slot i into ``arrays[i]`` in place (the arrays keep their identity).

        Raises:
            ShapeError: if the count or a shape differs from the buffer's.
        """
        self._check(arrays, "unpack")
        for view, a in zip(self.views, arrays, strict=True):
            a[...] = view

    def _check(self, arrays: Sequence[Any | None], who: str) -> None:
        if len(arrays) != len(self.views):
            raise ShapeError(
                f"FlatBuffer.{who}: got {len(arrays)} arrays; the buffer holds {len(self.views)}"
            )
        for i, (a, shape) in enumerate(zip(arrays, self.shapes, strict=True)):
            if a is not None and tuple(np.shape(a)) != shape:
                raise ShapeError(
                    f"FlatBuffer.{who}: array {i} has shape {list(np.shape(a))}; the buffer's "
                    f"slot {i} is {list(shape)}"
                )
