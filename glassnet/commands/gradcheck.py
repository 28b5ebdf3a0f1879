"""``glassnet gradcheck MODEL [--input HxWxC]``: numerical vs analytical gradients of a model."""

from __future__ import annotations

import argparse
import json

import numpy as np

from glassnet.commands import argtypes
from glassnet.commands.summary import load_model_arg


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``gradcheck`` parser."""
    p = sub.add_parser(
        "gradcheck",
        help="check a model's backward pass against centred differences (float64)",
        description="Compare every parameter's gradient of the mean cross-entropy loss on a "
        "small random batch with float64 centred differences (sampled elements per parameter). "
        "Example: glassnet gradcheck lenet5 --batch 2",
    )
    p.add_argument("model", help="zoo name or model file")
    p.add_argument("--input", help="input shape HxWxC (default: the model's own)")
    p.add_argument("--batch", type=argtypes.POSITIVE, default=2,
                   help="random samples in the batch (default 2)")
    p.add_argument("--samples", type=argtypes.POSITIVE, default=8,
                   help="elements checked per parameter")
    p.add_argument("--seed", type=argtypes.SEED, default=0,
                   help="seed of the batch and the weights")
    p.add_argument("--json", action="store_true", help="print only JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the check; exit 0 when every parameter passes, 1 otherwise."""
    from glassnet.errors import GlassnetError
    from glassnet.gradcheck import gradcheck_model

    if args.batch < 1 or args.samples < 1:
        raise GlassnetError(f"--batch {args.batch} and --samples {args.samples} must be >= 1")
    model = load_model_arg(args.model, args.input)
    rng = np.random.default_rng(args.seed)
    x = rng.random((args.batch, *model.input_shape))
    k = int(np.prod(model.output_shape))
    y = rng.integers(0, k, args.batch)
    result = gradcheck_model(model, x, y, samples=args.samples, seed=args.seed)
    if args.json:
        print(json.dumps({"model": args.model, "errors": result.errors, "ok": result.ok}))
    else:
        print(result)
    return 0 if result.ok else 1
