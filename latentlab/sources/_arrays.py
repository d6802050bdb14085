"""Images already in memory: ``.npz`` files (Pythae's layout) and the LFW faces shipped with scikit-image."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .._errors import DataSourceError
from .._zipsafe import ZipLimits, close_zip, memory_bytes, open_zip, read_npy
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
        half = _memory_bytes() // 2
        # caps on the archive's directory and every member before anything is inflated; arrays are parsed from their
        # .npy header (never np.load: no pickles, no dtype that is not an image or an id)
        limits = ZipLimits(max_members=_MAX_NPZ_MEMBERS, max_member_bytes=half, max_total_bytes=half,
                           max_ratio=_MAX_COMPRESSION_RATIO, ratio_floor_bytes=_BOMB_CHECK_BYTES)
        zf = open_zip(path, str(path), limits, error=DataSourceError, what=".npz file")
        try:
            files = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
            if "data" not in files:
                raise DataSourceError(f"{path}: no 'data' array (found: {', '.join(files)[:200] or 'nothing'})")
            check_npz_member(zf, "data", path)
            data = read_npy(zf, "data.npy", str(path), error=DataSourceError, kinds="uif", what="'data'")
            ids = None
            if "ids" in files:
                check_npz_member(zf, "ids", path)
                ids = [str(i) for i in read_npy(zf, "ids.npy", str(path), error=DataSourceError, kinds="iuUS",
                                                what="'ids'")]
        finally:
            close_zip(zf)
        super().__init__(data, ids, location=str(path))


#: Arrays above this size are checked for zip-bomb compression ratios before inflating.
_BOMB_CHECK_BYTES = 64 << 20
#: Largest deflate ratio accepted for a big member; image arrays compress 2-10×.
_MAX_COMPRESSION_RATIO = 100
#: An image npz holds ``data`` and maybe ``ids``; a directory of thousands of entries is not one.
_MAX_NPZ_MEMBERS = 64
_memory_bytes = memory_bytes


def check_npz_member(zf, key: str, path) -> None:
    """Refuse a ``.npz`` member that would not fit in memory, or a zip bomb, before inflating it.

    The array's size comes from its ``.npy`` header (shape × itemsize) and the
    zip entry's declared size; both are checked against half the machine's
    memory, and a big member whose compression ratio no image array reaches
    is refused as a zip bomb. Nothing is inflated beyond the header.
    """
    name = f"{key}.npy"
    try:
        info = zf.getinfo(name)
    except KeyError:
        return
    try:
        with zf.open(name) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except Exception:  # noqa: BLE001 - numpy raises ValueError / SyntaxError / … for a damaged header
        raise DataSourceError(f"{path}: '{key}' is not a readable .npy array") from None
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
