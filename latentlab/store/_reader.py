"""Lazy, validating reader for z-store files."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from .._errors import StoreError

#: Partition codes used in ``/partition`` (CelebA's ``list_eval_partition.txt``).
PARTITIONS = {"train": 0, "val": 1, "test": 2}

#: Rows per chunk when streaming and no chunk size is given (about 8 MiB of float32 at z_dim 256).
DEFAULT_STREAM_ROWS = 8192

#: Widest ``/z`` accepted (the reference study uses up to 2,000); a crafted store with a huge
#: z_dim would otherwise make every one-row read allocate gigabytes.
MAX_Z_DIM = 65_536
#: Widest ``/attributes`` accepted.
MAX_ATTRIBUTES = 65_536
#: Largest HDF5 chunk accepted (uncompressed bytes). HDF5 inflates a whole chunk to read any row
#: of it, so a 1 MB file with one 1 GiB chunk would cost 1 GiB per read; latentlab writes ~1 MiB.
MAX_CHUNK_BYTES = 256 << 20
#: Largest streamed block of ``/z`` (rows × z_dim × 8 bytes as float64), whatever the chunk size.
MAX_BLOCK_BYTES = 64 << 20


def partition_code(partition: str | None) -> int | None:
    """Map ``'train' | 'val' | 'test' | 'all' | None`` to a code (``None`` = all)."""
    if partition is None or partition == "all":
        return None
    try:
        return PARTITIONS[partition]
    except KeyError:
        raise StoreError(
            f"unknown partition {partition!r}: use one of train, val, test, all"
        ) from None


class LazyRows:
    """A read-only view of the first ``n`` rows of an HDF5 dataset: latentlab's one lazy row reader.

    Behaves like a NumPy array for ``shape``, ``dtype``, ``len`` and
    slicing, so it can be handed to ``dask.array.from_array``; reading
    happens only on indexing. Rows beyond ``n`` (a write in progress or torn
    by a crash) are never visible.

    It pickles by file path and dataset name: an unpickled (or
    :meth:`detached`) copy opens the file for each read, so Dask tasks can
    run in other threads, processes or machines that see the same file.
    """

    def __init__(self, dataset: h5py.Dataset, n: int, *, as_str: bool = False, on_nonfinite=None):
        self.dataset = dataset
        self._n = int(n)
        self._as_str = as_str
        self._on_nonfinite = on_nonfinite
        self._path, self._name = str(dataset.file.filename), dataset.name
        self._shape, self._dtype, self._chunks = tuple(dataset.shape), dataset.dtype, dataset.chunks

    def detached(self) -> LazyRows:
        """A copy that reads by path (no open handle): picklable, safe to share with Dask workers."""
        out = object.__new__(LazyRows)
        out.__setstate__(self.__getstate__())
        return out

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("dataset", "_on_nonfinite")}
        # The store's callback names the offending row; a detached copy still refuses NaN/Inf.
        state["_refuse_nonfinite"] = self._on_nonfinite is not None or self.__dict__.get("_refuse_nonfinite", False)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.dataset, self._on_nonfinite = None, None
        if self._refuse_nonfinite:
            self._on_nonfinite = self._refuse

    def _refuse(self, key, block) -> None:
        raise StoreError(f"{self._path}: {self._name} holds NaN or Inf values; list them with `latentlab info --check`")

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._n, *self._shape[1:])

    @property
    def dtype(self):
        return np.dtype(object) if self._as_str else self._dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def chunks(self):
        return self._chunks

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, key):
        out = self._read(key)
        if self._on_nonfinite is not None:
            arr = np.asarray(out)
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                self._on_nonfinite(key, arr)
        return out

    def _read(self, key):
        key = self._clip(key)
        try:
            return self._read_clipped(key)
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, SystemError) as exc:
            # h5py's errors for damaged chunks (bad checksums, failing filters, torn B-trees).
            name, where = self._name, self._path
            raise StoreError(f"{where}: cannot read {name} (damaged file: {_short(exc) or type(exc).__name__})") from None

    def _read_clipped(self, key):
        if self.dataset is None:  # detached: open by path for this read
            with _open_for_read(self._path) as f:
                return self._read_from(f[self._name], key)
        return self._read_from(self.dataset, key)

    def _read_from(self, dataset, key):
        source = dataset.asstr() if self._as_str else dataset
        first = key[0] if isinstance(key, tuple) else key
        if isinstance(first, np.ndarray):
            # h5py wants increasing, unique indices: read those, then restore the order asked for.
            uniq, inverse = np.unique(first, return_inverse=True)
            rest = key[1:] if isinstance(key, tuple) else ()
            if len(uniq) == 0:
                return np.asarray(source[0:0])[(slice(None), *rest)] if rest else np.asarray(source[0:0])
            data = source[(uniq, *rest)] if rest else source[uniq]
            return np.asarray(data)[inverse]
        return source[key]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def _clip(self, key):
        first = key[0] if isinstance(key, tuple) else key
        rest = key[1:] if isinstance(key, tuple) else ()
        if isinstance(first, slice):
            first = slice(*first.indices(self._n))
        elif isinstance(first, (int, np.integer)):
            i = int(first)
            if i < -self._n or i >= self._n:
                raise IndexError(f"row {i} out of range for {self._n} rows")
            first = i % self._n
        elif first is Ellipsis:
            first = slice(0, self._n)
            rest = (Ellipsis, *rest) if rest else ()
        else:
            idx = np.asarray(first)
            if idx.dtype == bool:
                if idx.shape[0] != self._n:
                    raise IndexError("boolean index does not match the number of rows")
                idx = np.flatnonzero(idx)
            if idx.size and (idx.min() < 0 or idx.max() >= self._n):
                raise IndexError("row index out of range")
            first = idx
        return (first, *rest) if rest else first


class ZStore:
    """An open z-store. Use :func:`open_store` to create one.

    Attributes
    ----------
    path : Path
    n : int
        Number of fully written rows.
    z_dim : int
    z : LazyRows
        ``(n, z_dim)`` float32, read lazily.
    ids : LazyRows
        ``(n,)`` image ids; indexing returns ``str`` objects.
    partition : LazyRows or None
    attributes : LazyRows or None
    attribute_names : list of str
    attrs : dict
        Root attributes (provenance).
    complete : bool
    """

    def __init__(self, path: str | os.PathLike, *, allow_incomplete: bool = False, allow_nonfinite: bool = False):
        self.path = Path(path)
        self._file = _open_h5(self.path)
        try:
            self._validate_and_bind(allow_incomplete, allow_nonfinite)
        except StoreError:
            self._file.close()
            raise
        except (OSError, KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as exc:
            # h5py raises all of these for damaged object headers, B-trees or attributes.
            self._file.close()
            raise StoreError(f"{self.path}: damaged or unreadable z-store ({_short(exc) or type(exc).__name__})") from None
        except BaseException:
            self._file.close()
            raise

    # -- construction -------------------------------------------------------
    def _validate_and_bind(self, allow_incomplete: bool, allow_nonfinite: bool) -> None:
        f, name = self._file, self.path
        z = _dataset(f, "z", name)
        if z is None:
            raise StoreError(f"{name}: not a z-store (no /z dataset)")
        if z.ndim != 2:
            raise StoreError(f"{name}: /z must be 2-D (N, z_dim), found shape {z.shape}")
        if z.dtype.kind != "f":
            raise StoreError(f"{name}: /z must hold floats, found dtype {z.dtype}")
        if z.shape[1] < 1:
            raise StoreError(f"{name}: /z has no columns (z_dim 0)")
        if z.shape[1] > MAX_Z_DIM:
            raise StoreError(f"{name}: /z has {z.shape[1]:,} columns; latentlab reads z_dim up to {MAX_Z_DIM:,}")
        ids = _dataset(f, "ids", name)
        if ids is not None and (ids.ndim != 1 or ids.dtype.kind not in "SOU"):
            raise StoreError(f"{name}: /ids must be 1-D strings, found shape {ids.shape} dtype {ids.dtype}")
        part = _dataset(f, "partition", name)
        if part is not None and (part.ndim != 1 or part.dtype.kind not in "iu"):
            raise StoreError(f"{name}: /partition must be 1-D integers, found shape {part.shape} dtype {part.dtype}")
        attributes = _dataset(f, "attributes", name)
        if attributes is not None and (attributes.ndim != 2 or attributes.dtype.kind not in "iu"):
            raise StoreError(
                f"{name}: /attributes must be 2-D integers (N, A), found shape {attributes.shape} dtype {attributes.dtype}"
            )
        if attributes is not None and attributes.shape[1] > MAX_ATTRIBUTES:
            raise StoreError(f"{name}: /attributes has {attributes.shape[1]:,} columns (at most {MAX_ATTRIBUTES:,})")
        if "skipped" in f:
            group = f.get("skipped", getlink=True)
            if isinstance(group, h5py.ExternalLink):
                raise StoreError(f"{name}: /skipped is a link to another file; latentlab reads only self-contained stores")
            for key in ("path", "reason"):
                if isinstance(f["skipped"], h5py.Group) and key in f["skipped"]:
                    _dataset(f["skipped"], key, name, where="skipped/")
        self.attrs = {k: _plain(v) for k, v in f.attrs.items()}
        self.complete = _truth(self.attrs.get("complete", True))
        n = z.shape[0]
        for ds in (ids, part, attributes):
            if ds is not None:
                n = min(n, ds.shape[0])
        if self.complete and n != z.shape[0]:
            raise StoreError(
                f"{name}: marked complete but datasets have different lengths"
                f" (/z {z.shape[0]} rows, consistent prefix {n})"
            )
        committed = _count_attr(self.attrs, "n")
        if committed is not None:
            if self.complete and committed != n:
                raise StoreError(f"{name}: marked complete with n = {committed} but /z has {n} rows")
            # rows past the committed count may be half written by a writer that died
            n = min(n, committed)
        if not self.complete and not allow_incomplete:
            raise StoreError(
                f"{name}: store is incomplete ({n} rows written; finish it with"
                " `latentlab encode ... --resume` or pass --allow-incomplete)"
            )
        self.n = int(n)
        self.z_dim = int(z.shape[1])
        self.allow_nonfinite = bool(allow_nonfinite)
        self.z = LazyRows(z, n, on_nonfinite=None if allow_nonfinite else self._refuse_nonfinite)
        self.ids = LazyRows(ids, n, as_str=True) if ids is not None else None
        self.partition = LazyRows(part, n) if part is not None else None
        self.attributes = LazyRows(attributes, n) if attributes is not None else None
        self.attribute_names = (
            [str(s) for s in _as_list(_plain(attributes.attrs.get("names", [])))]
            if attributes is not None
            else []
        )
        if attributes is not None and len(self.attribute_names) != attributes.shape[1]:
            self.attribute_names = [f"attr_{j}" for j in range(attributes.shape[1])]

    def _refuse_nonfinite(self, key, block: np.ndarray) -> None:
        first_key = key[0] if isinstance(key, tuple) else key
        where = ""
        try:
            rows = np.atleast_1d(np.arange(self.n)[self.z._clip(first_key)])
            bad = ~np.isfinite(block.reshape(len(rows), -1)).all(axis=1)
            first = int(rows[np.flatnonzero(bad)[0]])
            ident = self.ids[first] if self.ids is not None else str(first)
            where = f" (row {first}, id {ident}; {int(bad.sum())} bad row(s) among those read)"
        except Exception:  # pragma: no cover - the message stays useful without the row
            pass
        raise StoreError(f"{self.path}: /z holds NaN or Inf values{where}; list them with `latentlab info --check`")

    # -- context manager ----------------------------------------------------
    def __enter__(self) -> ZStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __repr__(self) -> str:
        state = "complete" if self.complete else "INCOMPLETE"
        return f"<ZStore {self.path.name!r}: {self.n} x {self.z_dim}, {state}>"

    # -- reading ------------------------------------------------------------
    @property
    def chunk_rows(self) -> int:
        """Rows per HDF5 chunk of ``/z`` (the natural streaming unit)."""
        chunks = self._file["z"].chunks
        return min(chunks[0] if chunks else DEFAULT_STREAM_ROWS, self.max_block_rows)

    @property
    def max_block_rows(self) -> int:
        """Most rows one streamed block may hold: ``MAX_BLOCK_BYTES`` of float64 at this z_dim."""
        return max(1, MAX_BLOCK_BYTES // (8 * max(1, self.z_dim)))

    @property
    def fingerprint(self) -> str:
        """A short hex digest that changes whenever the store's rows or provenance change.

        Cached results (fragments, fitted regions, embeddings) record it and are
        reused only for a store with the same fingerprint. It hashes the row count,
        the provenance attributes and the bytes of the first and last committed
        blocks of ``/z`` and ``/ids``: cheap at any N, and a re-encode, a resume
        that added rows or another model all change it.
        """
        import hashlib

        h = hashlib.sha256()
        for key in ("z_dim", "n", "created", "model_sha256", "dataset", "source", "image_size", "channels"):
            h.update(f"{key}={_plain(self.attrs.get(key))!r};".encode())
        h.update(f"rows={self.n};".encode())
        block = min(self.n, 4096)
        for rows in (slice(0, block), slice(self.n - block, self.n)):
            h.update(np.ascontiguousarray(self.z[rows], dtype=np.float32).tobytes())
            if self.ids is not None:
                h.update("\n".join(map(str, self.ids[rows])).encode())
        return h.hexdigest()[:16]

    def skipped(self) -> list[tuple[str, str]]:
        """Images that could not be decoded when the store was written: ``(path, reason)``."""
        if "skipped" not in self._file:
            return []
        try:
            g = self._file["skipped"]
            m = min(g["path"].shape[0], g["reason"].shape[0])
            committed = _count_attr(self.attrs, "n_skipped")
            if committed is not None:
                m = min(m, committed)
            return list(zip(g["path"].asstr()[:m], g["reason"].asstr()[:m]))
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise StoreError(f"{self.path}: cannot read /skipped ({_short(exc) or type(exc).__name__})") from None

    def selection(self, partition: str | None = None) -> np.ndarray | None:
        """Row indices of a partition (``None`` for all rows)."""
        code = partition_code(partition)
        if code is None:
            return None
        if self.partition is None:
            raise StoreError(f"{self.path}: store has no /partition; cannot select {partition!r}")
        return np.flatnonzero(self.partition[:] == code)

    def iter_chunks(
        self,
        chunk_rows: int | None = None,
        *,
        partition: str | None = None,
        dtype=np.float64,
        with_index: bool = False,
    ) -> Iterator[np.ndarray] | Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stream ``/z`` in row blocks, optionally restricted to a partition.

        Parameters
        ----------
        chunk_rows : int, optional
            Rows per block; defaults to a multiple of the HDF5 chunk size.
        partition : {'train', 'val', 'test', 'all'}, optional
        dtype : numpy dtype
            Blocks are converted to this dtype (float64 for accurate sums).
        with_index : bool
            If true, yield ``(row_indices, block)``.
        """
        rows = chunk_rows or max(self.chunk_rows, DEFAULT_STREAM_ROWS // max(1, self.chunk_rows) * self.chunk_rows)
        rows = max(1, min(int(rows), self.max_block_rows))
        code = partition_code(partition)
        if code is not None and self.partition is None:
            raise StoreError(f"{self.path}: store has no /partition; cannot select {partition!r}")
        for start in range(0, self.n, rows):
            stop = min(start + rows, self.n)
            block = self.z[start:stop]
            index = np.arange(start, stop)
            if code is not None:
                keep = self.partition[start:stop] == code
                block, index = block[keep], index[keep]
                if not len(index):
                    continue
            block = np.asarray(block, dtype=dtype)
            yield (index, block) if with_index else block

    def to_dask(self, rows: int):
        """``(z, partition)`` as dask arrays of ``rows``-row chunks (``partition`` None without ``/partition``).

        Tasks read through detached :class:`LazyRows`, so they need only the file path.
        """
        import dask.array as da

        z = da.from_array(self.z.detached(), chunks=(rows, self.z_dim), lock=False, asarray=True,
                          name=f"latentlab-z-{self.path}-{rows}")
        part = None
        if self.partition is not None:
            part = da.from_array(self.partition.detached(), chunks=(rows,), lock=False, asarray=True,
                                 name=f"latentlab-part-{self.path}-{rows}")
        return z, part

    def read_z(self, partition: str | None = None, dtype=np.float32) -> np.ndarray:
        """Load ``/z`` (or one partition of it) into memory."""
        if partition_code(partition) is None:
            return np.asarray(self.z[:], dtype=dtype)
        return np.concatenate(
            [b for b in self.iter_chunks(partition=partition, dtype=dtype)]
            or [np.empty((0, self.z_dim), dtype)]
        )

    def read_ids(self, partition: str | None = None) -> np.ndarray:
        """Ids of all rows (or of one partition) as an array of ``str``."""
        if self.ids is None:
            ids = np.array([str(i) for i in range(self.n)], dtype=object)
        else:
            ids = self.ids[:]
        sel = self.selection(partition)
        return ids if sel is None else ids[sel]

    def check_finite(self, chunk_rows: int | None = None) -> np.ndarray:
        """Row indices whose z holds NaN or Inf."""
        rows = max(1, min(int(chunk_rows or max(self.chunk_rows, DEFAULT_STREAM_ROWS)), self.max_block_rows))
        bad = []
        for start in range(0, self.n, rows):
            stop = min(start + rows, self.n)
            block = np.asarray(self.z._read(slice(start, stop)))
            bad.append(start + np.flatnonzero(~np.isfinite(block).all(axis=1)))
        return np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)


