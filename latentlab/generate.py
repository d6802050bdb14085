"""Decode z-points into faces: samples from a region, paths, interpolations, reconstructions.

Every function takes an autoencoder (``latentlab.model.Autoencoder``) or
loads one lazily with :func:`load_model`; importing this module does not
import TensorFlow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._errors import LatentlabError

__all__ = [
    "GeneratedImages",
    "interpolate",
    "load_model",
    "path_images",
    "reconstruct",
    "sample_images",
    "save_grid",
    "save_images",
    "slerp",
]


def load_model(model_dir=None, *, encoder=None, decoder=None, autoencoder=None):
    """The autoencoder to decode with: ``autoencoder`` if given, else load ``model_dir`` / encoder + decoder."""
    if autoencoder is not None:
        return autoencoder
    from .model import load_autoencoder

    return load_autoencoder(model_dir, encoder=encoder, decoder=decoder)


@dataclass
class GeneratedImages:
    """Decoded images and the z-points they came from.

    Attributes
    ----------
    z : ndarray (n, z_dim)
    images : ndarray (n, H, W, C) float32 in [0, 1]
    labels : list of str
        One short label per image (sample index, path step, id …).
    info : dict
        What produced them (region description, plane, ids, method …), JSON-safe.
    """

    z: np.ndarray
    images: np.ndarray
    labels: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"n": int(len(self.z)), "labels": list(self.labels), **self.info}


def _check_dims(ae, z_dim, store):
    if ae.z_dim != z_dim:
        raise LatentlabError(f"{store}: z_dim {z_dim} does not match the model's z_dim {ae.z_dim}")


def _check_model_early(store, model_dir, encoder, decoder, autoencoder, z_dim: int | None = None) -> None:
    """The model's z_dim against the store's, read from the model's files: before TensorFlow is imported."""
    if autoencoder is not None:
        _check_dims(autoencoder, z_dim if z_dim is not None else _store_z_dim(store), store)
        return
    from .model._peek import check_model_z_dim

    check_model_z_dim(z_dim if z_dim is not None else _store_z_dim(store), store,
                      model_dir=model_dir, encoder=encoder, decoder=decoder)


def _store_z_dim(store) -> int:
    from .store import open_store

    with open_store(store) as s:
        return s.z_dim


