"""Benchmark: which filament score finds planted filaments at every tube width?

Three ways to score how one-dimensional a point's neighbourhood is, all
chained the same way (candidates with score >= 0.8 joined along the k = 15
graph, components of at least 15 points), on a family of planted clouds
(tube radius 0.1x-10x the along-curve spacing, straight and curved arcs,
free and attached to the bulk, 32-256 dimensions) and on the null (a pure
anisotropic Gaussian):

* ``single``  - ``1 - λ2/λ1`` of the k = 15 neighbourhood (the old method);
* ``k-ladder`` - the same score on k = 15, 30, 45 neighbours (prefixes of one
  k = 45 graph: NN-descent searches 3k = 45 neighbours for its k = 15 graph
  anyway), the best score per point — what ``find_fragments`` does
  (``filament_scales=3``, larger scales only where the score is already
  >= 0.3);
* ``k-ladder-120`` - the same on k = 15, 30, 60, 120, every point scored at every
  scale (a k = 120 graph is 8x the search at 200,000 points);
* ``smoothed`` - the k = 15 score of the cloud after 0, 1, 2, 3 steps of
  neighbour-mean smoothing (each point replaced by the mean of its k = 15
  neighbours: a flat-kernel mean-shift step that shrinks the tube's noise by
  ~sqrt(k) per step while keeping the curve), the best score per point.

    python benchmarks/bench_filament_methods.py          # full family (~minutes)
    python benchmarks/bench_filament_methods.py --quick  # 32 and 256 dimensions only
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from latentlab.analysis import knn_graph, make_planted_cloud
from latentlab.analysis._fragments import (
    _components,
    _filament_scores,
    _multiscale_line_fit,
    _pca_reduce,
)
from latentlab.analysis._fragments_planted import filament_precision_recall
from latentlab.analysis._neighbours import rank_components as _rank_components

K, THRESHOLD, MIN_SIZE = 15, 0.8, 15
LADDER_K = (15, 30, 60, 120)
GRAPH_K = max(LADDER_K)
SMOOTH_STEPS = 3


def scores_single(y, ind):
    return _filament_scores(y, ind[:, :K])[None]


def scores_kladder(y, ind):
    return _multiscale_line_fit(y, ind, [15, 30, 45])[0][None]


def scores_kladder120(y, ind):
    return np.stack([_filament_scores(y, ind[:, :k]) for k in LADDER_K])


def scores_smoothed(y, ind):
    out, cur = [], y
    for step in range(SMOOTH_STEPS + 1):
        out.append(_filament_scores(cur, ind[:, :K]))
        cur = cur[ind[:, :K]].mean(axis=1)
    return np.stack(out)


METHODS = {"single": scores_single, "k-ladder": scores_kladder, "k-ladder-120": scores_kladder120,
           "smoothed": scores_smoothed}


def chains(score, ind):
    return _rank_components(_components(score >= THRESHOLD, ind[:, :K]), MIN_SIZE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="32 and 256 dimensions, no k-ladder-120")
    args = ap.parse_args()
    dims = (32, 256) if args.quick else (32, 64, 128, 256)
    if args.quick:
        METHODS.pop("k-ladder-120")
        global GRAPH_K
        GRAPH_K = 45
    noises = (0.1, 0.3, 1.0, 3.0, 10.0)
    results = {m: [] for m in METHODS}
    seconds = {m: 0.0 for m in METHODS}
    print("dim noise bend attached | " + " | ".join(f"{m}: P R (min over filaments)" for m in METHODS))
    for dim, noise, bend, attached in itertools.product(dims, noises, (0.0, 2.0), (False, True)):
        cloud = make_planted_cloud(n_bulk=2000, dim=dim, n_fragments=2, n_filaments=3, filament_noise=noise,
                                   filament_bend=bend, filament_attached=attached,
                                   random_state=int(dim + 10 * noise + 100 * bend + attached))
        y = _pca_reduce(cloud.z, 0.99)[0]
        ind, _, _ = knn_graph(y, GRAPH_K, method="exact")
        line = [f"{dim:4d} {noise:5.1f} {bend:3.1f} {attached!s:5}"]
        for m, fn in METHODS.items():
            t = time.perf_counter()
            found = chains(fn(y, ind).max(axis=0), ind)
            seconds[m] += time.perf_counter() - t
            rows = filament_precision_recall(cloud.filament, found)
            results[m].extend(rows)
            line.append(f"{min(p for p, _ in rows):.2f} {min(r for _, r in rows):.2f}")
        print(" | ".join(line), flush=True)
    null = {m: [] for m in METHODS}
    for dim in dims:
        rng = np.random.default_rng(dim)
        z = (rng.standard_normal((3000, dim)) * np.linspace(1.0, 0.25, dim) + 0.3).astype(np.float32)
        y = _pca_reduce(z, 0.99)[0]
        ind, _, _ = knn_graph(y, GRAPH_K, method="exact")
        for m, fn in METHODS.items():
            s = fn(y, ind)
            if m == "k-ladder":
                s = np.vstack([s, [_filament_scores(y, ind[:, :k]) for k in (15, 30, 45)]])
            # the null must hold at every scale, and for the best score over scales
            null[m].append(max(float(np.mean(chains(level, ind) >= 0)) for level in [*s, s.max(axis=0)]))
    summary = []
    for m in METHODS:
        p = np.array(results[m])
        ok = np.mean((p[:, 0] >= 0.8) & (p[:, 1] >= 0.8))
        print(f"{m}: filaments with P and R >= 0.8: {ok:.1%} of {len(p)}; median P {np.median(p[:, 0]):.2f} "
              f"R {np.median(p[:, 1]):.2f}; min P {p[:, 0].min():.2f} R {p[:, 1].min():.2f}; "
              f"null: max filament share over scales and dims {max(null[m]):.3%}; scoring {seconds[m]:.1f} s")
        summary.append(f"{m}_ok={ok:.3f} {m}_null={max(null[m]):.4f}")
    print(" ".join(summary))


if __name__ == "__main__":
    main()
