"""Progress for long fitting and sampling steps (EM iterations, CV folds, epochs, rejection rounds).

Quiet unless switched on with :func:`show_progress` (the CLI does; tests and
library calls stay silent), so library code can report steps unconditionally.
"""

from __future__ import annotations

import contextlib
import contextvars

__all__ = ["progress_enabled", "progress_to", "show_progress", "steps"]

_ENABLED = contextvars.ContextVar("latentlab_region_progress", default=False)
_SINK = contextvars.ContextVar("latentlab_region_progress_sink", default=None)


def progress_enabled() -> bool:
    return _ENABLED.get()


@contextlib.contextmanager
def show_progress(enabled: bool = True):
    """Within this block, region fits and samplers show rich progress bars on stderr."""
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)


@contextlib.contextmanager
def progress_to(callback):
    """Within this block, every step also calls ``callback(description, done, total, fields)``.

    For listeners other than a terminal: the explorer shows a fit's progress on
    its page this way (from the worker thread that runs the fit; the callback
    must hand the update to whoever draws it).
    """
    token = _SINK.set(callback)
    try:
        yield
    finally:
        _SINK.reset(token)


class _Quiet:
    def advance(self, k: int = 1, **fields) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Bar(_Quiet):
    def __init__(self, description: str, total):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("  [bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task(description, total=total, info="")

    def advance(self, k: int = 1, **fields) -> None:
        info = " ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}" for key, value in fields.items())
        self._progress.update(self._task, advance=k, info=info)

    def __enter__(self):
        self._progress.start()
        return self

    def __exit__(self, *exc):
        self._progress.stop()
        return False


class _Reported(_Quiet):
    """Steps told to a :func:`progress_to` callback, and to the bar (or nothing) inside."""

    def __init__(self, description: str, total, callback, inner):
        self._description, self._total, self._callback, self._inner = description, total, callback, inner
        self._done = 0

    def advance(self, k: int = 1, **fields) -> None:
        self._done += k
        self._callback(self._description, self._done, self._total, fields)
        self._inner.advance(k, **fields)

    def __enter__(self):
        self._inner.__enter__()
        self._callback(self._description, 0, self._total, {})
        return self

    def __exit__(self, *exc):
        return self._inner.__exit__(*exc)


def steps(description: str, total=None):
    """A context manager with ``advance(k=1, **fields)``: a rich bar when enabled, else nothing.

    Within :func:`progress_to` the steps also go to its callback.
    """
    inner = _Bar(description, total) if _ENABLED.get() else _Quiet()
    sink = _SINK.get()
    return _Reported(description, total, sink, inner) if sink is not None else inner
