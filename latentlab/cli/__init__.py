"""The ``latentlab`` command line: a thin shell over the Python API.

Each command parses arguments, calls one API function and prints. Every
failure ends in one line on stderr and a documented exit code, never a
traceback (:func:`main` is the one place that decides):

========================  ====  ==================================================
failure                   exit  line
========================  ====  ==================================================
:class:`LatentlabError`   2/1   ``error: <message>`` (``exit_code`` of the error)
usage error (typer)       2     ``error: <message>; see `latentlab CMD --help```
``OSError``               2     ``error: <path>: <reason>``
``MemoryError``           2     ``error: out of memory …`` (with the size asked for)
Ctrl-C                    130   ``interrupted`` (encode: ``…; resume with --resume``)
SIGTERM                   143   ``terminated (SIGTERM)`` (encode: ``…; resume with --resume``)
broken pipe (``| head``)  141   nothing
anything else             1     ``error: internal error …; please report …``
========================  ====  ==================================================

``--debug`` (before the command: ``latentlab --debug pca …``) or
``LATENTLAB_DEBUG=1`` also prints the traceback of an unexpected error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import traceback

import typer
from typer import main as _typer_main

from .._errors import LatentlabError, Terminated
from ._app import app

# Each module registers its commands on `app`; none imports TensorFlow at import time.
from . import _foundation  # noqa: E402,F401  train, encode, info, demo, merge
from . import _analysis  # noqa: E402,F401  components, correlations, radii, pca, fragments (the registry), report
from . import _sampling  # noqa: E402,F401  sample, path, interpolate, reconstruct, compare-samplers
from . import _explore  # noqa: E402,F401  explore, export

__all__ = ["app", "main"]

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process killed by it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a C program killed by the pipe

# Commands whose interrupted output can be finished later rather than started again.
_RESUMABLE = {"encode", "train"}


def _click_exceptions():
    # typer >= 0.26 vendors click as typer._click, whose Abort/Exit live in typer.exceptions;
    # older typer uses click itself. Import what exists instead of naming one layout.
    try:
        from typer._click import exceptions as click_exc
        from typer import exceptions as typer_exc

        return click_exc.ClickException, typer_exc.Abort, typer_exc.Exit
    except ImportError:  # pragma: no cover - typer < 0.26
        from click import exceptions as click_exc

        return click_exc.ClickException, click_exc.Abort, click_exc.Exit


def _debug_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """``--debug`` before the command name (removed from argv) or ``LATENTLAB_DEBUG=1``."""
    debug = os.environ.get("LATENTLAB_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
    args = list(argv)
    while args and args[0] == "--debug":
        debug = True
        args.pop(0)
    return debug, args


def _command_name(args: list[str]) -> str | None:
    return next((a for a in args if not a.startswith("-")), None)


def _format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


def os_error_line(exc: OSError) -> str:
    """One line for a file-system error that names the path (and the second path of a rename)."""
    reason = exc.strerror or os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc) or type(exc).__name__)
    hints = {
        errno.ENOSPC: "no space left on the device; nothing already written was replaced",
        errno.EDQUOT: "disk quota exceeded; nothing already written was replaced",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EEXIST: "already exists",
        errno.ENOTDIR: "a part of this path is a file, not a directory",
        errno.EISDIR: "is a directory, expected a file",
        errno.ENOENT: "no such file or directory",
        errno.ELOOP: "is a symbolic link (latentlab does not write through symlinks)",
    }
    reason = hints.get(exc.errno, reason)
    path = exc.filename
    if exc.errno == errno.EEXIST and path is not None and os.path.isfile(path):
        reason = "already exists as a file (a directory was expected)"
    if path is None:
        return f"error: {reason}" if reason else f"error: {type(exc).__name__}"
    where = os.fsdecode(path)
    if exc.filename2 is not None:
        where = f"{where} → {os.fsdecode(exc.filename2)}"
    return f"error: {where}: {reason}"


def memory_error_line(exc: MemoryError) -> str:
    """numpy's MemoryError says the size it asked for; keep that, drop the rest."""
    import re

    text = str(exc)
    size = re.search(r"allocate ([\d.]+ ?[KMGTP]?i?B)", text)
    if size:
        asked = size.group(1)
    elif getattr(exc, "nbytes", None):
        asked = _format_bytes(exc.nbytes)
    else:
        asked = None
    what = f"could not allocate {asked}" if asked else (text.splitlines()[0] if text else "a memory allocation failed")
    return f"error: out of memory: {what} (use fewer rows, e.g. --n / --limit, or a smaller --batch-size)"


