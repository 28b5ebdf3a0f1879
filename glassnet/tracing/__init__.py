"""``glassnet trace``: check a hand calculation value by value (``../shared/DESIGN.md`` §6).

The record holds one forward pass, the loss, every gradient and one SGD step of a small network.

Use ``from glassnet.tracing import trace`` (or ``gn.trace``) for the function; the submodules are
``spec`` (loading, validation), ``run`` (the computation), ``render`` (text) and ``check``
(marking a student's answers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glassnet.tracing.run import run_trace
from glassnet.tracing.spec import DEFAULT_LR, TraceSpec, load_spec, parse_spec

__all__ = ["DEFAULT_LR", "TraceSpec", "load_spec", "parse_spec", "trace"]


def trace(spec: dict[str, Any] | str | Path) -> dict[str, Any]:
    """Trace a small network value by value.

    Args:
        spec: the spec as a dict (§6; a dict whose ``"spec"`` key holds it also works) or the
            path of a JSON/YAML spec file.

    Returns:
        The §6 record: ``forward`` (every layer's pre-activation and output), ``loss``,
        ``gradients`` (every layer's d_output, d_pre_activation, d_weights, d_bias, d_input) and
        ``updated`` (parameters after one SGD step), each present when the spec's mode gives it.

    Raises:
        GlassnetError: if the spec is invalid (the message names the path in the spec).
    """
    parsed = load_spec(spec) if isinstance(spec, str | Path) else parse_spec(spec)
    return run_trace(parsed)
