"""Size of a saved ``cluster-ellipsoid`` region file, and what storing its axes in float32 costs.

Fits ``cluster-ellipsoid`` with its defaults (one cluster per 40 fit points)
on a store (``--store``, e.g. the Fashion-MNIST z-256 store's 60,000 train rows),
or on a synthetic mixture of ``--n`` × ``--d`` points (``--clusters`` Gaussian
blobs with random covariances), saves it with ``save_region``, and reports:

* the file size in MB;
* the held-out mean log-likelihood (``score_samples`` on rows not fitted on) and
  the largest per-point difference between the fitted region and the region loaded
  back from the file (0 when the file holds exactly what was fitted);
* the same held-out mean log-likelihood of a float64 fit (``--float64`` runs the
  ellipsoid axes unrounded: the region files of latentlab < 2026-12-03).

No model is needed. The last line is ``size_mb=S loglik=L loglik_reload_max_diff=D``.

Usage::

    python benchmarks/bench_region_size.py [--store Z.h5 --partition train] [--n 60000] [--d 256] [--float64]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic(n: int, d: int, clusters: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(clusters, d))
    scales = rng.uniform(0.3, 1.5, size=(clusters, d))
    labels = rng.integers(0, clusters, size=n)
    return (centres[labels] + rng.normal(size=(n, d)) * scales[labels]).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, help="a z-store to fit on (default: a synthetic mixture)")
    ap.add_argument("--partition", default="train", help="rows of --store to fit on (held out: the others)")
    ap.add_argument("--n", type=int, default=60_000, help="synthetic points to fit on")
    ap.add_argument("--d", type=int, default=256, help="synthetic z_dim")
    ap.add_argument("--clusters", type=int, default=10, help="synthetic blobs")
    ap.add_argument("--float64", action="store_true", help="keep the ellipsoid axes in float64 (the old files)")
    args = ap.parse_args()

    from latentlab.regions import load_region, make_region, save_region

    if args.store is not None:
        from latentlab import open_store

        with open_store(args.store) as s:
            fit = s.read_z(args.partition, dtype=np.float64)
            others = [p for p in ("val", "test") if p != args.partition]
            held = np.concatenate([s.read_z(p, dtype=np.float64) for p in others]) if s.partition is not None else fit[:0]
        where = f"{args.store} ({args.partition}: {len(fit):,} rows, held out {len(held):,})"
    else:
        data = synthetic(args.n + 5_000, args.d, args.clusters).astype(np.float64)
        fit, held = data[: args.n], data[args.n:]
        where = f"synthetic {args.n:,} x {args.d} ({args.clusters} blobs), held out {len(held):,}"
    if not len(held):
        held = fit[-5_000:]
    region = make_region("cluster-ellipsoid")
    if args.float64:
        import latentlab.regions._clusters as clusters

        clusters._store_axes_as_float32 = lambda ellipsoid: None
    t0 = time.perf_counter()
    region.fit(fit)
    seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = save_region(region, Path(tmp) / "cluster.region")
        size_mb = os.path.getsize(path) / 1e6
        loaded = load_region(path)
    ll = region.score_samples(held)
    ll_loaded = loaded.score_samples(held)
    finite = np.isfinite(ll)
    diff = float(np.max(np.abs(ll[finite] - ll_loaded[finite]))) if finite.any() else 0.0
    assert np.array_equal(np.isfinite(ll_loaded), finite)
    loglik = float(np.mean(region._selection_score(held)))
    print(f"{where}: {region.n_clusters_} ellipsoids fitted in {seconds:.1f} s; "
          f"{'float64' if args.float64 else 'float32'} axes")
    print(f"region file {size_mb:.1f} MB; held-out mean log-likelihood (untruncated mixture) {loglik:.6f}; "
          f"held-out inside the region {finite.mean():.3f}; reload max |diff| {diff:.3g}")
    print(f"size_mb={size_mb:.1f} loglik={loglik:.6f} loglik_reload_max_diff={diff:.3g}")


if __name__ == "__main__":
    main()
