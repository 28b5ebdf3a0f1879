"""The ``glassnet`` command: parses arguments, calls the library, prints. No math here.

Each subcommand lives in ``glassnet/commands/<name>.py`` and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (a callable taking the
parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from glassnet.accel import compute_scope
from glassnet.errors import GlassnetError

# Modules under glassnet.commands, in the order `glassnet --help` lists them.
COMMANDS = (
    "demo", "summary", "calc", "compare", "trace", "train", "evaluate", "gradcheck", "bench",
    "export", "import_", "explain",
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors print one line (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE`` and a pointer to ``--help``; exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available subcommand registered."""
    parser = _Parser(
        prog="glassnet",
        description="glassnet: a glass-box CNN framework — shapes, counts, values and gradients "
        "shown and checked.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"glassnet.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 failure, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with compute_scope():  # the process is ours for the command: split threads, warm heap
            code = args.func(args)
    except BrokenPipeError:
        # `glassnet summary vgg16 | head`: the reader left; stop quietly like other Unix tools.
        sys.stderr.close()
        return 0
    except (GlassnetError, FileNotFoundError, KeyError) as exc:
        if args.debug:
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"glassnet {args.command}: error: {msg}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
