"""Plots (see package docstring)."""

__all__: list[str] = []
