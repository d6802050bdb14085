"""Writing outputs so that a failure never truncates a previous result.

Every output latentlab writes (JSON, CSV, PNG, HTML, ``.npz``, HDF5 side
files) goes to a unique temporary file in the destination's directory and is
renamed into place only when complete: a crash, a full disk or Ctrl-C leaves
the old file (or no file), never half of one. ``os.replace`` replaces a
symlink itself rather than writing through it.

JSON is strict: NaN and ±Inf become ``null`` (browsers' ``JSON.parse`` and
strict parsers reject bare ``NaN``), numpy scalars and arrays become plain
numbers and lists.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "dumps_json", "jsonable", "save_figure", "write_bytes", "write_json", "write_text"]


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
    # A hidden name with the real suffix last: formats chosen by extension still work.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp.", suffix=path.suffix if suffix is None else suffix,
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; outputs get the mode an ordinary open() would give them.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


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
