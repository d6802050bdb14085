"""Image plots: reconstructions and training curves."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["reconstruction_grid", "tile_images", "training_history", "write_tiles_png"]


def _display(images) -> np.ndarray:
    """(n, H, W[, C]) uint8 0–255 or float 0–1 → float (n, H, W, C) in [0, 1]."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images: expected (n, H, W, C), got shape {x.shape}")
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return np.clip(x, 0.0, 1.0)


def tile_images(images, ncols: int = 8, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tile images into one (rows·H, ncols·W, C) float array in [0, 1] with ``pad`` pixels between."""
    x = _display(images)
    n, h, w, c = x.shape
    ncols = max(1, min(int(ncols), max(n, 1)))
    nrows = max(1, math.ceil(n / ncols))
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, c), fill, dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, col * (w + pad): col * (w + pad) + w] = x[i]
    return out


def write_tiles_png(images, path, *, ncols: int = 8, min_height: int = 64):
    """Tile images into one PNG, pixel-exact (no matplotlib), small ones enlarged by nearest neighbour.

    Returns
    -------
    Path of the written file.
    """
    from pathlib import Path

    from PIL import Image

    x = _display(images)
    scale = max(1, math.ceil(min_height / max(x.shape[1], 1))) if len(x) else 1
    tile = tile_images(np.repeat(np.repeat(x, scale, axis=1), scale, axis=2), ncols, pad=scale)
    tile = (tile * 255 + 0.5).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from .._io import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(tile[:, :, 0] if tile.shape[2] == 1 else tile).save(tmp, format="PNG")
    return path


def reconstruction_grid(originals, reconstructions, *, ids=None, ax=None):
    """Originals (top row) above their reconstructions (bottom row).

    Parameters
    ----------
    originals, reconstructions : array (n, H, W, C)
        uint8 0–255 or float 0–1.
    ids : list of str, optional
        Titles over the originals.
    ax : matplotlib Axes, optional
        Drawn into as one mosaic image when given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    top, bottom = _display(originals), _display(reconstructions)
    n, h, w = top.shape[:3]
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4, 1.2 * n), 2.6))
    else:
        fig = ax.figure
    mosaic = tile_images(np.concatenate([top, bottom]), ncols=n, pad=2)
    ax.imshow(mosaic[:, :, 0] if mosaic.shape[2] == 1 else mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([i * (w + 2) + w / 2 for i in range(n)])
    ax.set_xticklabels([str(s)[-12:] for s in ids] if ids is not None else [""] * n, fontsize=7, rotation=30)
    ax.set_yticks([h / 2, h + 2 + h / 2])
    ax.set_yticklabels(["original", "decoded"])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def training_history(history, *, ax=None):
    """Loss per epoch from a ``history.csv`` path or a dict of lists.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import csv

    import matplotlib.pyplot as plt

    if not isinstance(history, dict):
        with open(history, newline="") as fh:
            rows = list(csv.DictReader(fh))
        history = {}
        for key in rows[0].keys() if rows else []:
            try:
                history[key] = [float(r[key]) for r in rows]
            except ValueError:  # Keras writes "NA" for metrics it never computed
                continue
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3))
    else:
        fig = ax.figure
    epochs = history.get("epoch")
    for key, values in history.items():
        if key == "epoch":
            continue
        x = np.asarray(epochs) + 1 if epochs is not None else np.arange(1, len(values) + 1)
        ax.plot(x, values, marker="o", ms=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig
