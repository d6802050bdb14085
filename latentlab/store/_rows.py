"""The row-source contract: what every analysis reads rows through.

A row source is a z-store opened from disk (:class:`~latentlab.ZStore`) or an
in-memory one (:class:`ArrayStore`). Analyses use only these members, never
the concrete type, so a new kind of input (another file format, a database)
is one class with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from .._errors import LatentlabError
from ._reader import partition_code

__all__ = ["ArrayStore", "RowSource"]


class RowSource(Protocol):
    """Rows of latent points, readable in chunks and as a dask array.

    Attributes
    ----------
    n, z_dim : int
    partition : array-like of int8 (n,) or None
        Partition codes (0 train, 1 val, 2 test).
    path : Path
        Where the rows come from (a label for messages).
    attributes, attribute_names, chunk_rows
        Optional attributes (``(n, A)`` or None), their names, and the natural block size.
    """

    n: int
    z_dim: int
    partition: object
    path: Path
    attributes: object
    attribute_names: list
    chunk_rows: int

    def selection(self, partition: str | None = None) -> np.ndarray | None: ...

    def iter_chunks(self, chunk_rows: int | None = None, *, partition: str | None = None, dtype=np.float64,
                    with_index: bool = False) -> Iterator: ...

    def to_dask(self, rows: int) -> tuple: ...


class ArrayStore:
    """An in-memory ``(N, z_dim)`` array as a row source (no partitions, no attributes).

    Examples
    --------
    >>> rows = ArrayStore(np.arange(12.0).reshape(6, 2))
    >>> [block.shape for block in rows.iter_chunks(4)]
    [(4, 2), (2, 2)]
    """

    def __init__(self, z):
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[0] == 0 or z.dtype.kind not in "fiu":
            raise LatentlabError(f"z: expected a non-empty 2-D numeric array (N, z_dim), got shape {z.shape}")
        self.z = z
        self.n, self.z_dim = z.shape
        self.path = Path("<array>")
        self.partition = None
        self.attributes = None
        self.attribute_names: list[str] = []
        self.ids = None
        self.attrs: dict = {}
        self.chunk_rows = 8192

    def selection(self, partition=None):
        if partition_code(partition) is not None:
            raise LatentlabError(f"partition {partition!r}: an in-memory array has no partitions")
        return None

    def iter_chunks(self, chunk_rows=None, *, partition=None, dtype=np.float64, with_index=False):
        self.selection(partition)
        rows = chunk_rows or self.chunk_rows
        for start in range(0, self.n, rows):
            stop = min(start + rows, self.n)
            block = np.asarray(self.z[start:stop], dtype=dtype)
            yield (np.arange(start, stop), block) if with_index else block

    def to_dask(self, rows: int):
        import dask.array as da

        return da.from_array(self.z, chunks=(rows, self.z_dim)), None
