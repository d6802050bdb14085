"""``compare_samplers``: every region, the same held-out real points, the same n.

For each sampler: held-out log-likelihood (where defined), the "on the data"
fraction and relative k-NN distance, PRDC in latent space; with a model also
PRDC in a pixel feature space of decoded images (downscaled pixels),
re-encoding consistency ‖E(D(z)) − z‖ / ‖z‖ and, when the user passes a
local InceptionV3 weights file, FID.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from .._io import write_json, write_text
from ._memorisation import MEMORISATION_COLUMNS, prepare_memorisation
from ._model import fid_from_features, inception_features, pixel_features, reencoding_consistency
from ._prdc import bootstrap_interval, knn_radii, nearest_distance, novelty, on_data_fraction, prdc

__all__ = ["CSV_COLUMNS", "HELDOUT_ROW", "CompareResult", "compare_samplers", "find_fragments"]

#: Columns of ``compare.csv`` (one row per sampler; empty where not measured).
CSV_COLUMNS = [
    "sampler",
    "heldout_loglik",
    "heldout_loglik_inside",
    "heldout_inside",
    "on_data_fraction",
    "too_close_fraction",
    "knn_distance_ratio",
    "precision",
    "recall",
    "density",
    "coverage",
    "pixel_precision",
    "pixel_recall",
    "pixel_density",
    "pixel_coverage",
    "reencoding_error",
    "reencoding_error_median",
    "fid",
    "novelty_ratio",
    "near_copies",
    "pixel_novelty_ratio",
    "pixel_near_copies",
    "precision_lo",
    "precision_hi",
    "recall_lo",
    "recall_hi",
    "density_lo",
    "density_hi",
    "coverage_lo",
    "coverage_hi",
    "on_data_lo",
    "on_data_hi",
    "acceptance",
    "fit_seconds",
    "seconds",
    "label_tv",
]
CSV_COLUMNS += MEMORISATION_COLUMNS  # C_T, AuthPct, train log-likelihood and its gap (latentlab.metrics._memorisation)

#: The name of the row of real held-out points (the ceiling of every metric).
HELDOUT_ROW = "held-out real"


@dataclass
class CompareResult:
    """Sample-quality metrics per sampler.

    Attributes
    ----------
    rows : list of dict
        One flat dict per sampler with the keys of :data:`CSV_COLUMNS`.
    regions : dict
        sampler → fitted region description.
    settings : dict
        n, seed, k, quantile, the reference set used and how it was chosen.
    files : dict
        name → path of every file written.
    grids : dict
        sampler → decoded images of the first samples (not serialised).
    skipped : dict
        sampler → reason it could not be evaluated.
    """

    rows: list
    regions: dict
    settings: dict
    files: dict = field(default_factory=dict)
    grids: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    labels: dict | None = None  # label coverage (metrics/_labels.py): None when the store has no attributes

    def to_dict(self) -> dict:
        return {
            "settings": self.settings,
            "samplers": [{**r, "region": self.regions.get(r["sampler"], {})} for r in self.rows],
            "skipped": self.skipped,
            "files": {k: str(v) for k, v in self.files.items()},
            "labels": self.labels,
        }

    def row(self, sampler: str) -> dict:
        for r in self.rows:
            if r["sampler"] == sampler:
                return r
        raise KeyError(sampler)


def find_fragments(store, out_dir=None) -> Path | None:
    """A ``fragments.h5`` next to the output folder, in it, or next to the store, computed from this store.

    Only a file that records this store's fingerprint counts: a ``fragments.h5``
    of another store (or of an older version of this one) is ignored.
    """
    from ..analysis._fragments import fragments_match

    cands = []
    if out_dir is not None:
        cands += [Path(out_dir).parent / "fragments.h5", Path(out_dir) / "fragments.h5"]
    cands += [Path(store).parent / "fragments.h5", Path(store).with_name(f"{Path(store).stem}_fragments") / "fragments.h5"]
    for c in cands:
        if c.is_file() and _fragments_of_store(c, store, fragments_match):
            return c
    return None


def _fragments_of_store(path, store, fragments_match) -> bool:
    import h5py

    try:  # any partition counts here: the labels are spread onto the store rows by /index
        with h5py.File(path, "r") as f:
            partition = json.loads(f.attrs["summary_json"])["parameters"].get("partition")
    except (OSError, KeyError, ValueError, TypeError):
        return False
    return fragments_match(path, store, partition=partition)


def _finite(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass
class _Data:
    """The fixed sets every sampler is measured against."""

    Z: np.ndarray
    fit_rows: np.ndarray
    held_rows: np.ndarray
    real_rows: np.ndarray | None
    how: str
    reference: str
    Zfit: np.ndarray
    R: np.ndarray
    Zheld: np.ndarray
    Zscore: np.ndarray  # the held-out rows the log-likelihood is averaged over (a seeded subset)
    real_radii: np.ndarray
    held_nearest_fit: np.ndarray
    store_path: Path
    n_rows: int


@dataclass
class _Model:
    ae: object
    real_pix: np.ndarray
    real_inc: np.ndarray | None
    fit_pix: np.ndarray
    held_pix_nearest: np.ndarray


def _plan(store, out_dir, regions, params, region_files, fragments, n, k):
    """Validate every option and resolve the sampler list before anything is computed or written."""
    from ..regions import DEFAULT_REGIONS, load_region, make_region

    if n < max(2, k + 1):
        raise LatentlabError(f"--n must be at least {max(2, k + 1)} for k={k} nearest neighbours, got {n}")
    frag_path = Path(fragments) if fragments else None
    if frag_path is not None and not frag_path.is_file():
        raise LatentlabError(f"{frag_path}: no such fragments file")
    files = {}
    for path in region_files or []:
        # loaded (and so validated) whole before anything is fitted or written: a bad file is one line and exit 2,
        # not a skipped row
        region = load_region(path, store=store)
        files[_unique_name(region.name or Path(path).stem, files, Path(path).stem)] = Path(path)
    if regions is None:
        regions = [] if files else list(DEFAULT_REGIONS)
        frag_path = frag_path or find_fragments(store, out_dir)
        if frag_path is not None and not files:
            regions.append("fragment")
    regions = [r for r in dict.fromkeys(regions) if r not in files]
    made = [make_region(name, **params.get(name, {})) for name in regions]  # fail early on a bad name or parameter
    if frag_path is not None and any(region.fit_inputs for region in made):
        # a fragments file may come from someone else: a bad one is one line and exit 2 here, not a skipped row
        from ..regions._fragment import read_fragment_labels
        from ..store import open_store

        with open_store(store) as s:
            read_fragment_labels(frag_path, n_rows=s.n)
    return regions, files, frag_path


def _unique_name(name, taken, stem):
    return name if name not in taken else f"{name}@{stem}"


def _load_data(store, *, partition, seed, n, k, min_reference, max_reference, max_novelty_baseline,
               max_loglik_rows=2000, where=None) -> _Data:
    """Fit rows, the reference set, the held-out real row's points, and the distances every sampler reuses."""
    from ..regions import split_rows
    from ..store import open_store

    selected = None  # the --where rows: also the fallback reference on small stores
    with open_store(store) as s:
        fit_rows, held_rows, how = split_rows(s, partition=partition, seed=seed)
        if where:  # fit and held-out rows alike: samplers of "bags only" are measured against real bags
            from ..regions._where import where_mask

            mask = where_mask(s, where)
            fit_rows, held_rows, selected = fit_rows[mask[fit_rows]], held_rows[mask[held_rows]], np.flatnonzero(mask)
        Z = s.read_z(dtype=np.float32)
        n_rows = s.n
    if len(fit_rows) < 2:
        raise LatentlabError(f"{store}: too few rows to fit samplers ({len(fit_rows)})")
    rng = np.random.default_rng(seed)
    real_rows = None
    if len(held_rows) >= min_reference + n:
        # the held-out real row: n held-out points that are not in the reference
        perm = rng.permutation(held_rows)
        real_rows, ref_rows = np.sort(perm[:n]), np.sort(perm[n:])
        reference = f"held-out rows ({how}; {n} others form the held-out real row)"
    elif len(held_rows) >= min_reference:
        ref_rows, reference = held_rows, f"held-out rows ({how})"
    else:
        ref_rows = np.arange(n_rows) if selected is None else selected
        reference = f"all {'selected ' if selected is not None else ''}rows (only {len(held_rows)} held-out rows < {min_reference})"
    if len(ref_rows) > max_reference:
        ref_rows = np.sort(rng.choice(ref_rows, max_reference, replace=False))
    R = Z[ref_rows].astype(np.float64)
    if len(R) <= k:
        raise LatentlabError(f"{store}: need more than k={k} real points to compare samplers, found {len(R)}")
    Zfit = Z[fit_rows].astype(np.float64)
    Zheld = Z[held_rows].astype(np.float64)
    base = Zheld if len(Zheld) else Zfit[:0]
    if len(base) > max_novelty_baseline:
        base = base[np.sort(rng.choice(len(base), max_novelty_baseline, replace=False))]
    held_nearest = nearest_distance(base, Zfit) if len(base) else np.empty(0)
    # a mean log-likelihood over 2,000 rows has a standard error far below the gaps between samplers, and a KDE
    # or a mixture of 1,500 ellipsoids scores 10,000 rows in tens of seconds
    Zscore = Zheld if len(Zheld) <= max_loglik_rows else Zheld[np.sort(rng.choice(len(Zheld), max_loglik_rows, replace=False))]
    return _Data(Z, fit_rows, held_rows, real_rows, how, reference, Zfit, R, Zheld, Zscore, knn_radii(R, k), held_nearest,
                 Path(store), n_rows)


