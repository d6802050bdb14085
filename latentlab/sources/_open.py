from __future__ import annotations

import numpy as np

from .._errors import DataSourceError
from ._arrays import LFWSource, NpzSource
from ._base import ImageSource
from ._celeba import CelebASource
from ._folder import FolderSource

DATASETS = ("celeba", "folder", "npz", "lfw")


def open_source(
    dataset: str,
    data: str | None = None,
    *,
    partition: str = "all",
    limit: int | None = None,
) -> ImageSource:
    """Build an image source from ``--dataset`` / ``--data``.

    Parameters
    ----------
    dataset : {'celeba', 'folder', 'npz', 'lfw'}
    data : path, optional
        Not needed for ``lfw``.
    partition : {'train', 'val', 'test', 'all'}
        CelebA only.
    limit : int, optional
        Keep the first ``limit`` images.
    """
    if dataset not in DATASETS:
        raise DataSourceError(f"unknown dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    if dataset != "lfw" and not data:
        raise DataSourceError(f"--data is required for dataset {dataset!r}")
    if partition not in ("all", None) and dataset != "celeba":
        raise DataSourceError(f"--partition {partition} needs --dataset celeba (other sources have no partitions)")
    if dataset == "celeba":
        source = CelebASource(data, partition=partition or "all")
    elif dataset == "folder":
        source = FolderSource(data)
    elif dataset == "npz":
        source = NpzSource(data)
    else:
        source = LFWSource()
    if limit is not None:
        if limit < 1:
            raise DataSourceError("--limit must be at least 1")
        if limit < len(source):
            source = source.subset(np.arange(limit))
    return source
