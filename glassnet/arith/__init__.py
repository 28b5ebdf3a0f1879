"""Pure integer arithmetic of CNN layers: sizes, counts and their explanations. No arrays."""

from glassnet.arith.geometry import (
    pair,
    resolve_padding,
    same_padding_1d,
    window_output_size,
)

__all__ = ["pair", "resolve_padding", "same_padding_1d", "window_output_size"]
