"""Parallel, prefetching, order-preserving decode of an image source.

Decoding releases the GIL (libjpeg-turbo through simplejpeg or Pillow, and
Pillow's resize), so a thread pool decodes several images at once, straight
into a preallocated batch buffer, while the model runs on the previous batch.

Each image is ``source.load``: for JPEG files that is libjpeg-turbo at a
reduced DCT scale (see :func:`~latentlab.sources._base.decode_file`), so the
pipeline and a single ``load`` give the same pixels by construction.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ._base import ImageSource, Preprocessing, UndecodableImage

#: Images per task handed to a decode thread.
_TASK_SIZE = 32


@dataclass
class Batch:
    """Decoded images of one batch, in source order.

    Attributes
    ----------
    indices : int64 array
        Source rows of ``images`` (undecodable ones are left out).
    images : uint8 array (n, S, S, C)
    skipped : list of (id, reason)
    """

    indices: np.ndarray
    images: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _decode_task(load, ids, rows: np.ndarray, out: np.ndarray, ok: np.ndarray):
    """Decode ``rows`` into ``out`` (a slice of the batch buffer); mark failures in ``ok``."""
    skipped = []
    for j, i in enumerate(rows):
        try:
            out[j] = load(int(i))
        except UndecodableImage as exc:
            ok[j] = False
            skipped.append((ids[int(i)], str(exc)))
    return skipped


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def iter_batches(
    source: ImageSource,
    prep: Preprocessing,
    batch_size: int = 256,
    *,
    rows: np.ndarray | None = None,
    workers: int | None = None,
    prefetch: int = 2,
) -> Iterator[Batch]:
    """Decode ``source`` (or the given ``rows`` of it) in batches, in order.

    Parameters
    ----------
    source : ImageSource
    prep : Preprocessing
    batch_size : int
    rows : array of int, optional
        Source rows to decode (default: all, in order).
    workers : int, optional
        Decode threads (default: the cores available).
    prefetch : int
        Batches decoded ahead of the consumer.
    """
    if rows is None:
        rows = np.arange(len(source), dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    workers = workers or default_workers()
    def load(i: int) -> np.ndarray:
        return source.load(i, prep)

    shape = (prep.image_size, prep.image_size, prep.channels)
    batches = [rows[s : s + batch_size] for s in range(0, len(rows), batch_size)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="latentlab-decode") as pool:
        pending: deque = deque()

        def submit(b):
            buf = np.empty((len(b), *shape), dtype=np.uint8)
            ok = np.ones(len(b), dtype=bool)
            futures = [
                pool.submit(_decode_task, load, source.ids, b[s : s + _TASK_SIZE], buf[s : s + _TASK_SIZE], ok[s : s + _TASK_SIZE])
                for s in range(0, len(b), _TASK_SIZE)
            ]
            pending.append((b, buf, ok, futures))

        it = iter(batches)
        for b in it:
            submit(b)
            if len(pending) > prefetch:
                break
        while pending:
            b, buf, ok, futures = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                submit(nxt)
            skipped = [s for f in futures for s in f.result()]
            if skipped:
                yield Batch(b[ok], buf[ok], skipped)
            else:
                yield Batch(b, buf, [])


def load_all(
    source: ImageSource,
    prep: Preprocessing,
    *,
    out: np.ndarray | None = None,
    batch_size: int = 512,
    progress=None,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Decode a whole source into one uint8 array.

    Parameters
    ----------
    out : array, optional
        Preallocated ``(len(source), S, S, C)`` uint8 array (e.g. a memmap).
    progress : callable, optional
        Called with the number of images handled after each batch.

    Returns
    -------
    images : uint8 array (n_kept, S, S, C)
    kept : int64 array of source rows
    skipped : list of (id, reason)
    """
    s, c = prep.image_size, prep.channels
    if out is None:
        out = np.empty((len(source), s, s, c), dtype=np.uint8)
    n, kept, skipped = 0, [], []
    for batch in iter_batches(source, prep, batch_size):
        k = len(batch.indices)
        out[n : n + k] = batch.images
        n += k
        kept.append(batch.indices)
        skipped.extend(batch.skipped)
        if progress:
            progress(k + len(batch.skipped))
    kept_rows = np.concatenate(kept) if kept else np.empty(0, np.int64)
    return out[:n], kept_rows, skipped