def sample_images(
    store,
    region: str = "ellipsoid",
    *,
    n: int = 64,
    seed: int = 0,
    partition: str = "train",
    fragments=None,
    params: dict | None = None,
    region_file=None,
    model_dir=None,
    encoder=None,
    decoder=None,
    autoencoder=None,
    where=None,
) -> GeneratedImages:
    """Fit a region on a z-store, draw ``n`` z-points from it and decode them.

    Parameters
    ----------
    store : path-like
        z-store the region is fitted on (``partition`` rows; all rows if the
        store has no partition).
    region : str or BaseRegion
        Registry name (``cube``, ``ball``, ``normal``, ``normal-fitted``,
        ``mnd``, ``ellipsoid``, ``planes``, ``gmm``, ``bgmm``, ``kde``,
        ``fragment[:base]``) or a region instance.
    params : dict, optional
        Region parameters (e.g. ``{"sigma": 2}``).
    region_file : path-like, optional
        A fitted region (``latentlab fit-region``) to sample instead of fitting
        ``region``; refused when it was fitted on another store.
    where : dict or list of str, optional
        Fit only on rows whose attributes satisfy every condition (``{"label": "Bag"}``,
        ``["Smiling=1"]``); see :func:`latentlab.regions.fit_region`.

    Returns
    -------
    GeneratedImages
        ``info["region"]`` holds the fitted region's description.
    """
    from ._checks import check_int

    n = check_int(n, "--n", maximum=1_000_000)
    if seed is not None and not isinstance(seed, np.random.Generator):
        seed = check_int(seed, "--seed", minimum=0)  # before the model loads (seconds of TensorFlow start-up)
    from .regions import fit_region, load_region, make_region
    from .store import open_store

    if where and region_file is not None:
        raise LatentlabError("--where: a --region-file is already fitted on its rows; fit it with `fit-region --where`")
    if where:  # an unknown attribute or an empty selection is refused before the model loads
        from .regions._where import where_rows

        with open_store(store) as s:
            where_rows(s, where)
    # Every name, value, file, shape and size is checked before the model (TensorFlow) is loaded: a million
    # samples used to pass validation, decode for minutes and then run out of memory.
    if region_file is None and isinstance(region, str):
        make_region(region, **(params or {}))
    shape = autoencoder.image_shape if autoencoder is not None else _image_shape_hint(model_dir, store)
    if shape is not None:
        check_images_fit_in_memory(n, shape)
    with open_store(store) as s:
        fitted = load_region(region_file, store=s) if region_file is not None else None  # fitted once, sampled many times
        z_dim = fitted.n_features_in_ if fitted is not None else s.z_dim
        _check_model_early(store, model_dir, encoder, decoder, autoencoder, z_dim)
    ae = load_model(model_dir, encoder=encoder, decoder=decoder, autoencoder=autoencoder)
    check_images_fit_in_memory(n, ae.image_shape)
    _check_dims(ae, z_dim, store)
    if fitted is None:
        with open_store(store) as s:
            fitted = fit_region(region, s, partition, fragments=fragments, where=where, **(params or {}))
    z = fitted.sample(n, random_state=seed)
    images = ae.decode(z.astype(np.float32))
    if not np.isfinite(images).all():
        raise LatentlabError(f"{fitted.name}: the decoder gives NaN/Inf for these z-points (largest |z| "
                             f"{float(np.abs(z).max()):.3g}, far outside the data); nothing written")
    info = {"region": fitted.describe(), "seed": seed, "store": str(store),
            "fit_partition": getattr(fitted, "fit_store_", {}).get("partition", getattr(fitted, "fit_partition_", None))}
    if where:
        info["where"] = fitted.fit_store_.get("where")
    result = GeneratedImages(z, images, [str(i) for i in range(n)], info)
    result.region = fitted
    return result


#: The grid PNG enlarges small images to at least this height (``write_tiles_png(min_height=…)``).
GRID_MIN_HEIGHT = 96


def images_memory_bytes(n: int, image_shape, *, grid_min_height: int = GRID_MIN_HEIGHT) -> int:
    """Peak bytes of decoding ``n`` images and tiling them into the grid PNG (an estimate from above).

    The decoder's float32 batches and their concatenation (2 copies), then the grid: a float32 copy of
    the images, the nearest-neighbour enlargement by ``s = ceil(min_height / H)`` (two repeats) and the
    tiled float32 canvas, each ``s²`` times the images.
    """
    h, w, c = (int(v) for v in image_shape)
    scale = max(1, math.ceil(grid_min_height / max(h, 1)))
    per_image = h * w * c * 4
    return int(n) * per_image * (3 + 3 * scale * scale)


def check_images_fit_in_memory(n: int, image_shape, name: str = "--n") -> None:
    """One line (exit 2) when ``n`` decoded images and their grid would not fit in the memory available now."""
    from ._checks import check_fits_in_memory

    h, w, c = (int(v) for v in image_shape)
    check_fits_in_memory(images_memory_bytes(n, image_shape), name, f"{n:,} decoded {h}×{w}×{c} images and their grid")


