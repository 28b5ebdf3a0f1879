"""Training pictures: pure functions from arrays to PNG files.

Every ``plot_*`` function draws on its own ``matplotlib.figure.Figure`` with the Agg canvas (no
pyplot, no global state, safe from threads), writes the PNG atomically and returns its path.
matplotlib is imported on first use, so ``import glassnet.viz`` costs nothing without it.
"""

from glassnet.viz.confusion import confusion_matrix, plot_confusion_matrix
from glassnet.viz.curves import plot_history
from glassnet.viz.images import plot_feature_maps, plot_filters, plot_samples

__all__ = [
    "confusion_matrix",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_samples",
]
