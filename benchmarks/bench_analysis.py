"""Speed and memory of the streamed analyses on a 200,000 × 256 float32 z-store.

Each measurement runs in a fresh Python process; its resident memory
(``/proc/self/statm``, sampled every 2 ms by a thread) is measured from the
baseline after imports:

* streaming PCA (``fit_pca``), components (``component_stats``) and radii
  (``radii``) read the store chunk by chunk;
* the references load ``/z`` whole with numpy (``store.read_z()``) and run
  ``sklearn.decomposition.PCA`` / numpy+scipy moments / ``np.linalg.norm``.

Printed: each time, the ratio streaming / reference (reference = load + compute;
the fit-only ratio is printed too), the peak RSS above baseline and its fraction
of the data size. The last line is ``pca_vs_sklearn=R mem_fraction=F``
(R includes loading the data for sklearn; F is the streaming PCA's peak RSS
above baseline over the size of the float32 data).

Usage::

    python benchmarks/bench_analysis.py [--n 200000] [--d 256] [--store PATH] [--engine numpy] [--repeat 3]

Times are the best of ``--repeat`` runs, since a shared machine adds noise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np, scipy.stats, sklearn.decomposition, h5py
import latentlab
from latentlab.analysis import fit_pca, component_stats, radii
from latentlab import open_store

import os, threading
PAGE = os.sysconf("SC_PAGE_SIZE")

def rss_mib():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20

peak = [0.0]
stop = threading.Event()

def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mib())
        stop.wait(0.002)

task, path, engine = sys.argv[1], sys.argv[2], sys.argv[3]
base = rss_mib()
threading.Thread(target=sample, daemon=True).start()
out = {}
t0 = time.perf_counter()
if task == "pca":
    fit_pca(path, engine=engine)
elif task == "components":
    component_stats(path, engine=engine)
elif task == "radii":
    radii(path, engine=engine)
elif task.startswith("ref_"):
    with open_store(path) as s:
        z = s.read_z()
    out["load_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    if task == "ref_pca":
        sklearn.decomposition.PCA().fit(z)
    elif task == "ref_components":
        z64 = z.astype(np.float64)
        z64.mean(0); z64.std(0); z64.min(0); z64.max(0)
        scipy.stats.skew(z64); scipy.stats.kurtosis(z64)
        np.quantile(z64, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99], axis=0)
    elif task == "ref_radii":
        z64 = z.astype(np.float64)
        r = np.linalg.norm(z64, axis=1); rc = np.linalg.norm(z64 - z64.mean(0), axis=1)
        np.histogram(r, 60); np.histogram(rc, 60); np.median(r)
    out["fit_s"] = time.perf_counter() - t1
out["total_s"] = time.perf_counter() - t0
stop.set()
out["peak_above_base_mib"] = max(peak[0], rss_mib()) - base
print(json.dumps(out))
"""


def run(task: str, store: Path, engine: str, repeat: int = 1) -> dict:
    """Best of ``repeat`` runs (the machine may be shared): min time, its memory."""
    best = None
    for _ in range(max(1, repeat)):
        proc = subprocess.run([sys.executable, "-c", CHILD, task, str(store), engine], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{task} failed:\n{proc.stderr[-3000:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        if best is None or res["total_s"] < best["total_s"]:
            best = res
    return best


def make_store(path: Path, n: int, d: int, seed: int = 0) -> None:
    import numpy as np

    from latentlab import StoreWriter

    rng = np.random.default_rng(seed)
    scales = np.geomspace(3.0, 0.05, d)
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    mean = rng.normal(size=d) * 0.5
    with StoreWriter(path, d, mode="overwrite", attrs={"source": "benchmark"}) as w:
        for s in range(0, n, 20_000):
            k = min(20_000, n - s)
            z = (mean + (rng.standard_normal((k, d)) * scales) @ rot.T).astype(np.float32)
            w.append(z, [str(i) for i in range(s, s + k)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--store", type=Path, help="existing store to use (otherwise a temporary one is written)")
    ap.add_argument("--engine", default="numpy", choices=["numpy", "dask"])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs per measurement (default 3)")
    args = ap.parse_args()
    tmp = None
    if args.store is None:
        tmp = tempfile.TemporaryDirectory()
        store = Path(tmp.name) / "bench.h5"
        t = time.perf_counter()
        make_store(store, args.n, args.d)
        print(f"wrote {args.n} x {args.d} store in {time.perf_counter() - t:.1f} s ({store.stat().st_size / 2**20:.0f} MiB on disk)")
    else:
        store = args.store
    from latentlab import open_store

    with open_store(store) as s:
        n, d = s.n, s.z_dim
    data_mib = n * d * 4 / 2**20
    print(f"store: {n} x {d} float32 = {data_mib:.0f} MiB of data; engine {args.engine}; {os.cpu_count()} CPUs")
    results = {}
    for task in ("pca", "components", "radii"):
        stream = run(task, store, args.engine, args.repeat)
        ref = run(f"ref_{task}", store, args.engine, args.repeat)
        r_total = stream["total_s"] / ref["total_s"]
        r_fit = stream["total_s"] / ref["fit_s"]
        frac = stream["peak_above_base_mib"] / data_mib
        results[task] = (r_total, frac)
        print(
            f"{task:<11} streaming {stream['total_s']:6.2f} s, peak +{stream['peak_above_base_mib']:6.1f} MiB ({frac:.3f} of data) | "
            f"in-memory load {ref['load_s']:5.2f} s + compute {ref['fit_s']:5.2f} s, peak +{ref['peak_above_base_mib']:6.1f} MiB | "
            f"ratio {r_total:.2f} (vs compute only {r_fit:.2f})"
        )
    if tmp is not None:
        tmp.cleanup()
    r, f = results["pca"]
    print(f"pca_vs_sklearn={r:.3f} mem_fraction={f:.3f}")


if __name__ == "__main__":
    main()
