"""``glassnet explain MODEL [--input IMAGE | --data NAME --index I] [--trace SPEC] --out FILE``.

Write one self-contained HTML page (no server, no network) showing the model's own forward
pass: every layer's feature maps, each conv/pool cell's arithmetic, the softmax, and with
``--trace`` the value-by-value trace of a small network. The page carries the model's exact
weights and reruns it (forward and backward) in the browser on any input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glassnet.commands import argtypes
from glassnet.errors import GlassnetError
from glassnet.fileio import write_text

DESCRIPTION = """Write a self-contained explainer page (one HTML file: open it by double-click)
for any glassnet model. MODEL is a .npz checkpoint (its trained weights), a zoo name or a
YAML/JSON model file (random initial weights, --seed). With --data NAME a zoo model is built
for the data's image shape and classes, as `glassnet train` does. The input is --input
IMAGE.png (resized to the model's input by area averaging if needed; colour is converted to
gray for one-channel models), or test image --index of --data NAME; by default mnist-5k image
0 for 28x28x1 models, else seeded noise. The page also offers one test image per class of the
data (or a few seeded noise inputs) and runs the model on any of them in the browser."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``explain`` subcommand."""
    p = subparsers.add_parser("explain", help="self-contained HTML page of a model's numbers",
                              description=DESCRIPTION)
    p.add_argument("model", metavar="MODEL", help="checkpoint .npz, zoo name or model file")
    p.add_argument("--input", metavar="IMAGE",
                   help="an image file (PNG) to run the model on, resized if needed")
    p.add_argument("--data", metavar="NAME",
                   help="dataset: a zoo model is built for it; test images from it")
    p.add_argument("--index", type=argtypes.NON_NEGATIVE, metavar="I",
                   help="test image index (default 0)")
    p.add_argument("--trace", metavar="SPEC", help="add the value-by-value trace of a spec")
    p.add_argument("--seed", type=argtypes.SEED, default=0,
                   help="seed of random weights and of a random input (default 0)")
    p.add_argument("--max-mb", type=float, default=5.0, metavar="MB",
                   help="size budget (default 5): maps beyond it are embedded as thumbnails and "
                   "computed in the page; the weights are always embedded in full (a warning "
                   "says when they alone exceed it)")
    p.add_argument("--out", default="explain.html", type=argtypes.out_file, metavar="FILE",
                   help="the page to write (default explain.html)")
    p.set_defaults(func=run)


def load_explained_model(spec: str, seed: int, data: str | None = None) -> tuple[object, str]:
    """Return ``(model, note on its weights)`` for MODEL.

    With ``data``, a zoo model is built for that dataset's input shape and classes, as
    ``glassnet train`` builds it (:func:`glassnet.training.session.build_model`).

    Raises:
        GlassnetError: if MODEL is no checkpoint, zoo name or model file, or a zoo model cannot
            take the data.
    """
    from glassnet.commands.summary import load_model_arg
    from glassnet.training.resolve import KERAS_SUFFIXES

    path = Path(spec)
    if path.suffix == ".npz":
        if not path.is_file():
            raise GlassnetError(f"MODEL {spec!r}: no such checkpoint file")
        from glassnet.training.checkpoint import load_model

        return load_model(path), f"weights loaded from the checkpoint {path.name}"
    if data is not None and not path.is_file():
        from glassnet import data as datasets
        from glassnet.training.session import build_model

        model = build_model(spec, datasets.load(data, progress=False), seed)
    else:
        model = load_model_arg(spec)
    if path.suffix.lower() in (*KERAS_SUFFIXES, ".onnx"):
        return model, f"weights read from {path.name}"
    model.build(seed=seed)
    note = (f"random initial weights (seed {seed}): the model is untrained, so its "
            "predictions mean nothing yet — pass a checkpoint .npz to see a trained one")
    return model, note


def run(args: argparse.Namespace) -> int:
    """Build and write the page; return the exit code.

    Raises:
        GlassnetError: for a bad model, input, spec or option.
    """
    from glassnet.explain import choose_input, example_inputs, explain_page
    from glassnet.explain.tracedata import trace_section

    if not args.max_mb > 0:
        raise GlassnetError(f"--max-mb: expected a size > 0, got {args.max_mb}")
    model, note = load_explained_model(args.model, args.seed, args.data)
    shape = tuple(model.input_shape)
    choice = choose_input(shape, image=args.input, data=args.data, index=args.index,
                          seed=args.seed)
    examples = example_inputs(shape, data=args.data, seed=args.seed)
    trace = trace_section(args.trace) if args.trace else None
    text, warnings = explain_page(model, choice, model_note=note,
                                  max_bytes=int(args.max_mb * 1e6), trace=trace,
                                  examples=examples)
    for line in warnings:
        print(f"glassnet explain: warning: {line}", file=sys.stderr)
    out = Path(args.out)
    try:
        write_text(out, text)
    except OSError as exc:
        raise GlassnetError(f"--out {str(out)!r}: cannot write ({exc.strerror})") from exc
    size = len(text.encode("utf-8"))
    print(f"wrote {out} ({size / 1e6:.2f} MB): {model.name} on {choice.note.split(':')[0]}")
    return 0
