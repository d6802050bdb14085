"""``encode``: run the encoder over every image of a source into a z-store."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._errors import LatentlabError, StrictModeError
from .sources import ImageSource, Preprocessing, iter_batches, open_source
from .store import StoreWriter


@dataclass
class EncodeResult:
    """Summary of an :func:`encode` run."""

    path: Path
    n_rows: int
    n_encoded: int
    skipped: list[tuple[str, str]]
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.n_encoded / self.seconds if self.seconds > 0 else float("nan")


def encode(
    model_dir: str | os.PathLike | None = None,
    data: str | os.PathLike | None = None,
    dataset: str = "celeba",
    out: str | os.PathLike = "z.h5",
    *,
    encoder: str | os.PathLike | None = None,
    decoder: str | os.PathLike | None = None,
    autoencoder=None,
    source: ImageSource | None = None,
    partition: str = "all",
    limit: int | None = None,
    crop: tuple[int, int] | None = None,
    batch_size: int = 256,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    workers: int | None = None,
    progress=None,
    shard: tuple[int, int] | str | None = None,
    distribute: bool | None = None,
    model_threads: int | str | None = None,
    attributes: str | os.PathLike | None = None,
) -> EncodeResult:
    """Encode every image of a source and stream the z-points into an HDF5 z-store.

    Parameters
    ----------
    model_dir : path-like, optional
        A model directory from :func:`latentlab.train`; or give ``encoder`` and
        ``decoder`` ``.keras`` files, or a loaded ``autoencoder``.
    data, dataset :
        The image source (see :func:`latentlab.sources.open_source`), or pass ``source``.
    out : path-like
        The z-store to write (format: ``docs/format.md``).
    partition : {'train', 'val', 'test', 'all'}
        CelebA / Fashion-MNIST partition to encode.
    attributes : path-like, optional
        CSV of per-image attributes (id column + columns) stored as ``/attributes``.
    crop : (w, h), optional
        Centre crop; default: the model's training crop, else the source's own.
    batch_size : int
        Images per forward pass and per flushed block of rows.
    resume : bool
        Continue an interrupted store (rows already written are kept).
    overwrite : bool
        Replace an existing store.
    strict : bool
        Fail (exit code 1) if any image cannot be decoded: every image is
        tried, the error lists them all and the store is left incomplete.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch.
    shard : (I, N) or "I/N", optional
        Encode only shard ``I`` of ``N`` (0-based): the ``I``-th of ``N``
        contiguous, near-equal blocks of the source rows (after ``partition``
        and ``limit``). Concatenating the parts in shard order with
        :func:`latentlab.store.merge_stores` gives the single-process store.
        The spec is stored in the part's root attributes (``shard_index``,
        ``shard_count``, ``shard_start``, ``shard_stop``, ``source_rows``).
    distribute : bool, optional
        Split each batch over the visible devices with
        ``tf.distribute.MirroredStrategy``. Default: only when more than one
        GPU is visible; ``True`` forces the strategy (also with one device).
    model_threads : int or 'auto', optional
        TensorFlow intra-op threads, applied only if TensorFlow has not
        started yet in this process (it is a process-wide setting). ``'auto'``
        (the CLI's default) and ``None`` leave TensorFlow's default (all
        cores), the faster choice on an idle machine (``docs/performance.md``);
        1 is better when other jobs hold some of the cores.

    Returns
    -------
    EncodeResult

    Examples
    --------
    With a model directory of ``latentlab train``: ``encode("runs/celeba96", "data/celeba", "celeba", "z.h5")``.
    Here 12 faces in CelebA's layout, through a tiny untrained encoder (8×8 grey) given as ``.keras`` files:

    >>> import pathlib, tempfile, keras
    >>> from latentlab import open_store
    >>> from latentlab.sources import make_celeba_layout
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> faces = make_celeba_layout(d / "celeba", n=12)
    >>> keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]).save(d / "enc.keras")
    >>> keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="sigmoid"),
    ...                   keras.layers.Reshape((8, 8, 1))]).save(d / "dec.keras")
    >>> res = encode(data=faces, dataset="celeba", out=d / "z.h5", encoder=d / "enc.keras", decoder=d / "dec.keras",
    ...              workers=1)
    >>> res.n_rows, res.skipped
    (12, [])
    >>> with open_store(res.path) as s:
    ...     s.z_dim, s.attrs["image_size"], s.attrs["dataset"], list(s.read_ids()[:2])
    (3, 8, 'celeba', ['000001.jpg', '000002.jpg'])
    """
    # Every option is checked before the store is touched: an --overwrite with a bad option
    # must leave the old store as it was.
    from ._checks import check_crop, check_int, check_new_output

    batch_size = check_int(batch_size, "--batch-size")
    workers = check_int(workers, "--workers", optional=True)
    limit = check_int(limit, "--limit", optional=True)
    crop = check_crop(crop)
    out = Path(out)
    if resume and overwrite:
        raise LatentlabError("--resume and --overwrite: give one (continue the store, or replace it)")
    if os.path.lexists(out) and not (resume or overwrite):
        raise LatentlabError(f"{out}: already exists (use --resume to continue it or --overwrite to replace it)")
    if out.is_dir():
        raise LatentlabError(f"--out {out}: is a directory, expected a store file name")
    check_new_output(out, overwrite=True)
    if source is None:
        source = open_source(dataset, data, partition=partition, limit=limit, attributes=attributes)
    elif attributes is not None:
        from .sources import with_csv_attributes

        source = with_csv_attributes(source, attributes)
    shard = parse_shard(shard) if shard is not None else None
    if shard is not None:
        n_source = len(source)
        shard_start, shard_stop = shard_range(n_source, *shard)
        source = source.subset(np.arange(shard_start, shard_stop))
        if shard[0] != 0:  # listing problems are recorded once, by shard 0
            source.listing_skipped = []
    if autoencoder is None:
        from .model import load_autoencoder

        if model_threads is not None:
            configure_model_threads(model_threads)

        autoencoder = load_autoencoder(model_dir, encoder=encoder, decoder=decoder)
    ae = autoencoder
    model_crop = check_crop(ae.config.get("crop") or None, f"{ae.source}: crop")
    if crop is None:
        crop = model_crop or check_crop(source.default_crop, f"{source.location}: default crop")
    prep = Preprocessing(ae.image_size, ae.channels, tuple(crop) if crop else None)

    attrs = {
        "source": source.location,
        "dataset": source.dataset,
        "image_size": ae.image_size,
        "channels": ae.channels,
        "crop": list(crop) if crop else "square",
        "model": ae.source,
        "model_sha256": ae.sha256,
    }
    if shard is not None:
        attrs.update(shard_index=shard[0], shard_count=shard[1], shard_start=shard_start, shard_stop=shard_stop,
                     source_rows=n_source)
    encode_batch = distributed_encoder(ae) if distribute or (distribute is None and _n_gpus() > 1) else ae.encode_batch
    writer = StoreWriter(
        out, ae.z_dim, attrs=attrs, attribute_names=source.attribute_names,
        has_partition=source.partition is not None,
        mode="resume" if resume else ("overwrite" if overwrite else "create"),
    )
    start = time.perf_counter()
    skipped: list[tuple[str, str]] = []
    if writer.already_complete:
        n_rows = writer.n
        writer.close(complete=True)
        return EncodeResult(out, n_rows, 0, [], 0.0)
    completed = False
    n_encoded = 0
    behind = _WriteBehind(writer)
    try:
        done = set(writer.resumed_ids)
        if done and not set(source.ids).issuperset(done):
            raise LatentlabError(f"{out}: cannot resume, the store holds ids that are not in {source.location}")
        # Images already recorded as skipped are not retried: the resumed
        # store then equals an uninterrupted run, /skipped included.
        skipped.extend(writer.resumed_skipped)
        done |= {name for name, _ in writer.resumed_skipped}
        rows = np.array([i for i, name in enumerate(source.ids) if name not in done], dtype=np.int64)
        listing_skipped = [s for s in source.listing_skipped if s[0] not in done]
        if listing_skipped:
            writer.add_skipped(*zip(*listing_skipped))
            skipped.extend(listing_skipped)
        total = len(rows)
        for batch in iter_batches(source, prep, batch_size, rows=rows, workers=workers):
            if batch.skipped:
                behind.add_skipped([s[0] for s in batch.skipped], [s[1] for s in batch.skipped])
                skipped.extend(batch.skipped)
            if len(batch.indices):
                z = encode_batch(batch.images)
                idx = batch.indices
                behind.append(
                    z, [source.ids[i] for i in idx],
                    None if source.partition is None else source.partition[idx],
                    None if source.attributes is None else source.attributes[idx],
                )
                n_encoded += len(idx)
            if progress:
                progress(n_encoded + len(skipped) - len(writer.resumed_skipped), total + len(listing_skipped))
        behind.close()
        if strict and skipped:
            # every image is tried first, so the error lists all of them; the
            # store stays incomplete (``--resume`` without --strict accepts it)
            raise StrictModeError(_strict_message(skipped))
        completed = True
        n_rows = writer.n
    finally:
        behind.close(wait_only=True)
        writer.close(complete=completed)
    return EncodeResult(out, n_rows, n_encoded, skipped, time.perf_counter() - start)


def _strict_message(skipped: list[tuple[str, str]], shown: int = 20) -> str:
    """One line listing the undecodable images (``--strict``)."""
    listing = "; ".join(f"{p}: {r}" for p, r in skipped[:shown])
    more = f"; … {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"--strict: {len(skipped)} image(s) could not be decoded ({listing}{more})"


class _WriteBehind:
    """Write a store's rows on one background thread, in whole HDF5 chunks.

    The model thread hands each batch over and goes on with the next one
    while a writer thread compresses and flushes. Rows are gathered until
    they fill whole ``/z`` chunks (``writer.chunk_rows``), so each chunk is
    compressed once; flushing 256-row batches into 1,024-row gzip chunks
    recompressed every chunk four times (3× the write cost, see
    ``docs/performance.md``). Rows are committed at least every ``max_rows``.
    At most ``depth`` blocks wait; ``close`` writes the rest and re-raises a
    write error.
    """

    max_rows = 4096

    def __init__(self, writer, depth: int = 2):
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.writer, self.depth = writer, depth
        self.chunk = max(1, int(getattr(writer, "chunk_rows", 1)))
        self._rows = writer.n  # committed + queued
        self._buf: list[tuple] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="latentlab-write")
        self._pending: deque = deque()

    def _submit(self, fn, *args) -> None:
        self._pending.append(self._pool.submit(fn, *args))
        while self._pending and (len(self._pending) > self.depth or self._pending[0].done()):
            self._pending.popleft().result()

    def append(self, z, ids, partition=None, attributes=None) -> None:
        self._buf.append((np.asarray(z, np.float32), list(ids), partition, attributes))
        buffered = sum(len(b[1]) for b in self._buf)
        # write up to the last chunk boundary the buffered rows reach
        k = (self._rows + buffered) // self.chunk * self.chunk - self._rows
        if k <= 0 and buffered >= self.max_rows:  # huge chunks (small z_dim): commit rows regularly anyway
            k = buffered
        if k > 0:
            self._write(k)

    def _write(self, k: int) -> None:
        z, ids, part, attr = (list(x) for x in zip(*self._buf))
        z = np.concatenate(z)
        ids = [i for block in ids for i in block]
        part = None if part[0] is None else np.concatenate(part)
        attr = None if attr[0] is None else np.concatenate(attr)
        self._submit(self.writer.append, z[:k], ids[:k], None if part is None else part[:k],
                     None if attr is None else attr[:k])
        self._rows += k
        self._buf = [] if k == len(ids) else [(z[k:], ids[k:], None if part is None else part[k:],
                                               None if attr is None else attr[k:])]

    def add_skipped(self, *args) -> None:
        self._submit(self.writer.add_skipped, *args)

    def close(self, wait_only: bool = False) -> None:
        """Write what is buffered, wait for every queued write; raise the first error unless ``wait_only``."""
        if not wait_only and self._buf:
            self._write(sum(len(b[1]) for b in self._buf))
        self._pool.shutdown(wait=True)
        while self._pending:
            f = self._pending.popleft()
            if not wait_only:
                f.result()


def parse_shard(shard) -> tuple[int, int]:
    """``"I/N"`` or ``(I, N)`` → ``(I, N)`` with ``0 <= I < N``."""
    try:
        i, n = (int(v) for v in (shard.split("/") if isinstance(shard, str) else shard))
    except (ValueError, TypeError):
        raise LatentlabError(f"--shard: expected I/N (e.g. 0/4), got {shard!r}") from None
    if n < 1 or not 0 <= i < n:
        raise LatentlabError(f"--shard {i}/{n}: need N >= 1 and 0 <= I < N")
    return i, n


def shard_range(n_rows: int, index: int, count: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of shard ``index`` of ``count`` over ``n_rows`` rows (contiguous, sizes differ by ≤ 1)."""
    return index * n_rows // count, (index + 1) * n_rows // count