_INCOMPLETE_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar("incomplete_allowed", default=False)


@contextlib.contextmanager
def incomplete_stores_allowed(allowed: bool = True):
    """Within this block, :func:`open_store` accepts incomplete stores by default.

    The CLI's ``--allow-incomplete`` uses it, so that every store an analysis
    (or a report section) opens follows the one flag.

    Examples
    --------
    >>> with incomplete_stores_allowed():
    ...     allowed = _INCOMPLETE_ALLOWED.get()
    >>> allowed, _INCOMPLETE_ALLOWED.get()
    (True, False)
    """
    token = _INCOMPLETE_ALLOWED.set(bool(allowed))
    try:
        yield
    finally:
        _INCOMPLETE_ALLOWED.reset(token)


def open_store(
    path: str | os.PathLike, *, allow_incomplete: bool | None = None, allow_nonfinite: bool = False
) -> ZStore:
    """Open a z-store for reading.

    Parameters
    ----------
    path : path-like
    allow_incomplete : bool, optional
        Open a store whose writer has not finished (``complete`` false);
        only the fully written prefix of rows is visible. Default: False,
        or True inside :func:`incomplete_stores_allowed`.
    allow_nonfinite : bool, default False
        Hand out NaN/Inf rows of ``/z``. By default every read of ``/z``
        (slices, ``iter_chunks``, ``read_z``, Dask) that meets one raises
        :class:`StoreError`, so no analysis silently averages a NaN;
        :meth:`ZStore.check_finite` lists such rows either way.

    Raises
    ------
    StoreError
        Missing file, not HDF5, not a z-store, damaged, wrong dtype or rank,
        or incomplete without ``allow_incomplete``; and, on reading, NaN/Inf
        rows without ``allow_nonfinite``. Never another exception type.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from latentlab import write_store
    >>> path = write_store(pathlib.Path(tempfile.mkdtemp()) / "z.h5", np.zeros((10, 4)))
    >>> with open_store(path) as store:
    ...     for block in store.iter_chunks(6):
    ...         print(block.shape)
    (6, 4)
    (4, 4)
    """
    if allow_incomplete is None:
        allow_incomplete = _INCOMPLETE_ALLOWED.get()
    return ZStore(path, allow_incomplete=allow_incomplete, allow_nonfinite=allow_nonfinite)


