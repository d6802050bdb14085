"""What the explorer shows, without any web framework: the map, colours, images, decodes, samples.

:class:`ExploreData` holds everything one explorer needs, computed once from
a z-store (opened read-only, closed again after loading) and an optional
autoencoder. The Bokeh app (:mod:`latentlab.explore._app`) only draws it and
forwards the user's gestures here, so every feature is testable without a
browser. No TensorFlow is imported unless a model is given.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from ._raster import PlaneIndex, View, palette, rasterize, rows_in_polygon, rows_in_view

__all__ = ["ColourField", "Decoded", "ExploreData", "SelectionSamples", "png_data_url"]

#: Principal axes offered as map axes (the plane PC i vs PC j).
MAX_MAP_AXES = 10
#: Principal axes with a slider that moves the decoded point.
N_SLIDERS = 4
#: Nearest map points whose mean gives the off-plane coordinates of a clicked point.
DEFAULT_NEIGHBOURS = 32
#: Most bins per side of the 2-D histogram behind the "density" colouring (fewer for small stores: √n).
DENSITY_BINS = 200
#: Regions that cannot be fitted on a lasso selection (they ignore the data or need a fragments file).
_NOT_ON_SELECTION = {"normal"}


@dataclass
class ColourField:
    """One way to colour the map.

    Attributes
    ----------
    name : str
        As shown in the colour menu.
    values : ndarray (n,)
        Category codes (int, ``-1`` = none) for categorical fields, floats otherwise.
    categories : list of str
        Category names (empty for continuous fields).
    plane_dependent : bool
        Recomputed for each plane (density).
    """

    name: str
    values: np.ndarray
    categories: list = field(default_factory=list)
    plane_dependent: bool = False

    @property
    def categorical(self) -> bool:
        return bool(self.categories)


@dataclass
class Decoded:
    """A decoded map position."""

    z: np.ndarray
    image: np.ndarray | None
    plane: tuple[int, int]
    xy: tuple[float, float]
    neighbours: int


@dataclass
class SelectionSamples:
    """Samples drawn from a region fitted on a lasso selection."""

    region: object
    rows: np.ndarray
    z: np.ndarray
    images: np.ndarray | None
    seed: int


def png_data_url(image: np.ndarray) -> str:
    """``data:image/png;base64,…`` for an (H, W, C) uint8 or float [0, 1] image."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class ExploreData:
    """The data behind one explorer: map coordinates, colour fields, images, decoder.

    Parameters
    ----------
    store : path-like
        z-store, opened read-only; nothing is ever written into it.
    autoencoder : latentlab.model.Autoencoder, optional
        Decodes clicked positions and samples, and reconstructs stored points
        whose original image is not on this machine. Without one the map,
        hover (originals only) and colouring still work.
    fragments : path-like, optional
        ``fragments.h5`` of ``latentlab fragments``: adds the "fragment" colouring
        and the fragment region.
    neighbours : int, default 32
        Map points whose mean fixes the off-plane coordinates of a clicked position.

    Attributes
    ----------
    n, z_dim : int
    z : ndarray (n, z_dim) float32
    ids : ndarray of str
    pca : latentlab.analysis.LatentPCA
        Fitted on all rows, every component.
    scores : ndarray (n, n_axes) float32
        PC scores on the first ``n_axes`` axes (the planes offered).
    colours : dict of str → ColourField
    originals_note : str
        Why hover shows reconstructions rather than originals ("" when originals are used).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from latentlab import write_store
    >>> z = np.random.default_rng(0).normal(size=(50, 4)) * [3.0, 2.0, 1.0, 0.5]
    >>> data = ExploreData(write_store(pathlib.Path(tempfile.mkdtemp()) / "z.h5", z))
    >>> x, y = data.plane(0, 1)
    >>> data.n, data.z_dim, x.shape, data.ids[0]
    (50, 4, (50,), '0')
    >>> bool(np.var(x) > np.var(y)), data.originals_note[:29]
    (True, 'original images not available')
    """

    def __init__(self, store, *, autoencoder=None, fragments=None, neighbours: int = DEFAULT_NEIGHBOURS):
        from .._stages import stage
        from ..analysis import fit_pca
        from ..store import open_store

        if int(neighbours) < 1:
            raise LatentlabError(f"neighbours must be at least 1, got {neighbours!r}")
        self.neighbours = int(neighbours)
        self.store_path = Path(store)
        stage(f"explore: reading {self.store_path.name}")
        with open_store(self.store_path) as s:
            if s.n < 2:
                raise LatentlabError(f"{self.store_path}: the map needs at least 2 rows, found {s.n}")
            self.z = s.read_z(dtype=np.float32)
            self.ids = np.asarray(s.read_ids(), dtype=object)
            self.partition = None if s.partition is None else np.asarray(s.partition[:])
            self.attributes = None if s.attributes is None else np.asarray(s.attributes[:])
            self.attribute_names = list(s.attribute_names)
            self.attrs = dict(s.attrs)
            self.fingerprint = s.fingerprint
            self.n, self.z_dim = s.n, s.z_dim
        self.autoencoder = autoencoder
        if autoencoder is not None and autoencoder.z_dim != self.z_dim:
            raise LatentlabError(
                f"{self.store_path}: z_dim {self.z_dim} does not match the model's z_dim {autoencoder.z_dim}")
        self.fragments = Path(fragments) if fragments is not None else None
        self.fragment_labels = None
        if self.fragments is not None:
            from ..regions import read_fragment_labels

            labels = read_fragment_labels(self.fragments, n_rows=self.n)
            if len(labels) != self.n:
                raise LatentlabError(f"{self.fragments}: {len(labels)} fragment labels but the store has {self.n} rows")
            self.fragment_labels = labels
        stage(f"explore: PCA and colourings of {self.n:,} points")
        self.pca = fit_pca(self.z)
        self.n_axes = min(MAX_MAP_AXES, self.z_dim)
        self.scores = self.pca.transform(self.z, self.n_axes).astype(np.float32)
        self.sd = np.sqrt(np.maximum(self.pca.eigenvalues_, 0.0))
        self.colours = self._colour_fields()
        self._source, self._source_lookup, self._prep = None, None, None
        self._plane_index: dict = {}
        stage("explore: looking for the original images")
        self.originals_note = self._open_originals()

    # -- the map ------------------------------------------------------------
    @property
    def has_model(self) -> bool:
        return self.autoencoder is not None

    def _check_axes(self, i: int, j: int) -> tuple[int, int]:
        i, j = int(i), int(j)
        if not (0 <= i < self.n_axes and 0 <= j < self.n_axes) or i == j:
            raise LatentlabError(f"plane ({i}, {j}): need two different axes in 0..{self.n_axes - 1}")
        return i, j

    def plane(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates: PC scores on axes ``i`` and ``j`` (0-based)."""
        i, j = self._check_axes(i, j)
        return self.scores[:, i], self.scores[:, j]

    def _colour_fields(self) -> dict:
        fields = {"none": ColourField("none", np.zeros(self.n, np.int64), ["all points"])}
        if self.attributes is not None and self.attributes.shape[1]:
            positive = self.attributes > 0
            if positive.shape[1] > 1 and (positive.sum(axis=1) == 1).all():
                # one-hot attributes are class labels (Fashion-MNIST, MNIST…): one field for all
                fields["label"] = ColourField("label", positive.argmax(axis=1).astype(np.int64), list(self.attribute_names))
            for k, name in enumerate(self.attribute_names):
                fields[f"attribute: {name}"] = ColourField(
                    f"attribute: {name}", positive[:, k].astype(np.int64), [f"not {name}", name])
        if self.partition is not None:
            names = {0: "train", 1: "val", 2: "test"}
            codes = sorted(set(np.unique(self.partition).tolist()))
            index = {c: k for k, c in enumerate(codes)}
            fields["partition"] = ColourField(
                "partition", np.array([index[c] for c in self.partition.tolist()], np.int64),
                [names.get(c, str(c)) for c in codes])
        if self.fragment_labels is not None:
            labels = self.fragment_labels
            kept = sorted(int(v) for v in np.unique(labels) if v >= 0)
            index = {c: k for k, c in enumerate(kept)}
            codes = np.array([index.get(int(v), -1) for v in labels], np.int64)
            fields["fragment"] = ColourField("fragment", codes, [f"fragment {c}" for c in kept])
        fields["density"] = ColourField("density", np.zeros(self.n), plane_dependent=True)
        fields["radius"] = ColourField("radius", np.linalg.norm(self.z.astype(np.float64), axis=1))
        return fields

    def colour_values(self, name: str, plane: tuple[int, int] = (0, 1)) -> ColourField:
        """The colour field ``name`` (density computed in ``plane``)."""
        if name not in self.colours:
            raise LatentlabError(f"unknown colouring {name!r}; known: {', '.join(self.colours)}")
        field_ = self.colours[name]
        if name == "density":
            return ColourField("density", self._density(*plane), plane_dependent=True)
        return field_

    def _density(self, i: int, j: int) -> np.ndarray:
        """log(1 + smoothed count) of a 2-D histogram of the plane, read at every point: O(n)."""
        from scipy.ndimage import gaussian_filter

        x, y = self.plane(i, j)
        bins = int(np.clip(np.sqrt(self.n), 16, DENSITY_BINS))
        counts, xe, ye = np.histogram2d(x, y, bins=bins)
        smooth = gaussian_filter(counts, sigma=1.5)
        ix = np.clip(np.searchsorted(xe, x, side="right") - 1, 0, bins - 1)
        iy = np.clip(np.searchsorted(ye, y, side="right") - 1, 0, bins - 1)
        return np.log1p(smooth[ix, iy])

    def colour_range(self, field_: ColourField) -> tuple[float, float]:
        """The 1st–99th percentile of a continuous colour field: the ends of its colour scale."""
        values = np.asarray(field_.values, np.float64)
        lo, hi = np.percentile(values, [1, 99]) if len(values) else (0.0, 1.0)
        return float(lo), float(hi if hi > lo else lo + 1.0)

    # -- large views: images of the view, picking on the server ----------------
    def view_rows(self, plane: tuple[int, int], view: View) -> np.ndarray:
        """Rows whose point lies inside ``view`` of ``plane``."""
        return rows_in_view(*self.plane(*plane), view)

    def raster(self, plane: tuple[int, int], colour: str, view: View, shape: tuple[int, int]):
        """An RGBA image of every point inside ``view``, coloured by ``colour``.

        Density and "none" show points per pixel (log scale); a categorical
        colouring shows each pixel's most frequent category, a continuous one
        (radius) the mean over the pixel's points, with opacity growing with the
        count. Returns ``(image, counts, what)``: the packed uint32 image, the
        points per pixel and a sentence saying what a pixel's colour means.
        """
        x, y = self.plane(*plane)
        field_ = self.colour_values(colour, plane) if colour != "density" else None  # density: counts
        if field_ is None:
            image, counts = rasterize(x, y, view, shape, mode="count")
            what = "colour: log(1 + points per pixel), scaled to the densest pixel"
        elif field_.categorical:
            codes = np.where(field_.values < 0, len(field_.categories), field_.values)
            colours = palette(len(field_.categories)) + ["#dddddd"]
            image, counts = rasterize(x, y, view, shape, mode="majority", codes=codes, colours=colours)
            what = ("colour: the most frequent category of the pixel's points"
                    if len(field_.categories) > 1 else "colour: points") + "; opacity: log(1 + points per pixel)"
        else:
            lo, hi = self.colour_range(field_)
            image, counts = rasterize(x, y, view, shape, mode="mean", values=field_.values, lo=lo, hi=hi)
            what = f"colour: mean {field_.name} of the pixel's points; opacity: log(1 + points per pixel)"
        return image, counts, what

    def plane_index(self, plane: tuple[int, int]) -> PlaneIndex:
        """The KD-tree of ``plane`` (built once per plane, ~0.2 s at 200,000 points)."""
        i, j = self._check_axes(*plane)
        if (i, j) not in self._plane_index:
            self._plane_index[(i, j)] = PlaneIndex(self.scores[:, i], self.scores[:, j], (self.sd[i], self.sd[j]))
        return self._plane_index[(i, j)]

    def pick(self, plane: tuple[int, int], x: float, y: float, rx: float, ry: float) -> int:
        """The stored point nearest to map position ``(x, y)`` within ``rx``, ``ry`` (data units), or ``-1``."""
        return self.plane_index(plane).nearest(x, y, rx, ry)

    def rows_in_polygon(self, plane: tuple[int, int], xs, ys) -> np.ndarray:
        """Rows inside the polygon ``(xs, ys)`` of ``plane`` (a lasso drawn on the map, in data coordinates)."""
        return rows_in_polygon(*self.plane(*plane), xs, ys)

    def describe_row(self, row: int) -> dict:
        """Id, partition, label/attributes, fragment and radius of one stored point."""
        row = int(row)
        if not 0 <= row < self.n:
            raise LatentlabError(f"row {row} out of range for {self.n} rows")
        out = {"row": row, "id": str(self.ids[row])}
        if "label" in self.colours:
            out["label"] = self.colours["label"].categories[int(self.colours["label"].values[row])]
        elif self.attributes is not None:
            out["attributes"] = [n for n, v in zip(self.attribute_names, self.attributes[row]) if v > 0]
        if "partition" in self.colours:
            f = self.colours["partition"]
            out["partition"] = f.categories[int(f.values[row])]
        if self.fragment_labels is not None:
            out["fragment"] = int(self.fragment_labels[row])
        out["radius"] = float(self.colours["radius"].values[row])
        return out

    # -- images -------------------------------------------------------------
    def _open_originals(self) -> str:
        """Open the store's image source when it is on this machine; return why not otherwise."""
        try:
            from ..sources import Preprocessing, open_source

            dataset, location = self.attrs.get("dataset"), self.attrs.get("source")
            if dataset in (None, "array", "samples", "import"):
                raise LatentlabError(f"the store records no image source (dataset {dataset!r})")
            src = open_source(dataset, None if dataset == "lfw" else location)
            size = int(self.attrs.get("image_size") or (self.autoencoder.image_size if self.autoencoder else 0))
            channels = int(self.attrs.get("channels") or (self.autoencoder.channels if self.autoencoder else 3))
            crop = self.attrs.get("crop")
            self._prep = Preprocessing(size, channels, tuple(crop) if isinstance(crop, list) else None)
            lookup = {name: k for k, name in enumerate(src.ids)}
            # Check a few ids now, so a source that does not hold these images says so once.
            probe = [str(self.ids[k]) for k in np.unique(np.linspace(0, self.n - 1, 5).astype(int))]
            missing = [p for p in probe if p not in lookup]
            if missing:
                raise LatentlabError(f"id {missing[0]!r} is not in the image source")
            self._source, self._source_lookup = src, lookup
            return ""
        except Exception as exc:  # the images may simply not be on this machine
            msg = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            return f"original images not available ({msg})"

    def image(self, row: int) -> tuple[np.ndarray | None, str]:
        """The image of stored point ``row`` and what it is: ``'original'``, ``'reconstruction'`` or ``'none'``."""
        row = int(row)
        if self._source is not None:
            k = self._source_lookup.get(str(self.ids[row]))
            if k is not None:
                try:
                    return self._source.load(k, self._prep), "original"
                except Exception:  # an unreadable file: fall back to the reconstruction
                    pass
        if self.autoencoder is not None:
            return self.decode(self.z[row : row + 1])[0], "reconstruction"
        return None, "none"

    def decode(self, z) -> np.ndarray:
        """Decode z-points (n, z_dim) into images (n, H, W, C) float in [0, 1]."""
        if self.autoencoder is None:
            raise LatentlabError("no model given: decoding needs --model MODEL_DIR or --encoder/--decoder")
        return self.autoencoder.decode(np.asarray(z, dtype=np.float32))

    # -- decoding a map position -------------------------------------------
    def point_at(self, i: int, j: int, x: float, y: float, offsets=None) -> tuple[np.ndarray, int]:
        """The z-point at map position ``(x, y)`` of plane ``(i, j)``.

        Its PC scores on axes ``i`` and ``j`` are ``x`` and ``y``; every other
        coordinate is that of the mean of the :attr:`neighbours` map points nearest
        to ``(x, y)`` (distances in standard deviations of each axis), so a click
        between two clusters decodes a point between them rather than the global
        mean. ``offsets`` (σ units along the first principal axes) then move it.
        """
        i, j = self._check_axes(i, j)
        px, py = self.scores[:, i], self.scores[:, j]
        d2 = ((px - x) / self.sd[i]) ** 2 + ((py - y) / self.sd[j]) ** 2
        k = min(self.neighbours, self.n)
        near = np.argpartition(d2, k - 1)[:k]
        z = self.z[near].astype(np.float64).mean(axis=0)
        comps = self.pca.components_
        scores_now = (z - self.pca.mean_) @ comps[[i, j]].T
        z = z + (x - scores_now[0]) * comps[i] + (y - scores_now[1]) * comps[j]
        if offsets is not None:
            offsets = np.asarray(offsets, dtype=np.float64)
            m = len(offsets)
            z = z + (offsets * self.sd[:m]) @ comps[:m]
        return z, k

    def decode_at(self, i: int, j: int, x: float, y: float, offsets=None) -> Decoded:
        """:meth:`point_at` and its decoded image (``None`` without a model)."""
        z, k = self.point_at(i, j, x, y, offsets)
        image = self.decode(z[None, :])[0] if self.has_model else None
        return Decoded(z, image, (int(i), int(j)), (float(x), float(y)), k)

    def map_position(self, z, i: int, j: int) -> tuple[float, float]:
        """PC scores of ``z`` on axes ``i`` and ``j``."""
        s = (np.asarray(z, np.float64) - self.pca.mean_) @ self.pca.components_[[int(i), int(j)]].T
        return float(s[0]), float(s[1])

    # -- lasso: fit a region and sample ------------------------------------
    def region_names(self) -> list[str]:
        """Registry regions that can be fitted on a selection."""
        from ..regions import REGIONS

        names = [n for n in REGIONS if n not in _NOT_ON_SELECTION and n != "fragment"]
        if self.fragments is not None:
            names.append("fragment")
        return names

    def fit_selection(self, rows, region: str = "ellipsoid", *, params: dict | None = None):
        """Fit ``region`` (registry name) on the selected rows; the region records the rows and the store.

        The fitted region is a full region: :meth:`save_samples` writes it with
        :func:`~latentlab.regions.save_region`, and ``latentlab sample --region-file``
        (and every command taking a region file) accepts it for this store.
        ``fit_store_["rows"]`` lists the selected rows.
        """
        from ..regions import fit_region

        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if len(rows) < 2:
            raise LatentlabError(f"select at least 2 points to fit a region, got {len(rows)}")
        if rows.min() < 0 or rows.max() >= self.n:
            raise LatentlabError("selection holds rows outside the store")
        try:
            fitted = fit_region(region, self.store_path, rows=rows, fragments=self.fragments, **(params or {}))
        except LatentlabError:
            raise
        except (ValueError, np.linalg.LinAlgError) as exc:  # e.g. too few points for the region's parameters
            raise LatentlabError(f"{region} on {len(rows)} points: {str(exc).splitlines()[0][:200]}") from None
        fitted.fit_store_ = {**fitted.fit_store_, "rows": rows.tolist(), "selected_in": "latentlab explore"}
        return fitted

    def sample_selection(self, rows, region: str = "ellipsoid", *, n: int = 16, seed: int = 0,
                         params: dict | None = None) -> SelectionSamples:
        """Fit ``region`` (registry name) on the selected rows, draw ``n`` points, decode them (with a model)."""
        if not isinstance(n, (int, np.integer)) or not 1 <= n <= 1024:
            raise LatentlabError(f"n: expected 1..1024 samples, got {n!r}")
        fitted = self.fit_selection(rows, region, params=params)
        try:
            z = fitted.sample(int(n), random_state=int(seed))
        except LatentlabError:
            raise
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise LatentlabError(f"{region}: {str(exc).splitlines()[0][:200]}") from None
        images = self.decode(z) if self.has_model else None
        rows = np.asarray(fitted.fit_store_["rows"], dtype=np.int64)
        return SelectionSamples(fitted, rows, np.asarray(z, np.float64), images, int(seed))

    def save_samples(self, samples: SelectionSamples, out_dir, *, ncols: int = 8) -> dict:
        """Write a selection's region and samples beside each other, never replacing a file.

        Files (``NNN`` = the first free number): ``selection_NNN.region`` (the fitted
        region, as ``latentlab fit-region`` writes it, with the selected rows and the
        store's fingerprint: ``latentlab sample --region-file`` takes it),
        ``selection_NNN.h5`` (the sampled z-points as a z-store, as ``--save-z``) and,
        with a model, ``selection_NNN.png`` (the grid, as ``latentlab sample --out``).
        """
        from .._io import atomic_path
        from ..generate import GeneratedImages, save_samples_store
        from ..plots import write_tiles_png
        from ..regions import save_region

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        k = 1
        while any((out / f"selection_{k:03d}{ext}").exists() for ext in (".png", ".h5", ".region", ".region.json")):
            k += 1
        stem = out / f"selection_{k:03d}"
        info = {"region": samples.region.describe(), "seed": samples.seed, "store": str(self.store_path),
                "fit_partition": "rows"}
        result = GeneratedImages(samples.z, samples.images if samples.images is not None else np.zeros((0, 1, 1, 1)),
                                 [str(i) for i in range(len(samples.z))], info)
        files = {"region": save_region(samples.region, Path(f"{stem}.region"))}
        files["samples"] = save_samples_store(result, stem.with_suffix(".h5"), overwrite=False)
        if samples.images is not None:
            png = stem.with_suffix(".png")
            with atomic_path(png) as tmp:
                write_tiles_png(samples.images, tmp, ncols=ncols, min_height=96)
            files["grid"] = png
        return files


def load_explore_data(store, *, model_dir=None, encoder=None, decoder=None, autoencoder=None, fragments=None,
                      neighbours: int = DEFAULT_NEIGHBOURS) -> ExploreData:
    """:class:`ExploreData` for a store and, when given, a model (loaded here; TensorFlow only then)."""
    if autoencoder is None and (model_dir is not None or encoder is not None or decoder is not None):
        from ..generate import _check_model_early, load_model

        _check_model_early(store, model_dir, encoder, decoder, None)  # a z_dim mismatch before TensorFlow
        from .._stages import stage

        stage("explore: loading the model (TensorFlow)")

        autoencoder = load_model(model_dir, encoder=encoder, decoder=decoder)
    return ExploreData(store, autoencoder=autoencoder, fragments=fragments, neighbours=neighbours)
