"""``compare_samplers``: every region, the same held-out real points, the same n.

For each sampler: held-out log-likelihood (where defined), the "on the data"
fraction and relative k-NN distance, PRDC in latent space; with a model also
PRDC in a pixel feature space of decoded images (downscaled pixels),
re-encoding consistency ‖E(D(z)) − z‖ / ‖z‖ and, when the user passes a
local InceptionV3 weights file, FID.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from ._model import fid_from_features, inception_features, pixel_features, reencoding_consistency
from ._prdc import on_data_fraction, prdc

__all__ = ["CSV_COLUMNS", "CompareResult", "compare_samplers", "find_fragments"]

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
    "acceptance",
    "fit_seconds",
    "seconds",
]


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

    def to_dict(self) -> dict:
        return {
            "settings": self.settings,
            "samplers": [{**r, "region": self.regions.get(r["sampler"], {})} for r in self.rows],
            "skipped": self.skipped,
            "files": {k: str(v) for k, v in self.files.items()},
        }

    def row(self, sampler: str) -> dict:
        for r in self.rows:
            if r["sampler"] == sampler:
                return r
        raise KeyError(sampler)


def find_fragments(store, out_dir=None) -> Path | None:
    """A ``fragments.h5`` next to the output folder, in it, or next to the store."""
    cands = []
    if out_dir is not None:
        cands += [Path(out_dir).parent / "fragments.h5", Path(out_dir) / "fragments.h5"]
    cands.append(Path(store).parent / "fragments.h5")
    for c in cands:
        if c.is_file():
            return c
    return None


def _finite(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


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
    progress=None,
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
        plus ``fragment`` when a fragments result is found).
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
    fragments : path-like, optional
        ``fragments.h5`` for the ``fragment`` sampler.
    model_dir, encoder, decoder, autoencoder
        The model; without one (or with ``use_model=False``) only latent
        metrics are computed.
    inception_weights : path-like, optional
        Local Keras InceptionV3 (``include_top=False``) weights: adds FID of
        decoded samples vs decoded real points. Never downloaded.
    min_reference : int, default 200
        The held-out points are the reference set when there are at least
        this many; otherwise all rows are (small stores such as the demo),
        and ``settings["reference"]`` says so.
    max_reference : int, default 10000
        A seeded subset of the reference keeps PRDC fast on large stores.
    progress : callable, optional
        Called with each sampler name.

    Returns
    -------
    CompareResult
    """
    from ..regions import DEFAULT_REGIONS, FragmentRegion, heldout_loglik, make_region, read_fragment_labels, split_rows
    from ..store import open_store

    t_all = time.perf_counter()
    params = dict(params or {})
    store = Path(store)
    if n < max(2, k + 1):
        raise LatentlabError(f"--n must be at least {max(2, k + 1)} for k={k} nearest neighbours, got {n}")
    frag_path = Path(fragments) if fragments else None
    if frag_path is not None and not frag_path.is_file():
        raise LatentlabError(f"{frag_path}: no such fragments file")
    if regions is None:
        regions = list(DEFAULT_REGIONS)
        frag_path = frag_path or find_fragments(store, out_dir)
        if frag_path is not None:
            regions.append("fragment")
    regions = list(dict.fromkeys(regions))
    for name in regions:  # fail early on a bad name or parameter
        make_region(name, **params.get(name, {}))

    with open_store(store) as s:
        fit_rows, held_rows, how = split_rows(s, partition=partition, seed=seed)
        Z = s.read_z(dtype=np.float32)
        n_rows = s.n
    if len(fit_rows) < 2:
        raise LatentlabError(f"{store}: too few rows to fit samplers ({len(fit_rows)})")
    Zfit = Z[fit_rows].astype(np.float64)
    if len(held_rows) >= min_reference:
        ref_rows, reference = held_rows, f"held-out rows ({how})"
    else:
        ref_rows = np.arange(n_rows)
        reference = f"all rows (only {len(held_rows)} held-out rows < {min_reference})"
    rng = np.random.default_rng(seed)
    if len(ref_rows) > max_reference:
        ref_rows = np.sort(rng.choice(ref_rows, max_reference, replace=False))
    R = Z[ref_rows].astype(np.float64)
    Zheld = Z[held_rows].astype(np.float64)
    if len(R) <= k:
        raise LatentlabError(f"{store}: need more than k={k} real points to compare samplers, found {len(R)}")

    ae = None
    if use_model and (model_dir is not None or autoencoder is not None or (encoder is not None and decoder is not None)):
        from ..generate import load_model

        ae = load_model(model_dir, encoder=encoder, decoder=decoder, autoencoder=autoencoder)
        if ae.z_dim != Z.shape[1]:
            raise LatentlabError(f"{store}: z_dim {Z.shape[1]} does not match the model's z_dim {ae.z_dim}")
    real_pix = real_inc = None
    if ae is not None:
        real_imgs = ae.decode(R.astype(np.float32))
        real_pix = pixel_features(real_imgs, pixel_size)
        if inception_weights is not None:
            real_inc = inception_features(real_imgs, inception_weights)

    labels = None
    rows, descs, grids, skipped = [], {}, {}, {}
    for name in regions:
        if progress:
            progress(name)
        t0 = time.perf_counter()
        region = make_region(name, **params.get(name, {}))
        try:
            if isinstance(region, FragmentRegion):
                if frag_path is None:
                    raise LatentlabError("no fragments.h5 found (run `latentlab fragments` or pass --fragments)")
                if labels is None:
                    labels = read_fragment_labels(frag_path, n_rows=n_rows)
                    if len(labels) != n_rows:
                        raise LatentlabError(f"{frag_path}: {len(labels)} labels but the store has {n_rows} rows")
                region.fit(Zfit, labels=labels[fit_rows])
            else:
                region.fit(Zfit)
            t_fit = time.perf_counter() - t0
            S = region.sample(n, random_state=seed)
        except LatentlabError as exc:
            skipped[name] = str(exc)
            continue
        held = heldout_loglik(region, Zheld) if len(Zheld) else None
        od = on_data_fraction(S, R, k=k, quantile=quantile)
        pr = prdc(R, S, k=k)
        row = {c: None for c in CSV_COLUMNS}
        row.update(
            sampler=name,
            heldout_loglik=_finite(held.mean_loglik) if held else None,
            heldout_loglik_inside=_finite(held.mean_loglik_inside) if held else None,
            heldout_inside=held.inside if held else None,
            on_data_fraction=od.fraction,
            too_close_fraction=od.too_close,
            knn_distance_ratio=od.median_ratio,
            precision=pr.precision,
            recall=pr.recall,
            density=pr.density,
            coverage=pr.coverage,
            acceptance=float(getattr(region, "acceptance_", 1.0)),
            fit_seconds=t_fit,
        )
        if ae is not None:
            imgs = ae.decode(S.astype(np.float32))
            re = reencoding_consistency(S, ae.encode(imgs))
            pp = prdc(real_pix, pixel_features(imgs, pixel_size), k=k)
            row.update(
                pixel_precision=pp.precision, pixel_recall=pp.recall, pixel_density=pp.density,
                pixel_coverage=pp.coverage, reencoding_error=re.mean, reencoding_error_median=re.median,
            )
            if real_inc is not None:
                row["fid"] = fid_from_features(real_inc, inception_features(imgs, inception_weights))
            grids[name] = imgs[:grid_n]
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        descs[name] = region.describe()

    settings = {
        "store": str(store),
        "n": int(n),
        "seed": int(seed),
        "k": int(k),
        "quantile": float(quantile),
        "fit_partition": partition if how == "partition" else "random 80 % of rows",
        "n_fit": int(len(fit_rows)),
        "n_heldout": int(len(held_rows)),
        "split": how,
        "reference": reference,
        "n_reference": int(len(R)),
        "pixel_features": f"decoded images area-averaged to {pixel_size}x{pixel_size}, vs decoded reference points" if ae is not None else None,
        "model": getattr(ae, "source", None) if ae is not None else None,
        "fid": bool(real_inc is not None),
        "fragments": str(frag_path) if frag_path else None,
        "seconds": None,
    }
    result = CompareResult(rows, descs, settings, grids=grids, skipped=skipped)
    if out_dir is not None:
        _write_outputs(result, Path(out_dir))
    result.settings["seconds"] = time.perf_counter() - t_all
    if out_dir is not None:  # rewrite JSON with the total time
        (Path(out_dir) / "compare.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def _write_outputs(result: CompareResult, out: Path) -> None:
    import matplotlib.pyplot as plt

    from ..plots import metric_bars, sampler_grids

    out.mkdir(parents=True, exist_ok=True)
    result.files["json"] = out / "compare.json"
    result.files["csv"] = out / "compare.csv"
    with open(out / "compare.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in result.rows:
            w.writerow({c: ("" if r.get(c) is None else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c])) for c in CSV_COLUMNS})
    if result.rows:
        fig = metric_bars(result.rows)
        fig.savefig(out / "metrics.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        result.files["metrics_png"] = out / "metrics.png"
    if result.grids:
        fig = sampler_grids(result.grids, ncols=4)
        fig.savefig(out / "samplers.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        result.files["samplers_png"] = out / "samplers.png"
    (out / "compare.json").write_text(json.dumps(result.to_dict(), indent=2))

