"""Large views without a glyph per point: a server-rendered image of the view, and picking on the server.

A browser that rasterises WebGL in software (headless Chromium, a machine
without a GPU) needs seconds to paint 200,000 markers, so a view holding more
than the app's ``max_glyphs`` (10,000) points is shown as one RGBA image of *all* its points,
binned in numpy (the idea of Datashader, in the ~40 lines it takes here:
``np.bincount`` on pixel indices: 25–50 ms per view at 200,000 points, and
Datashader would add numba, dask, xarray and pandas). Hover, lasso and the
points' count then work on the server: :class:`PlaneIndex` (a KD-tree of the
plane) finds the point under the pointer, :func:`rows_in_polygon` the points
inside a lasso.

Nothing here draws or serves anything (Bokeh only lends its palettes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PlaneIndex", "View", "hex_to_rgb", "palette", "rasterize", "rows_in_polygon", "rows_in_view"]

#: Opacity of the sparsest and densest non-empty pixels of a categorical / continuous image (0–255).
_MIN_ALPHA, _MAX_ALPHA = 90, 255


@dataclass(frozen=True)
class View:
    """A rectangle of the map in data coordinates (``x0 < x1``, ``y0 < y1``)."""

    x0: float
    x1: float
    y0: float
    y1: float

    def __post_init__(self):
        if not (np.isfinite([self.x0, self.x1, self.y0, self.y1]).all() and self.x1 > self.x0 and self.y1 > self.y0):
            raise ValueError(f"not a view rectangle: {self}")

    @classmethod
    def around(cls, x, y, pad: float = 0.05) -> "View":
        """The points' bounding box, padded by ``pad`` of its size on each side."""
        x0, x1 = float(np.min(x)), float(np.max(x))
        y0, y1 = float(np.min(y)), float(np.max(y))
        dx, dy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
        return cls(x0 - pad * dx, x1 + pad * dx, y0 - pad * dy, y1 + pad * dy)

    def expanded(self, margin: float) -> "View":
        """This view grown by ``margin`` of its width/height on every side (so a short pan shows no gap)."""
        dx, dy = (self.x1 - self.x0) * margin, (self.y1 - self.y0) * margin
        return View(self.x0 - dx, self.x1 + dx, self.y0 - dy, self.y1 + dy)

    def contains(self, x, y) -> np.ndarray:
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)


def rows_in_view(x, y, view: View) -> np.ndarray:
    """Rows whose point lies inside ``view`` (edges included), ascending."""
    return np.flatnonzero(view.contains(x, y))


def hex_to_rgb(colours) -> np.ndarray:
    """``['#1f77b4', …]`` → (k, 3) uint8."""
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colours], dtype=np.uint8)


def palette(k: int) -> list[str]:
    """Colours of ``k`` categories: the map's glyphs and images use the same."""
    from bokeh.palettes import Category10, Category20, turbo

    if k <= 2:
        return ["#bbbbbb", "#d62728"] if k == 2 else ["#1f77b4"]
    if k <= 10:
        return list(Category10[10][:k])
    if k <= 20:
        return list(Category20[20][:k])
    return list(turbo(k))


def _viridis() -> np.ndarray:
    from bokeh.palettes import Viridis256

    return hex_to_rgb(Viridis256)


