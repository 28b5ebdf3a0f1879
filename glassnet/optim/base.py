"""The optimizer base class: parameter bookkeeping, validation, scratch space and checkpoints.

Parameters are duck-typed: any object with ``.data`` (an array the optimizer updates IN PLACE, so
views of it held elsewhere stay valid) and ``.grad`` (an array of the same shape, or ``None`` to
skip the parameter this step), optionally ``.name`` (used in error messages).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from glassnet.backend import get_xp
from glassnet.errors import GlassnetError, ShapeError


def check_range(
    owner: str,
    arg: str,
    value: Any,
    low: float,
    high: float = math.inf,
    *,
    low_closed: bool = True,
    high_closed: bool = False,
) -> float:
    """Return ``value`` as a float, or raise if it lies outside the interval ``low .. high``.

    Args:
        owner: the optimizer or schedule, named in the message (``"SGD"``).
        arg: the argument's name (``"momentum"``).
        value: the value received.
        low: lower bound of the valid range.
        high: upper bound of the valid range (``inf`` for none).
        low_closed: whether ``low`` itself is valid.
        high_closed: whether ``high`` itself is valid.

    Returns:
        ``float(value)``.

    Raises:
        GlassnetError: if ``value`` is not a real number or is outside the range (NaN included).
    """
    interval = f"{'[' if low_closed else '('}{low:g}, {high:g}{']' if high_closed else ')'}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise GlassnetError(
            f"{owner}: {arg}={value!r} is not a number; expected a value in {interval}"
        ) from None
    above = x >= low if low_closed else x > low
    below = x <= high if high_closed else x < high
    # NaN fails both comparisons, so it is rejected here too.
    if not (above and below):
        raise GlassnetError(f"{owner}: {arg}={value!r} is outside the valid range {interval}")
    return x


def to_numpy(a: Any) -> np.ndarray:
    """Return a NumPy copy of ``a`` (a CuPy array is copied to the host)."""
    if type(a).__module__.startswith("cupy"):
        return np.asarray(a.get())
    return np.array(a, copy=True)


class Optimizer:
    """Base class: holds the parameters and per-parameter state; subclasses write ``_update``.

    Subclasses list their constructor hyper-parameters in ``_HYPER`` (saved by ``state_dict``)
    and validate them in ``_configure``. State is a list with one dict per parameter, keyed by
    the parameter's index in the list given to the constructor.
    """

    _HYPER: tuple[str, ...] = ("lr",)

    def __init__(self, params: Iterable[Any], **hyper: Any) -> None:
        self.params: list[Any] = list(params)
        name = type(self).__name__
        if not self.params:
            raise GlassnetError(f"{name}: params is empty; expected at least one parameter")
        for i, p in enumerate(self.params):
            if not hasattr(p, "data") or not hasattr(p, "grad"):
                raise GlassnetError(
                    f"{name}: params[{i}] ({type(p).__name__}) has no .data/.grad; expected a "
                    "parameter object with both"
                )
        self.state: list[dict[str, Any]] = [{} for _ in self.params]
        # Work arrays reused every step so a step allocates nothing; not part of the state.
        self._scratch: dict[tuple[int, str], Any] = {}
        self._configure(**hyper)

    # -- hyper-parameters -------------------------------------------------------------------
    @property
    def lr(self) -> float:
        """The learning rate (settable; schedules change it between steps)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_range(type(self).__name__, "lr", value, 0.0)

    def _configure(self, **hyper: Any) -> None:
        """Validate and store the hyper-parameters (subclasses extend this)."""
        self.lr = hyper["lr"]

    def hyper(self) -> dict[str, Any]:
        """Return the hyper-parameters as a dict (the constructor's keyword arguments)."""
        return {k: getattr(self, k) for k in self._HYPER}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper().items())
        return f"{type(self).__name__}({args})"

    # -- stepping ---------------------------------------------------------------------------
    def step(self) -> None:
        """Update every parameter whose ``.grad`` is not None, in place.

        Raises:
            ShapeError: if a gradient's shape differs from its parameter's.
        """
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            w = p.data
            if g.shape != w.shape:
                label = getattr(p, "name", None) or f"params[{i}]"
                raise ShapeError(
                    f"{type(self).__name__}: {label} has data shape {list(w.shape)} but grad "
                    f"shape {list(g.shape)}; expected equal shapes"
                )
            self._update(i, w, g, self.state[i])

    def _update(self, i: int, w: Any, g: Any, state: dict[str, Any]) -> None:
        """Update parameter ``i`` (data ``w``, gradient ``g``) in place; subclasses implement."""
        raise NotImplementedError

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Clear the gradients.

        By default each existing gradient is zeroed IN PLACE (its memory is kept, views of it
        stay valid, gradients that are None stay None). With ``set_to_none=True`` every
        ``.grad`` becomes None instead (the next backward allocates fresh arrays; ``step``
        then skips parameters that received no gradient).
        """
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def _tmp(self, i: int, slot: str, like: Any) -> Any:
        """Return a reusable work array shaped and typed like parameter ``i``'s data."""
        key = (i, slot)
        buf = self._scratch.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = get_xp(like).empty_like(like)
            self._scratch[key] = buf
        return buf

    def _descend(self, i: int, w: Any, direction: Any, scale: float, owned: bool) -> None:
        """Do ``w -= scale * direction`` in place.

        ``owned`` says ``direction`` is one of our work arrays, so it can hold the product and
        the user's gradient (or the optimizer state) is never overwritten.
        """
        from glassnet.accel import update  # the seam; numba loads on first use

        if update.usable(w, direction):
            update.descend(w, direction, scale)
            return
        xp = get_xp(w)
        out = direction if owned else self._tmp(i, "step", w)
        xp.multiply(direction, scale, out=out)
        xp.subtract(w, out, out=w)

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Return a snapshot for checkpoints: plain dicts of NumPy arrays (copies) and numbers.

        Returns:
            ``{"optimizer": class name, "hyper": {arg: value}, "state": {index: {key: value}}}``
            where ``index`` is the parameter's position in the constructor's list and
            parameters never stepped have no entry.
        """
        state = {
            i: {k: v if isinstance(v, int | float) else to_numpy(v) for k, v in s.items()}
            for i, s in enumerate(self.state)
            if s
        }
        return {"optimizer": type(self).__name__, "hyper": self.hyper(), "state": state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict` (hyper-parameters included, like torch).

        Arrays are copied into the parameters' array module and dtype.

        Raises:
            GlassnetError: if the snapshot is for another optimizer class, names a parameter
                index that does not exist, or holds an array of the wrong shape.
        """
        name = type(self).__name__
        saved = state_dict.get("optimizer")
        if saved != name:
            raise GlassnetError(f"{name}.load_state_dict: snapshot is for optimizer {saved!r}")
        self._configure(**state_dict["hyper"])
        new_state: list[dict[str, Any]] = [{} for _ in self.params]
        for key, entries in state_dict["state"].items():
            i = int(key)
            if not 0 <= i < len(self.params):
                raise GlassnetError(
                    f"{name}.load_state_dict: state for parameter {key!r} but the optimizer has "
                    f"{len(self.params)} parameters (valid indices 0..{len(self.params) - 1})"
                )
            w = self.params[i].data
            xp = get_xp(w)
            for k, v in entries.items():
                # Numbers (the step count) may come back from an .npz file as 0-d arrays.
                if np.ndim(v) == 0:
                    new_state[i][k] = v.item() if hasattr(v, "item") else v
                    continue
                arr = xp.array(v, dtype=w.dtype)
                if arr.shape != w.shape:
                    raise GlassnetError(
                        f"{name}.load_state_dict: state {k!r} of parameter {i} has shape "
                        f"{list(arr.shape)}; expected {list(w.shape)}"
                    )
                new_state[i][k] = arr
        self.state = new_state
