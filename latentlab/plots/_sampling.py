"""Image grids and sampler-comparison figures."""

from __future__ import annotations

import math

import numpy as np

from ._images import _display, tile_images

__all__ = ["image_grid", "metric_bars", "sampler_grids"]


def _show(ax, tile):
    if tile.shape[2] == 1:
        ax.imshow(tile[:, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(tile, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(images, ncols: int = 8, ax=None, titles=None, *, title: str | None = None):
    """A grid of images.

    Parameters
    ----------
    images : array (n, H, W[, C])
        uint8 0–255 or float 0–1; grey or RGB.
    ncols : int, default 8
    ax : matplotlib Axes, optional
        Draw the whole grid as one tiled picture into this Axes (``titles``
        then become small labels under each tile).
    titles : list of str, optional
        One short title per image.
    title : str, optional
        Title of the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    x = _display(images)
    n = len(x)
    ncols = max(1, min(int(ncols), max(n, 1)))
    nrows = max(1, math.ceil(n / ncols))
    if ax is not None or titles is None:
        if ax is None:
            h, w = x.shape[1:3] if n else (1, 1)
            fig, ax = plt.subplots(figsize=(min(1.3 * ncols, 16), min(1.3 * nrows * h / w, 16) + (0.4 if title else 0)))
        fig = ax.figure
        tile = tile_images(x, ncols) if n else np.ones((1, 1, 1), np.float32)
        _show(ax, tile)
        if titles is not None and n:
            hh, ww = x.shape[1] + 1, x.shape[2] + 1
            for i, t in enumerate(titles[:n]):
                r, c = divmod(i, ncols)
                ax.text(c * ww + ww / 2, r * hh + hh - 1, str(t), ha="center", va="bottom", fontsize=6,
                        color="yellow", bbox=dict(facecolor="black", alpha=0.4, pad=0.5, lw=0))
        if title:
            ax.set_title(title)
        for spine in ax.spines.values():
            spine.set_visible(False)
        return fig
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.45 * nrows + (0.4 if title else 0)), squeeze=False)
    for i, a in enumerate(axes.ravel()):
        a.axis("off")
        if i < n:
            _show(a, x[i])
            a.axis("on")
            for spine in a.spines.values():
                spine.set_visible(False)
            if i < len(titles):
                a.set_title(str(titles[i]), fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def sampler_grids(grids: dict, ncols: int = 4, *, panel_cols: int | None = None, ax=None):
    """One image grid per sampler, side by side.

    Parameters
    ----------
    grids : dict
        sampler name → images (n, H, W[, C]); the same number per sampler reads best.
    ncols : int, default 4
        Images per row within a sampler's grid.
    panel_cols : int, optional
        Samplers per figure row (default: all in one row up to 5).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    names = list(grids)
    k = max(1, len(names))
    pc = panel_cols or min(k, 5)
    pr = math.ceil(k / pc)
    if ax is not None:
        raise ValueError("sampler_grids draws several panels; it makes its own figure (ax must be None)")
    fig, axes = plt.subplots(pr, pc, figsize=(2.6 * pc, 2.9 * pr), squeeze=False)
    for a in axes.ravel():
        a.axis("off")
    for a, name in zip(axes.ravel(), names):
        a.axis("on")
        image_grid(grids[name], ncols=ncols, ax=a, title=name)
    fig.tight_layout()
    return fig


#: Metrics drawn by :func:`metric_bars`, with their direction (True: higher is better).
DEFAULT_BAR_METRICS = [
    ("on_data_fraction", True),
    ("precision", True),
    ("recall", True),
    ("density", True),
    ("coverage", True),
    ("pixel_precision", True),
    ("pixel_recall", True),
    ("reencoding_error", False),
]


def metric_bars(rows, metrics=None, ax=None):
    """Bar chart of sample-quality metrics, one group per metric, one bar per sampler.

    Parameters
    ----------
    rows : list of dict or object with ``rows``
        One flat dict per sampler with a ``sampler`` key (``compare.csv`` rows).
    metrics : list of str, optional
        Keys to draw (default: those of :data:`DEFAULT_BAR_METRICS` present).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    rows = list(getattr(rows, "rows", rows))
    if metrics is None:
        metrics = [m for m, _ in DEFAULT_BAR_METRICS if any(r.get(m) is not None for r in rows)]
    names = [r["sampler"] for r in rows]
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(12.0, max(6.0, 0.35 * len(metrics) * max(len(names), 3))), 4.2))
    else:
        fig = ax.figure
    width = 0.8 / max(1, len(names))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    x = np.arange(len(metrics))
    for i, (name, r) in enumerate(zip(names, rows)):
        vals = [r.get(m) for m in metrics]
        vals = [np.nan if v is None else float(v) for v in vals]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, vals, width, label=name, color=cmap(i % cmap.N))
    better = dict(DEFAULT_BAR_METRICS)
    ax.set_xticks(x, [m.replace("_", " ") + ("" if better.get(m, True) else " (↓)") for m in metrics],
                  rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("value")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=7, ncol=min(len(names), 5), loc="upper center", bbox_to_anchor=(0.5, -0.3))
    ax.set_title("sample quality per sampler")
    fig.tight_layout()
    return fig
