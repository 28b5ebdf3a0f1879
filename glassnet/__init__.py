"""glassnet: a glass-box, fast CNN framework."""

__version__ = "0.1.0"
