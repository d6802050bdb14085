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


def stderr_is_terminal() -> bool:
    import sys

    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def announce_stages(*, live: bool = True):
    """Print the stages a long command goes through (``latentlab._stages.stage``) on stderr.

    In a terminal (and ``live``): a rich live list, a spinner on the running
    stage and each finished one ticked with its duration. Otherwise (a log file,
    CI, a pipe, or a command that goes on printing, like ``explore``): one line
    per stage as it begins, with the seconds since the command started, so a
    long silence always says which step it is in.
    """
    import contextlib
    import time

    from .._stages import listen_to_stages

    @contextlib.contextmanager
    def announcing():
        t0 = time.perf_counter()
        if not (live and stderr_is_terminal()):
            def line(text: str) -> None:
                typer.echo(f"[{time.perf_counter() - t0:7.1f} s] {text}", err=True)

            with listen_to_stages(line):
                yield
            return
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        bar = Progress(SpinnerColumn(finished_text="[green]✓[/]"), TextColumn("{task.description}"), TimeElapsedColumn(),
                       console=Console(stderr=True), transient=False)
        current = {"task": None}

        def finish() -> None:
            if current["task"] is not None:
                bar.update(current["task"], total=1, completed=1)

        def begin(text: str) -> None:
            if current["task"] is None:
                bar.start()  # at the first stage: another live bar (training epochs) has ended by then
            finish()
            current["task"] = bar.add_task(text, total=None)

        try:
            with listen_to_stages(begin):
                yield
        finally:
            finish()
            bar.stop()

    return announcing()


def epoch_progress(description: str, total: int):
    """``(context manager, callback(epoch, total, loss))`` for training epochs.

    A rich bar in a terminal; otherwise a line at most every 5 s (and at the
    last epoch) with the epoch, the loss and the time per epoch.
    """
    import contextlib
    import time

    if stderr_is_terminal():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                       console=Console(stderr=True), transient=False)
        task = bar.add_task(description, total=total, loss="")

        def update(epoch: int, total_: int, loss) -> None:
            bar.update(task, completed=epoch, total=total_, loss=f"loss {loss:.4f}" if loss is not None else "")
            if epoch >= total_:
                bar.stop()  # what follows (encoding, the report) has its own output

        return bar, update

    state = {"t0": time.perf_counter(), "last": -1e9}

    def update(epoch: int, total_: int, loss) -> None:
        now = time.perf_counter()
        if now - state["last"] >= 5.0 or epoch >= total_:
            state["last"] = now
            per = (now - state["t0"]) / max(epoch, 1)
            typer.echo(f"{description}: epoch {epoch}/{total_}" + (f", loss {loss:.4f}" if loss is not None else "")
                       + f" ({per:.1f} s per epoch)", err=True)

    return contextlib.nullcontext(), update
