"""The execution graph: a model's layer calls, rewritten once into fused nodes where that pays.

The model's own graph (``Model.nodes``: one node per layer call) is what users built and what
the summary, ``feature_maps`` and the explainer show. Forward passes run its *execution
graph*: the same calls as :class:`Step` records, where a call read by exactly one other call may
be merged with it into a fused layer (:func:`glassnet.layers.fused.fuse` holds the rules).
A fused step keeps the uid of the last call it computes, so every value a later step reads —
and the model's output — keeps its uid.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from glassnet.layers.base import Layer, Node
from glassnet.layers.fused import fuse


class Step(NamedTuple):
    """One node of the execution graph."""

    uid: int  # the uid of the (last) layer call it computes: its output's uid
    layer: Layer
    inputs: tuple[int, ...]  # the uids of the values it reads
    input_shape: Any  # what the layer sees: a shape, or a tuple of shapes for merges
    done: tuple[int, ...] = ()  # values read for the last time here (freed after it)


def plain_steps(nodes: list[Node]) -> list[Step]:
    """The layer calls after the Input, one step each, in creation (= topological) order."""
    return _with_last_reads([
        Step(n.uid, n.layer, tuple(p.uid for p in n.inputs),
             tuple(p.shape for p in n.inputs) if n.layer.n_inputs == -1 else n.inputs[0].shape)
        for n in nodes if n.inputs
    ])


def fused_steps(nodes: list[Node], output_uid: int) -> list[Step]:
    """:func:`plain_steps` with every fusable pair merged, repeatedly (conv → pool → flatten)."""
    steps = plain_steps(nodes)
    merged = True
    while merged:
        merged = False
        readers = Counter(uid for s in steps for uid in s.inputs)
        for k, step in enumerate(steps):
            if step.uid == output_uid or readers[step.uid] != 1:
                continue
            j = next(j for j in range(k + 1, len(steps)) if step.uid in steps[j].inputs)
            if steps[j].inputs != (step.uid,):
                continue
            layer = fuse(step.layer, steps[j].layer)
            if layer is not None:
                steps[j] = steps[j]._replace(layer=layer, inputs=step.inputs,
                                             input_shape=step.input_shape)
                del steps[k]
                merged = True
                break
    return _with_last_reads(steps)


def _with_last_reads(steps: list[Step]) -> list[Step]:
    last = {uid: s.uid for s in steps for uid in s.inputs}
    return [s._replace(done=tuple(dict.fromkeys(u for u in s.inputs if last[u] == s.uid)))
            for s in steps]
