"""argparse ``type=`` checkers: a bad number or output path is refused while parsing, before work.

Each returns a callable for ``add_argument(type=...)``; argparse turns the ``ArgumentTypeError``
into the one-line usage error ``glassnet CMD: error: argument --seed: ...`` (exit 2), so the
message names the value and the valid range and argparse adds the flag.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from glassnet.limits import clip, parse_size

SEED_MAX = 2**32 - 1  # NumPy's legacy seeding (and most tools) take a 32-bit seed


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An int in ``[low, high]`` (``high`` None: no upper bound)."""
    want = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{clip(text)!r} is not {want}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range; expected {want}")
        return value

    return parse


def float_range(low: float, high: float | None = None, *, low_open: bool = False,
                high_open: bool = False) -> Callable[[str], float]:
    """A finite float in the range ``low..high``; ``*_open`` excludes that end."""
    lo = f"> {low:g}" if low_open else f">= {low:g}"
    hi = "" if high is None else (f" and < {high:g}" if high_open else f" and <= {high:g}")
    want = f"a finite number {lo}{hi}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{clip(text)!r} is not {want}") from None
        bad = (not math.isfinite(value) or value < low or (low_open and value == low)
               or (high is not None and (value > high or (high_open and value == high))))
        if bad:
            raise argparse.ArgumentTypeError(f"{value:g} is out of range; expected {want}")
        return value

    return parse


def finite(text: str) -> float:
    """A finite float (its range is checked where the option is used)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{clip(text)!r} is not a finite number")
    return value


SEED = int_range(0, SEED_MAX)
POSITIVE = int_range(1)
NON_NEGATIVE = int_range(0)


def size(text: str) -> int:
    """A memory size (``512M``, ``4G``) in bytes."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{clip(text)!r} is not a size > 0 like 512M, 4G "
                                         "or 1.5G") from exc


def out_file(text: str) -> str:
    """An output file path: not an existing directory, and its folder a writable directory."""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"{clip(text)!r} is a directory; expected a file path")
    _check_folder(path.parent, text)
    return text


def out_dir(text: str) -> str:
    """An output folder: a directory or a path that can become one (not a file)."""
    path = Path(text)
    if not text or (path.exists() and not path.is_dir()):
        raise argparse.ArgumentTypeError(f"{clip(text)!r} exists and is not a directory; "
                                         "expected a folder path")
    _check_folder(path.parent, text)
    return text


def _check_folder(folder: Path, text: str) -> None:
    """The nearest existing ancestor of ``folder`` must be a directory we may write in."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():  # a dangling link: nothing can be created through it
            break
        probe = probe.parent
    if not probe.is_dir():
        raise argparse.ArgumentTypeError(
            f"{clip(text)!r}: {clip(probe)} is not a directory, so nothing can be written under it")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{clip(text)!r}: no permission to write in {clip(probe)}")
