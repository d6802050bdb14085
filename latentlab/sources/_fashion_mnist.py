"""Fashion-MNIST from its idx files (as Debian's ``dataset-fashion-mnist`` installs them).

70,000 real 28×28 grey garment images: 60,000 ``train`` and 10,000 ``test``,
ten classes. The classes reach the store as one-hot +1 / −1 ``/attributes``
named by class, the split as ``/partition`` (0 train, 2 test).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from .._errors import DataSourceError
from ._arrays import ArraySource

__all__ = ["FASHION_MNIST_CLASSES", "FASHION_MNIST_DIR", "FashionMNISTSource", "read_idx"]

#: Where ``apt-get install dataset-fashion-mnist`` puts the files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

#: Class names in label order (0 … 9).
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: partition name → (image file, label file, store partition code)
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 0),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 2),
}


def _find(root: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    raise DataSourceError(f"{root}: no {stem}.gz (is this a Fashion-MNIST directory? apt-get install dataset-fashion-mnist)")


def read_idx(path: str | os.PathLike, limit: int | None = None) -> np.ndarray:
    """Read an idx file (``.gz`` or plain) of unsigned bytes into an array.

    Parameters
    ----------
    path : path-like
    limit : int, optional
        Read only the first ``limit`` items (the rest of the file is not decompressed).

    Raises
    ------
    DataSourceError
        Wrong magic number, a type other than unsigned byte, or a truncated file.

    Examples
    --------
    >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", limit=5)
    array([9, 2, 1, 1, 6], dtype=uint8)
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise DataSourceError(f"{path}: not an idx file (bad magic number)")
            if head[2] != 0x08:
                raise DataSourceError(f"{path}: idx type 0x{head[2]:02x} is not unsigned byte")
            ndim = head[3]
            dims_raw = fh.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise DataSourceError(f"{path}: truncated idx header")
            dims = [int.from_bytes(dims_raw[4 * i:4 * i + 4], "big") for i in range(ndim)]
            n = dims[0] if limit is None else min(dims[0], int(limit))
            item = int(np.prod(dims[1:], dtype=np.int64)) if ndim > 1 else 1
            data = fh.read(n * item)
    except DataSourceError:
        raise
    except (OSError, EOFError) as exc:  # gzip CRC / truncation errors are OSError or EOFError
        raise DataSourceError(f"{path}: cannot read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if len(data) < n * item:
        raise DataSourceError(f"{path}: truncated (header says {dims[0]} items, found {len(data) // max(item, 1)})")
    return np.frombuffer(data, dtype=np.uint8).reshape([n, *dims[1:]])


class FashionMNISTSource(ArraySource):
    """Fashion-MNIST images, partitions and classes from the idx files.

    The images are the raw uint8 28×28 arrays, served exactly as an ``.npz``
    of the same arrays would be (:class:`~latentlab.sources.NpzSource`), so a
    model trained on either sees the same pixels.

    Parameters
    ----------
    root : path-like, optional
        Directory with ``train-images-idx3-ubyte.gz`` … ``t10k-labels-idx1-ubyte.gz``
        (``.gz`` or uncompressed). Default: Debian's :data:`FASHION_MNIST_DIR`.
    partition : {'all', 'train', 'test'}, default 'all'
        ``all`` is the 60,000 train images followed by the 10,000 test images.
    limit : int, optional
        Keep the first ``limit`` images (only they are decompressed).

    Attributes
    ----------
    ids : list of str
        ``train-00000`` … and ``test-00000`` …
    partition : int8 array
        0 train, 2 test (the store's codes).
    attributes : int8 array (n, 10)
        +1 for the image's class, −1 for the others; ``attribute_names`` are the class names.
    labels : uint8 array
        Class index 0 … 9.

    Examples
    --------
    >>> src = FashionMNISTSource(partition="test", limit=3)
    >>> len(src), src.ids[0], src.attribute_names[9]
    (3, 'test-00000', 'Ankle boot')
    """

    dataset = "fashion-mnist"
    needs_data = False  # Debian's directory unless --data names another
    has_partitions = True

    @classmethod
    def open(cls, data=None, *, partition: str = "all", limit: int | None = None) -> FashionMNISTSource:
        return cls(data, partition=partition, limit=limit)  # limit: decompress only the first images

    def __init__(self, root: str | os.PathLike | None = None, partition: str = "all", limit: int | None = None):
        root = Path(root if root is not None else FASHION_MNIST_DIR)
        if not root.is_dir():
            raise DataSourceError(f"{root}: no such directory (apt-get install dataset-fashion-mnist, or pass --data DIR)")
        parts = ("train", "test") if partition in ("all", None) else (partition,)
        if any(p not in _FILES for p in parts):
            raise DataSourceError(f"fashion-mnist has partitions train and test, not {partition!r}")
        images, labels, codes, ids = [], [], [], []
        left = None if limit is None else int(limit)
        for part in parts:
            if left is not None and left <= 0:
                break
            img_stem, lab_stem, code = _FILES[part]
            x = read_idx(_find(root, img_stem), left)
            y = read_idx(_find(root, lab_stem), left)
            if x.ndim != 3 or len(x) != len(y):
                raise DataSourceError(f"{root}: {part} images {x.shape} and labels {y.shape} do not match")
            if len(y) and y.max() >= len(FASHION_MNIST_CLASSES):
                raise DataSourceError(f"{root}: {part} labels go up to {int(y.max())}; Fashion-MNIST has 10 classes")
            images.append(x)
            labels.append(y)
            codes.append(np.full(len(x), code, dtype=np.int8))
            ids += [f"{part}-{i:05d}" for i in range(len(x))]
            if left is not None:
                left -= len(x)
        super().__init__(np.concatenate(images), ids, location=str(root))
        self.labels = np.concatenate(labels)
        self.partition = np.concatenate(codes)
        onehot = -np.ones((len(self.labels), len(FASHION_MNIST_CLASSES)), dtype=np.int8)
        onehot[np.arange(len(self.labels)), self.labels] = 1
        self.attributes = onehot
        self.attribute_names = list(FASHION_MNIST_CLASSES)
