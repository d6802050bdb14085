"""Image plots: reconstructions and training curves."""

from __future__ import annotations

import numpy as np

__all__ = ["reconstruction_grid", "training_history"]


def _as_display(images) -> np.ndarray:
    a = np.asarray(images)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 1)
    return a[..., 0] if a.ndim == 4 and a.shape[-1] == 1 else a


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

    top, bottom = _as_display(originals), _as_display(reconstructions)
    if top.dtype == np.uint8:
        top = top / 255.0
    if bottom.dtype == np.uint8:
        bottom = bottom / 255.0
    n = len(top)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4, 1.2 * n), 2.6))
    else:
        fig = ax.figure
    h, w = top.shape[1:3]
    mosaic = np.ones((2 * h + 2, n * (w + 2)) + top.shape[3:], dtype=np.float32)
    for i in range(n):
        x0 = i * (w + 2) + 1
        mosaic[:h, x0 : x0 + w] = top[i]
        mosaic[h + 2 :, x0 : x0 + w] = bottom[i]
    ax.imshow(mosaic, cmap="gray" if mosaic.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([(i * (w + 2) + 1 + w / 2) for i in range(n)])
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
