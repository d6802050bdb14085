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
        CelebA partition to encode.
    crop : (w, h), optional
        Centre crop; default: the model's training crop, else the source's own.
    batch_size : int
        Images per forward pass and per flushed block of rows.
    resume : bool
        Continue an interrupted store (rows already written are kept).
    overwrite : bool
        Replace an existing store.
    strict : bool
        Stop with an error (exit code 1) at the first undecodable image.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch.

    Returns
    -------
    EncodeResult

    Examples
    --------
    >>> encode("runs/celeba96", "data/celeba", "celeba", "z.h5")   # doctest: +SKIP
    """
    if batch_size < 1:
        raise LatentlabError("--batch-size must be at least 1")
    out = Path(out)
    if out.exists() and not (resume or overwrite):
        raise LatentlabError(f"{out}: already exists (use --resume to continue it or --overwrite to replace it)")
    if source is None:
        source = open_source(dataset, data, partition=partition, limit=limit)
    if autoencoder is None:
        from .model import load_autoencoder

        autoencoder = load_autoencoder(model_dir, encoder=encoder, decoder=decoder)
    ae = autoencoder
    model_crop = ae.config.get("crop")
    if crop is None:
        crop = tuple(model_crop) if model_crop else source.default_crop
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
    writer = StoreWriter(
        out, ae.z_dim, attrs=attrs, attribute_names=source.attribute_names,
        has_partition=source.partition is not None,
        mode="resume" if resume else ("overwrite" if overwrite else "create"),
        chunk_rows=None,
    )
    start = time.perf_counter()
    skipped: list[tuple[str, str]] = []
    if writer.already_complete:
        n_rows = writer.n
        writer.close(complete=True)
        return EncodeResult(out, n_rows, 0, [], 0.0)
    completed = False
    n_encoded = 0
    try:
        done = set(writer.resumed_ids)
        if done and not set(source.ids).issuperset(done):
            raise LatentlabError(f"{out}: cannot resume, the store holds ids that are not in {source.location}")
        rows = np.array([i for i, name in enumerate(source.ids) if name not in done], dtype=np.int64)
        if source.listing_skipped:
            writer.add_skipped(*zip(*source.listing_skipped))
            skipped.extend(source.listing_skipped)
        total = len(rows)
        for batch in iter_batches(source, prep, batch_size, rows=rows, workers=workers):
            if batch.skipped:
                writer.add_skipped([s[0] for s in batch.skipped], [s[1] for s in batch.skipped])
                skipped.extend(batch.skipped)
                if strict:
                    listing = "; ".join(f"{p}: {r}" for p, r in skipped[:5])
                    raise StrictModeError(f"{len(skipped)} image(s) could not be decoded ({listing})")
            if len(batch.indices):
                z = ae.encode_batch(batch.images)
                idx = batch.indices
                writer.append(
                    z, [source.ids[i] for i in idx],
                    None if source.partition is None else source.partition[idx],
                    None if source.attributes is None else source.attributes[idx],
                )
                n_encoded += len(idx)
            if progress:
                progress(n_encoded + len(skipped), total + len(source.listing_skipped))
        if strict and skipped:
            listing = "; ".join(f"{p}: {r}" for p, r in skipped[:5])
            raise StrictModeError(f"{len(skipped)} image(s) could not be decoded ({listing})")
        completed = True
        n_rows = writer.n
    finally:
        writer.close(complete=completed)
    return EncodeResult(out, n_rows, n_encoded, skipped, time.perf_counter() - start)
