"""The ONE place that turns an exception into the CLI's error line and exit code.

* exit 2, bad input: :class:`GlassnetError` / ``ValueError`` from validation, ``KeyError``
  (an unknown name), ``OSError`` on a user's path (missing, a directory, not a directory,
  permission, a full disk), undecodable text, nesting too deep for the parser, corrupt
  compressed data, an allocation the machine refuses;
* exit 1, an internal error: anything else, reported as such with a pointer to ``--debug``;
* exit 130: ``KeyboardInterrupt`` (Ctrl-C), one line.

The line is always one line (newlines folded) and of bounded length, whatever the input echoed.
"""

from __future__ import annotations

import errno
import pickle
import zipfile
import zlib

from glassnet.limits import clip

MAX_LINE = 400
INTERRUPTED = 130
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def describe(exc: BaseException) -> tuple[str, int]:
    """Return ``(message, exit code)`` for an exception that reached the CLI.

    Args:
        exc: the exception.

    Returns:
        The message (one line, without the ``glassnet CMD: error:`` prefix) and the exit code.
    """
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", INTERRUPTED
    msg, code = _classify(exc)
    return one_line(msg), code


def one_line(text: str) -> str:
    """``text`` with newlines folded into spaces, cut to :data:`MAX_LINE` characters."""
    return clip(" ".join(str(text).split()), MAX_LINE)


def _classify(exc: BaseException) -> tuple[str, int]:
    if isinstance(exc, UnicodeDecodeError):
        return (f"cannot decode the input as {exc.encoding} text (byte {exc.start}); "
                "expected a text file, not a binary one"), 2
    if isinstance(exc, ValueError):  # GlassnetError is one
        return str(exc) or type(exc).__name__, 2
    if isinstance(exc, KeyError):
        return str(exc.args[0] if exc.args else exc), 2
    if isinstance(exc, OSError):
        return _os_error(exc), 2
    if isinstance(exc, zipfile.BadZipFile | pickle.UnpicklingError):
        return f"not a readable archive or pickle ({clip(exc) or type(exc).__name__})", 2
    if isinstance(exc, zlib.error | EOFError):
        return f"corrupt or truncated compressed data ({exc or type(exc).__name__})", 2
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read", 2
    if isinstance(exc, MemoryError):
        return ("not enough memory for this input; use smaller sizes (the budget is set with "
                "--max-memory)"), 2
    return (f"internal error ({type(exc).__name__}: {clip(exc)}); this is a bug in glassnet — "
            "rerun with --debug for the traceback"), 1


def _os_error(exc: OSError) -> str:
    """``PATH: what went wrong`` for an OSError (a gzip error is one without a path)."""
    what = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in _DISK_FULL:
        what += " (the disk or your quota is full; nothing was replaced)"
    if exc.filename is None:
        return what
    where = clip(exc.filename)
    if exc.filename2 is not None:
        where += f" -> {clip(exc.filename2)}"
    return f"{where}: {what}"
