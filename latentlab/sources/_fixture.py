"""Build a small folder in CelebA's layout from real offline faces (for tests, demos, benchmarks)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ._celeba import ATTRIBUTE_FILE, CELEBA_ATTRIBUTES, IMAGE_DIR, PARTITION_FILE


def make_celeba_layout(
    out_dir: str | os.PathLike,
    n: int = 100,
    *,
    content: str = "lfw",
    seed: int = 0,
    quality: int = 90,
    with_lists: bool = True,
) -> Path:
    """Write ``n`` 178×218 RGB JPEGs plus CelebA's two list files.

    Parameters
    ----------
    out_dir : path-like
        Created if needed; receives ``img_align_celeba/000001.jpg`` … and
        ``list_eval_partition.txt`` / ``list_attr_celeba.txt``.
    n : int
    content : {'lfw', 'synthetic'}
        ``lfw`` upsamples the real LFW faces from scikit-image (cycled when
        ``n`` > 100) and tints them to RGB; ``synthetic`` draws smooth random
        colour fields (for throughput benchmarks).
    seed : int
    quality : int
        JPEG quality.

    Returns
    -------
    Path of ``out_dir``.
    """
    out = Path(out_dir)
    img_dir = out / IMAGE_DIR
    img_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    if content == "lfw":
        from skimage.data import lfw_subset

        faces = (lfw_subset()[:100] * 255).astype(np.uint8)
    for i, name in enumerate(names):
        if content == "lfw":
            grey = Image.fromarray(faces[i % len(faces)]).resize((178, 218), Image.Resampling.BICUBIC)
            tint = rng.uniform(0.75, 1.0, size=3)
            rgb = np.asarray(grey, dtype=np.float32)[:, :, None] * tint
            img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
        else:
            small = rng.integers(0, 256, size=(7, 6, 3), dtype=np.uint8)
            img = Image.fromarray(small, "RGB").resize((178, 218), Image.Resampling.BICUBIC)
        img.save(img_dir / name, quality=quality)
    if with_lists:
        parts = np.where(np.arange(n) < int(0.8 * n), 0, np.where(np.arange(n) < int(0.9 * n), 1, 2))
        (out / PARTITION_FILE).write_text("".join(f"{nm} {p}\n" for nm, p in zip(names, parts)))
        attrs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, len(CELEBA_ATTRIBUTES)))
        lines = [f"{n}\n", " ".join(CELEBA_ATTRIBUTES) + " \n"]
        lines += [f"{nm} " + " ".join(f"{v:2d}" for v in row) + "\n" for nm, row in zip(names, attrs)]
        (out / ATTRIBUTE_FILE).write_text("".join(lines))
    return out
