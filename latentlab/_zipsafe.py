"""Reading zip archives written by someone else: caps checked before anything is inflated.

Region files (``.region``), ``.npz`` image arrays and ``.keras`` models are zip
archives that latentlab reads but may not have written. A hostile or broken
archive can declare millions of members, inflate a few megabytes into
gigabytes, or hold pickled Python objects. Every reader goes through here:

* the member count and the central directory's size are read from the
  end-of-central-directory record *before* :class:`zipfile.ZipFile` parses the
  directory (a million-entry directory would otherwise cost gigabytes);
* every member's declared uncompressed size, compressed size and ratio are
  checked against the caller's :class:`ZipLimits` before any byte is inflated;
* members are read through a bounded reader that stops past the declared size
  (never trusting the header alone);
* ``.npy`` members are parsed by their header first: only real numeric (and,
  where asked, string) dtypes, and a shape whose size equals the member's.

Nothing is ever written to disk at a name taken from an archive.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from ._errors import LatentlabError

__all__ = ["ZipLimits", "check_zip", "memory_bytes", "open_zip", "read_member", "read_npy"]

_CHUNK = 1 << 20


def memory_bytes() -> int:
    """Physical memory of this machine (16 GiB where it cannot be asked)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 16 << 30


@dataclass(frozen=True)
class ZipLimits:
    """Caps for one kind of archive.

    Attributes
    ----------
    max_members : int
        Entries in the central directory.
    max_member_bytes : int
        Declared uncompressed size of any one member.
    max_total_bytes : int
        Sum of the declared uncompressed sizes.
    max_ratio : float
        Largest uncompressed / compressed ratio of a member bigger than
        ``ratio_floor_bytes`` (real arrays and models compress 1-10x; zeros 1000x).
    ratio_floor_bytes : int
        Members up to this size may compress better (a small all-zero array).
    """

    max_members: int
    max_member_bytes: int
    max_total_bytes: int
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1 << 20


