"""``glassnet trace SPEC``: every value, gradient and update of a small network (DESIGN.md §6)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from glassnet.errors import GlassnetError
from glassnet.tracing.check import (
    DEFAULT_TOLERANCE,
    check_answers,
    check_json,
    load_answers,
    render_check,
)
from glassnet.tracing.spec import DEFAULT_LR, load_spec

DESCRIPTION = f"""Trace one forward pass, the loss, every gradient and one SGD step of a small
network, value by value, to check a hand calculation. SPEC is a JSON or YAML file (§6 of the
design; a file with a top-level "spec" key is read from that key). Modes: loss + target (lr
defaults to {DEFAULT_LR}); grad_output (parameters updated only if lr is given); neither (forward
only). Computed in float64 with a batch of one."""


def register(subparsers: Any) -> None:
    """Add the ``trace`` subcommand."""
    p = subparsers.add_parser("trace", help="value-by-value forward/backward/update of a small net",
                              description=DESCRIPTION)
    p.add_argument("spec", metavar="SPEC", help="the network, weights and input (.json/.yaml)")
    p.add_argument("--json", action="store_true",
                   help="print the §6 JSON record (with --check: the marks as JSON)")
    p.add_argument("--precision", type=int, default=4, metavar="N",
                   help="decimals printed per number (default 4)")
    p.add_argument("--check", metavar="FILE",
                   help="mark your own answers (the --json shape, any subset); exit 1 if any wrong")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="T",
                   help="--check tolerance: |yours − true| <= T·max(1, |true|) (default 1e-6)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Trace the spec and print it (or mark the answers); return the exit code.

    Raises:
        GlassnetError: for a bad option, spec or answers file.
    """
    if not 0 <= args.precision <= 17:
        raise GlassnetError(f"--precision: expected 0 to 17 decimals, got {args.precision}")
    if not (math.isfinite(args.tolerance) and args.tolerance > 0):
        raise GlassnetError(f"--tolerance: expected a number > 0, got {args.tolerance}")
    from glassnet.tracing.render import render  # the compute stack loads only to run
    from glassnet.tracing.run import run_trace

    spec = load_spec(args.spec)
    record = run_trace(spec)
    if args.check:
        marks = check_answers(load_answers(args.check), record, args.tolerance)
        if args.json:
            print(json.dumps(check_json(marks, args.tolerance)))
        else:
            print(render_check(marks, args.tolerance, args.precision), end="")
        return 0 if all(m.ok for m in marks) else 1
    if args.json:
        print(json.dumps(record))
    else:
        print(render(spec, record, args.precision), end="")
    return 0
