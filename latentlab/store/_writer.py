"""Streaming, crash-consistent writer for z-store files.

The writer keeps the file in HDF5 SWMR mode while rows are appended, so a
reader (or a crash) always sees a consistent prefix. ``/ids`` is extended
last in every append: its length is the number of committed rows.
``complete`` is set only after the last row is flushed.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import stat
from collections.abc import Sequence
from glob import escape as glob_escape
from pathlib import Path

import h5py
import numpy as np

from .._errors import StoreError
from .._version import __version__
from ._reader import open_store

_STR = h5py.string_dtype("utf-8")

#: Root attributes that must agree between a store and the run that resumes it.
_MUST_MATCH_ON_RESUME = ("model_sha256", "image_size", "channels", "crop", "dataset")


def _norm(value):
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _short_repr(value) -> str:
    text = str(_norm(value))
    return text if len(text) <= 20 else text[:17] + "..."


def default_chunk_rows(z_dim: int) -> int:
    """Rows per HDF5 chunk: about 1 MiB of float32, between 256 and 65,536 rows."""
    return int(np.clip(2**20 // (4 * max(1, z_dim)), 256, 65536))


def attribute_chunk_rows(n_columns: int, z_chunk_rows: int) -> int:
    """Rows per ``/attributes`` chunk: about 1 MiB of int8 whatever the width, at most the ``/z`` chunk's rows.

    Chunked by bytes, not by ``/z``'s row count: 16,384 rows of 16,385 columns made 256 MiB chunks,
    which the reader refuses (it caps chunks, since HDF5 inflates a whole chunk to read one row).

    Examples
    --------
    >>> attribute_chunk_rows(40, 1024)
    1024
    >>> attribute_chunk_rows(20_000, 16_384)
    52
    """
    return int(np.clip(2**20 // max(1, int(n_columns)), 1, max(1, int(z_chunk_rows))))


class StoreLock:
    """An exclusive lock file ``<store>.lock`` held while a writer runs.

    The file holds the writer's PID (for the error message) and an
    ``fcntl.flock`` lock on its open descriptor. The kernel drops the flock
    when the process dies (SIGKILL, power loss), so a lock left by a dead
    writer is taken over without guessing from PIDs; where ``flock`` is
    unavailable the PID alone decides.
    """

    def __init__(self, path: Path):
        self.store = Path(path)
        self.path = Path(str(path) + ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        for _ in range(5):
            fd = self._open()
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise StoreError(f"{self.path}: the lock file is not a regular file; remove it")
                if not _try_flock(fd, self.path):
                    owner = _read_pid(fd)
                    raise StoreError(
                        f"{self.store}: another process is writing this store"
                        f" ({f'PID {owner}, ' if owner else ''}lock file {self.path.name})"
                    )
                # The file may have been unlinked by a releasing writer between
                # our open and our flock: then it no longer guards the path.
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(self.path))
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, str(os.getpid()).encode(), 0)
                except OSError as exc:  # a full disk: leave no empty lock file behind, and say which file
                    self.path.unlink(missing_ok=True)
                    raise OSError(exc.errno, exc.strerror, os.fspath(self.path)) from None
            except BaseException:
                if self._fd is None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                raise
            self._fd = fd
            return
        raise StoreError(f"{self.store}: could not take the lock file {self.path.name} (it keeps changing)")

    def _open(self) -> int:
        # O_NOFOLLOW: a planted Z.h5.lock -> victim symlink must not make the writer truncate the
        # victim to a PID. O_NONBLOCK: a FIFO in its place must not hang the open.
        flags = os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP or self.path.is_symlink():
                raise StoreError(f"{self.path}: the lock file is a symbolic link; refusing to follow it (remove it)") from None
            raise

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _try_flock(fd: int, path: Path) -> bool:
    """Take an exclusive flock (non-blocking); fall back to PID liveness."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        pid = _read_pid(fd)
        return not pid or pid == os.getpid() or not _alive(pid)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError:  # pragma: no cover - filesystem without flock
        pid = _read_pid(fd)
        return not pid or not _alive(pid)


