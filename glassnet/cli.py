"""The ``glassnet`` command: parses arguments, calls the library, prints. No math here.

Each subcommand lives in ``glassnet/commands/<name>.py`` and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (a callable taking the
parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from glassnet.commands import argtypes
from glassnet.commands.failures import INTERRUPTED, describe
from glassnet.limits import set_memory_budget

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


def chosen_command(argv: Sequence[str]) -> str | None:
    """The module of the subcommand ``argv`` names, or None (no command, or not a known one).

    Lets :func:`main` import only that command's module: registering all of them loads the
    whole library (numba included), which a usage error or ``--help`` of one command never needs.
    """
    names = {name.rstrip("_"): name for name in COMMANDS}
    tokens = iter(argv)
    for token in tokens:
        if token == "--max-memory":  # the one global option that takes a separate value
            next(tokens, None)
        elif not token.startswith("-"):
            return names.get(token)
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand (or only the module ``only``)."""
    parser = _Parser(
        prog="glassnet",
        description="glassnet: a glass-box CNN framework — shapes, counts, values and gradients "
        "shown and checked.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on errors (for reporting a bug)")
    parser.add_argument("--max-memory", type=argtypes.size, metavar="SIZE",
                        help="memory budget checked on declared sizes before any allocation, "
                        "e.g. 512M or 4G (default: half the memory available at start)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        importlib.import_module(f"glassnet.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 internal error, 2 bad input, 130 Ctrl-C).

    Every failure ends here as one stderr line (:mod:`glassnet.commands.failures` words it);
    ``--debug`` re-raises it for the traceback.
    """
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser(chosen_command(argv))
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting up: nothing to save yet
        print("glassnet: interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    set_memory_budget(args.max_memory)
    try:
        # Imported here, not at the top: it loads numba, which a usage error never needs.
        from glassnet.accel import compute_scope

        with compute_scope():  # the process is ours for the command: split threads, warm heap
            code = args.func(args)
    except BrokenPipeError:
        # `glassnet summary vgg16 | head`: the reader left; stop quietly like other Unix tools.
        sys.stderr.close()
        return 0
    except (Exception, KeyboardInterrupt) as exc:
        if args.debug:
            raise
        msg, code = describe(exc)
        sep = ": " if isinstance(exc, KeyboardInterrupt) else ": error: "
        print(f"glassnet {args.command}{sep}{msg}", file=sys.stderr, flush=True)
        return code
    return int(code or 0)


def run() -> None:
    """The ``glassnet`` console entry point: :func:`main`, then exit with its code.

    NOTE: after a Ctrl-C has been reported (exit 130) two things keep the exit status 130
    instead of death by SIGINT (status -2, which a shell or CI reads as a crash):

    * further SIGINTs are ignored: a second delivery of the same Ctrl-C (signal handlers that
      native libraries chain in front of Python's may re-raise it) would otherwise surface as
      a KeyboardInterrupt after ``main`` returned;
    * :func:`_forget_caught_interrupt`: CPython marks the interrupt as unhandled when it left
      code run by ``exec``/``eval`` of a string, even though ``main`` caught it.
    """
    try:
        code = main()
        if code == INTERRUPTED:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a pending trip now runs no handler
    except KeyboardInterrupt:  # the second delivery came before that line
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        code = INTERRUPTED
    if code == INTERRUPTED:
        _forget_caught_interrupt()
    sys.exit(code)


def _forget_caught_interrupt() -> None:
    """Clear CPython's "KeyboardInterrupt went unhandled" mark after we handled it.

    CPython sets that mark whenever a KeyboardInterrupt leaves code run by ``exec``/``eval`` of
    a string, caught further up or not, and at exit ends the process by SIGINT when it is set.
    ``dataclasses`` and ``collections.namedtuple`` build methods that way while modules are
    imported, so a Ctrl-C during a command's imports hit it (1 run in ~12 of the Ctrl-C test).
    Running a string of code resets the mark; no KeyboardInterrupt can follow (SIGINT is
    ignored by now).
    """
    exec("pass")


if __name__ == "__main__":  # pragma: no cover
    run()
