"""Any directory tree of images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._errors import DataSourceError
from ._base import ImageSource, Preprocessing, decode_file

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class FolderSource(ImageSource):
    """All images under a directory, recursively, in sorted order.

    Ids are paths relative to ``root`` (``/``-separated). Directory symlinks
    are not followed, so symlink loops cannot trap the scan; entries that
    cannot be examined are recorded in ``listing_skipped``.
    """

    dataset = "folder"

    def __init__(self, root: str | os.PathLike):
        root = Path(root)
        self.location = str(root)
        if not root.is_dir():
            raise DataSourceError(f"{root}: no such directory")
        self.root = root
        self.listing_skipped: list[tuple[str, str]] = []
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=None):
            dirnames.sort()
            for name in filenames:
                if not name.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                try:
                    full.stat()
                except OSError as exc:
                    reason = "symlink loop" if exc.errno == 40 else (exc.strerror or "cannot stat")
                    self.listing_skipped.append((rel, reason))
                    continue
                found.append(rel)
        if not found:
            raise DataSourceError(f"{root}: no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
        self.ids = sorted(found)

    def load(self, index: int, prep: Preprocessing) -> np.ndarray:
        return decode_file(self.root / self.ids[index], prep)
