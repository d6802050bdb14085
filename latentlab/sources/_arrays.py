"""Images already in memory: ``.npz`` files (Pythae's layout) and the LFW faces shipped with scikit-image."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .._errors import DataSourceError
from ._base import ImageSource, Preprocessing, crop_box, resize


def as_uint8_hwc(data: np.ndarray, *, name: str = "data") -> np.ndarray:
    """Normalise an image array to N×H×W×C uint8.

    Accepts N×H×W, N×C×H×W or N×H×W×C (C in 1, 3, 4), uint8 0–255 or float 0–1.
    """
    data = np.asarray(data)
    if data.ndim == 3:
        data = data[..., None]
    if data.ndim != 4:
        raise DataSourceError(f"{name}: expected N×C×H×W or N×H×W×C images, found shape {data.shape}")
    if data.shape[1] in (1, 3, 4) and data.shape[3] not in (1, 3, 4):
        data = data.transpose(0, 2, 3, 1)
    if data.shape[3] not in (1, 3, 4):
        raise DataSourceError(f"{name}: cannot find a channel axis of size 1, 3 or 4 in shape {data.shape}")
    if data.dtype == np.uint8:
        return data
    if data.dtype.kind == "f":
        if not np.isfinite(data).all():
            raise DataSourceError(f"{name}: float images contain NaN or Inf")
        if data.min() < 0 or data.max() > 1.0 + 1e-6:
            raise DataSourceError(f"{name}: float images must lie in [0, 1] (found {data.min():.3g}..{data.max():.3g})")
        return np.rint(data * 255).astype(np.uint8)
    if data.dtype.kind in "iu":
        if data.min() < 0 or data.max() > 255:
            raise DataSourceError(f"{name}: integer images must lie in 0..255")
        return data.astype(np.uint8)
    raise DataSourceError(f"{name}: unsupported image dtype {data.dtype}")


class ArraySource(ImageSource):
    """Images held in an array (N×H×W×C uint8 after normalisation)."""

    dataset = "array"

    def __init__(self, images, ids=None, *, location: str = "array"):
        self.images = as_uint8_hwc(images, name=location)
        if len(self.images) == 0:
            raise DataSourceError(f"{location}: no images")
        self.ids = list(ids) if ids is not None else [f"{i:06d}" for i in range(len(self.images))]
        self.location = location
        self.listing_skipped = []

    def load(self, index: int, prep: Preprocessing) -> np.ndarray:
        arr = self.images[index]
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[arr.shape[2]]
        im = Image.fromarray(arr[:, :, 0] if mode == "L" else arr, mode)
        return resize(im, crop_box(im.width, im.height, prep.crop), prep)


class NpzSource(ArraySource):
    """An ``.npz`` file with key ``data`` (N×C×H×W or N×H×W×C; uint8 0–255 or float 0–1).

    Optional key ``ids`` gives image ids.
    """

    dataset = "npz"

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        if not path.is_file():
            raise DataSourceError(f"{path}: no such file")
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "data" not in npz.files:
                    raise DataSourceError(f"{path}: no 'data' array (found: {', '.join(npz.files) or 'nothing'})")
                check_npz_member(npz, "data", path)
                if "ids" in npz.files:
                    check_npz_member(npz, "ids", path)
                data = npz["data"]
                ids = [str(i) for i in npz["ids"]] if "ids" in npz.files else None
        except DataSourceError:
            raise
        except Exception as exc:  # zipfile / pickle / header errors all mean "not a usable npz"
            raise DataSourceError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
        super().__init__(data, ids, location=str(path))


#: Arrays above this size are checked for zip-bomb compression ratios before inflating.
_BOMB_CHECK_BYTES = 64 << 20
#: Largest deflate ratio accepted for a big member; image arrays compress 2-10×.
_MAX_COMPRESSION_RATIO = 100


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 16 << 30


def check_npz_member(npz, key: str, path) -> None:
    """Refuse a ``.npz`` member that would not fit in memory, or a zip bomb, before inflating it.

    The array's size comes from its ``.npy`` header (shape × itemsize) and the
    zip entry's declared size; both are checked against half the machine's
    memory, and a big member whose compression ratio no image array reaches
    is refused as a zip bomb. Nothing is inflated beyond the header.
    """
    name = f"{key}.npy"
    try:
        info = npz.zip.getinfo(name)
    except KeyError:
        return
    with npz.zip.open(name) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    if dtype.hasobject:
        raise DataSourceError(f"{path}: '{key}' holds Python objects (pickles are never loaded)")
    nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    limit = _memory_bytes() // 2
    declared = max(nbytes, info.file_size)
    if declared > limit:
        raise DataSourceError(f"{path}: '{key}' would need {declared / 2**30:,.1f} GiB in memory "
                              f"(more than half of this machine's {2 * limit / 2**30:,.0f} GiB)")
    if declared > _BOMB_CHECK_BYTES and declared > _MAX_COMPRESSION_RATIO * max(1, info.compress_size):
        raise DataSourceError(f"{path}: '{key}' inflates {info.compress_size:,} bytes into {declared:,} "
                              "(a zip bomb, not an image array); refused before inflating")


class LFWSource(ArraySource):
    """The first 100 images of ``skimage.data.lfw_subset()``: real 25×25 grey face crops, offline."""

    dataset = "lfw"
    needs_data = False

    def __init__(self):
        from skimage.data import lfw_subset

        faces = lfw_subset()[:100]
        super().__init__(faces, [f"lfw_{i:03d}" for i in range(len(faces))], location="skimage.data.lfw_subset")