def _load_model(data: _Data, *, model_dir, encoder, decoder, autoencoder, use_model, inception_weights, pixel_size,
                max_pixel_fit, seed):
    """The model, the decoded reference points and the decoded fit points for pixel-space novelty."""
    if not (use_model and (model_dir is not None or autoencoder is not None or (encoder is not None and decoder is not None))):
        return None
    from ..generate import load_model

    ae = load_model(model_dir, encoder=encoder, decoder=decoder, autoencoder=autoencoder)
    if ae.z_dim != data.Z.shape[1]:
        raise LatentlabError(f"{data.store_path}: z_dim {data.Z.shape[1]} does not match the model's z_dim {ae.z_dim}")
    real_imgs = ae.decode(data.R.astype(np.float32))
    real_inc = inception_features(real_imgs, inception_weights) if inception_weights is not None else None
    rng = np.random.default_rng(seed + 1)
    sub = data.Zfit if len(data.Zfit) <= max_pixel_fit else data.Zfit[np.sort(rng.choice(len(data.Zfit), max_pixel_fit, replace=False))]
    fit_pix = pixel_features(ae.decode(sub.astype(np.float32)), pixel_size)
    held = data.Zheld[: min(len(data.Zheld), 2000)]
    held_pix_nearest = nearest_distance(pixel_features(ae.decode(held.astype(np.float32)), pixel_size), fit_pix) if len(held) else np.empty(0)
    return _Model(ae, pixel_features(real_imgs, pixel_size), real_inc, fit_pix, held_pix_nearest)


