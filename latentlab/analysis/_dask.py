"""The ``dask`` engine: one streamed pass as a dask graph over the HDF5 chunks.

``/z`` becomes ``dask.array.from_array(rows, chunks=(k · chunk_rows, z_dim))``;
each chunk is folded into fresh accumulators (the same classes the numpy
engine uses, see :mod:`._streaming`) and the per-chunk accumulators are
tree-reduced with ``merge``. The graph runs on the local threaded scheduler,
on a :class:`dask.distributed.Client`, or on a cluster given by address
(``scheduler=`` or ``$DASK_SCHEDULER_ADDRESS``).

The z rows are read through :class:`H5Rows`, which holds only the file path,
so tasks can be shipped to worker processes on other machines that see the
same file system.
"""

from __future__ import annotations

import os

import numpy as np

from .._errors import LatentlabError
from ..store import partition_code

__all__: list[str] = []


class H5Rows:
    """A picklable, array-like view of the first ``n`` rows of an HDF5 dataset, read by path."""

    def __init__(self, path, name: str, shape: tuple, dtype):
        self.path = str(path)
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        import h5py

        try:
            f = h5py.File(self.path, "r")
        except OSError:  # the file is open here already with other locking flags (SWMR reader)
            f = h5py.File(self.path, "r", libver="latest", swmr=True, locking=False)
        with f:
            if not isinstance(key, tuple):
                key = (key,)
            rows = key[0]
            if isinstance(rows, slice):
                rows = slice(*rows.indices(self.shape[0]))
            return f[self.name][(rows, *key[1:])]


def _fold(block, start: int, part, code, templates: dict) -> dict:
    block = np.asarray(block, dtype=np.float32)
    index = np.arange(start, start + len(block))
    if code is not None:
        keep = np.asarray(part) == code
        block, index = block[keep], index[keep]
    accs = {k: a.empty() for k, a in templates.items()}
    if len(block):
        for acc in accs.values():
            acc.update(block, index)
    return accs


def _merge(a: dict, b: dict) -> dict:
    return {k: a[k].merge(b[k]) for k in a}


def _client_for(scheduler):
    """``(client_or_None, scheduler_for_dask_compute, close_after)``."""
    if scheduler is None:
        scheduler = os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if scheduler is None:
        return None, "threads", False
    if isinstance(scheduler, str):
        if scheduler in ("threads", "sync", "synchronous", "processes", "single-threaded"):
            return None, scheduler, False
        try:
            from dask.distributed import Client

            return Client(scheduler, set_as_default=False, timeout="10s"), None, True
        except (OSError, TimeoutError) as exc:
            raise LatentlabError(f"scheduler: cannot reach dask scheduler {scheduler!r} ({type(exc).__name__})") from None
    return scheduler, None, False  # a Client


def run_pass_dask(store, accumulators: dict, *, partition, rows: int, scheduler=None) -> dict:
    """One pass over ``/z`` computed with dask.array (see module docstring)."""
    import dask
    import dask.array as da

    from ._streaming import ArrayStore

    code = partition_code(partition)
    if code is not None and store.partition is None:
        store.selection(partition)  # raises the store's own error
    d = store.z_dim
    if isinstance(store, ArrayStore):
        z = da.from_array(store.z, chunks=(rows, d))
        part = None
    else:
        src = H5Rows(store.path, "z", (store.n, d), store.z.dtype)
        z = da.from_array(src, chunks=(rows, d), lock=False, asarray=True, name=f"latentlab-z-{store.path}-{rows}")
        part = None
        if code is not None:
            psrc = H5Rows(store.path, "partition", (store.n,), np.int8)
            part = da.from_array(psrc, chunks=(rows,), lock=False, asarray=True, name=f"latentlab-part-{store.path}-{rows}")
    blocks = z.to_delayed().ravel()
    parts = part.to_delayed().ravel() if part is not None else [None] * len(blocks)
    starts = np.concatenate([[0], np.cumsum(z.chunks[0])[:-1]]).astype(int)
    fold, merge = dask.delayed(_fold, pure=True), dask.delayed(_merge, pure=True)
    level = [fold(b, int(s), p, code, accumulators) for b, s, p in zip(blocks, starts, parts)]
    while len(level) > 1:
        nxt = [merge(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    client, sched, close = _client_for(scheduler)
    try:
        if client is not None:
            return client.compute(level[0]).result()
        (result,) = dask.compute(level[0], scheduler=sched)
        return result
    finally:
        if close:
            client.close()
