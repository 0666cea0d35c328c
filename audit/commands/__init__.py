"""Subcommands of `clip-audit`; each module exposes `register(app)`."""
