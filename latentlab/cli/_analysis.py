"""CLI commands (registered on import)."""

from ._app import app  # noqa: F401