def _open_h5(path: Path) -> h5py.File:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot open ({exc.strerror or exc})") from None
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, expected an HDF5 z-store file")
    if st.st_size == 0:
        raise StoreError(f"{path}: empty file, not an HDF5 file")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except Exception as exc:
        raise StoreError(f"{path}: cannot read ({_short(exc) or type(exc).__name__})") from None
    if not is_hdf5:
        raise StoreError(f"{path}: not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except Exception as exc:
        first = _short(exc) or type(exc).__name__
    # A writer that is still running (or was killed) holds the file in SWMR
    # mode; SWMR readers may still open it and see the committed prefix. Only
    # that case falls back to SWMR: a SWMR open skips HDF5's truncation check,
    # and libhdf5 can loop forever on a truncated file. A SWMR writer's file
    # may also look truncated: its superblock already counts space reserved
    # at the end of the file that no flush has written yet (a live writer
    # between two flushes, or one killed there). The superblock's SWMR flag
    # tells that case from a closed store that was cut short.
    swmr_writer = "already open for write" in first or "consistency flags" in first
    if "truncated file" in first:
        swmr_writer = _swmr_write_flag(path)
        if not swmr_writer:
            raise StoreError(f"{path}: truncated HDF5 file ({first})")
    if not swmr_writer:
        raise StoreError(f"{path}: cannot open HDF5 file ({first})")
    try:
        return h5py.File(path, "r", libver="latest", swmr=True, locking=False)
    except Exception as exc:
        raise StoreError(f"{path}: cannot open HDF5 file ({_short(exc) or type(exc).__name__})") from None


def _open_for_read(path: str) -> h5py.File:
    """Open an already validated store for one read (SWMR when a writer or this process holds it)."""
    try:
        return h5py.File(path, "r")
    except OSError:  # open here already with other locking flags (a SWMR reader), or a live writer
        return h5py.File(path, "r", libver="latest", swmr=True, locking=False)


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _swmr_write_flag(path: Path) -> bool:
    """Whether the superblock says a SWMR writer has (or had) the file open.

    Superblock versions 2 and 3 keep the file consistency flags in byte 11
    after the signature; bit 2 is "opened for SWMR writing". The signature sits
    at offset 0, 512, 1024, 2048… (a user block may precede it).
    """
    try:
        with open(path, "rb") as fh:
            offset = 0
            while True:
                fh.seek(offset)
                head = fh.read(12)
                if len(head) < 12:
                    return False
                if head[:8] == _HDF5_SIGNATURE:
                    return head[8] >= 2 and bool(head[11] & 0x04)
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False


def _dataset(f, key: str, name: Path, where: str = "") -> h5py.Dataset | None:
    """``f[key]`` if present; a group or other object under that name is an error.

    Only data inside the file itself is read: an external link (to another
    file), HDF5 external storage (raw bytes of any file, ``/etc/passwd`` or a
    FIFO that would hang the read) and virtual datasets (rows mapped from
    other files) are refused, as are chunks too large to inflate safely.
    """
    link = f.get(key, getlink=True)
    if link is None:
        return None
    label = f"/{where}{key}"
    if isinstance(link, h5py.ExternalLink):
        raise StoreError(f"{name}: {label} is a link to another file ({link.filename}); "
                         "latentlab reads only self-contained stores")
    try:
        obj = f.get(key)
    except (KeyError, OSError, RuntimeError, ValueError) as exc:  # a dangling soft link
        raise StoreError(f"{name}: {label} cannot be opened ({_short(exc) or type(exc).__name__})") from None
    if obj is None:
        raise StoreError(f"{name}: {label} is a dangling link")
    if not isinstance(obj, h5py.Dataset):
        raise StoreError(f"{name}: {label} must be a dataset, found {type(obj).__name__}")
    if obj.external:
        raise StoreError(f"{name}: {label} keeps its data in external files; latentlab reads only self-contained stores")
    if obj.is_virtual:
        raise StoreError(f"{name}: {label} is a virtual dataset (rows from other files); "
                         "latentlab reads only self-contained stores")
    if obj.chunks:
        chunk_bytes = int(np.prod(obj.chunks, dtype=np.float64) * max(1, obj.dtype.itemsize))
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise StoreError(f"{name}: {label} has HDF5 chunks of {chunk_bytes / 2**20:,.0f} MiB "
                             f"(at most {MAX_CHUNK_BYTES >> 20} MiB are read); rewrite it with smaller chunks")
    return obj


def _count_attr(attrs: dict, key: str) -> int | None:
    """A non-negative integer root attribute, or None when absent or not an integer."""
    value = attrs.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        return None
    return int(value)


def _truth(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_truth(v) for v in value)
    return bool(value)


def _as_list(value) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _short(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return lines[0][:200] if lines else ""


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [v.decode() if isinstance(v, bytes) else str(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