def configure_model_threads(threads: int | str = "auto") -> bool:
    """Set TensorFlow's intra-op threads before it starts; returns whether it was set.

    ``'auto'`` keeps TensorFlow's default (all cores). On an idle 2-core
    machine that encodes faster than one model thread (about 2,500 against
    2,100 img/s for the reference encoder, the decode threads filling the
    gaps); pass 1 when other jobs hold some of the cores.
    """
    if threads == "auto":
        return False
    from ._tf import import_keras

    import_keras()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
    except RuntimeError:  # TensorFlow already running in this process: keep its setting
        return False
    return True


def _n_gpus() -> int:
    import sys

    if "tensorflow" not in sys.modules:  # no Keras model in this process (e.g. a NumPy encoder passed in)
        return 0
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def distributed_encoder(ae, strategy=None):
    """A ``uint8 batch -> z`` function that splits each batch over the replicas of a strategy.

    Parameters
    ----------
    ae : Autoencoder
    strategy : tf.distribute.Strategy, optional
        Default: ``MirroredStrategy`` over the visible GPUs (or the CPU).
    """
    from ._tf import import_keras

    import tensorflow as tf

    if strategy is None:
        strategy = tf.distribute.MirroredStrategy()
    keras = import_keras()
    with strategy.scope():  # Keras 3 models must live in the scope to be called per replica
        enc = keras.models.clone_model(ae.encoder)
        enc.set_weights(ae.encoder.get_weights())

    @tf.function(reduce_retracing=True)
    def fn(x):
        return enc(tf.cast(x, tf.float32) * (1.0 / 255.0), training=False)

    k = strategy.num_replicas_in_sync

    def encode_batch(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if len(images) < k:  # an empty replica slice trips TF's CPU kernels; too small to split anyway
            return np.asarray(fn(images), dtype=np.float32)
        bounds = [len(images) * r // k for r in range(k + 1)]

        def part(ctx):
            r = ctx.replica_id_in_sync_group
            return tf.constant(images[bounds[r] : bounds[r + 1]])

        dist = strategy.experimental_distribute_values_from_function(part)
        z = strategy.run(fn, args=(dist,))
        parts = strategy.experimental_local_results(z)
        return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts])

    encode_batch.strategy = strategy
    return encode_batch
