"""CelebA: ``img_align_celeba/`` plus the partition and attribute list files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._errors import DataSourceError
from ._base import ImageSource, Preprocessing, decode_file

#: The 40 binary attributes of ``list_attr_celeba.txt``, in file order.
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
    "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
    "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()

PARTITION_FILE = "list_eval_partition.txt"
ATTRIBUTE_FILE = "list_attr_celeba.txt"
IMAGE_DIR = "img_align_celeba"


def read_partition_file(path: str | os.PathLike) -> dict[str, int]:
    """Parse ``list_eval_partition.txt`` (``000001.jpg 0`` per line) into ``{id: 0|1|2}``.

    Raises
    ------
    DataSourceError
        On any malformed line (the message gives the line number).
    """
    path = Path(path)
    out: dict[str, int] = {}
    text = _read_text(path)
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataSourceError(f"{path}:{lineno}: expected '<image> <0|1|2>', found {line.strip()[:60]!r}")
        out[parts[0]] = int(parts[1])
    if not out:
        raise DataSourceError(f"{path}: no partition entries")
    return out


def read_attribute_file(path: str | os.PathLike) -> tuple[list[str], dict[str, np.ndarray]]:
    """Parse ``list_attr_celeba.txt``: a count line, a names line, rows of ±1.

    Returns
    -------
    names : list of str
    rows : dict id → int8 array of ±1

    Raises
    ------
    DataSourceError
        When the header or a row is malformed (the message gives the line number).
    """
    path = Path(path)
    lines = _read_text(path).splitlines()
    if len(lines) < 2:
        raise DataSourceError(f"{path}: expected a count line and a names line")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataSourceError(f"{path}:1: expected the number of images, found {lines[0].strip()[:40]!r}") from None
    names = lines[1].split()
    if not names:
        raise DataSourceError(f"{path}:2: no attribute names")
    rows: dict[str, np.ndarray] = {}
    for lineno, line in enumerate(lines[2:], 3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise DataSourceError(
                f"{path}:{lineno}: expected an image name and {len(names)} values, found {len(parts)} fields"
            )
        try:
            ints = [int(v) for v in parts[1:]]
        except ValueError:
            ints = None
        if ints is None or any(v not in (-1, 1) for v in ints):
            raise DataSourceError(f"{path}:{lineno}: attribute values must be 1 or -1")
        rows[parts[0]] = np.array(ints, dtype=np.int8)
    if count != len(rows):
        raise DataSourceError(f"{path}: header says {count} images but {len(rows)} rows follow")
    return names, rows


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataSourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")  # tolerate a byte-order mark
    except UnicodeDecodeError:
        raise DataSourceError(f"{path}: not a text file") from None


class CelebASource(ImageSource):
    """Aligned CelebA images with partitions and attributes.

    Parameters
    ----------
    root : path-like
        Directory holding ``img_align_celeba/`` and, optionally,
        ``list_eval_partition.txt`` and ``list_attr_celeba.txt``.
    partition : {'train', 'val', 'test', 'all'}
        Requires the partition file unless ``'all'``.

    Examples
    --------
    A folder in CelebA's layout (here 30 real faces that ship with latentlab, with both list files):

    >>> import tempfile
    >>> from latentlab.sources import make_celeba_layout
    >>> root = make_celeba_layout(tempfile.mkdtemp(), n=30)
    >>> src = CelebASource(root, partition="train")
    >>> len(src), src.attribute_names[:2]
    (24, ['5_o_Clock_Shadow', 'Arched_Eyebrows'])
    """

    dataset = "celeba"
    has_partitions = True
    default_crop = (178, 178)

    def __init__(self, root: str | os.PathLike, partition: str = "all"):
        root = Path(root)
        self.location = str(root)
        if not root.is_dir():
            raise DataSourceError(f"{root}: no such directory")
        image_dir = root / IMAGE_DIR
        if not image_dir.is_dir():
            raise DataSourceError(f"{root}: not a CelebA directory (no {IMAGE_DIR}/ inside)")
        self.image_dir = image_dir
        with os.scandir(image_dir) as it:
            names = sorted(e.name for e in it if e.name.lower().endswith((".jpg", ".jpeg", ".png")))
        if not names:
            raise DataSourceError(f"{image_dir}: no images")
        self.listing_skipped = []
        present = set(names)

        partition_path = root / PARTITION_FILE
        part_codes = None
        if partition_path.exists():
            table = read_partition_file(partition_path)
            missing = [n for n in table if n not in present]
            if missing:
                raise DataSourceError(
                    f"{partition_path}: names {len(missing)} image(s) missing from {IMAGE_DIR}/ (first: {missing[0]})"
                )
            part_codes = np.array([table.get(n, -1) for n in names], dtype=np.int8)
        if partition not in ("all", None):
            from ..store import partition_code

            code = partition_code(partition)
            if part_codes is None:
                raise DataSourceError(f"{root}: --partition {partition} needs {PARTITION_FILE}")
            keep = np.flatnonzero(part_codes == code)
            names = [names[i] for i in keep]
            part_codes = part_codes[keep]
            if not names:
                raise DataSourceError(f"{partition_path}: no images in partition {partition!r}")
        self.ids = names
        self.partition = part_codes

        attr_path = root / ATTRIBUTE_FILE
        if attr_path.exists():
            attr_names, rows = read_attribute_file(attr_path)
            missing = [n for n in rows if n not in present]
            if missing:
                raise DataSourceError(
                    f"{attr_path}: names {len(missing)} image(s) missing from {IMAGE_DIR}/ (first: {missing[0]})"
                )
            zero = np.zeros(len(attr_names), dtype=np.int8)
            self.attributes = np.stack([rows.get(n, zero) for n in names])
            self.attribute_names = attr_names

    def load(self, index: int, prep: Preprocessing) -> np.ndarray:
        return decode_file(self.image_dir / self.ids[index], prep)