def _read_pid(fd: int) -> int:
    try:
        return int(os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "0")
    except (OSError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _guard_disk_errors(method):
    """Run a writer method; on an HDF5 write failure close the file safely and raise ``OSError`` naming the store.

    h5py reports a full disk (ENOSPC) or a read-only file system as ``RuntimeError``; its dirty cache
    would be flushed again (and can crash the interpreter) when the objects are finalised at exit.
    """
    import functools

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (RuntimeError, OSError) as exc:
            named = self._on_write_failure(exc)
            if named is None:
                raise
            raise named from None

    return guarded


class StoreWriter:
    """Append rows to a new (or resumed) z-store.

    Parameters
    ----------
    path : path-like
    z_dim : int
    attrs : dict, optional
        Root attributes (provenance); ``z_dim``, ``latentlab_version``,
        ``created`` and ``complete`` are filled in.
    attribute_names : sequence of str, optional
        Names of the ``/attributes`` columns; omit when there are none.
    has_partition : bool
        Whether ``/partition`` is written.
    mode : {'create', 'overwrite', 'resume'}
        ``create`` refuses an existing file; ``overwrite`` replaces it;
        ``resume`` keeps its committed rows and appends after them (a missing
        file is created).
    chunk_rows : int, optional

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from latentlab import open_store
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "z.h5"
    >>> with StoreWriter(path, z_dim=2) as w:
    ...     w.append(np.zeros((3, 2)), ["a", "b", "c"])
    >>> with open_store(path) as s:
    ...     s.n, s.complete, list(s.read_ids())
    (3, True, ['a', 'b', 'c'])

    A writer closed as incomplete (or killed) is continued with ``mode="resume"``:

    >>> w = StoreWriter(path.with_name("part.h5"), z_dim=2)
    >>> w.append(np.ones((2, 2)), ["x", "y"])
    >>> w.close(complete=False)
    >>> with StoreWriter(path.with_name("part.h5"), z_dim=2, mode="resume") as w:
    ...     w.append(np.ones((1, 2)), ["z"])
    ...     w.resumed_ids
    ['x', 'y']
    >>> with open_store(path.with_name("part.h5")) as s:
    ...     s.n, s.complete
    (3, True)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        z_dim: int,
        *,
        attrs: dict | None = None,
        attribute_names: Sequence[str] | None = None,
        has_partition: bool = False,
        mode: str = "create",
        chunk_rows: int | None = None,
        atomic: bool = False,
    ):
        if mode not in ("create", "overwrite", "resume"):
            raise ValueError(f"mode must be create, overwrite or resume, not {mode!r}")
        if atomic and mode == "resume":
            raise ValueError("atomic writers cannot resume")
        self.path = Path(path)
        self.z_dim = int(z_dim)
        self.attribute_names = list(attribute_names) if attribute_names is not None else None
        self.has_partition = bool(has_partition)
        self.chunk_rows = int(chunk_rows or default_chunk_rows(self.z_dim))
        self.resumed_ids: list[str] = []
        self.resumed_skipped: list[tuple[str, str]] = []
        self._already_complete = False
        self._atomic = bool(atomic)
        self._tmp: Path | None = None
        self._file: h5py.File | None = None
        if not self.path.parent.is_dir():
            raise StoreError(f"{self.path}: directory {self.path.parent} does not exist")
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, expected a z-store file name")
        self._lock = StoreLock(self.path)
        self._lock.acquire()
        self._failed = False
        try:
            self._remove_stale_tmp()
            if self.path.exists() and mode == "create":
                raise StoreError(
                    f"{self.path}: already exists (use --resume to continue it or --overwrite to replace it)"
                )
            if mode == "resume" and self.path.exists():
                self._resume(attrs or {})
            else:
                self._tmp = self._tmp_path()
                if os.path.lexists(self._tmp):  # never write through whatever sits at our temporary name
                    os.unlink(self._tmp)
                self._create(self._tmp, attrs or {})
                if not self._atomic:
                    self._publish()
        except (RuntimeError, OSError) as exc:
            named = self._on_write_failure(exc)
            self._discard()
            self._lock.release()
            if named is None:
                raise
            raise named from None
        except BaseException:
            self._discard()
            self._lock.release()
            raise

    def _on_write_failure(self, exc: BaseException) -> OSError | None:
        """Close the file without retrying its writes; the error as ``OSError(errno, reason, store path)``.

        What is on disk is what a killed writer leaves: the last committed rows (``--resume``
        continues them); a temporary file that was never published is removed.
        """
        from .._io import _errno_of_hdf5_error, close_failed_hdf5

        code = _errno_of_hdf5_error(exc)
        if code is None:
            return None
        self._failed = True
        close_failed_hdf5(self._file)
        self._file = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        if isinstance(exc, OSError) and exc.filename is not None and ".tmp" not in os.fsdecode(exc.filename):
            return exc
        return OSError(code, os.strerror(code), os.fspath(self.path))

    # -- lifecycle ----------------------------------------------------------
    def _tmp_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")

    def _remove_stale_tmp(self) -> None:
        # We hold the lock, so every ``.<name>.<pid>.tmp`` beside the store
        # was left by a writer that died before renaming it.
        prefix, mine = f".{self.path.name}.", self._tmp_path().name
        for entry in self.path.parent.glob(f".{glob_escape(self.path.name)}.*.tmp"):
            middle = entry.name[len(prefix) : -len(".tmp")]
            if entry.name != mine and middle.isdigit():
                entry.unlink(missing_ok=True)

    def _publish(self) -> None:
        """Switch the freshly built file to SWMR mode and rename it into place.

        SWMR is switched on *before* the rename, so the file at ``path`` is
        never open for writing without SWMR: a writer killed at any moment
        leaves a file that SWMR readers (and ``--resume``) can open.
        """
        self._file.flush()
        self._file.swmr_mode = True
        os.replace(self._tmp, self.path)
        self._tmp = None

    def _discard(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # a failed flush: close without retrying it (see close_failed_hdf5)
                from .._io import close_failed_hdf5

                close_failed_hdf5(self._file)
            self._file = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def _create(self, target: Path, attrs: dict) -> None:
        f = h5py.File(target, "w", libver="latest")
        self._file = f
        c = self.chunk_rows
        f.create_dataset(
            "z", shape=(0, self.z_dim), maxshape=(None, self.z_dim), dtype="f4",
            chunks=(c, self.z_dim), compression="gzip", compression_opts=1, shuffle=True, fletcher32=True,
        )
        f.create_dataset("ids", shape=(0,), maxshape=(None,), dtype=_STR, chunks=(c,))
        if self.has_partition:
            f.create_dataset("partition", shape=(0,), maxshape=(None,), dtype="i1", chunks=(c,), fletcher32=True)
        if self.attribute_names is not None:
            a = len(self.attribute_names)
            ds = f.create_dataset(
                "attributes", shape=(0, a), maxshape=(None, a), dtype="i1",
                chunks=(attribute_chunk_rows(a, c), max(1, a)), compression="gzip", compression_opts=1,
                fletcher32=True,
            )
            ds.attrs["names"] = np.array(self.attribute_names, dtype=_STR)
        g = f.create_group("skipped")
        for key in ("path", "reason"):
            g.create_dataset(key, shape=(0,), maxshape=(None,), dtype=_STR, chunks=(256,))
        meta = {
            "z_dim": self.z_dim,
            "latentlab_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        meta.update({k: v for k, v in attrs.items() if v is not None})
        meta["complete"] = False
        meta["n"] = 0
        meta["n_skipped"] = 0
        for k, v in meta.items():
            f.attrs[k] = v

    def _resume(self, attrs: dict) -> None:
        # A crashed SWMR writer leaves flags that forbid reopening for write;
        # the committed prefix is copied into a fresh file that replaces it.
        # A kill during the copy leaves the old store untouched (and a
        # temporary file that the next writer removes).
        with open_store(self.path, allow_incomplete=True, allow_nonfinite=True) as old:
            if old.z_dim != self.z_dim:
                raise StoreError(
                    f"{self.path}: cannot resume, store has z_dim {old.z_dim} but the model gives {self.z_dim}"
                )
            for key in _MUST_MATCH_ON_RESUME:
                if key in old.attrs and attrs.get(key) is not None and _norm(old.attrs[key]) != _norm(attrs[key]):
                    raise StoreError(
                        f"{self.path}: cannot resume, the store has {key} {_short_repr(old.attrs[key])}"
                        f" but this run has {_short_repr(attrs[key])} (use --overwrite to start again)"
                    )
            self.resumed_skipped = old.skipped()
            if old.complete:
                self.resumed_ids = list(old.read_ids())
                self._already_complete = True
                return
            self.has_partition = old.partition is not None
            self.attribute_names = old.attribute_names if old.attributes is not None else None
            kept_attrs = {k: v for k, v in old.attrs.items() if k not in ("complete", "n", "n_skipped")}
            kept_attrs.update({k: v for k, v in attrs.items() if k not in ("created",)})
            self._tmp = self._tmp_path()
            self._create(self._tmp, kept_attrs)
            n = old.n
            for start in range(0, n, 65536):
                stop = min(n, start + 65536)
                self._write_rows(
                    old.z[start:stop],
                    old.ids[start:stop] if old.ids is not None else [str(i) for i in range(start, stop)],
                    old.partition[start:stop] if old.partition is not None else None,
                    old.attributes[start:stop] if old.attributes is not None else None,
                )
            if self.resumed_skipped:
                self._append_skipped([s[0] for s in self.resumed_skipped], [s[1] for s in self.resumed_skipped])
            self.resumed_ids = list(old.read_ids())
        self._publish()

    @property
    def n(self) -> int:
        """Rows committed so far."""
        if self._file is None:
            return len(self.resumed_ids)
        return int(self._file["ids"].shape[0])

    @property
    def already_complete(self) -> bool:
        """True when resuming a store that was already complete (nothing to do)."""
        return self._already_complete

    # -- writing ------------------------------------------------------------
    @_guard_disk_errors
    def append(self, z, ids, partition=None, attributes=None) -> None:
        """Append a block of rows and flush it to disk."""
        if self._file is None:
            raise StoreError(f"{self.path}: writer is closed")
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z block must have shape (n, {self.z_dim}), got {z.shape}")
        if len(ids) != len(z):
            raise ValueError("ids and z blocks differ in length")
        if self.has_partition and partition is None:
            raise ValueError("this store has /partition: pass partition codes")
        if self.attribute_names is not None and attributes is None:
            raise ValueError("this store has /attributes: pass attribute rows")
        self._write_rows(z, ids, partition, attributes)

    def _write_rows(self, z, ids, partition, attributes) -> None:
        f = self._file
        n0, k = f["ids"].shape[0], len(ids)
        if k == 0:
            return
        n1 = n0 + k
        blocks = [("z", np.asarray(z, np.float32))]
        if "partition" in f:
            blocks.append(("partition", np.asarray(partition, np.int8)))
        if "attributes" in f:
            blocks.append(("attributes", np.asarray(attributes, np.int8)))
        for key, data in blocks:
            ds = f[key]
            ds.resize(n1, axis=0)
            ds[n0:n1] = data
            ds.flush()
        ds = f["ids"]
        ds.resize((n1,))
        ds[n0:n1] = np.asarray([str(i) for i in ids], dtype=object)
        ds.flush()
        # Everything (the strings' heap included) is on disk before the
        # commit: the root attribute ``n`` is the committed row count.
        f.flush()
        f.attrs["n"] = n1
        f.flush()

    @_guard_disk_errors
    def add_skipped(self, paths: Sequence[str], reasons: Sequence[str]) -> None:
        """Record images that could not be decoded."""
        if self._file is not None and len(paths):
            self._append_skipped(paths, reasons)
            self._file.flush()

    def _append_skipped(self, paths, reasons) -> None:
        f = self._file
        g = f["skipped"]
        n0 = int(f.attrs.get("n_skipped", g["path"].shape[0]))
        for key, values in (("reason", reasons), ("path", paths)):
            ds = g[key]
            ds.resize((n0 + len(values),))
            ds[n0:] = np.asarray([str(v) for v in values], dtype=object)
            ds.flush()
        f.flush()
        f.attrs["n_skipped"] = n0 + len(paths)  # the commit, as ``n`` for rows
        f.flush()

    @_guard_disk_errors
    def close(self, complete: bool = True) -> None:
        """Close the file; mark it complete when ``complete`` is true.

        ``complete`` and ``n`` are written through the open SWMR handle (no
        reopening for write), so a kill during close leaves either an
        incomplete store or a complete one, both readable.
        """
        try:
            if self._file is not None:
                if complete:
                    f = self._file
                    f.attrs["n"] = int(f["ids"].shape[0])
                    f.flush()
                    f.attrs["complete"] = True
                    f.flush()
                    if self._atomic:
                        f.close()
                        self._file = None
                        os.replace(self._tmp, self.path)
                        self._tmp = None
                if self._atomic and not complete:
                    self._discard()
                elif self._file is not None:
                    self._file.close()
                    self._file = None
        finally:
            self._lock.release()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)


def write_store(
    path: str | os.PathLike,
    z,
    ids: Sequence[str] | None = None,
    *,
    partition=None,
    attributes=None,
    attribute_names: Sequence[str] | None = None,
    attrs: dict | None = None,
    overwrite: bool = False,
    chunk_rows: int | None = None,
) -> Path:
    """Write an in-memory array of z-points as a complete z-store.

    Useful for synthetic data, sampled points and tests.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from latentlab import open_store
    >>> path = write_store(pathlib.Path(tempfile.mkdtemp()) / "z.h5", np.random.default_rng(0).normal(size=(100, 8)))
    >>> with open_store(path) as s:
    ...     s.n, s.z_dim, list(s.read_ids()[:2])
    (100, 8, ['0', '1'])
    """
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2:
        raise StoreError(f"{path}: z must be a 2-D array (N, z_dim), got shape {z.shape}")
    if ids is None:
        ids = [str(i) for i in range(len(z))]
    if attributes is not None and attribute_names is None:
        attribute_names = [f"attr_{j}" for j in range(np.shape(attributes)[1])]
    meta = {"source": "array", "dataset": "array"}
    meta.update(attrs or {})
    with StoreWriter(
        path, z.shape[1], attrs=meta, attribute_names=attribute_names,
        has_partition=partition is not None, mode="overwrite" if overwrite else "create",
        chunk_rows=chunk_rows, atomic=True,
    ) as w:
        step = 65536
        for s in range(0, len(z), step):
            e = s + step
            w.append(
                z[s:e], list(ids[s:e]),
                None if partition is None else np.asarray(partition)[s:e],
                None if attributes is None else np.asarray(attributes)[s:e],
            )
    return Path(path)
