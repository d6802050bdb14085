"""The image-source contract and the decode/crop/resize step shared by all sources."""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

try:  # libjpeg-turbo with DCT-domain scaling by any M/8
    import simplejpeg
except ImportError:  # pragma: no cover - Pillow decodes instead (scales 1/2, 1/4, 1/8 only)
    simplejpeg = None

#: Largest JPEG (declared width × height) decoded. libjpeg-turbo decodes it at the smallest DCT
#: scale that covers the target size, so a 10,000 × 10,000 photo costs about 1/64 of its pixels.
MAX_JPEG_PIXELS = 400_000_000
#: Largest image decoded at full size (everything Pillow decodes without a JPEG draft): about
#: 90 million pixels, 270 MB as RGB. Pillow's own limit is left as it is for the whole process
#: (warning above 89 Mpx, error above twice that); this one applies per image, in this decode path.
MAX_DECODED_PIXELS = 90_000_000


class UndecodableImage(Exception):
    """An image file that cannot be turned into pixels; carries the reason."""


@dataclass(frozen=True)
class Preprocessing:
    """How a raw image becomes a model input.

    Parameters
    ----------
    image_size : int
        Output height and width (square).
    channels : {1, 3}
    crop : (width, height) or None
        Centre crop applied before resizing; ``None`` crops the largest
        centred square.
    """

    image_size: int
    channels: int = 3
    crop: tuple[int, int] | None = None

    def __post_init__(self):
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")
        if self.image_size < 1:
            raise ValueError("image_size must be positive")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["crop"] = list(self.crop) if self.crop else None
        return d


def crop_box(width: int, height: int, crop: tuple[int, int] | None) -> tuple[float, float, float, float]:
    """Centred crop box ``(left, top, right, bottom)``, clipped to the image."""
    if crop is None:
        side = min(width, height)
        cw, ch = side, side
    else:
        cw, ch = min(crop[0], width), min(crop[1], height)
    left, top = (width - cw) / 2, (height - ch) / 2
    return (left, top, left + cw, top + ch)


