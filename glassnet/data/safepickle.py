"""A restricted unpickler for dataset files: plain containers and NumPy arrays, nothing else.

A pickle is a small program: its ``GLOBAL`` opcodes name any importable callable (``os.system``
included) and ``REDUCE`` calls it. :class:`ArrayUnpickler` lets a pickle name only the few
globals NumPy needs to rebuild arrays, dtypes and scalars (under their NumPy 1 and NumPy 2
module paths, as CIFAR's Python 2 batches and newer re-pickles spell them) and ``_codecs.encode``
(how protocol 2 stores ``bytes``). Dicts, lists, tuples, str, bytes, ints and floats need no
global at all. Anything else is refused before it is imported, let alone called.
"""

from __future__ import annotations

import codecs
import pickle
from typing import IO, Any

import numpy as np

from glassnet.errors import GlassnetError

# The functions NumPy's own __reduce__ names, taken from NumPy itself rather than imported by
# their private module paths (which moved from numpy.core to numpy._core in NumPy 2).
_RECONSTRUCT = np.empty(0).__reduce__()[0]  # ndarray: _reconstruct(ndarray, shape, dtype)
_FROMBUFFER = np.empty(1).__reduce_ex__(5)[0]  # ndarray, protocol 5: _frombuffer(bytes, ...)
_SCALAR = np.float64(0).__reduce__()[0]  # numpy scalars: scalar(dtype, bytes)

_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _SCALAR
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _FROMBUFFER


class ArrayUnpickler(pickle.Unpickler):
    """Unpickle dicts, lists, tuples, str, bytes, numbers and NumPy arrays only.

    Raises:
        GlassnetError: from :meth:`load`, naming the first global the pickle asks for that is
            not one of NumPy's array-rebuilding functions.
    """

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global; refuse every other one without importing it."""
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise GlassnetError(
                f"refused to unpickle global '{module}.{name}' (only dicts, lists, str, bytes, "
                "numbers and numpy arrays are allowed)") from None


def load_arrays(fh: IO[bytes], encoding: str = "ASCII") -> Any:
    """Unpickle ``fh`` with :class:`ArrayUnpickler`.

    Args:
        fh: a binary file open for reading.
        encoding: how Python 2 ``str`` objects are decoded (``"bytes"`` keeps them as bytes).

    Returns:
        The unpickled object.

    Raises:
        GlassnetError: the pickle names a global that is not allowed.
        pickle.UnpicklingError, EOFError, ValueError, TypeError: the pickle is malformed.
    """
    return ArrayUnpickler(fh, encoding=encoding).load()
