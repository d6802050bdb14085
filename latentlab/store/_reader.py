"""Lazy, validating reader for z-store files."""

from __future__ import annotations

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
    """A read-only view of the first ``n`` rows of an HDF5 dataset.

    Behaves like a NumPy array for ``shape``, ``dtype``, ``len`` and
    slicing, so it can be handed to ``dask.array.from_array``; reading
    happens only on indexing. Rows beyond ``n`` (a write in progress or torn
    by a crash) are never visible.
    """

    def __init__(self, dataset: h5py.Dataset, n: int, *, as_str: bool = False):
        self.dataset = dataset
        self._n = int(n)
        self._as_str = as_str

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._n, *self.dataset.shape[1:])

    @property
    def dtype(self):
        return np.dtype(object) if self._as_str else self.dataset.dtype

    @property
    def ndim(self) -> int:
        return self.dataset.ndim

    @property
    def chunks(self):
        return self.dataset.chunks

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, key):
        key = self._clip(key)
        source = self.dataset.asstr() if self._as_str else self.dataset
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

    def __init__(self, path: str | os.PathLike, *, allow_incomplete: bool = False):
        self.path = Path(path)
        self._file = _open_h5(self.path)
        try:
            self._validate_and_bind(allow_incomplete)
        except BaseException:
            self._file.close()
            raise

    # -- construction -------------------------------------------------------
    def _validate_and_bind(self, allow_incomplete: bool) -> None:
        f, name = self._file, self.path
        if "z" not in f or not isinstance(f["z"], h5py.Dataset):
            raise StoreError(f"{name}: not a z-store (no /z dataset)")
        z = f["z"]
        if z.ndim != 2:
            raise StoreError(f"{name}: /z must be 2-D (N, z_dim), found shape {z.shape}")
        if z.dtype.kind != "f":
            raise StoreError(f"{name}: /z must hold floats, found dtype {z.dtype}")
        self.attrs = {k: _plain(v) for k, v in f.attrs.items()}
        self.complete = bool(self.attrs.get("complete", True))
        n = z.shape[0]
        if "ids" in f:
            n = min(n, f["ids"].shape[0])
        for key in ("partition", "attributes"):
            if key in f:
                n = min(n, f[key].shape[0])
        if self.complete and n != z.shape[0]:
            raise StoreError(
                f"{name}: marked complete but datasets have different lengths"
                f" (/z {z.shape[0]} rows, consistent prefix {n})"
            )
        if not self.complete and not allow_incomplete:
            raise StoreError(
                f"{name}: store is incomplete ({n} rows written; finish it with"
                " `latentlab encode ... --resume` or pass --allow-incomplete)"
            )
        self.n = int(n)
        self.z_dim = int(z.shape[1])
        self.z = LazyRows(z, n)
        self.ids = LazyRows(f["ids"], n, as_str=True) if "ids" in f else None
        self.partition = LazyRows(f["partition"], n) if "partition" in f else None
        self.attributes = LazyRows(f["attributes"], n) if "attributes" in f else None
        self.attribute_names = (
            [str(s) for s in _plain(f["attributes"].attrs.get("names", []))]
            if "attributes" in f
            else []
        )

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
        return chunks[0] if chunks else DEFAULT_STREAM_ROWS

    def skipped(self) -> list[tuple[str, str]]:
        """Images that could not be decoded when the store was written: ``(path, reason)``."""
        if "skipped" not in self._file:
            return []
        g = self._file["skipped"]
        return list(zip(g["path"].asstr()[:], g["reason"].asstr()[:]))

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
        bad = [idx[~np.isfinite(b).all(axis=1)] for idx, b in self.iter_chunks(chunk_rows, dtype=np.float32, with_index=True)]
        return np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)


def open_store(path: str | os.PathLike, *, allow_incomplete: bool = False) -> ZStore:
    """Open a z-store for reading.

    Parameters
    ----------
    path : path-like
    allow_incomplete : bool, default False
        Open a store whose writer has not finished (``complete`` false);
        only the fully written prefix of rows is visible.

    Raises
    ------
    StoreError
        Missing file, not HDF5, not a z-store, wrong dtype or rank, or
        incomplete without ``allow_incomplete``.

    Examples
    --------
    >>> with open_store("z.h5") as store:            # doctest: +SKIP
    ...     for block in store.iter_chunks():
    ...         print(block.shape)
    """
    return ZStore(path, allow_incomplete=allow_incomplete)


def _open_h5(path: Path) -> h5py.File:
    if not path.exists():
        raise StoreError(f"{path}: no such file")
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, expected an HDF5 z-store file")
    if not h5py.is_hdf5(path):
        raise StoreError(f"{path}: not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError:
        pass
    # A writer that is still running (or was killed) holds the file in SWMR
    # mode; SWMR readers may still open it and see the flushed prefix.
    try:
        return h5py.File(path, "r", libver="latest", swmr=True, locking=False)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open HDF5 file ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200]


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