def _fit_sampler(name, data: _Data, *, params, region_file, frag_path, n, seed):
    """Fit (or load) one sampler and draw its samples: ``(region, samples, fit_seconds)``."""
    from ..regions import load_fit_inputs, load_region, make_region
    from ..store import open_store

    t0 = time.perf_counter()
    if region_file is not None:
        region = load_region(region_file, store=data.store_path)
    else:
        region = make_region(name, **params.get(name, {}))
        with open_store(data.store_path) as s:
            inputs = load_fit_inputs(region, s, data.fit_rows, fragments=frag_path)
        region.fit(data.Zfit, **inputs)
    t_fit = time.perf_counter() - t0
    return region, region.sample(n, random_state=seed), t_fit


def _latent_metrics(S, data: _Data, *, k, quantile, n_boot, seed, region=None) -> dict:
    """Held-out log-likelihood, on-data fraction, PRDC, novelty and bootstrap intervals of samples ``S``."""
    from ..regions import heldout_loglik

    row = {c: None for c in CSV_COLUMNS}
    if region is not None and len(data.Zscore):
        held = heldout_loglik(region, data.Zscore)
        row.update(heldout_loglik=_finite(held.mean_loglik), heldout_loglik_inside=_finite(held.mean_loglik_inside),
                   heldout_inside=held.inside)
    od = on_data_fraction(S, data.R, k=k, quantile=quantile, real_radii=data.real_radii)
    pr = prdc(data.R, S, k=k, real_radii=data.real_radii)
    row.update(on_data_fraction=od.fraction, too_close_fraction=od.too_close, knn_distance_ratio=od.median_ratio,
               precision=pr.precision, recall=pr.recall, density=pr.density, coverage=pr.coverage)
    if n_boot:
        for key, (lo, hi) in pr.intervals(n_boot=n_boot, seed=seed).items():
            row[f"{key}_lo"], row[f"{key}_hi"] = lo, hi
        row["on_data_lo"], row["on_data_hi"] = bootstrap_interval(od.on, n_boot=n_boot, seed=seed)
    if len(data.held_nearest_fit):
        nov = novelty(S, data.Zfit, data.held_nearest_fit)
        row.update(novelty_ratio=nov.median_ratio, near_copies=nov.copies)
    return row


