"""Checks at the boundary: option values and output paths, before anything is computed or written.

Each check raises :class:`~latentlab.LatentlabError` (a ``ValueError``) with one
line naming the option (or path) and what was wrong, so the CLI prints it and
exits 2, and a notebook gets an ordinary ``ValueError``. ``name`` is the CLI
spelling (``--halo-ratio``); the Python API passes the same names so that both
say the same thing.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from ._errors import LatentlabError

__all__ = [
    "available_memory", "check_fits_in_memory", "check_inside", "check_float", "check_int", "check_crop", "check_new_files", "check_new_output", "check_output_dir", "check_output_file",
]


def check_int(value, name: str, *, minimum: int | None = 1, maximum: int | None = None, optional: bool = False):
    """``value`` as an ``int`` within ``[minimum, maximum]`` (``None`` allowed when ``optional``).

    Examples
    --------
    >>> check_int(3, "--n")
    3
    >>> check_int(0, "--n")
    Traceback (most recent call last):
    ...
    latentlab._errors.LatentlabError: --n: expected an integer >= 1, got 0
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise LatentlabError(f"{name}: expected an integer{_range(minimum, maximum)}, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise LatentlabError(f"{name}: expected an integer{_range(minimum, maximum)}, got {value}")
    return value


def check_float(value, name: str, *, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True, high_inclusive: bool = True, optional: bool = False):
    """``value`` as a finite ``float`` in the given interval; NaN and ±Inf are refused.

    Examples
    --------
    >>> check_float(0.5, "--halo-ratio", low=0, high=1)
    0.5
    >>> check_float(float("nan"), "--lr", low=0, low_inclusive=False)
    Traceback (most recent call last):
    ...
    latentlab._errors.LatentlabError: --lr: expected a finite number > 0, got nan
    """
    if value is None and optional:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
        shown = repr(value)
    else:
        shown = f"{number:g}"
    if isinstance(value, bool):
        number = math.nan
    bad = not math.isfinite(number)
    if not bad and low is not None:
        bad = number < low or (number == low and not low_inclusive)
    if not bad and high is not None:
        bad = number > high or (number == high and not high_inclusive)
    if bad:
        parts = []
        if low is not None:
            parts.append(f"{'>=' if low_inclusive else '>'} {low:g}")
        if high is not None:
            parts.append(f"{'<=' if high_inclusive else '<'} {high:g}")
        raise LatentlabError(f"{name}: expected a finite number{' ' + ' and '.join(parts) if parts else ''}, got {shown}")
    return number


def check_crop(crop, name: str = "--crop"):
    """``None`` or a ``(width, height)`` pair of positive integers.

    Examples
    --------
    >>> check_crop([178, 178])
    (178, 178)
    >>> check_crop((0, 0))
    Traceback (most recent call last):
    ...
    latentlab._errors.LatentlabError: --crop: expected two positive integers W,H, got (0, 0)
    """
    if crop is None:
        return None
    try:
        values = tuple(crop)
        ok = len(values) == 2 and all(
            not isinstance(v, bool) and isinstance(v, numbers.Integral) and v >= 1 for v in values)
    except TypeError:
        ok, values = False, crop
    if not ok or isinstance(crop, (str, bytes)):
        raise LatentlabError(f"{name}: expected two positive integers W,H, got {values!r}")
    return int(values[0]), int(values[1])


def check_output_file(path, name: str = "--out", *, overwrite: bool = False) -> Path:
    """An output file that can be written: not a directory, not below a file, and new unless ``overwrite``.

    ``--overwrite`` is the only way anything existing is replaced. Nothing is created.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> existing = pathlib.Path(tempfile.mkdtemp()) / "grid.png"
    >>> _ = existing.write_bytes(b"")
    >>> check_output_file(existing, overwrite=True) == existing
    True
    >>> check_output_file(existing)                     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latentlab._errors.LatentlabError: --out ...grid.png: already exists (use --overwrite to replace it)
    """
    path = Path(path)
    if path.is_dir():
        raise LatentlabError(f"{name} {path}: is a directory, expected a file name")
    if path.exists() and not overwrite:
        raise LatentlabError(f"{name} {path}: already exists (use --overwrite to replace it)")
    _check_parent(path.parent, name, path)
    return path


def check_new_output(path, name: str = "--out", *, overwrite: bool = False) -> Path:
    """An output that must not replace anything unless ``overwrite`` (a store, a model directory)."""
    path = Path(path)
    if os.path.lexists(path) and not overwrite:
        raise LatentlabError(f"{name} {path}: already exists (use --overwrite to replace it)")
    _check_parent(path.parent, name, path)
    return path


def check_new_files(paths, name: str, *, overwrite: bool = False) -> list[Path]:
    """Files a command will write into a folder (``--save-images``): refuse the first that exists unless ``overwrite``."""
    paths = [Path(p) for p in paths]
    if not overwrite:
        existing = next((p for p in paths if os.path.lexists(p)), None)
        if existing is not None:
            raise LatentlabError(f"{name} {existing}: already exists (use --overwrite to replace it)")
    return paths


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (``MemAvailable``), or ``None`` when unknown."""
    try:
        import psutil  # a dependency of dask.distributed

        return int(psutil.virtual_memory().available)
    except Exception:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(nbytes: int, name: str, what: str, *, available: int | None = None) -> None:
    """Refuse (one line) work whose arrays need more than the memory available now, before it starts.

    Examples
    --------
    >>> check_fits_in_memory(10, "--n", "64 decoded images", available=100)
    >>> check_fits_in_memory(2**40, "--n", "1,000,000 decoded images", available=2**30)
    Traceback (most recent call last):
    ...
    latentlab._errors.LatentlabError: --n: 1,000,000 decoded images need about 1,024.0 GiB of memory, but 1.0 GiB is available; ask for fewer
    """
    available = available_memory() if available is None else available
    if available is not None and nbytes > available:
        raise LatentlabError(f"{name}: {what} need about {_gib(nbytes)} of memory, but {_gib(available)} is available;"
                             f" ask for fewer")


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_inside(root, requested, name: str = "folder") -> Path:
    """``requested`` (absolute, or relative to the working directory) when it resolves inside ``root``.

    Symbolic links are resolved first, so a link inside ``root`` that points elsewhere is refused
    as well as ``..`` and absolute paths outside it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> check_inside(root, root / "a" / "b") == (root / "a" / "b").resolve()
    True
    >>> check_inside(root, root / ".." / "elsewhere", "save folder")     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    latentlab._errors.LatentlabError: save folder ...: outside ... (only folders inside it are written)
    """
    base = Path(root).resolve()
    target = Path(os.path.expanduser(str(requested))) if str(requested).strip() else base
    resolved = target.resolve()
    if resolved != base and base not in resolved.parents:
        raise LatentlabError(f"{name} {requested}: outside {base} (only folders inside it are written)")
    return resolved


def check_output_dir(path, name: str = "--out") -> Path:
    """An output directory: absent (it will be created later) or a directory; never an existing file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise LatentlabError(f"{name} {path}: exists and is not a directory")
    _check_parent(path.parent if not path.exists() else path, name, path)
    return path


def _check_parent(parent: Path, name: str, target: Path) -> None:
    # The nearest existing ancestor must be a directory we may write into; nothing is created here.
    probe = parent
    while not probe.exists():
        if probe.is_symlink():  # a dangling symlink in the way
            raise LatentlabError(f"{name} {target}: {probe} is a broken symbolic link")
        if probe.parent == probe:
            return
        probe = probe.parent
    if not probe.is_dir():
        raise LatentlabError(f"{name} {target}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise LatentlabError(f"{name} {target}: {probe} is not writable")


def _range(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" in {minimum}..{maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
