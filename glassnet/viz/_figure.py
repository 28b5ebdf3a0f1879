"""The two seams every plot goes through: a pyplot-free Figure, and an atomic PNG write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from glassnet.errors import GlassnetError
from glassnet.fileio import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


def new_figure(width: float, height: float) -> Figure:
    """Create a Figure on the Agg canvas, importing matplotlib only now.

    Args:
        width: figure width in inches.
        height: figure height in inches.

    Returns:
        A Figure with a constrained layout, attached to a ``FigureCanvasAgg``.

    Raises:
        GlassnetError: if matplotlib is not installed (it is the ``plot`` extra).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise GlassnetError(
            'viz: plotting needs matplotlib, which is not installed; pip install "glassnet[plot]"'
        ) from exc
    # Figure + FigureCanvasAgg instead of pyplot: no global figure registry, no GUI backend.
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` to ``path`` as a PNG so that readers never see a half-written file.

    The image goes to a hidden temporary file in the same directory (same file system, so the
    rename is atomic), which then replaces ``path``; on any failure the temporary is removed and
    an existing file at ``path`` is left untouched.

    Args:
        fig: the figure to render.
        path: destination file; its directory must exist.

    Returns:
        ``path`` as a ``pathlib.Path``.

    Raises:
        GlassnetError: if the directory of ``path`` does not exist.
        OSError: if the directory is not writable or ``path`` cannot be replaced.
    """
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise GlassnetError(f"viz: cannot write {str(path)!r}: directory {str(directory)!r} "
                            "does not exist")
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI)
    return path
