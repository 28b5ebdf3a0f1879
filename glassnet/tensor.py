"""Tensor with define-by-run reverse-mode automatic differentiation.

Each op result remembers its parents and a closure mapping dL/d(result) to dL/d(parent) for every
parent. ``backward()`` orders the recorded graph topologically and runs the closures from the
output back to the leaves. A tensor used by several ops receives the sum of their gradients (the
course's "copy gate: gradient adder").
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from glassnet.backend import default_dtype, get_xp
from glassnet.errors import GlassnetError, ShapeError

Array = Any
BackwardFn = Callable[[Array], Sequence[Array | None]]

_grad_enabled = [True]


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Record no graph inside the block (inference, optimizer updates)."""
    old = _grad_enabled[0]
    _grad_enabled[0] = False
    try:
        yield
    finally:
        _grad_enabled[0] = old


def is_grad_enabled() -> bool:
    """Return whether ops currently record the graph."""
    return _grad_enabled[0]


def _as_array(data: Any, dtype: Any) -> Array:
    if isinstance(data, Tensor):
        data = data.data
    xp = get_xp(data)
    if dtype is None:
        arr = xp.asarray(data)
        if arr.dtype.kind in "biu" or arr.dtype.kind == "f":
            # Python floats and ints become the default float dtype; float arrays keep theirs.
            if arr.dtype.kind != "f" or not isinstance(data, xp.ndarray):
                arr = arr.astype(default_dtype())
        return arr
    return xp.asarray(data, dtype=dtype)


class Tensor:
    """An n-d array that records the ops applied to it for reverse-mode differentiation.

    Args:
        data: array-like; float arrays keep their dtype, other data gets the default float dtype.
        requires_grad: whether gradients flow to (and accumulate in) this tensor.
        dtype: force a dtype.
        name: optional label shown in reprs and traces.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_parents", "_backward", "_retain")

    def __init__(
        self, data: Any, requires_grad: bool = False, *, dtype: Any = None, name: str = ""
    ) -> None:
        self.data: Array = _as_array(data, dtype)
        self.grad: Array | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._parents: tuple[Tensor, ...] = ()
        self._backward: BackwardFn | None = None
        self._retain = False

    # ----- construction of graph nodes -------------------------------------------------------
    @staticmethod
    def from_op(data: Array, parents: Sequence[Tensor], backward: BackwardFn) -> Tensor:
        """Wrap an op's result; record the graph only if some parent needs a gradient."""
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out.name = ""
        out._retain = False
        if _grad_enabled[0] and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = tuple(parents)
            out._backward = backward
        else:
            out.requires_grad = False
            out._parents = ()
            out._backward = None
        return out

    # ----- array-like views ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The array shape."""
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return int(self.data.ndim)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The array dtype."""
        return self.data.dtype  # type: ignore[no-any-return]

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (inputs, parameters)."""
        return self._backward is None

    def numpy(self) -> Array:
        """Return the underlying array (no copy)."""
        return self.data

    def item(self) -> float:
        """Return the value of a one-element tensor as a Python float."""
        return float(self.data.reshape(-1)[0]) if self.data.size == 1 else self._not_scalar()

    def _not_scalar(self) -> float:
        raise ShapeError(f"item: tensor of shape {list(self.shape)} is not a single value")

    def detach(self) -> Tensor:
        """Return a tensor sharing the data but cut from the graph."""
        return Tensor(self.data, dtype=self.data.dtype)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward (the trace uses it)."""
        self._retain = True
        return self

    def __repr__(self) -> str:
        label = f", name={self.name!r}" if self.name else ""
        rg = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={list(self.shape)}, dtype={self.dtype.name}{rg}{label})"

    def __len__(self) -> int:
        return int(self.data.shape[0])

    # ----- backward --------------------------------------------------------------------------
    def backward(self, grad: Any = None) -> None:
        """Accumulate dL/d(leaf) into ``.grad`` of every leaf that requires a gradient.

        Args:
            grad: dL/d(self); defaults to 1 for a one-element tensor.

        Raises:
            GlassnetError: if self does not require grad, or grad is omitted for a non-scalar.
        """
        if not self.requires_grad:
            raise GlassnetError("backward: this tensor does not require grad (no graph recorded)")
        xp = get_xp(self.data)
        if grad is None:
            if self.data.size != 1:
                raise GlassnetError(
                    f"backward: grad must be given for a non-scalar output of shape "
                    f"{list(self.shape)}"
                )
            g = xp.ones_like(self.data)
        else:
            g = xp.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if g.shape != self.data.shape:
                raise ShapeError(
                    f"backward: grad shape {list(g.shape)} does not match the output shape "
                    f"{list(self.shape)}"
                )
        grads: dict[int, Array] = {id(self): g}
        for node in _topological_order(self):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None or node._retain:
                # NOTE: never add in place: g may be shared with a sibling's gradient.
                node.grad = g if node.grad is None else node.grad + g
            if node._backward is None:
                continue
            for parent, pg in zip(node._parents, node._backward(g), strict=True):
                if pg is None or not parent.requires_grad:
                    continue
                prev = grads.get(id(parent))
                grads[id(parent)] = pg if prev is None else prev + pg

    # ----- a few array operators (teaching, gradcheck, losses) -------------------------------
    def __add__(self, other: Any) -> Tensor:
        return add(self, _lift(other, self))

    __radd__ = __add__

    def __neg__(self) -> Tensor:
        return scale(self, -1.0)

    def __sub__(self, other: Any) -> Tensor:
        return self + (-_lift(other, self))

    def __rsub__(self, other: Any) -> Tensor:
        return _lift(other, self) + (-self)

    def __mul__(self, other: Any) -> Tensor:
        if isinstance(other, int | float):
            return scale(self, float(other))
        return mul(self, _lift(other, self))

    __rmul__ = __mul__

    def __matmul__(self, other: Tensor) -> Tensor:
        return matmul(self, other)

    def sum(self) -> Tensor:
        """Sum of all elements (a scalar tensor)."""
        return sum_all(self)

    def mean(self) -> Tensor:
        """Mean of all elements (a scalar tensor)."""
        return scale(sum_all(self), 1.0 / self.data.size)

    def reshape(self, *shape: int) -> Tensor:
        """Reshape (row-major), differentiably."""
        target = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape
        return reshape(self, tuple(target))


# ----- the elementary differentiable ops behind the operators (autodiff re-exports them) ------
def _unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum a broadcast gradient back to ``shape``."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(extra))) if extra else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def add(a: Tensor, b: Tensor) -> Tensor:
    """A + b with NumPy broadcasting; each gradient is dout summed back to its shape."""
    sa, sb = a.shape, b.shape
    return Tensor.from_op(
        a.data + b.data, (a, b), lambda g: (_unbroadcast(g, sa), _unbroadcast(g, sb))
    )


def mul(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise a·b with broadcasting: d a = dout·b, d b = dout·a."""
    sa, sb, da, db = a.shape, b.shape, a.data, b.data
    return Tensor.from_op(
        da * db, (a, b), lambda g: (_unbroadcast(g * db, sa), _unbroadcast(g * da, sb))
    )


