"""Image grids and reconstruction plots."""

__all__: list[str] = []
