"""Attributes on a labelled z-store: directions' time and probe AUCs, an edit's vote gain, --where purity, label coverage.

Steps (on this machine's cores, nothing cached between runs):

1. ``directions`` on the whole store (every attribute, probes on the default 20,000-row subsample,
   200 bootstrap resamples), timed; the median held-out probe AUC;
2. an edit T-shirt → Trouser (Fashion-MNIST's class names; ``--source`` / ``--target`` for others):
   up to 200 held-out source-class rows (test partition when present) moved by ``s·d``; the store's own
   15-NN classifier (fitted on the train rows' z and their classes) votes on the edited points;
   ``edit_vote_gain`` = share voted the target at s = 1 minus at s = 0. The same vote on the decoded and
   re-encoded edits is printed too (``edit_vote_gain_reencoded``);
3. ``fit_region("mnd", where={"label": TARGET})``: ``where_purity`` = share of the rows it was fitted on
   that carry the target class (read back with h5py, not through latentlab);
4. ``compare_samplers`` (latent only, n = 1,000, k = 5) on a seeded subset of the store
   (``--compare-rows``, partitions and attributes kept) with mnd, gmm and the local ellipsoids:
   ``label_tv_best`` is the label TV of the sampler with the highest precision, ``label_tv_heldout`` the
   held-out real row's (the floor).

How to make the Fashion-MNIST store and model it was written for (27 min of training on 2 cores)::

    latentlab train --dataset fashion-mnist --image-size 32 --channels 1 --z-dim 256 --epochs 6 --out FM_MODEL
    latentlab encode --model FM_MODEL --dataset fashion-mnist --out FM.h5

Usage::

    python benchmarks/bench_attributes.py --store FM.h5 --model FM_MODEL --out /tmp/bench_attributes

The last line is ``directions_seconds=S median_auc=A edit_vote_gain=G where_purity=P label_tv_best=T
label_tv_heldout=H``. Targets (issue 20): S ≤ 60 on 70k × 256 × 10 attributes on 2 cores, G ≥ 0.6,
P = 1.0, T within 0.05 of H.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _subset_store(store, out: Path, rows: int, seed: int) -> Path:
    import numpy as np

    from latentlab import write_store
    from latentlab.store import open_store

    with open_store(store) as s:
        n = s.n
        pick = np.arange(n) if rows >= n else np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
        z = np.asarray(s.z[pick])
        ids = [str(i) for i in np.asarray(s.read_ids())[pick]]
        part = None if s.partition is None else np.asarray(s.partition[pick])
        attrs = None if s.attributes is None else np.asarray(s.attributes[pick])
        names = list(s.attribute_names)
    target = out / "subset.h5"
    write_store(target, z, ids=ids, partition=part, attributes=attrs, attribute_names=names or None, overwrite=True)
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="A labelled z-store (e.g. Fashion-MNIST at z 256; see above).")
    ap.add_argument("--model", required=True, help="Its model directory (from `latentlab train`).")
    ap.add_argument("--out", required=True, help="Folder for directions/, the compare subset and compare/.")
    ap.add_argument("--source", default="T-shirt/top", help="Class whose rows are edited.")
    ap.add_argument("--target", default="Trouser", help="Class edited towards (its direction).")
    ap.add_argument("--n-edit", type=int, default=200, help="Rows of the source class edited.")
    ap.add_argument("--compare-rows", type=int, default=20_000, help="Rows of the seeded subset compare-samplers runs on.")
    args = ap.parse_args()

    import h5py
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    from latentlab.analysis import directions
    from latentlab.editing import edit_images
    from latentlab.generate import load_model
    from latentlab.metrics import HELDOUT_ROW, compare_samplers
    from latentlab.regions import fit_region
    from latentlab.store import open_store

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    res = directions(args.store)
    directions_seconds = time.perf_counter() - t0
    res.save(out / "directions")
    median_auc = float(np.nanmedian(res.auc))
    print(f"directions: {len(res.names)} attributes, {res.settings['n_rows']} rows, {directions_seconds:.1f} s")
    print("\n".join(res.lines()))

    with open_store(args.store) as s:
        z = s.read_z(dtype=np.float32)
        ids = [str(i) for i in s.read_ids()]
        labels = np.asarray(s.attributes[:])
        names = list(s.attribute_names)
        part = None if s.partition is None else np.asarray(s.partition[:])
    cls = labels.argmax(axis=1)
    src, tgt = names.index(args.source), names.index(args.target)
    train = np.flatnonzero(part == 0) if part is not None and (part == 0).any() else np.arange(len(z))
    held = np.flatnonzero(part != 0) if part is not None and (part != 0).any() else np.arange(len(z))
    knn = KNeighborsClassifier(n_neighbors=15).fit(z[train], cls[train])
    edit_ids = [ids[i] for i in held[cls[held] == src][: args.n_edit]]
    ae = load_model(args.model)
    t0 = time.perf_counter()
    edited = edit_images(args.store, edit_ids, args.target, [0.0, 1.0], direction=res.direction(args.target),
                         autoencoder=ae)
    vote = knn.predict(edited.z.astype(np.float32))
    gain = float((vote[1::2] == tgt).mean() - (vote[0::2] == tgt).mean())
    revote = knn.predict(ae.encode(edited.images))
    gain_re = float((revote[1::2] == tgt).mean() - (revote[0::2] == tgt).mean())
    print(f"edit {args.source} -> {args.target} on {len(edit_ids)} held-out rows ({time.perf_counter() - t0:.1f} s): "
          f"15-NN vote {args.target} {(vote[0::2] == tgt).mean():.3f} -> {(vote[1::2] == tgt).mean():.3f}; "
          f"decoded and re-encoded {(revote[0::2] == tgt).mean():.3f} -> {(revote[1::2] == tgt).mean():.3f}")
    print(f"edit_vote_gain_reencoded={gain_re:.3f}")

    region = fit_region("mnd", args.store, "train", where={"label": args.target})
    chosen = np.flatnonzero((labels[:, tgt] == 1) & np.isin(np.arange(len(z)), train))
    with h5py.File(args.store, "r") as f:  # purity read back without latentlab
        disk = f["attributes"][:][:, tgt]
    purity = float((disk[chosen] == 1).mean()) if region.n_fit_ == len(chosen) else 0.0
    samples = region.sample(1000, random_state=0)
    print(f"where label={args.target}: fitted on {region.n_fit_} rows (expected {len(chosen)}), purity {purity:.3f}; "
          f"15-NN vote of its 1,000 samples: {(knn.predict(samples.astype(np.float32)) == tgt).mean():.3f} {args.target}")

    subset = _subset_store(args.store, out, args.compare_rows, seed=0)
    t0 = time.perf_counter()
    cmp = compare_samplers(subset, out / "compare", regions=["mnd", "gmm", "cluster-ellipsoid"], n=1000, k=5,
                           n_boot=0, use_model=False)
    rows = {r["sampler"]: r for r in cmp.rows}
    samplers = [r for r in cmp.rows if r["sampler"] != HELDOUT_ROW]
    best = max(samplers, key=lambda r: r["precision"])
    for r in cmp.rows:
        print(f"  {r['sampler']:<20} precision {r['precision']:.3f} density {r['density']:.3f} label_tv {r['label_tv']:.3f}")
    print(f"compare-samplers on {cmp.settings['n_fit']} fit rows: {time.perf_counter() - t0:.1f} s; best {best['sampler']}")
    heldout_tv = rows[HELDOUT_ROW]["label_tv"] if HELDOUT_ROW in rows else float("nan")
    print(f"directions_seconds={directions_seconds:.1f} median_auc={median_auc:.3f} edit_vote_gain={gain:.3f} "
          f"where_purity={purity:.3f} label_tv_best={best['label_tv']:.3f} label_tv_heldout={heldout_tv:.3f}")


if __name__ == "__main__":
    main()