def _model_metrics(S, model: _Model, *, k, pixel_size, inception_weights) -> tuple[dict, np.ndarray]:
    """Pixel-space PRDC and novelty, re-encoding error and FID of the decoded samples."""
    imgs = model.ae.decode(S.astype(np.float32))
    re = reencoding_consistency(S, model.ae.encode(imgs))
    feats = pixel_features(imgs, pixel_size)
    pp = prdc(model.real_pix, feats, k=k)
    row = dict(pixel_precision=pp.precision, pixel_recall=pp.recall, pixel_density=pp.density,
               pixel_coverage=pp.coverage, reencoding_error=re.mean, reencoding_error_median=re.median)
    if len(model.held_pix_nearest):
        nov = novelty(feats, model.fit_pix, model.held_pix_nearest)
        row.update(pixel_novelty_ratio=nov.median_ratio, pixel_near_copies=nov.copies)
    if model.real_inc is not None:
        row["fid"] = fid_from_features(model.real_inc, inception_features(imgs, inception_weights))
    return row, imgs


def compare_samplers(
    store,
    out_dir=None,
    *,
    regions=None,
    n: int = 1000,
    seed: int = 0,
    k: int = 5,
    quantile: float = 0.95,
    partition: str = "train",
    params: dict | None = None,
    region_files=None,
    fragments=None,
    model_dir=None,
    encoder=None,
    decoder=None,
    autoencoder=None,
    use_model: bool = True,
    inception_weights=None,
    grid_n: int = 16,
    pixel_size: int = 16,
    min_reference: int = 200,
    max_reference: int = 10_000,
    n_boot: int = 200,
    save_images=None,
    progress=None,
    where=None,
) -> CompareResult:
    """Fit every sampler on the fit rows and measure its samples against the same real points.

    Parameters
    ----------
    store : path-like
        The z-store.
    out_dir : path-like, optional
        Writes ``compare.json``, ``compare.csv``, ``samplers.png`` (one image
        grid per sampler, with a model) and ``metrics.png`` (bar chart).
    regions : list of str, optional
        Registry names (default :data:`~latentlab.regions.DEFAULT_REGIONS`,
        plus ``fragment`` when a fragments result is found; none by default
        when ``region_files`` are given).
    n : int, default 1000
        Samples per sampler.
    k, quantile
        k-NN size for PRDC and the on-data fraction, and the central share of the
        real points' k-NN distances that counts as on the data.
    partition : str, default 'train'
        Fit partition; val + test are held out (a seeded random 20 % when the
        store has no partition).
    params : dict, optional
        sampler name → region parameters, e.g. ``{"ellipsoid": {"sigma": 3}}``.
    region_files : list of path-like, optional
        Fitted regions (``latentlab fit-region``) to load instead of fitting;
        refused when fitted on another store.
    fragments : path-like, optional
        ``fragments.h5`` for regions that declare fragment labels as a fit input.
    model_dir, encoder, decoder, autoencoder
        The model; without one (or with ``use_model=False``) only latent
        metrics are computed.
    inception_weights : path-like, optional
        Local Keras InceptionV3 (``include_top=False``) weights: adds FID of
        decoded samples vs decoded real points. Never downloaded.
    min_reference : int, default 200
        The held-out points are the reference set when there are at least
        this many; otherwise all rows are (small stores such as the demo),
        and ``settings["reference"]`` says so. With at least ``min_reference + n``
        held-out points, ``n`` of them are kept out of the reference and form the
        "held-out real" row: real unseen points measured like a sampler, the
        ceiling of every metric.
    max_reference : int, default 10000
        A seeded subset of the reference keeps PRDC fast on large stores.
    n_boot : int, default 200
        Bootstrap resamples of the per-point indicators for the 95 % intervals
        (``precision_lo`` … ``on_data_hi``); 0 skips them.
    save_images : path-like, optional
        Write each sampler's decoded samples as ``DIR/<sampler>/*.png``.
    progress : callable, optional
        Called with each sampler name.
    where : dict or list of str, optional
        Attribute conditions (``{"label": "Bag"}``, ``["Smiling=1"]``): fit and held-out rows
        are only the rows where all hold (see :mod:`latentlab.regions._where`).

    Where the store has ``/attributes``, each row also gets ``label_tv`` (label coverage of
    its samples, :mod:`latentlab.metrics._labels`) and ``labels`` holds the shares.

    Returns
    -------
    CompareResult
    """
    from .._checks import check_int

    t_all = time.perf_counter()
    seed = check_int(seed, "--seed", minimum=0)
    params = dict(params or {})
    store = Path(store)
    regions, files, frag_path = _plan(store, out_dir, regions, params, region_files, fragments, n, k)
    data = _load_data(store, partition=partition, seed=seed, n=n, k=k, min_reference=min_reference,
                      max_reference=max_reference, max_novelty_baseline=2000, where=where)
    model = _load_model(data, model_dir=model_dir, encoder=encoder, decoder=decoder, autoencoder=autoencoder,
                        use_model=use_model, inception_weights=inception_weights, pixel_size=pixel_size,
                        max_pixel_fit=10_000, seed=seed)
    memorisation = prepare_memorisation(data, model, seed=seed, pixel_size=pixel_size)
    rows, descs, grids, skipped = [], {}, {}, {}
    label_ctx, label_rows = _label_context(store, data, k=k, seed=seed), {}
    jobs = ([HELDOUT_ROW] if data.real_rows is not None else []) + regions + list(files)
    if data.real_rows is None:
        skipped[HELDOUT_ROW] = f"fewer than {min_reference} + n held-out rows: no real points outside the reference"
    for name in jobs:
        if progress:
            progress(name)
        t0 = time.perf_counter()
        if name == HELDOUT_ROW:
            region, S, t_fit = None, data.Z[data.real_rows].astype(np.float64), 0.0
        else:
            try:
                region, S, t_fit = _fit_sampler(name, data, params=params, region_file=files.get(name),
                                                frag_path=frag_path, n=n, seed=seed)
            except LatentlabError as exc:
                skipped[name] = str(exc)
                continue
        row = _latent_metrics(S, data, k=k, quantile=quantile, n_boot=n_boot, seed=seed, region=region)
        label_rows[name] = _label_hook(S, label_ctx, row)
        row.update(sampler=name, fit_seconds=t_fit,
                   acceptance=float(getattr(region, "acceptance_", 1.0)) if region is not None else None)
        if model is not None:
            extra, imgs = _model_metrics(S, model, k=k, pixel_size=pixel_size, inception_weights=inception_weights)
            row.update(extra)
            grids[name] = imgs[:grid_n]
            if save_images is not None:
                _save_sample_images(imgs, Path(save_images) / _folder_name(name))
        row.update(memorisation.row(S, region, row["heldout_loglik"], imgs if model is not None else None))
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        descs[name] = region.describe() if region is not None else {"region": HELDOUT_ROW, "rows": "held-out, not in the reference"}
    settings = _settings(data, store, model, n=n, seed=seed, k=k, quantile=quantile, partition=partition,
                         pixel_size=pixel_size, frag_path=frag_path, n_boot=n_boot, files=files)
    settings["memorisation"] = memorisation.describe()
    result = CompareResult(rows, descs, settings, grids=grids, skipped=skipped,
                           labels=_label_summary(label_ctx, label_rows))
    if where:
        from ..regions._where import parse_where

        result.settings["where"] = parse_where(where)
    result.settings["seconds"] = time.perf_counter() - t_all
    if out_dir is not None:
        _write_outputs(result, Path(out_dir))
    return result


