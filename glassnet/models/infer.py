"""The inference plan: a model's execution graph as array functions, planned once per model.

Under ``no_grad()`` in inference mode nothing needs the autodiff tape. The plan asks each step's
layer for its :meth:`~glassnet.layers.base.Layer.inference_step` (array in, array out, geometry
resolved once; the kernels behind it are chosen in :mod:`glassnet.accel.infer`) and runs
:meth:`~glassnet.layers.base.Layer.forward` on tensors for a layer that offers none. A plain
chain of one-input steps runs as a list; any other graph keeps its values by uid and frees each
after its last read. From batch 2 up the numbers equal the graph path's bit for bit (the same
ops in the same order; ``tests/test_infer_plan.py``) except where a BatchNorm folds into the
convolution before it (``layers.fused.ConvBN``: ``z·s + t`` for ``(z − μ)·σ⁻¹·γ + β``) and at
batch 1, where the small-batch kernels sum in another order: there equal to rounding
(``tests/test_fusion.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from glassnet.models.fusion import Step
from glassnet.ops.basic import to_compute_layout
from glassnet.tensor import Tensor

if TYPE_CHECKING:
    from glassnet.models.graph import Model

Array = Any
Unary = Callable[[Array], Array]


def _on_tensors(step: Step) -> Callable[[list[Array]], Array]:
    """A layer without an inference step: its own ``forward`` on tensors (merges get a list)."""
    forward = step.layer.forward

    def run(args: list[Array]) -> Array:
        arg: Any = [Tensor(a) for a in args] if step.layer.n_inputs == -1 else Tensor(args[0])
        out: Tensor = forward(arg, training=False)
        return out.data

    return run


def _array_step(step: Step) -> Callable[[list[Array]], Array]:
    """The step's array function; a merge layer's (``n_inputs == -1``) takes the list itself."""
    if step.layer.n_inputs == -1:
        merge = step.layer.inference_step(step.input_shape)
        return _on_tensors(step) if merge is None else merge
    unary = step.layer.inference_step(step.input_shape) if step.layer.n_inputs == 1 else None
    if unary is None:
        return _on_tensors(step)
    return lambda args: unary(args[0])


class Plan(NamedTuple):
    """A model's inference steps: a chain of one-array steps, or a graph."""

    chain: list[Unary] | None  # each step reads the previous one's output only
    graph: list[tuple[Step, Callable[[list[Array]], Array]]]


def build_plan(model: Model) -> Plan:
    """Plan ``model``'s execution graph (:meth:`Model.steps`) as array functions."""
    steps = model.steps(fused=True)
    graph = [(step, _array_step(step)) for step in steps]
    previous = model.input_node.uid
    for step in steps:
        if step.inputs != (previous,) or step.layer.n_inputs != 1:
            return Plan(None, graph)
        previous = step.uid
    return Plan([_unwrap(run) for _, run in graph], graph)


def _unwrap(run: Callable[[list[Array]], Array]) -> Unary:
    return lambda a: run([a])


def run_plan(model: Model, x: Array) -> Array:
    """Run ``model`` on the array ``x`` through its plan (built on first use, kept on the model).

    Args:
        model: a built model.
        x: the input batch, NHWC (or (N, F)), already the model's dtype and shape.

    Returns:
        The output node's array in the compute layout.
    """
    plan: Plan | None = getattr(model, "_plan_cache", None)
    if plan is None:
        plan = model._plan_cache = build_plan(model)
    a = to_compute_layout(x) if x.ndim == 4 else x
    if plan.chain is not None:
        for unary in plan.chain:
            a = unary(a)
        return a
    values: dict[int, Array] = {model.input_node.uid: a}
    for step, run in plan.graph:
        values[step.uid] = run([values[uid] for uid in step.inputs])
        for uid in step.done:
            del values[uid]
    return values[model.output_node.uid]
