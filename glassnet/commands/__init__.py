"""Subcommands of the glassnet CLI, one module each (see glassnet/cli.py)."""