def _label_context(store, data: _Data, *, k, seed):
    from ._labels import store_label_context

    return store_label_context(store, data.fit_rows, data.Zfit, k, seed=seed)


def _label_hook(S, ctx, row: dict) -> dict:
    """Label coverage of samples ``S`` into ``row["label_tv"]``; the shares for ``labels``."""
    from ._labels import label_coverage

    cov = label_coverage(S, ctx)
    row["label_tv"] = cov.get("label_tv")
    return cov


def _label_summary(ctx, per_sampler):
    from ._labels import label_summary

    return label_summary(ctx, per_sampler)


def _folder_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _save_sample_images(imgs, directory: Path) -> None:
    from PIL import Image

    from .._io import write_bytes

    directory.mkdir(parents=True, exist_ok=True)
    width = len(str(max(len(imgs) - 1, 0)))
    for i, img in enumerate(imgs):
        arr = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(buf, format="PNG")
        write_bytes(directory / f"sample_{i:0{width}d}.png", buf.getvalue())


def _settings(data: _Data, store, model, *, n, seed, k, quantile, partition, pixel_size, frag_path, n_boot, files):
    return {
        "store": str(store),
        "n": int(n),
        "seed": int(seed),
        "k": int(k),
        "quantile": float(quantile),
        "fit_partition": partition if data.how == "partition" else "random 80 % of rows",
        "n_fit": int(len(data.fit_rows)),
        "n_heldout": int(len(data.held_rows)),
        "heldout_loglik_rows": int(len(data.Zscore)),
        "split": data.how,
        "reference": data.reference,
        "n_reference": int(len(data.R)),
        "heldout_row": HELDOUT_ROW if data.real_rows is not None else None,
        "novelty": (f"nearest-fit distance / median nearest-fit distance of {len(data.held_nearest_fit)} held-out real"
                    " points; near copies: closer than their 5th percentile"),
        "bootstrap": f"{n_boot} resamples of the per-point indicators, 95 % percentile intervals" if n_boot else None,
        "pixel_features": f"decoded images area-averaged to {pixel_size}x{pixel_size}, vs decoded reference points" if model is not None else None,
        "model": getattr(model.ae, "source", None) if model is not None else None,
        "fid": bool(model is not None and model.real_inc is not None),
        "fragments": str(frag_path) if frag_path else None,
        "region_files": {k: str(v) for k, v in files.items()},
        "seconds": None,
    }


def _write_outputs(result: CompareResult, out: Path) -> None:
    import matplotlib.pyplot as plt

    from .._io import save_figure
    from ..plots import metric_bars, sampler_grids

    out.mkdir(parents=True, exist_ok=True)
    result.files["json"] = out / "compare.json"
    result.files["csv"] = out / "compare.csv"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in result.rows:
        w.writerow({c: ("" if r.get(c) is None else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c])) for c in CSV_COLUMNS})
    write_text(out / "compare.csv", buf.getvalue())
    if result.rows:
        fig = metric_bars(result.rows)
        save_figure(fig, out / "metrics.png", dpi=110)
        plt.close(fig)
        result.files["metrics_png"] = out / "metrics.png"
    if result.grids:
        fig = sampler_grids(result.grids, ncols=4)
        save_figure(fig, out / "samplers.png", dpi=110)
        plt.close(fig)
        result.files["samplers_png"] = out / "samplers.png"
    write_json(out / "compare.json", result.to_dict())
