"""Named stages of long computations, announced to whoever listens (the CLI) and silent otherwise.

Library code calls :func:`stage` when a step that may take long begins
(``stage("fragments: k-NN graph")``); the CLI listens with
:func:`listen_to_stages` and prints one line per stage (or a rich live list in
a terminal). Notebooks and tests hear nothing unless they listen too.

Examples
--------
>>> heard = []
>>> with listen_to_stages(heard.append):
...     stage("loading")
>>> stage("not heard")
>>> heard
['loading']
"""

from __future__ import annotations

import contextlib
import contextvars

__all__ = ["listen_to_stages", "stage"]

_LISTENER: contextvars.ContextVar = contextvars.ContextVar("latentlab_stage_listener", default=None)


def stage(text: str) -> None:
    """Announce that the step ``text`` begins (nothing happens when nobody listens)."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(str(text))


@contextlib.contextmanager
def listen_to_stages(callback):
    """Within this block, every :func:`stage` calls ``callback(text)``."""
    token = _LISTENER.set(callback)
    try:
        yield
    finally:
        _LISTENER.reset(token)
