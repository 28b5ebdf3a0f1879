"""The state of a ``glassnet train`` run folder that ``--resume`` reads back.

``DIR/resume.json`` holds the command's options and the results of the runs finished so far;
``DIR/checkpoints/run-<i>/last.npz`` the last finished epoch of run i (1-based; see
:mod:`glassnet.training.durable`). Both are replaced atomically, so an interrupt leaves either
the old or the new file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from glassnet.errors import GlassnetError
from glassnet.fileio import write_text

STATE_NAME = "resume.json"
FORMAT = "glassnet-train-state"


def run_checkpoints(out_dir: Path, index: int) -> Path:
    """The checkpoint folder of run ``index`` (0-based) in ``out_dir``."""
    return out_dir / "checkpoints" / f"run-{index + 1}"


def save_state(out_dir: Path, options: Any, results: list[Any]) -> Path:
    """Write the options and the finished runs' results to ``out_dir/resume.json`` atomically.

    Args:
        out_dir: the run folder.
        options: the command's options (a dataclass; paths are stored as text).
        results: the finished runs' results (dataclasses).

    Returns:
        The path written.
    """
    path = out_dir / STATE_NAME
    stored = {k: str(v) if isinstance(v, Path) else v
              for k, v in dataclasses.asdict(options).items()}
    done = [dataclasses.asdict(r) for r in results]
    write_text(path, json.dumps({"format": FORMAT, "options": stored, "results": done},
                                indent=2))
    return path


def load_state(folder: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read the options and finished results that :func:`save_state` wrote.

    Raises:
        GlassnetError: the folder holds no run state, or the file is not one.
    """
    path = Path(folder) / STATE_NAME
    if not path.is_file():
        raise GlassnetError(
            f"--resume {folder}: no {STATE_NAME} there; expected the --out folder of an "
            "interrupted glassnet train"
        )
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise GlassnetError(f"--resume {folder}: {path} is unreadable ({exc})") from None
    ok = (isinstance(state, dict) and state.get("format") == FORMAT
          and isinstance(state.get("options"), dict) and isinstance(state.get("results"), list))
    if not ok:
        raise GlassnetError(f"--resume {folder}: {path} is not a glassnet train state file")
    return state["options"], state["results"]