def _image_shape_hint(model_dir, store) -> tuple[int, int, int] | None:
    """The image shape a model directory (its ``config.json``) or the store's provenance names, without loading Keras."""
    candidates = []
    if model_dir is not None:
        try:
            config = Path(model_dir) / "config.json"
            if config.is_file() and config.stat().st_size <= 1 << 20:
                candidates.append(json.loads(config.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
    try:
        from .store import open_store

        with open_store(store) as s:
            candidates.append(dict(s.attrs))
    except Exception:  # the store is checked (and its errors reported) by the caller
        pass
    for meta in candidates:
        if not isinstance(meta, dict):
            continue
        size, channels = meta.get("image_size"), meta.get("channels")
        try:
            size, channels = int(size), int(channels)
        except (TypeError, ValueError):
            continue
        if 1 <= size <= 65536 and 1 <= channels <= 4:
            return size, size, channels
    return None


def save_grid(result: GeneratedImages, path, *, ncols: int = 8, titles: bool = False, title: str | None = None,
              overwrite: bool = False) -> Path:
    """Write ``result.images`` as one PNG image grid (an existing file only with ``overwrite=True``)."""
    from ._checks import check_int, check_output_file
    from .plots import image_grid, write_tiles_png

    ncols = check_int(ncols, "--ncols")
    path = check_output_file(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    if titles or title:
        import matplotlib.pyplot as plt

        from ._io import save_figure

        fig = image_grid(result.images, ncols=ncols, titles=result.labels if titles else None, title=title)
        try:
            save_figure(fig, path, dpi=120)
        finally:
            plt.close(fig)
    else:  # pixel-exact tiling, no matplotlib margins; small faces enlarged to stay readable
        write_tiles_png(result.images, path, ncols=ncols, min_height=96)
    return path


def image_file_names(directory, n: int, prefix: str = "sample") -> list[Path]:
    """The files :func:`save_images` writes for ``n`` images: ``DIR/<prefix>_<i>.png`` (``i`` zero-padded)."""
    width = len(str(max(n - 1, 0)))
    return [Path(directory) / f"{prefix}_{i:0{width}d}.png" for i in range(n)]


def save_images(result: GeneratedImages, directory, *, prefix: str = "sample", overwrite: bool = False) -> list[Path]:
    """Write each image as ``DIR/<prefix>_<i>.png``; existing files are replaced only with ``overwrite=True``."""
    from PIL import Image

    from ._checks import check_new_files, check_output_dir
    from ._io import atomic_path

    directory = check_output_dir(directory, "--save-images")
    names = check_new_files(image_file_names(directory, len(result.images), prefix), "--save-images",
                            overwrite=overwrite)
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for img, p in zip(result.images, names):
        arr = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
        with atomic_path(p) as tmp:
            Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(tmp, format="PNG")
        out.append(p)
    return out


def save_samples_store(result: GeneratedImages, path, *, overwrite: bool = False, scores: dict | None = None) -> Path:
    """Write sampled z-points as a z-store; the sampler goes into the root attrs.

    An existing file at ``path`` is replaced only with ``overwrite=True``.
    ``scores`` (name → one value per sample, e.g.
    :func:`~latentlab.metrics.store_memorisation_scores`) are written as
    ``/memorisation/<name>`` datasets in the same atomic write.
    """
    from .store import write_store

    if scores:
        return _save_with_scores(result, Path(path), overwrite, scores)

    attrs = {
        "dataset": "samples",
        "source": str(result.info.get("store", "")),
        "sampler": json.dumps(result.info.get("region", {})),
        "region": str(result.info.get("region", {}).get("region", "")),
        "seed": int(result.info.get("seed", 0)) if result.info.get("seed") is not None else -1,
    }
    ids = [f"sample_{i}" for i in range(len(result.z))]
    return Path(write_store(path, result.z.astype(np.float32), ids=ids, attrs=attrs, overwrite=overwrite))


__all__.append("save_samples_store")


def _save_with_scores(result, path: Path, overwrite: bool, scores: dict) -> Path:
    import h5py

    from ._io import atomic_path

    if path.exists() and not overwrite:
        raise LatentlabError(f"{path}: already exists (use --overwrite to replace it)")
    with atomic_path(path) as tmp:
        save_samples_store(result, tmp, overwrite=True)
        with h5py.File(tmp, "a") as f:
            group = f.create_group("memorisation")
            group.attrs["description"] = (
                "per-sample memorisation scores against the fit rows and held-out rows of the source store: "
                "nearest_train_distance, novelty_ratio (over the held-out median), near_copy (below the held-out "
                "5th percentile), authentic (AuthPct's rule, Alaa et al. 2022)")
            for name, values in scores.items():
                arr = np.asarray(values)
                if len(arr) != len(result.z):
                    raise LatentlabError(f"memorisation score {name!r}: {len(arr)} values for {len(result.z)} samples")
                group.create_dataset(name, data=arr.astype(np.int8 if arr.dtype == bool else np.float32))
    return path


def _frame(store, axes: str, partition, region_file=None, where=None):
    """Mean, unit axis vectors (rows) and per-axis std of the fitted cloud (streamed, never read whole;
    with ``where``, the PCA of the selected rows, read into memory)."""
    from .analysis import fit_pca
    from .regions import load_region
    from .store import open_store

    if axes not in ("pca", "original"):
        raise LatentlabError(f"axes must be 'pca' or 'original', got {axes!r}")
    if region_file is not None:
        frame = load_region(region_file, store=store)
        if axes != "pca" or not hasattr(frame, "components_"):
            raise LatentlabError(f"{region_file}: path needs a region with PCA axes (ellipsoid, planes) and --axes pca")
        return frame.mean_, frame.components_, np.sqrt(frame.eigenvalues_), frame.n_features_in_
    if where and region_file is not None:
        raise LatentlabError("--where: a --region-file already fixes the frame; fit it with `fit-region --where`")
    with open_store(store) as s:
        sel = s.selection(partition) if (partition not in (None, "all") and s.partition is not None) else None
        part = partition if sel is not None and len(sel) >= 2 else None  # too few rows: fit on all of them
        if where:
            from .regions._where import where_rows

            rows = where_rows(s, where, sel if part is not None else None)
            pca = fit_pca(np.asarray(s.z[rows], dtype=np.float64))
        else:
            pca = fit_pca(s, partition=part)  # the PCA report's axes and signs
    if axes == "pca":
        return pca.mean_, pca.components_, np.sqrt(pca.eigenvalues_), len(pca.mean_)
    d = len(pca.mean_)
    return pca.mean_, np.eye(d), pca.moments_.std(ddof=0), d


def path_images(
    store,
    *,
    plane: tuple[int, int] = (0, 1),
    axes: str = "pca",
    shape: str = "line",
    steps: int = 9,
    extent: float = 2.0,
    angle: float = 0.0,
    partition: str | None = "train",
    region_file=None,
    model_dir=None,
    encoder=None,
    decoder=None,
    autoencoder=None,
    where=None,
    attribute: str | None = None,
    method: str = "mean",
) -> GeneratedImages:
    """Decode z-points along a line or a circle in one coordinate plane, or along an attribute direction.

    The plane goes through the data mean and is spanned by axes ``i, j``
    (PCA axes by decreasing variance, or original z coordinates); distances
    are in standard deviations along each axis.

    Parameters
    ----------
    plane : (int, int)
    axes : {'pca', 'original'}
    shape : {'line', 'circle'}
        ``line``: from −extent σ to +extent σ along the direction at
        ``angle`` degrees from axis ``i`` towards ``j`` (0 = along axis i).
        ``circle``: ``steps`` points on the k-σ ellipse of the plane (k = extent).
    steps : int, default 9
    extent : float, default 2
    region_file : path-like, optional
        Take the mean and PCA axes from a fitted ellipsoid or planes region file.
    where : dict or list of str, optional
        The frame (mean, axes) of the rows whose attributes satisfy every condition.
    attribute : str, optional
        A straight line through the mean along the attribute's direction ``d``
        (:func:`latentlab.analysis.attribute_direction`, ``method`` mean or probe) instead of a
        plane: ``steps`` points ``mean + s·d`` for ``s`` from ``−extent`` to ``+extent``
        (``s = 1`` is the step from the mean without the attribute to the mean with it).
    """
    if steps < 2:
        raise LatentlabError(f"steps must be >= 2, got {steps}")
    if shape not in ("line", "circle"):
        raise LatentlabError(f"shape must be 'line' or 'circle', got {shape!r}")
    i, j = (int(v) for v in plane)
    _check_model_early(store, model_dir, encoder, decoder, autoencoder)
    if attribute is not None:
        return _attribute_line(store, attribute, method=method, steps=steps, extent=extent, partition=partition,
                               where=where, model_kw={"model_dir": model_dir, "encoder": encoder, "decoder": decoder,
                                                      "autoencoder": autoencoder})
    mean, basis, sd, d = _frame(store, axes, partition, region_file, where)
    if not (0 <= i < d and 0 <= j < d) or i == j:
        raise LatentlabError(f"plane {plane}: need two different axes in 0..{d - 1}")
    ae = load_model(model_dir, encoder=encoder, decoder=decoder, autoencoder=autoencoder)
    _check_dims(ae, d, store)
    u, v = basis[i] * sd[i], basis[j] * sd[j]
    if shape == "line":
        t = np.linspace(-extent, extent, steps)
        a = np.deg2rad(angle)
        z = mean + t[:, None] * (np.cos(a) * u + np.sin(a) * v)
        labels = [f"{x:+.2g}σ" for x in t]
    else:
        phi = np.linspace(0, 2 * np.pi, steps, endpoint=False)
        z = mean + extent * (np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v)
        labels = [f"{np.rad2deg(p):.0f}°" for p in phi]
    images = ae.decode(z.astype(np.float32))
    info = {"plane": [i, j], "axes": axes, "shape": shape, "extent": extent, "angle": angle, "store": str(store)}
    return GeneratedImages(z, images, labels, info)


def _attribute_line(store, attribute, *, method, steps, extent, partition, where, model_kw) -> GeneratedImages:
    """``mean + s·d`` for ``s`` in ``[−extent, extent]`` (``path --attribute``)."""
    from .analysis import attribute_direction
    from .store import open_store

    with open_store(store) as s:
        sel = s.selection(partition) if (partition not in (None, "all") and s.partition is not None) else None
        part = partition if sel is not None and len(sel) >= 2 else None
        d = attribute_direction(s, attribute, method=method, partition=part)
        if where:
            from .regions._where import where_rows

            rows = where_rows(s, where, sel if part is not None else None)
            mean = np.asarray(s.z[rows], dtype=np.float64).mean(axis=0)
        else:
            from .analysis import fit_pca

            mean = fit_pca(s, partition=part, n_components=1).mean_
        z_dim = s.z_dim
    ae = load_model(**model_kw)
    _check_dims(ae, z_dim, store)
    t = np.linspace(-extent, extent, steps)
    z = mean + t[:, None] * d
    images = ae.decode(z.astype(np.float32))
    info = {"attribute": attribute, "method": method, "extent": extent, "store": str(store),
            "note": "s = 1 is the step from the mean without the attribute to the mean with it"}
    if where:
        from .regions._where import parse_where

        info["where"] = parse_where(where)
    return GeneratedImages(z, images, [f"s={x:+.2g}" for x in t], info)


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation between vectors ``a`` and ``b`` (about the origin) at fractions ``t``."""
    a, b, t = np.asarray(a, float), np.asarray(b, float), np.asarray(t, float)[:, None]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return (1 - t) * a + t * b
    omega = np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))
    if omega < 1e-8:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def _rows_for_ids(s, ids):
    all_ids = s.read_ids()
    lookup = {name: i for i, name in enumerate(all_ids)}
    rows = []
    for name in ids:
        name = str(name)
        if name not in lookup:
            raise LatentlabError(f"{s.path}: no image with id {name!r}")
        rows.append(lookup[name])
    return rows


def interpolate(
    store,
    id_a: str,
    id_b: str,
    *,
    steps: int = 8,
    method: str = "linear",
    model_dir=None,
    encoder=None,
    decoder=None,
    autoencoder=None,
) -> GeneratedImages:
    """Decode the path between the z-points of two stored images.

    Parameters
    ----------
    id_a, id_b : str
        Image ids in the store.
    steps : int, default 8
        Points including both ends.
    method : {'linear', 'spherical'}
        Straight line, or spherical interpolation (slerp) about the origin,
        which keeps the norm between the two ends.
    """
    from .store import open_store

    if steps < 2:
        raise LatentlabError(f"steps must be >= 2, got {steps}")
    if method not in ("linear", "spherical", "slerp"):
        raise LatentlabError(f"method must be 'linear' or 'spherical', got {method!r}")
    with open_store(store) as s:
        ra, rb = _rows_for_ids(s, [id_a, id_b])
        za, zb = np.asarray(s.z[ra], np.float64), np.asarray(s.z[rb], np.float64)
        z_dim = s.z_dim
    _check_model_early(store, model_dir, encoder, decoder, autoencoder, z_dim)
    ae = load_model(model_dir, encoder=encoder, decoder=decoder, autoencoder=autoencoder)
    _check_dims(ae, z_dim, store)
    t = np.linspace(0.0, 1.0, steps)
    z = (1 - t)[:, None] * za + t[:, None] * zb if method == "linear" else slerp(za, zb, t)
    images = ae.decode(z.astype(np.float32))
    labels = [str(id_a)] + [f"{x:.2f}" for x in t[1:-1]] + [str(id_b)]
    return GeneratedImages(z, images, labels, {"ids": [str(id_a), str(id_b)], "method": "spherical" if method == "slerp" else method})


def reconstruct(
    store,
    ids=None,
    *,
    n: int = 8,
    model_dir=None,
    encoder=None,
    decoder=None,
    autoencoder=None,
) -> tuple[np.ndarray | None, GeneratedImages]:
    """Originals (when the store's images are reachable) and decodings of stored z-points.

    Parameters
    ----------
    ids : list of str, optional
        Image ids (default: the first ``n`` rows).

    Returns
    -------
    originals : ndarray (n, H, W, C) uint8, or None
        The source images, re-read through the store's ``dataset`` /
        ``source`` attributes with the model's preprocessing; ``None`` when
        they are not available on this machine.
    decoded : GeneratedImages
        D(z) of the stored z-points (``info["originals_note"]`` says why
        originals are missing, if they are).
    """
    from .store import open_store

    with open_store(store) as s:
        rows = list(range(min(n, s.n))) if ids is None else _rows_for_ids(s, ids)
        ids = [str(i) for i in s.read_ids()[rows]] if rows else []
        z = np.asarray(s.z[np.asarray(rows, dtype=np.int64)], np.float64) if rows else np.empty((0, s.z_dim))
        attrs = dict(s.attrs)
        z_dim = s.z_dim
    if not rows:
        raise LatentlabError(f"{store}: no rows to reconstruct")
    _check_model_early(store, model_dir, encoder, decoder, autoencoder, z_dim)
    ae = load_model(model_dir, encoder=encoder, decoder=decoder, autoencoder=autoencoder)
    _check_dims(ae, z_dim, store)
    decoded = GeneratedImages(z, ae.decode(z.astype(np.float32)), ids, {"ids": ids})
    originals, note = None, ""
    try:
        from .sources import Preprocessing, open_source

        dataset, location = attrs.get("dataset"), attrs.get("source")
        src = open_source(dataset, location)
        lookup = {name: i for i, name in enumerate(src.ids)}
        crop = attrs.get("crop")
        prep = Preprocessing(ae.image_size, ae.channels, tuple(crop) if isinstance(crop, list) else None)
        missing = [i for i in ids if i not in lookup]
        if missing:
            raise LatentlabError(f"id {missing[0]!r} not in the image source")
        originals = np.stack([src.load(lookup[i], prep) for i in ids])
    except Exception as exc:  # the images may not be on this machine
        note = f"original images not available ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})"
        decoded.info["originals_note"] = note
    return originals, decoded