def to_mode(im: Image.Image, channels: int) -> Image.Image:
    """Convert any Pillow mode (CMYK, 16-bit, RGBA, palette…) to ``L`` or ``RGB``."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # integer arithmetic in place of float64: 16-bit pixels never cost more than 4 bytes each
        arr = np.asarray(im)
        if arr.dtype.kind not in "iu":  # pragma: no cover - Pillow hands out integer arrays for these modes
            arr = arr.astype(np.int64)
        hi = 65535 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255
        wide = np.clip(arr, 0, 65535).astype(np.uint32)
        im = Image.fromarray(((wide * 255 + hi // 2) // hi).astype(np.uint8), "L")
    elif im.mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        scale = 255.0 if arr.max(initial=0.0) <= 1.0 else 1.0
        im = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L")
    elif im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba).convert("RGB")
    target = "RGB" if channels == 3 else "L"
    return im if im.mode == target else im.convert(target)


def decode_file(path, prep: Preprocessing) -> np.ndarray:
    """Decode, centre-crop and resize one image file to ``(S, S, C)`` uint8.

    Baseline and progressive JPEGs (YCbCr or grey) are decoded by
    libjpeg-turbo (simplejpeg) at the smallest DCT scale M/8 that keeps the
    crop at least as large as the target (5/8 for CelebA's 178 → 96), so a
    big photo costs little; grey models get the JPEG's own luma plane.
    Everything else goes through Pillow (with a ``draft`` when the crop is
    at least twice the target).

    Raises
    ------
    UndecodableImage
        With a short reason: empty file, not an image, truncated…
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UndecodableImage("file not found") from None
    except OSError as exc:
        raise UndecodableImage("symlink loop" if exc.errno == errno.ELOOP else (exc.strerror or "cannot stat")[:120]) from None
    if not stat.S_ISREG(st.st_mode):
        # a FIFO or device named *.jpg would block or never end
        raise UndecodableImage("not a regular file")
    if st.st_size == 0:
        raise UndecodableImage("empty file (0 bytes)")
    if simplejpeg is not None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            if data[:3] == b"\xff\xd8\xff":
                return _decode_jpeg(data, prep)
        except UndecodableImage:
            raise
        except (OSError, ValueError):
            pass  # damaged or unusual: Pillow decides, and says why
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w < 1 or h < 1:
                raise UndecodableImage("image has no pixels")
            if w * h > (MAX_JPEG_PIXELS if im.format == "JPEG" else MAX_DECODED_PIXELS):
                raise UndecodableImage("image too large to decode safely")
            box = crop_box(w, h, prep.crop)
            if im.format == "JPEG" and im.mode in ("RGB", "L"):
                scale = min((box[2] - box[0]), (box[3] - box[1])) / prep.image_size
                if scale >= 2:
                    want = "RGB" if prep.channels == 3 and im.mode == "RGB" else "L"
                    im.draft(want, (math.ceil(w / scale), math.ceil(h / scale)))
                    f = im.size[0] / w
                    box = tuple(v * f for v in box)
            if im.size[0] * im.size[1] > MAX_DECODED_PIXELS:  # a JPEG the draft could not shrink enough
                raise UndecodableImage("image too large to decode safely")
            im.load()
            return resize(im, box, prep)
    except UndecodableImage:
        raise
    except FileNotFoundError:
        raise UndecodableImage("file not found") from None
    except UnidentifiedImageError:
        raise UndecodableImage("not an image file") from None
    except Image.DecompressionBombError:
        raise UndecodableImage("image too large to decode safely") from None
    except OSError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Too many levels of symbolic links" in msg:
            msg = "symlink loop"
        raise UndecodableImage(msg[:120]) from None
    except (ValueError, SyntaxError, MemoryError) as exc:
        raise UndecodableImage(f"{type(exc).__name__}: {str(exc)[:100]}") from None


def _decode_jpeg(data: bytes, prep: Preprocessing) -> np.ndarray:
    h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    if w * h > MAX_JPEG_PIXELS:
        raise UndecodableImage("image too large to decode safely")
    if colorspace not in ("YCbCr", "Gray"):
        raise ValueError("left to Pillow")
    box = crop_box(w, h, prep.crop)
    s = prep.image_size
    # smallest libjpeg scale whose decoded crop still covers the target size
    min_w, min_h = math.ceil(w * s / (box[2] - box[0])), math.ceil(h * s / (box[3] - box[1]))
    grey = prep.channels == 1 or colorspace == "Gray"
    arr = simplejpeg.decode_jpeg(data, colorspace="GRAY" if grey else "RGB", min_width=min_w, min_height=min_h)
    fx, fy = arr.shape[1] / w, arr.shape[0] / h
    box = (box[0] * fx, box[1] * fy, box[2] * fx, box[3] * fy)
    im = Image.fromarray(arr[:, :, 0], "L") if grey else Image.fromarray(arr, "RGB")
    return resize(im, box, prep)


def resize(im: Image.Image, box, prep: Preprocessing) -> np.ndarray:
    im = to_mode(im, prep.channels)
    s = prep.image_size
    out = im.resize((s, s), Image.Resampling.BILINEAR, box=box)
    arr = np.asarray(out, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


class ImageSource:
    """A sequence of images with ids and optional CelebA metadata.

    Subclasses set ``ids`` (list of str), and may set ``partition`` (int8
    array, 0 train / 1 val / 2 test), ``attributes`` (int8 array N×A of ±1)
    and ``attribute_names``; they implement :meth:`load`.
    """

    #: Registry name (``--dataset``; :data:`latentlab.sources.SOURCES`).
    dataset: str = "base"
    #: Built from a path (``--data``); False for built-in sets.
    needs_data: bool = True
    #: Takes ``partition=`` (train / val / test) when built.
    has_partitions: bool = False
    ids: list[str]
    partition: np.ndarray | None = None
    attributes: np.ndarray | None = None
    attribute_names: list[str] | None = None
    #: The source's own crop (CelebA: 178×178) unless the user gives one.
    default_crop: tuple[int, int] | None = None
    location: str = ""
    #: Problems found while listing the source (e.g. unreadable entries): (id, reason).
    listing_skipped: list[tuple[str, str]]

    @classmethod
    def open(cls, data=None, *, partition: str = "all", limit: int | None = None) -> ImageSource:
        """Build one from ``--data`` / ``--partition`` (what the registry calls; ``limit`` is applied after)."""
        kwargs = {"partition": partition} if cls.has_partitions else {}
        return cls(data, **kwargs) if cls.needs_data else cls(**kwargs)

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, index: int, prep: Preprocessing) -> np.ndarray:
        """Image ``index`` as ``(S, S, C)`` uint8; raises :class:`UndecodableImage`."""
        raise NotImplementedError

    def subset(self, indices) -> ImageSource:
        """A view of some rows (keeps ids, partition and attributes aligned)."""
        return _Subset(self, np.asarray(indices, dtype=np.int64))

    def describe(self) -> str:
        return f"{self.dataset}:{self.location}"


class _Subset(ImageSource):
    def __init__(self, parent: ImageSource, indices: np.ndarray):
        self.parent, self.indices = parent, indices
        self.dataset, self.location = parent.dataset, parent.location
        self.default_crop = parent.default_crop
        self.ids = [parent.ids[i] for i in indices]
        self.partition = None if parent.partition is None else parent.partition[indices]
        self.attributes = None if parent.attributes is None else parent.attributes[indices]
        self.attribute_names = parent.attribute_names
        self.listing_skipped = list(getattr(parent, "listing_skipped", []))

    def load(self, index: int, prep: Preprocessing) -> np.ndarray:
        return self.parent.load(int(self.indices[index]), prep)
