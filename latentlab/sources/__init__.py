"""Image sources: where the faces come from.

Every source is a sequence of images with ids, optional CelebA partitions
and attributes. :func:`open_source` builds one from ``--dataset`` and
``--data``; :func:`iter_batches` decodes it in parallel, in order, ahead of
the model.

===========  ================================================================
``celeba``   directory with ``img_align_celeba/*.jpg`` (+ optional
             ``list_eval_partition.txt`` and ``list_attr_celeba.txt``)
``folder``   any directory tree of jpg/png/webp/bmp images (sorted, recursive)
``npz``      an ``.npz`` with key ``data``: N×C×H×W or N×H×W×C, uint8 or float 0–1
``lfw``      the 100 real LFW face crops shipped with scikit-image (offline)
``fashion-mnist``  the idx files of Fashion-MNIST (default Debian's
             ``/usr/share/datasets/fashion-mnist``); train/test, 10 classes
===========  ================================================================
"""

from ._base import ImageSource, Preprocessing
from ._celeba import CELEBA_ATTRIBUTES, CelebASource, read_attribute_file, read_partition_file
from ._arrays import ArraySource, LFWSource, NpzSource
from ._folder import IMAGE_EXTENSIONS, FolderSource
from ._fixture import make_celeba_layout
from ._pipeline import Batch, iter_batches, load_all
from ._fashion_mnist import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, FashionMNISTSource, read_idx
from ._attributes_csv import read_attributes_csv, with_csv_attributes
from ._open import DATASETS, SOURCES, open_source

__all__ = [
    "CELEBA_ATTRIBUTES",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FashionMNISTSource",
    "IMAGE_EXTENSIONS",
    "ArraySource",
    "Batch",
    "CelebASource",
    "FolderSource",
    "ImageSource",
    "SOURCES",
    "LFWSource",
    "NpzSource",
    "Preprocessing",
    "iter_batches",
    "load_all",
    "make_celeba_layout",
    "open_source",
    "read_attribute_file",
    "read_attributes_csv",
    "read_idx",
    "with_csv_attributes",
    "read_partition_file",
]