def _fmt(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def _directory_size(fh) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end record, without parsing the directory."""
    try:
        end = zipfile._EndRecData(fh)  # the stdlib's own reader of the end record (also ZIP64)
    except Exception:  # noqa: BLE001 - any failure here is reported by ZipFile itself below
        return None
    if not end:
        return None
    return int(end[zipfile._ECD_ENTRIES_TOTAL]), int(end[zipfile._ECD_SIZE])


def open_zip(path, label: str, limits: ZipLimits, *, error=LatentlabError, what: str = "zip archive") -> zipfile.ZipFile:
    """Open ``path`` (a path or a seekable binary file) as a zip archive within ``limits``.

    Raises
    ------
    error
        One line naming ``label``: not a zip archive, or over a cap.
    """
    own = not hasattr(path, "read")
    try:
        fh = open(path, "rb") if own else path
    except OSError as exc:
        raise error(f"{label}: cannot read ({exc.strerror or exc})") from None
    try:
        counted = _directory_size(fh)
        if counted is not None:
            entries, size = counted
            if entries > limits.max_members:
                raise error(f"{label}: {entries:,} members; a {what} has at most {limits.max_members:,}")
            # ~46 bytes of fixed header per entry plus names: a directory far larger than that is padding or a trap
            if size > limits.max_members * (46 + 1024):
                raise error(f"{label}: its zip directory is {_fmt(size)}, too large for {entries:,} members")
        fh.seek(0)
        zf = zipfile.ZipFile(fh)
    except LatentlabError:
        if own:
            fh.close()
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, OverflowError, RuntimeError):
        if own:
            fh.close()
        raise error(f"{label}: not a {what} (not a readable zip archive)") from None
    if own:
        zf._latentlab_fh = fh  # closed with the archive (ZipFile does not close a file object it was given)
    try:
        check_zip(zf, label, limits, error=error, what=what)
    except LatentlabError:
        close_zip(zf)
        raise
    return zf


def close_zip(zf: zipfile.ZipFile) -> None:
    """Close an archive from :func:`open_zip` and the file it opened."""
    zf.close()
    fh = getattr(zf, "_latentlab_fh", None)
    if fh is not None:
        fh.close()


def check_zip(zf: zipfile.ZipFile, label: str, limits: ZipLimits, *, error=LatentlabError, what: str = "zip archive") -> None:
    """Check every member's declared sizes, ratio, encryption and name uniqueness (nothing is inflated)."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise error(f"{label}: {len(infos):,} members; a {what} has at most {limits.max_members:,}")
    names, total = set(), 0
    for info in infos:
        name = info.filename
        if name in names:
            raise error(f"{label}: member {name!r} appears twice (which one is meant is ambiguous)")
        names.add(name)
        if info.flag_bits & 0x1:
            raise error(f"{label}: member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise error(f"{label}: member {name!r} uses an unsupported compression (only stored or deflated)")
        size, packed = int(info.file_size), int(info.compress_size)
        if size > limits.max_member_bytes:
            raise error(f"{label}: member {name!r} inflates to {_fmt(size)}; at most {_fmt(limits.max_member_bytes)} "
                        "is read (refused before inflating)")
        if size > limits.ratio_floor_bytes and size > limits.max_ratio * max(packed, 1):
            raise error(f"{label}: member {name!r} inflates {packed:,} bytes into {size:,} (ratio "
                        f"{size / max(packed, 1):,.0f}, a zip bomb); refused before inflating")
        total += size
        if total > limits.max_total_bytes:
            raise error(f"{label}: its members inflate to more than {_fmt(limits.max_total_bytes)} "
                        "(refused before inflating)")


def read_member(zf: zipfile.ZipFile, name: str, label: str, *, error=LatentlabError, limit: int | None = None) -> bytes:
    """The bytes of member ``name``, read in bounded chunks: never more than its declared size (or ``limit``)."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise error(f"{label}: has no member {name!r}") from None
    cap = int(info.file_size) if limit is None else min(int(info.file_size), int(limit))
    parts, got = [], 0
    try:
        with zf.open(info) as fh:
            while True:
                block = fh.read(min(_CHUNK, cap - got + 1))
                if not block:
                    break
                got += len(block)
                if got > cap:
                    raise error(f"{label}: member {name!r} inflates past its declared {_fmt(cap)}; refused")
                parts.append(block)
    except LatentlabError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise error(f"{label}: member {name!r} is damaged ({first})") from None
    if got != info.file_size:
        raise error(f"{label}: member {name!r} is damaged (short by {info.file_size - got:,} bytes)")
    return b"".join(parts)


#: dtype kinds an array member may have: bool, signed and unsigned integers, real floats (never objects or complex)
NUMERIC_KINDS = "biuf"


def read_npy(zf: zipfile.ZipFile, name: str, label: str, *, error=LatentlabError, kinds: str = NUMERIC_KINDS,
             what: str | None = None) -> np.ndarray:
    """One ``.npy`` member as an array, its header checked before the data is inflated.

    Refused: Python objects (pickles), complex, structured or other dtypes not
    in ``kinds``; a shape whose byte size is not the member's data size; a
    header other than format 1.0 / 2.0.
    """
    what = what or repr(name)
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise error(f"{label}: has no member {name!r}") from None
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise error(f"{label}: {what} has .npy format {version}; only 1.0 and 2.0 are read")
            offset = fh.tell()
    except LatentlabError:
        raise
    except Exception:  # noqa: BLE001 - numpy raises ValueError / SyntaxError / … for a damaged header
        raise error(f"{label}: {what} is not a readable .npy array") from None
    if dtype.hasobject:
        raise error(f"{label}: {what} holds Python objects (pickles are never loaded)")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in kinds:
        raise error(f"{label}: {what} has dtype {dtype}; expected "
                    + ("a real numeric array" if kinds == NUMERIC_KINDS else f"one of the kinds {kinds!r}"))
    count = 1
    for s in shape:
        count *= int(s)
    nbytes = count * dtype.itemsize
    if nbytes != int(info.file_size) - offset:
        raise error(f"{label}: {what} declares shape {shape} ({nbytes:,} bytes) but holds "
                    f"{int(info.file_size) - offset:,} bytes")
    data = read_member(zf, name, label, error=error)[offset:]
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C").copy()