def rasterize(x, y, view: View, shape: tuple[int, int], *, mode: str = "count", codes=None, colours=None,
              values=None, lo: float = 0.0, hi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Bin every point inside ``view`` into an RGBA image.

    Parameters
    ----------
    x, y : ndarray (n,)
        Map coordinates of all points.
    view : View
        The rectangle the image covers.
    shape : (height, width)
        Pixels of the image; row 0 is the bottom of the view (Bokeh's ``image_rgba``).
    mode : {"count", "majority", "mean"}
        ``count``: colour = Viridis of log(1 + points per pixel), scaled to the
        densest pixel. ``majority``: colour = the most frequent category of the
        pixel's points (``codes`` into ``colours``). ``mean``: colour = Viridis
        of the mean of ``values`` over the pixel's points, ``lo`` … ``hi``.
        For the last two the opacity grows with log(1 + count).

    Returns
    -------
    image : ndarray (height, width) uint32
        RGBA bytes packed as Bokeh expects (little-endian R, G, B, A); empty pixels are transparent.
    counts : ndarray (height, width) int64
        Points per pixel.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.1, 0.1, 0.9]); y = np.array([0.1, 0.2, 0.9])
    >>> img, counts = rasterize(x, y, View(0, 1, 0, 1), (2, 2))
    >>> counts.tolist()
    [[2, 0], [0, 1]]
    """
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"image shape must be positive, got {shape}")
    x, y = np.asarray(x), np.asarray(y)
    inside = view.contains(x, y)
    ix = ((x[inside] - view.x0) * (w / (view.x1 - view.x0))).astype(np.int64)
    iy = ((y[inside] - view.y0) * (h / (view.y1 - view.y0))).astype(np.int64)
    pix = np.minimum(iy, h - 1) * w + np.minimum(ix, w - 1)  # points on the top/right edge go in the last pixel
    counts = np.bincount(pix, minlength=h * w)
    rgba = np.zeros((h * w, 4), np.uint8)
    filled = counts > 0
    if filled.any():
        level = np.log1p(counts[filled]) / np.log1p(counts.max())
        if mode == "count":
            rgba[filled, :3] = _viridis()[np.minimum((level * 255).astype(int), 255)]
            rgba[filled, 3] = 255
        else:
            if mode == "majority":
                c = np.asarray(codes)[inside]
                k = len(colours)
                if c.size and (c.min() < 0 or c.max() >= k):
                    raise ValueError(f"codes must be in 0..{k - 1}")
                # one sort of (pixel, category) pairs: works for any number of categories
                pairs, n_pair = np.unique(pix * k + c, return_counts=True)
                pair_pix = pairs // k
                order = np.lexsort((n_pair, pair_pix))  # by pixel, then count: the last of each pixel wins
                last = np.r_[pair_pix[order][1:] != pair_pix[order][:-1], True]
                winners = order[last]
                rgba[pair_pix[winners], :3] = hex_to_rgb(colours)[pairs[winners] % k]
            elif mode == "mean":
                v = np.asarray(values, np.float64)[inside]
                mean = np.bincount(pix, weights=v, minlength=h * w)[filled] / counts[filled]
                span = (hi - lo) or 1.0
                rgba[filled, :3] = _viridis()[np.clip(((mean - lo) / span * 255).astype(int), 0, 255)]
            else:
                raise ValueError(f"mode must be 'count', 'majority' or 'mean', got {mode!r}")
            rgba[filled, 3] = (_MIN_ALPHA + (_MAX_ALPHA - _MIN_ALPHA) * level).astype(np.uint8)
    image = rgba.reshape(h, w, 4).view("<u4")[:, :, 0]
    return np.ascontiguousarray(image), counts.reshape(h, w)


def rows_in_polygon(x, y, xs, ys) -> np.ndarray:
    """Rows whose point lies inside the polygon ``(xs, ys)`` (a lasso, in data coordinates), ascending."""
    from matplotlib.path import Path

    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    if len(xs) < 3 or len(xs) != len(ys):
        return np.zeros(0, np.int64)
    candidates = np.flatnonzero((x >= xs.min()) & (x <= xs.max()) & (y >= ys.min()) & (y <= ys.max()))
    pts = np.column_stack([x[candidates], y[candidates]]).astype(np.float64)
    return candidates[Path(np.column_stack([xs, ys])).contains_points(pts)]


class PlaneIndex:
    """A KD-tree of one plane's points, for "which point is under the pointer".

    Coordinates are divided by ``scale`` (each axis's standard deviation) so the
    tree is well balanced whatever the units; queries use an ellipse in data
    units (a radius in screen pixels converted per axis), answered exactly.

    Examples
    --------
    >>> import numpy as np
    >>> idx = PlaneIndex(np.array([0.0, 1.0]), np.array([0.0, 0.0]))
    >>> idx.nearest(0.9, 0.05, 0.2, 0.2), idx.nearest(0.5, 0.5, 0.1, 0.1)
    (1, -1)
    """

    def __init__(self, x, y, scale=(1.0, 1.0)):
        from scipy.spatial import cKDTree

        self.scale = np.asarray(scale, np.float64)
        self._xy = np.column_stack([x, y]).astype(np.float64) / self.scale
        self._tree = cKDTree(self._xy)

    def nearest(self, x: float, y: float, rx: float, ry: float) -> int:
        """The row nearest to ``(x, y)`` within the ellipse of half-axes ``rx``, ``ry`` (data units); ``-1`` if none."""
        q = np.array([x, y], np.float64) / self.scale
        r = np.array([rx, ry], np.float64) / self.scale
        near = np.asarray(self._tree.query_ball_point(q, float(r.max())), dtype=np.int64)
        if not len(near):
            return -1
        d2 = (((self._xy[near] - q) / r) ** 2).sum(axis=1)
        best = int(np.argmin(d2))
        return int(near[best]) if d2[best] <= 1.0 else -1