def scale(a: Tensor, k: float) -> Tensor:
    """k·a for a Python number k."""
    return Tensor.from_op(a.data * a.dtype.type(k), (a,), lambda g: (g * g.dtype.type(k),))


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of 2-D tensors: d a = dout @ bᵀ, d b = aᵀ @ dout.

    Shapes:
        a: (M, K), b: (K, N) -> out: (M, N)
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(f"matmul: shapes {list(a.shape)} and {list(b.shape)} do not chain")
    da, db = a.data, b.data
    return Tensor.from_op(da @ db, (a, b), lambda g: (g @ db.T, da.T @ g))


def sum_all(a: Tensor) -> Tensor:
    """Sum of every element: the gradient is dout broadcast to a's shape."""
    shape, xp = a.shape, get_xp(a.data)
    return Tensor.from_op(
        a.data.sum(), (a,), lambda g: (xp.broadcast_to(g, shape).astype(g.dtype, copy=True),)
    )


def reshape(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Row-major reshape; the gradient is reshaped back."""
    old = a.shape
    return Tensor.from_op(a.data.reshape(shape), (a,), lambda g: (g.reshape(old),))


def _lift(value: Any, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return Tensor(get_xp(like.data).asarray(value, dtype=like.dtype))


class Parameter(Tensor):
    """A trainable tensor: always ``requires_grad``; optimizers update ``.data`` in place."""

    __slots__ = ()

    def __init__(self, data: Any, *, dtype: Any = None, name: str = "") -> None:
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)

    def __repr__(self) -> str:
        label = f", name={self.name!r}" if self.name else ""
        return f"Parameter(shape={list(self.shape)}, dtype={self.dtype.name}{label})"


def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes reachable from ``root``, each before all of its parents (iterative DFS)."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for p in node._parents:
            if p.requires_grad and id(p) not in seen:
                stack.append((p, False))
    order.reverse()
    return order
