"""Error types raised at glassnet's boundaries (op arguments, layers, model files, CLI input)."""


class GlassnetError(ValueError):
    """A user-facing error naming the op or layer, the argument, the value and what was expected.

    A ``ValueError`` subclass, so callers that catch ``ValueError`` keep working.
    """


class ShapeError(GlassnetError):
    """An array or layer geometry that does not fit (channel mismatch, kernel larger than input)."""
