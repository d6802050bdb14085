"""The z-store: one self-describing HDF5 file of latent points.

Layout (the public contract, documented in ``docs/format.md``)::

    /z            float32 (N, z_dim)   chunked, gzip+shuffle
    /ids          utf-8 str (N,)       image ids (file names for CelebA)
    /partition    int8 (N,)            0 train, 1 val, 2 test (when known)
    /attributes   int8 (N, A)          +1/-1 (when known); attr ``names``
    /skipped/path, /skipped/reason     images that could not be decoded
    root attrs: z_dim, image_size, channels, source, dataset, model_sha256,
                latentlab_version, created, complete

Every analysis reads through :func:`open_store`, which is lazy: ``/z`` is
streamed in chunks, never loaded whole unless asked (:meth:`ZStore.read_z`).
"""

from ._reader import PARTITIONS, LazyRows, ZStore, incomplete_stores_allowed, open_store, partition_code
from ._writer import StoreWriter, write_store
from ._merge import merge_stores
from ._rows import ArrayStore, RowSource
from ._import import import_array, subset_store

__all__ = [
    "PARTITIONS",
    "ArrayStore",
    "RowSource",
    "LazyRows",
    "StoreWriter",
    "ZStore",
    "import_array",
    "incomplete_stores_allowed",
    "merge_stores",
    "open_store",
    "partition_code",
    "subset_store",
    "write_store",
]
