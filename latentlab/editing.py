"""Edit stored images along an attribute direction: decode ``z + s·d`` for chosen ids and strengths.

``d`` is the attribute's mean-difference direction ``μ₊ − μ₋`` (or, with
``method="probe"``, the logistic-regression probe's normal scaled to the same
step along it; :mod:`latentlab.analysis._directions`), so **``s = 1`` carries
the negatives' mean onto the positives' mean**: an image without the attribute
moves by the average difference between the two groups. Editing an image that
already has the attribute moves it further in the same direction (its ``z`` is
not projected first); use negative strengths to remove an attribute.

Every input (ids, attribute, strengths, the model's files) is checked before
TensorFlow is imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._errors import LatentlabError
from .generate import GeneratedImages, _check_dims, _rows_for_ids, load_model

__all__ = ["edit_image_paths", "edit_images", "parse_strengths", "save_edit_images", "save_edit_strip"]


def parse_strengths(value) -> list[float]:
    """``"0,0.5,1"`` (or a list of numbers) → finite floats; at least one.

    Examples
    --------
    >>> parse_strengths("0, 0.5,1")
    [0.0, 0.5, 1.0]
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        try:
            s = float(item)
        except (TypeError, ValueError):
            raise LatentlabError(f"--strengths: expected comma-separated numbers, got {item!r}") from None
        if not np.isfinite(s) or abs(s) > 1e6:
            raise LatentlabError(f"--strengths: {item!r} is not a finite number of moderate size")
        out.append(s)
    if not out:
        raise LatentlabError("--strengths: give at least one strength, e.g. 0,0.5,1")
    if len(out) > 1_000:
        raise LatentlabError(f"--strengths: at most 1,000 strengths, got {len(out)}")
    return out


def edit_images(
    store,
    ids,
    attribute: str,
    strengths=(0.0, 0.5, 1.0, 1.5),
    *,
    method: str = "mean",
    partition: str | None = None,
    probe_rows: int = 20_000,
    seed: int = 0,
    direction=None,
    model_dir=None,
    encoder=None,
    decoder=None,
    autoencoder=None,
) -> GeneratedImages:
    """Decode ``z(id) + s·d(attribute)`` for every id and strength.

    Parameters
    ----------
    store : path-like or ZStore
        A z-store with ``/attributes``.
    ids : list of str
        Stored image ids.
    attribute : str
        Attribute name (``Smiling``, ``Trouser`` …).
    strengths : sequence of float or str
        ``s`` values; ``s = 1`` moves the negatives' mean onto the positives' mean.
    method : {'mean', 'probe'}
        ``mean``: ``d = μ₊ − μ₋``; ``probe``: the unit normal ``n`` of a logistic-regression
        probe scaled to ``n (n·(μ₊ − μ₋))``.
    partition : str, optional
        Rows the direction is estimated from (default all).
    direction : array (z_dim,), optional
        Use this vector instead of estimating one (e.g. from ``directions.npz``).
    model_dir, encoder, decoder, autoencoder
        The model (see :func:`latentlab.generate.load_model`).

    Returns
    -------
    GeneratedImages
        ``len(ids) × len(strengths)`` images, id-major (one strip per id);
        ``info`` holds the attribute, method, strengths, ids and ``‖d‖``.
    """
    from .analysis._directions import attribute_direction
    from .analysis._streaming import as_store

    strengths = parse_strengths(strengths)
    ids = [str(i) for i in (ids or [])]
    if not ids:
        raise LatentlabError("--id: give at least one stored image id")
    if method not in ("mean", "probe"):
        raise LatentlabError(f"--method: expected mean or probe, got {method!r}")
    with as_store(store) as s:
        rows = _rows_for_ids(s, ids)
        unique, back = np.unique(rows, return_inverse=True)  # HDF5 reads increasing rows; an id may repeat
        z0 = np.asarray(s.z[unique], dtype=np.float64)[back]
        if direction is None:
            d = attribute_direction(s, attribute, method=method, partition=partition, probe_rows=probe_rows, seed=seed)
        else:
            d = np.asarray(direction, dtype=np.float64).ravel()
            if d.shape != (s.z_dim,) or not np.isfinite(d).all():
                raise LatentlabError(f"direction: expected {s.z_dim} finite values, got shape {d.shape}")
        z_dim, label = s.z_dim, str(getattr(s, "path", store))
    ae = load_model(model_dir, encoder=encoder, decoder=decoder, autoencoder=autoencoder)  # TensorFlow from here
    _check_dims(ae, z_dim, label)
    s_arr = np.asarray(strengths)
    z = (z0[:, None, :] + s_arr[None, :, None] * d[None, None, :]).reshape(-1, z_dim)
    images = ae.decode(z.astype(np.float32))
    labels = [f"{i} s={x:+g}" for i in ids for x in strengths]
    info = {"attribute": attribute, "method": method, "strengths": strengths, "ids": ids,
            "direction_norm": float(np.linalg.norm(d)), "store": label,
            "note": "s = 1 carries the negatives' mean onto the positives' mean; "
                    "an image that already has the attribute moves further"}
    result = GeneratedImages(z, images, labels, info)
    result.direction = d
    return result


def save_edit_strip(result: GeneratedImages, path, *, overwrite: bool = False) -> Path:
    """One strip per id (rows), one column per strength, titled ``id s=+0.5``; refuses to replace a file
    unless ``overwrite``."""
    import matplotlib.pyplot as plt

    from ._checks import check_output_file
    from ._io import save_figure
    from .plots import image_grid

    path = check_output_file(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = result.info
    title = f"{info['attribute']} ({info['method']} direction): z + s·d, s = 1 moves the mean without it onto the mean with it"
    fig = image_grid(result.images, ncols=len(info["strengths"]), titles=result.labels, title=title)
    try:
        save_figure(fig, path, dpi=120)
    finally:
        plt.close(fig)
    return path


def edit_image_paths(result: GeneratedImages, directory) -> list:
    """``DIR/edit_<id index>_<strength index>.png`` for every image (ids never choose a path)."""
    info = result.info
    wi, ws = len(str(max(len(info["ids"]) - 1, 0))), len(str(max(len(info["strengths"]) - 1, 0)))
    return [Path(directory) / f"edit_{i:0{wi}d}_{j:0{ws}d}.png"
            for i in range(len(info["ids"])) for j in range(len(info["strengths"]))]


def save_edit_images(result: GeneratedImages, directory, *, overwrite: bool = False) -> list:
    """One PNG per (id, strength) as ``edit_<i>_<j>.png`` plus ``edit.json`` naming each file's id and strength."""
    from PIL import Image

    from ._checks import check_output_dir
    from ._io import atomic_path, write_json

    directory = check_output_dir(directory, "--save-images")
    paths = edit_image_paths(result, directory)
    if not overwrite:
        taken = [p for p in [*paths, directory / "edit.json"] if p.exists()]
        if taken:
            raise LatentlabError(f"--save-images {taken[0]}: already exists (use --overwrite to replace it)")
    directory.mkdir(parents=True, exist_ok=True)
    info = result.info
    for p, img in zip(paths, result.images):
        arr = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
        with atomic_path(p) as tmp:
            Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(tmp, format="PNG")
    files = [{"file": p.name, "id": i, "strength": s}
             for p, (i, s) in zip(paths, [(i, s) for i in info["ids"] for s in info["strengths"]])]
    write_json(directory / "edit.json", {**info, "files": files})
    return paths
