"""Benchmark: `latentlab fragments` on a planted 200,000 × 256 cloud.

Prints wall and CPU time (whole run: store read, PCA, k-NN, statistics,
segmentation, multi-scale filaments, density hierarchy, tables, outputs), the
load average around the run, peak RSS, the approximate-vs-exact k-NN recall
and how well the planted structure was recovered. Targets: ≤ 120 s on 2 cores,
≤ 4 GB peak memory.

    python benchmarks/bench_fragments.py            # 200,000 x 256
    python benchmarks/bench_fragments.py --n 50000  # quicker
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_store(path: Path, n: int, dim: int) -> None:
    """Write the planted cloud (run in a child process so its memory is not counted)."""
    import numpy as np

    from latentlab import write_store
    from latentlab.analysis import make_planted_cloud

    cloud = make_planted_cloud(
        n_bulk=n, dim=dim, n_fragments=5, fragment_size=400,
        n_filaments=5, filament_size=400, random_state=0,
    )
    write_store(path, cloud.z)
    np.savez(path.with_suffix(".truth.npz"), fragment=cloud.fragment, filament=cloud.filament)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000, help="bulk points")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2, help="BLAS / numba threads")
    ap.add_argument("--recall-queries", type=int, default=1000)
    ap.add_argument("--figures", action="store_true", help="also time the figures")
    ap.add_argument("--filament-scales", type=int, default=3)
    ap.add_argument("--no-hierarchy", action="store_true")
    ap.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        make_store(args.make, args.n, args.dim)
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from latentlab.analysis import find_fragments

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_make = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--make", str(tmp / "z.h5"), "--n", str(args.n),
                        "--dim", str(args.dim)], check=True)
        print(f"generated the planted store in {time.perf_counter() - t_make:.1f} s (not counted)")
        truth = np.load(tmp / "z.truth.npz")
        cloud_fragment, cloud_filament = truth["fragment"], truth["filament"]
        n = len(cloud_fragment)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load_before = os.getloadavg()[0]
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        result = find_fragments(tmp / "z.h5", k=args.k, recall_queries=args.recall_queries,
                                filament_scales=args.filament_scales, hierarchy=not args.no_hierarchy)
        result.save(tmp / "out")
        if args.figures:
            from latentlab.analysis._fragment_section import write_fragment_figures

            write_fragment_figures(result, tmp / "out")
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        load_after = os.getloadavg()[0]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    gaussian = cloud_fragment >= 0
    ari = adjusted_rand_score(cloud_fragment[gaussian], result.fragment[gaussian])
    found, truth = result.filament >= 0, cloud_filament >= 0
    tp = int(np.sum(found & truth))
    print(f"points {n} x {args.dim}, k={args.k}, threads {args.threads}, "
          f"{result.parameters['n_components']} PCs, k-NN {result.parameters['knn_method']}")
    print(f"wall time {wall:.1f} s (target <= 120 s)  ratio {wall / 120:.2f}; CPU time {cpu:.1f} s; "
          f"1-min load average {load_before:.1f} before, {load_after:.1f} after")
    print(f"peak RSS {peak:.0f} MiB (before the run {rss0:.0f} MiB; target <= 4096 MiB)  ratio {peak / 4096:.2f}")
    print("stage timings (s):", result.stats["timings_s"])
    print(f"k-NN recall, approximate vs exact, on {result.stats['knn_recall_queries']} points: "
          f"{result.stats['knn_recall']:.3f}; mean k-th distance found / exact {result.stats['knn_distance_ratio']:.4f}")
    print(f"fragments {result.n_fragments} (sizes {[f['size'] for f in result.fragments][:8]}), "
          f"halo {result.stats['n_halo']}, ARI on the Gaussian points {ari:.3f}")
    print(f"filaments {result.n_filaments}, precision {tp / max(found.sum(), 1):.3f}, recall {tp / truth.sum():.3f}, "
          f"tube radii {[round(f['tube_radius'], 4) for f in result.filaments][:5]}, by k {result.stats['filament_points_by_k']}")
    h = result.hierarchy
    ari_h = None
    if h:
        ari_h = adjusted_rand_score(cloud_fragment[gaussian], result.cluster[gaussian])
        print(f"hierarchy: {h['n_nodes']} components, {h['n_selected']} selected (sizes {h['label_sizes'][:8]}), "
              f"ARI of the selection on the Gaussian points {ari_h:.3f}")
    print(f"wall_s={wall:.1f} cpu_s={cpu:.1f} load={load_before:.1f} peak_mib={peak:.0f} ari={ari:.3f} "
          f"filament_precision={tp / max(found.sum(), 1):.3f} filament_recall={tp / truth.sum():.3f} "
          f"hierarchy_ari={ari_h if ari_h is None else round(ari_h, 3)} knn_s={result.stats['timings_s']['knn']} "
          f"filaments_s={result.stats['timings_s']['filaments']} hierarchy_s={result.stats['timings_s'].get('hierarchy')}")


if __name__ == "__main__":
    main()
