"""Models: :class:`Sequential`, graph :class:`Model`, the summary and model files.

``glassnet/__init__.py`` re-exports ``Sequential`` and ``Model`` as ``gn.Sequential`` and
``gn.Model`` (DESIGN.md §3).
"""

from glassnet.models.graph import Model
from glassnet.models.modelfile import from_config, load_model_file, save_model_file, to_config
from glassnet.models.sequential import Sequential
from glassnet.models.summary import render_summary, summarize

__all__ = [
    "Model",
    "Sequential",
    "from_config",
    "load_model_file",
    "render_summary",
    "save_model_file",
    "summarize",
    "to_config",
]
