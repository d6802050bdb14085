"""Options shared by several commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

ModelDir = Annotated[Optional[Path], typer.Option("--model", help="Model directory written by `latentlab train`.")]
EncoderFile = Annotated[Optional[Path], typer.Option("--encoder", help="Bring your own encoder (.keras); needs --decoder.")]
DecoderFile = Annotated[Optional[Path], typer.Option("--decoder", help="Bring your own decoder (.keras); needs --encoder.")]
AllowIncomplete = Annotated[bool, typer.Option("--allow-incomplete", help="Analyse a store whose encode has not finished.")]


def reads_store(store_param: str = "store"):
    """Decorator for commands that read a z-store.

    Adds ``--allow-incomplete`` and opens the store named by ``store_param``
    once before the command runs, so a bad or incomplete store is refused
    (one line, exit 2) before anything is written. Inside the command every
    :func:`~latentlab.open_store` follows the flag.
    """
    import functools
    import inspect

    def decorate(func):
        signature = inspect.signature(func, eval_str=True)
        flag = inspect.Parameter("allow_incomplete", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=AllowIncomplete)

        @functools.wraps(func)
        def command(*args, allow_incomplete: bool = False, **kwargs):
            from ..store import incomplete_stores_allowed, open_store

            with incomplete_stores_allowed(allow_incomplete):
                store = kwargs.get(store_param)
                if store is not None:
                    with open_store(store):
                        pass
                out = kwargs.get("out")
                created = out is not None and not os.path.lexists(out)
                try:
                    return func(*args, **kwargs)
                except BaseException:
                    # a failure found while reading (NaN rows, a damaged chunk) must not leave
                    # behind the empty --out folder the command made for its results
                    if created and os.path.isdir(out) and not os.path.islink(out) and not any(os.scandir(out)):
                        os.rmdir(out)
                    raise

        command.__signature__ = signature.replace(parameters=[*signature.parameters.values(), flag])
        command.__annotations__ = {**func.__annotations__, "allow_incomplete": AllowIncomplete}
        return command

    return decorate


def parse_int_list(text: str, name: str, length: int | None = None) -> list[int]:
    """``"32,64,128,128"`` → ``[32, 64, 128, 128]`` with a one-line error."""
    from .._errors import LatentlabError

    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise LatentlabError(f"{name}: expected comma-separated integers, got {text!r}") from None
    if length is not None and len(values) != length:
        raise LatentlabError(f"{name}: expected {length} comma-separated integers, got {text!r}")
    return values


def progress_bar(description: str):
    """A rich progress bar with images/s; returns (context manager, callback(done, total))."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(), transient=False,
    )
    import time

    state = {"task": None, "t0": time.perf_counter()}

    def update(done: int, total: int) -> None:
        if state["task"] is None:
            state["task"] = bar.add_task(description, total=total, rate="")
        elapsed = time.perf_counter() - state["t0"]
        rate = f"{done / elapsed:,.0f} img/s" if elapsed > 0 else ""
        bar.update(state["task"], completed=done, total=total, rate=rate)

    return bar, update
