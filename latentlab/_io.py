"""Writing outputs so that a failure never truncates a previous result.

Every output latentlab writes (JSON, CSV, PNG, HTML, ``.npz``, HDF5 side
files) goes to a unique temporary file in the destination's directory and is
renamed into place only when complete: a crash, a full disk or Ctrl-C leaves
the old file (or no file), never half of one. ``os.replace`` replaces a
symlink itself rather than writing through it.

Temporary names carry the writer's PID (``.NAME.tmp.<pid>-<random>.<suffix>``):
a SIGKILLed writer cannot remove its own temporary file, so the next write of
the same output removes those whose PID is no longer running
(:func:`remove_stale_temporaries`).

h5py reports a full disk or a read-only file system as ``RuntimeError`` (the
C ``errno`` in its text) and leaves the file's dirty cache behind, which HDF5
retries (and can crash on) when the objects are finalised at interpreter exit.
:func:`close_failed_hdf5` closes such a file with its descriptor pointed at
``/dev/null``, so nothing is retried; the store writer uses it and raises an
``OSError`` naming the store.

JSON is strict: NaN and ±Inf become ``null`` (browsers' ``JSON.parse`` and
strict parsers reject bare ``NaN``), numpy scalars and arrays become plain
numbers and lists.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "atomic_path", "close_failed_hdf5", "dumps_json", "jsonable", "remove_stale_temporaries",
    "save_figure", "write_bytes", "write_json", "write_text",
]


def jsonable(obj):
    """``obj`` with numpy values as plain Python and non-finite floats as ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({"a": np.float32(1.5), "b": [np.nan, np.inf], "c": np.arange(2)})
    {'a': 1.5, 'b': [None, None], 'c': [0, 1]}
    """
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    return str(obj)


def dumps_json(obj, indent: int | None = 1) -> str:
    """Strict JSON text for ``obj`` (see :func:`jsonable`)."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)


@contextlib.contextmanager
def atomic_path(path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    ``suffix`` defaults to ``path``'s own suffix, so writers that choose a
    format by extension (matplotlib, numpy) still do.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    remove_stale_temporaries(path)
    # A hidden name with the real suffix last: formats chosen by extension still work; the PID lets a
    # later run tell a dead writer's leftover from a live writer's file.
    fd, tmp_name = tempfile.mkstemp(prefix=f"{_tmp_prefix(path)}{os.getpid()}-",
                                    suffix=path.suffix if suffix is None else suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; outputs get the mode an ordinary open() would give them.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        named = _named_os_error(exc, path)
        if named is not None:
            raise named from None
        raise


def _named_os_error(exc: BaseException, path) -> OSError | None:
    """An ``OSError`` naming ``path`` for a write error that names no file (``f.write`` on a full disk).

    Errors naming our own temporary file are re-pointed at the output the user asked for.
    """
    code = _errno_of_hdf5_error(exc) if isinstance(exc, (OSError, RuntimeError)) else None
    if code is None:
        return None
    filename = getattr(exc, "filename", None)
    if isinstance(exc, OSError) and filename is not None and _tmp_prefix(Path(path)) not in os.fsdecode(filename):
        return None
    return OSError(code, os.strerror(code), os.fspath(path))


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp."


_TMP_PID = re.compile(r"(\d+)-")


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (on this machine, in this PID namespace)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process, or a number no PID can be
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path) -> list[Path]:
    """Remove ``.NAME.tmp.<pid>-*`` files beside ``path`` left by processes that no longer run.

    Files of live processes (this one included) and names without a PID are kept.
    Returns the removed paths.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".out.png.tmp.999999999-abc.png").write_bytes(b"")   # no such PID
    >>> [p.name for p in remove_stale_temporaries(d / "out.png")]
    ['.out.png.tmp.999999999-abc.png']
    """
    path = Path(path)
    prefix = _tmp_prefix(path)
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _TMP_PID.match(entry.name, len(prefix))
        if match is None or pid_alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _errno_of_hdf5_error(exc: BaseException) -> int | None:
    """The C ``errno`` inside an h5py error message (``… errno = 28, error message = …``), if any."""
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    match = re.search(r"errno = (\d+)", str(exc))
    return int(match.group(1)) if match else None


def close_failed_hdf5(h5file) -> None:
    """Close an h5py ``File`` whose writes failed, without HDF5 retrying them.

    The file's descriptor is pointed at ``/dev/null`` first: HDF5 flushes its
    dirty metadata on close (and, for objects still open, when they are
    finalised at exit); with a full disk those flushes fail again, print
    "Exception ignored" tracebacks and can crash the interpreter. What reaches
    the disk is what a killed writer leaves: the last committed state.
    """
    if h5file is None:
        return
    try:
        valid = bool(h5file.id.valid)
    except Exception:
        valid = False
    if not valid:
        return
    try:
        fd = h5file.id.get_vfd_handle()
    except Exception:
        fd = None
    if isinstance(fd, int) and fd >= 0:
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
    with contextlib.suppress(Exception):
        h5file.close()


def write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_text(path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, obj, indent: int | None = 1) -> Path:
    """Write ``obj`` as strict JSON (NaN/Inf → ``null``) to ``path`` atomically."""
    return write_text(path, dumps_json(obj, indent=indent) + "\n")


def save_figure(fig, path, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically (format from ``path``'s suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path
