"""Array-level ops: forward/backward pairs on NumPy arrays (layout CNHW for 4-D maps)."""
