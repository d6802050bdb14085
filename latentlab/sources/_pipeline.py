"""Parallel, prefetching, order-preserving decode of an image source.

Decoding releases the GIL (libjpeg-turbo through simplejpeg or Pillow, and
Pillow's resize), so a thread pool decodes several images at once, straight
into a preallocated batch buffer, while the model runs on the previous batch.

JPEG files of the file-backed sources (CelebA, folder) take a fast path:
the bytes are read in one call and decoded by simplejpeg (libjpeg-turbo, no
Pillow file parsing), then cropped and resized by the same Pillow call as
:func:`~latentlab.sources._base.decode_file`. The pixels are identical to
``source.load`` (tested); anything the fast path does not handle (non-JPEG,
CMYK, DCT-scaled drafts, unreadable or damaged files) goes through
``decode_file``, so errors and their reasons are unchanged.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ._base import ImageSource, Preprocessing, UndecodableImage, crop_box, decode_file, resize

try:  # libjpeg-turbo without Pillow's per-file overhead; optional
    import simplejpeg as _simplejpeg
except ImportError:  # pragma: no cover - the Pillow path is used instead
    _simplejpeg = None

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


def fast_decode_file(path, prep: Preprocessing) -> np.ndarray:
    """:func:`decode_file` with a faster JPEG path; same pixels, same errors.

    A baseline or progressive JPEG in YCbCr or grey whose crop is less than
    twice the target size (so ``decode_file`` would not use a DCT-scaled
    draft) is read in one call and decoded by simplejpeg; everything else,
    including every failure, is handed to ``decode_file``.
    """
    if _simplejpeg is None:
        return decode_file(path, prep)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO named *.jpg would block open()
            return decode_file(path, prep)
        with open(path, "rb") as fh:
            data = fh.read()
        if data[:3] != b"\xff\xd8\xff":
            return decode_file(path, prep)
        h, w, colorspace, _ = _simplejpeg.decode_jpeg_header(data)
        if colorspace not in ("YCbCr", "Gray") or w * h > Image.MAX_IMAGE_PIXELS:
            return decode_file(path, prep)
        box = crop_box(w, h, prep.crop)
        if min(box[2] - box[0], box[3] - box[1]) / prep.image_size >= 2:
            return decode_file(path, prep)  # decode_file decodes a reduced-size draft
        if colorspace == "Gray":
            im = Image.fromarray(_simplejpeg.decode_jpeg(data, colorspace="GRAY")[:, :, 0], "L")
        else:
            im = Image.fromarray(_simplejpeg.decode_jpeg(data, colorspace="RGB"), "RGB")
    except (OSError, ValueError):
        return decode_file(path, prep)
    return resize(im, box, prep)


def _file_of(source: ImageSource) -> Callable[[int], Path] | None:
    """``index -> file path`` for the file-backed sources whose ``load`` is plain ``decode_file``."""
    from ._base import _Subset
    from ._celeba import CelebASource
    from ._folder import FolderSource

    if isinstance(source, _Subset):
        parent = _file_of(source.parent)
        return None if parent is None else (lambda i: parent(int(source.indices[i])))
    if type(source).load is CelebASource.load and isinstance(source, CelebASource):
        return lambda i: source.image_dir / source.ids[i]
    if type(source).load is FolderSource.load and isinstance(source, FolderSource):
        return lambda i: source.root / source.ids[i]
    return None


def image_loader(source: ImageSource, prep: Preprocessing) -> Callable[[int], np.ndarray]:
    """``index -> (S, S, C) uint8`` for ``source``: the fast file path where possible, else ``source.load``."""
    file_of = _file_of(source)
    if file_of is None or _simplejpeg is None:
        return lambda i: source.load(i, prep)
    return lambda i: fast_decode_file(file_of(i), prep)


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
    load = image_loader(source, prep)
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
