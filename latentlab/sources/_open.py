"""The image-source registry: ``--dataset`` names a source class by its ``dataset`` attribute."""

from __future__ import annotations

import numpy as np

from .._errors import DataSourceError
from ._arrays import LFWSource, NpzSource
from ._base import ImageSource
from ._celeba import CelebASource
from ._fashion_mnist import FashionMNISTSource
from ._folder import FolderSource

#: dataset name → image source class. A new source is its module and one entry here.
SOURCES: dict[str, type[ImageSource]] = {
    cls.dataset: cls
    for cls in (
        CelebASource,
        FolderSource,
        NpzSource,
        LFWSource,
        FashionMNISTSource,
    )
}
DATASETS = tuple(SOURCES)


def open_source(
    dataset: str,
    data: str | None = None,
    *,
    partition: str = "all",
    limit: int | None = None,
    attributes: str | None = None,
) -> ImageSource:
    """Build an image source from ``--dataset`` / ``--data``.

    Parameters
    ----------
    dataset : str
        A key of :data:`SOURCES` (``celeba``, ``folder``, ``npz``, ``lfw``, ``fashion-mnist``).
    data : path, optional
        Required by sources with ``needs_data`` (celeba, folder, npz); ``lfw``
        ignores it; for ``fashion-mnist`` the default is Debian's
        ``/usr/share/datasets/fashion-mnist``.
    partition : {'train', 'val', 'test', 'all'}
        Only for sources with partitions: CelebA (train, val, test) and Fashion-MNIST (train, test).
    limit : int, optional
        Keep the first ``limit`` images.
    attributes : path, optional
        A CSV of per-image attributes (id column + columns), added to the
        source's own (see :func:`~latentlab.sources.read_attributes_csv`).

    Examples
    --------
    >>> src = open_source("lfw", limit=3)
    >>> src.dataset, len(src)
    ('lfw', 3)
    """
    cls = SOURCES.get(dataset)
    if cls is None:
        raise DataSourceError(f"unknown dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    if cls.needs_data and not data:
        raise DataSourceError(f"--data is required for dataset {dataset!r}")
    if partition not in ("all", None) and not cls.has_partitions:
        with_parts = " or ".join(name for name, c in SOURCES.items() if c.has_partitions)
        raise DataSourceError(f"--partition {partition} needs --dataset {with_parts} (other sources have no partitions)")
    if limit is not None and limit < 1:
        raise DataSourceError("--limit must be at least 1")
    source = cls.open(data, partition=partition or "all", limit=limit)
    if limit is not None and limit < len(source):
        source = source.subset(np.arange(limit))
    if attributes is not None:
        from ._attributes_csv import with_csv_attributes

        source = with_csv_attributes(source, attributes)
    return source