def _quiet_broken_pipe() -> None:
    # Python flushes stdout at exit and would print "Exception ignored … BrokenPipeError";
    # point the descriptors at /dev/null so that flush succeeds silently.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            try:
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError, AttributeError):
                pass
    except OSError:
        pass


def _echo_err(line: str) -> None:
    try:
        typer.echo(line, err=True)
    except (OSError, ValueError):  # stderr itself is gone: nothing more to say
        pass


def _raise_terminated(signum, frame):
    # A second SIGTERM must not interrupt the cleanup the first one started (SIGKILL still can).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM raises :class:`Terminated` in the main thread while the command runs.

    Python's default for SIGTERM is to die at once: no ``finally`` runs, so
    temporary files and locks stay behind. As an exception, every cleanup runs
    (``atomic_path`` removes its temporary file, the store writer closes its
    file and releases its lock) and :func:`main` prints one line.
    """
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _invoke(args: list[str]):
    """Run the typer app, letting every exception reach :func:`main` unchanged.

    typer's own ``main`` turns Ctrl-C into a silent exit 130 and, on older
    versions, click's Abort/EOF handling differs; running the click command
    directly gives one place that decides every outcome.
    """
    command = _typer_main.get_command(app)
    with command.make_context("latentlab", list(args)) as ctx:
        return command.invoke(ctx)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) the exit code."""
    console = argv is None
    debug, args = _debug_requested(sys.argv[1:] if console else argv)
    ClickException, Abort, Exit = _click_exceptions()
    command = _command_name(args)
    try:
        with _sigterm_raises():
            result = _invoke(args)
        code = result if isinstance(result, int) else 0
    except Terminated:
        hint = "; resume with --resume" if command in _RESUMABLE else ""
        _echo_err(f"terminated (SIGTERM){hint}")
        code = EXIT_TERMINATED
    except LatentlabError as exc:
        _echo_err(f"error: {exc}")
        code = exc.exit_code
    except Exit as exc:  # --help, --version, ctx.exit(n)
        code = exc.exit_code
    except ClickException as exc:  # usage errors: one line too (exit 2)
        from ._usage import usage_error_line

        line = usage_error_line(exc)
        exc.show() if line is None else _echo_err(line)
        code = exc.exit_code
    except (KeyboardInterrupt, Abort, EOFError):
        hint = "; resume with --resume" if command in _RESUMABLE else ""
        _echo_err(f"interrupted{hint}")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_broken_pipe()
        code = EXIT_BROKEN_PIPE
    except MemoryError as exc:
        _echo_err(memory_error_line(exc))
        code = 2
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _quiet_broken_pipe()
            code = EXIT_BROKEN_PIPE
        else:
            _echo_err(os_error_line(exc))
            if debug:
                traceback.print_exc()
            code = 2
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # a bug: say so in one line, the traceback only when asked
        if debug:
            traceback.print_exc()
        where = f" in `latentlab {command}`" if command else ""
        _echo_err(f"error: internal error{where}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                  f"; please report it (rerun with --debug for the traceback)")
        code = 1
    if console:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, OSError, ValueError):
            _quiet_broken_pipe()
            code = code or EXIT_BROKEN_PIPE
        sys.exit(code)
    return code
