"""Samplers on the Fashion-MNIST store: every region's fit time and sample quality, and compare-samplers' time.

Steps (all on this machine's cores, nothing cached between runs):

1. every region is fitted on the store's train rows (``fit_region``), timed together
   with drawing 1,000 samples, and saved as a ``.region`` file;
2. ``compare_samplers`` runs once with the model, on those region files (no refit),
   n = 1,000, k = 5, against the same held-out reference, with the "held-out real" row;
3. a picture of each region's decoded samples is written with the library's
   ``image_grid`` (``--pictures DIR``, small PNGs for docs/sampling.md).

Usage (the model and store are made once, ~30 min on 2 cores; nothing here has a default path)::

    latentlab train --dataset fashion-mnist --image-size 32 --channels 1 --z-dim 256 --epochs 6 --out M
    latentlab encode --model M --dataset fashion-mnist --partition all --out Z.h5   # 60,000 train + 10,000 test rows
    python benchmarks/bench_samplers.py --store Z.h5 --model M --out OUT [--prior-params '{"temperature": 0.8}']

The last line is ``best_region=NAME precision=P density=D coverage_vs_real=C novelty=N copies=X
cluster_ellipsoid_precision=Q compare_seconds=S prior_precision=P prior_density=D prior_heldout_loglik=L
best_density_heldout_loglik=B prior_fit_seconds=F``: the best region is the one with the highest
precision among those with median novelty ratio ≥ 0.9 and near copies ≤ 5 % (the highest precision
overall when none qualifies); coverage is relative to the held-out real row's. The ``prior_*`` keys are
the flow-matching prior's (fit time without drawing samples); ``best_density_heldout_loglik`` is the
best held-out log-likelihood of the other density regions (mnd, gmm, gmm-auto, kde, flow).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

#: label → (registry name, parameters); every region with its defaults, plus the model-selection forms and
#: the 10-cluster ellipsoid mixture (one ellipsoid per garment class's worth of points) for contrast
REGIONS = [
    ("cube", "cube", {}), ("ball", "ball", {}), ("normal", "normal", {}), ("normal-fitted", "normal-fitted", {}),
    ("mnd", "mnd", {}), ("ellipsoid", "ellipsoid", {}), ("planes", "planes", {}), ("gmm", "gmm", {}),
    ("gmm-auto", "gmm", {"n_components": "auto"}), ("kde", "kde", {}),
    ("cluster-ellipsoid", "cluster-ellipsoid", {}), ("cluster-ellipsoid-10", "cluster-ellipsoid", {"n_clusters": 10}),
    ("cluster-ellipsoid-auto", "cluster-ellipsoid", {"n_clusters": "auto"}), ("flow", "flow", {}),
    ("flow-matching", "flow-matching", {}),
]
#: the density regions whose held-out log-likelihood the prior is compared with
DENSITY_LABELS = ("mnd", "gmm", "gmm-auto", "kde", "flow")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__[__doc__.index("Usage"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="The Fashion-MNIST z-store (latentlab encode; see below).")
    ap.add_argument("--model", required=True, help="Its model directory (latentlab train; see below).")
    ap.add_argument("--out", required=True, help="Folder for the region files, compare/ and bench.json.")
    ap.add_argument("--prior-params", default='{"width": 256, "batch_size": 512, "patience": 6, "max_seconds": 780, '
                    '"temperature": 0.8}',
                    help="JSON parameters of the flow-matching prior (default: the configuration measured in "
                         "docs/sampling.md — width 256, training capped at 13 minutes, sampled at temperature 0.8).")
    ap.add_argument("--pictures", default=None, help="Write <region>.png sample grids here (e.g. docs/images/fm).")
    ap.add_argument("--regions", default=None, help="Comma-separated subset of the benchmark's region labels.")
    args = ap.parse_args()

    import numpy as np

    from latentlab.metrics import HELDOUT_ROW, compare_samplers
    from latentlab.regions import fit_region, save_region

    out = Path(args.out)
    (out / "regions").mkdir(parents=True, exist_ok=True)
    wanted = set(args.regions.split(",")) if args.regions else None
    files, fit_times, only_fit = [], {}, {}
    for label, name, params in REGIONS:
        if wanted and label not in wanted:
            continue
        if name == "flow-matching":
            params = {**params, **json.loads(args.prior_params)}
        t0 = time.perf_counter()
        region = fit_region(name, args.store, **params)
        only_fit[label] = time.perf_counter() - t0
        region.sample(1000, random_state=0)
        fit_times[label] = time.perf_counter() - t0
        path = save_region(region, out / "regions" / f"{label}.region", overwrite=True)
        files.append(path)
        chosen = f" chosen {region.n_components_ if name == 'gmm' else region.n_clusters_} from {region.selection_}" if "auto" in label else ""
        print(f"fit+sample {label:<24} {fit_times[label]:7.1f} s{chosen}", flush=True)

    t0 = time.perf_counter()
    result = compare_samplers(args.store, out / "compare", region_files=files, model_dir=args.model, n=1000, k=5, seed=0)
    compare_seconds = time.perf_counter() - t0
    label_of = {str(p): p.stem for p in files}
    rows = {}
    for r in result.rows:
        file = result.settings["region_files"].get(r["sampler"])
        rows[label_of.get(file, r["sampler"])] = r
    real = rows.get(HELDOUT_ROW)
    cols = ["precision", "recall", "density", "coverage", "on_data_fraction", "novelty_ratio", "near_copies",
            "pixel_precision", "pixel_novelty_ratio", "pixel_near_copies", "reencoding_error", "ct", "authpct",
            "pixel_ct", "heldout_loglik", "loglik_gap"]
    print(f"{'sampler':<24}{'fit s':>7}" + "".join(f"{c[:10]:>11}" for c in cols))
    for label, r in rows.items():
        vals = "".join(f"{r[c]:>11.3f}" if r.get(c) is not None else f"{'-':>11}" for c in cols)
        print(f"{label:<24}{fit_times.get(label, 0.0):>7.1f}{vals}")
    (out / "bench.json").write_text(json.dumps({"fit_seconds": fit_times, "fit_only_seconds": only_fit,
                                                "compare_seconds": compare_seconds,
                                                "rows": rows}, indent=1, default=str))

    if args.pictures:
        import matplotlib.pyplot as plt

        from latentlab._io import save_figure
        from latentlab.plots import image_grid

        pics = Path(args.pictures)
        pics.mkdir(parents=True, exist_ok=True)
        for sampler, images in result.grids.items():
            label = label_of.get(result.settings["region_files"].get(sampler), sampler).replace(" ", "-")
            fig = image_grid(images[:16], ncols=8, title=label)
            save_figure(fig, pics / f"{label}.png", dpi=60)
            plt.close(fig)

    candidates = {k: r for k, r in rows.items() if k != HELDOUT_ROW}
    ok = {k: r for k, r in candidates.items() if (r.get("novelty_ratio") or 0) >= 0.9 and (r.get("near_copies") or 1) <= 0.05}
    pool = ok or candidates
    best = max(pool, key=lambda k: pool[k]["precision"])
    b = pool[best]
    cov_real = real["coverage"] if real else float("nan")
    ce = rows.get("cluster-ellipsoid") or {}
    print(f"best_region={best} precision={b['precision']:.3f} density={b['density']:.3f} "
          f"coverage_vs_real={b['coverage'] / cov_real:.3f} novelty={b['novelty_ratio']:.3f} copies={b['near_copies']:.3f} "
          f"cluster_ellipsoid_precision={ce.get('precision', float('nan')):.3f} compare_seconds={compare_seconds:.0f} "
          + _prior_keys(rows, only_fit))


def _prior_keys(rows: dict, only_fit: dict) -> str:
    nan = float("nan")
    prior = rows.get("flow-matching") or {}
    lls = [rows[k]["heldout_loglik"] for k in DENSITY_LABELS if k in rows and rows[k].get("heldout_loglik") is not None]

    def f(v):
        return nan if v is None else float(v)

    return (f"prior_precision={f(prior.get('precision')):.3f} prior_density={f(prior.get('density')):.3f} "
            f"prior_heldout_loglik={f(prior.get('heldout_loglik')):.2f} best_density_heldout_loglik={max(lls, default=nan):.2f} "
            f"prior_fit_seconds={only_fit.get('flow-matching', nan):.0f}")


if __name__ == "__main__":
    main()
