"""The ``dask`` engine: one streamed pass as a dask graph over the HDF5 chunks.

``/z`` becomes ``dask.array.from_array(rows, chunks=(k · chunk_rows, z_dim))``;
each chunk is folded into fresh accumulators (the same classes the numpy
engine uses, see :mod:`._streaming`) and the per-chunk accumulators are
tree-reduced with ``merge``. The graph runs on the local threaded scheduler,
on a :class:`dask.distributed.Client`, or on a cluster given by address
(``scheduler=`` or ``$DASK_SCHEDULER_ADDRESS``).

The row source hands out the dask arrays (``store.to_dask``); a z-store's
tasks read through detached :class:`~latentlab.store.LazyRows`, which hold
only the file path, so they can be shipped to worker processes on other
machines that see the same file system.
"""

from __future__ import annotations

import os

import numpy as np

from .._errors import LatentlabError
from ..store import partition_code

__all__: list[str] = []


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

    code = partition_code(partition)
    if code is not None and store.partition is None:
        store.selection(partition)  # raises the store's own error
    z, part = store.to_dask(rows)
    if code is None:
        part = None
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
