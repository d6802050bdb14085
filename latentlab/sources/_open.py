from __future__ import annotations

import numpy as np

from .._errors import DataSourceError
from ._arrays import LFWSource, NpzSource
from ._base import ImageSource
from ._celeba import CelebASource
from ._fashion_mnist import FashionMNISTSource
from ._folder import FolderSource

DATASETS = ("celeba", "folder", "npz", "lfw", "fashion-mnist")

#: Sources that find their data without ``--data`` (shipped or at a system path).
_DATA_OPTIONAL = ("lfw", "fashion-mnist")
#: Sources with partitions (``--partition``).
_PARTITIONED = ("celeba", "fashion-mnist")


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
    dataset : {'celeba', 'folder', 'npz', 'lfw', 'fashion-mnist'}
    data : path, optional
        Not needed for ``lfw``; for ``fashion-mnist`` the default is Debian's
        ``/usr/share/datasets/fashion-mnist``.
    partition : {'train', 'val', 'test', 'all'}
        CelebA (train, val, test) and Fashion-MNIST (train, test) only.
    limit : int, optional
        Keep the first ``limit`` images.
    attributes : path, optional
        A CSV of per-image attributes (id column + columns), added to the
        source's own (see :func:`~latentlab.sources.read_attributes_csv`).
    """
    if dataset not in DATASETS:
        raise DataSourceError(f"unknown dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    if dataset not in _DATA_OPTIONAL and not data:
        raise DataSourceError(f"--data is required for dataset {dataset!r}")
    if partition not in ("all", None) and dataset not in _PARTITIONED:
        raise DataSourceError(f"--partition {partition} needs --dataset celeba or fashion-mnist (other sources have no partitions)")
    if limit is not None and limit < 1:
        raise DataSourceError("--limit must be at least 1")
    if dataset == "celeba":
        source = CelebASource(data, partition=partition or "all")
    elif dataset == "folder":
        source = FolderSource(data)
    elif dataset == "npz":
        source = NpzSource(data)
    elif dataset == "fashion-mnist":
        source = FashionMNISTSource(data, partition=partition or "all", limit=limit)
    else:
        source = LFWSource()
    if limit is not None and limit < len(source):
        source = source.subset(np.arange(limit))
    if attributes is not None:
        from ._attributes_csv import with_csv_attributes

        source = with_csv_attributes(source, attributes)
    return source
