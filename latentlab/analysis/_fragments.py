"""Fragments, halo, filaments and the density hierarchy of a z-point cloud, from a k-NN graph.

Pipeline (:func:`find_fragments`):

1. optional cosine normalisation, then PCA to the components holding
   ``pca_variance`` of the variance (distances are kept, not whitened);
2. k-NN graph: exact brute force for small N, NN-descent for large N; it
   holds ``filament_scales × k`` neighbours, the first k of which are "the"
   k-NN graph (NN-descent searches that many anyway, so the larger filament
   scales cost no second search);
3. local statistics per point: k-th neighbour distance, log density relative
   to the median point, Levina–Bickel intrinsic dimension;
4. fragments: the k-NN graph is segmented first — an edge is kept only when
   its two points have similar k-th neighbour distances, and connected
   components of at least ``min_fragment_size`` points are fragments (largest
   = main fragment 0); then, inside each fragment, points clearly sparser than
   the fragment's median become halo (-1), as do points in small components;
5. filaments: the filament score ``1 - λ2/λ1`` of the local PCA is computed on
   k, 2k, … neighbours and each point keeps its best scale; points with
   score ≥ ``filament_threshold`` joined along k-NN edges form filaments;
6. density hierarchy: HDBSCAN's condensed tree on the same graph
   (:func:`density_hierarchy`), cut by its own selection or at ``level``;
7. labels: with attributes, enrichment per fragment / filament / halo
   (hypergeometric test, Benjamini–Hochberg q-values) and, for a chosen label,
   the composition of every part and its agreement (purity, adjusted Rand index).
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from .._errors import LatentlabError
from .._io import atomic_path, dumps_json, write_json
from ._fragments_hierarchy import *  # noqa: F401,F403
from ._fragments_hierarchy import __all__ as _hierarchy_all
from ._fragments_hierarchy import density_hierarchy
from ._fragments_planted import *  # noqa: F401,F403
from ._fragments_planted import __all__ as _planted_all
from ._intrinsic_dim import *  # noqa: F401,F403
from ._intrinsic_dim import __all__ as _dim_all
from ._intrinsic_dim import local_dimension_mle, twonn_dimension
from ._neighbours import *  # noqa: F401,F403
from ._neighbours import __all__ as _nn_all
from .._io import jsonable
from ._neighbours import knn_graph, knn_quality, rank_components

__all__ = [
    "FragmentResult",
    "attribute_enrichment",
    "find_fragments",
    "load_fragments",
    *_hierarchy_all,
    *_planted_all,
    *_dim_all,
    *_nn_all,
]

FRAGMENTS_H5 = "fragments.h5"
FRAGMENTS_JSON = "fragments.json"
#: Per-point arrays that newer runs add (absent from older fragments.h5 files).
_OPTIONAL_ARRAYS = ("filament_scale", "cluster", "label_values")
#: PC scores kept per point for plotting.
N_PC_SCORES = 4
#: The fragment figures: file name → ("plot function[:colour by]", caption).
FIGURES = {
    "fragments_pc12.png": ("plot_fragment_pcs", "PC1–PC2 scores of every z-point coloured by fragment (main fragment, smaller fragments, halo in grey)."),
    "fragments_pc_grid.png": ("plot_fragment_pc_grid", "Pairs of the leading four principal components coloured by fragment."),
    "filaments_pc12.png": ("plot_filament_pcs", "PC1–PC2 scores coloured by filament (points in no filament in grey)."),
    "filaments_pc_grid.png": ("plot_fragment_pc_grid:filament", "Pairs of the leading four principal components coloured by filament."),
    "knn_distance_hist.png": ("plot_knn_distance_hist", "Distribution of the distance to the k-th nearest neighbour, main fragment against the rest."),
    "local_dimension_hist.png": ("plot_local_dimension_hist", "Distribution of the local intrinsic dimension (Levina–Bickel MLE) with the global TwoNN estimate."),
    "density_hierarchy.png": ("plot_density_hierarchy", "Density hierarchy (HDBSCAN condensed tree on the k-NN graph): each bar is a component from the density at which it appears to where it splits or fades; outlined = selected."),
    "label_pc12.png": ("plot_label_pcs", "PC1–PC2 scores coloured by the chosen label."),
}
#: Figures drawn only when the result holds what they show.
_FIGURE_NEEDS = {"density_hierarchy.png": "hierarchy", "label_pc12.png": "label_values"}


# --------------------------------------------------------------------------- result
@dataclass
class FragmentResult:
    """Per-point labels and statistics, per-fragment and per-filament tables.

    Attributes
    ----------
    fragment : ndarray (n,), int32
        0 = main fragment, 1..F = smaller fragments (by size), -1 = halo/noise.
    filament : ndarray (n,), int32
        -1 = in no filament, else the filament id (0..n_filaments-1, by size).
    filament_score : ndarray (n,), float32
        ``1 - λ2/λ1`` of the local PCA of the point's k neighbours (1 = a line).
    knn_distance : ndarray (n,), float32
        Distance to the k-th neighbour (cosine distance for ``metric='cosine'``).
    log_density : ndarray (n,), float32
        Natural log of the k-NN density relative to the median point,
        ``D · (log median r_k − log r_k)`` with D the global TwoNN dimension.
    local_dimension : ndarray (n,), float32
        Levina–Bickel MLE of the intrinsic dimension from the k neighbours.
    index : ndarray (n,), int64
        Row of each point in the store (all rows, or the partition's rows).
    pc_scores : ndarray (n, <=4), float32
        Coordinates on the leading principal components (for plots).
    fragments, filaments : list of dict
        One table row per fragment / filament (see :meth:`to_dict`).
    parameters : dict
        Everything needed to reproduce the run.
    stats : dict
        Counts, global dimension, k-NN recall estimate, timings.
    enrichment : dict or None
        Attribute enrichment tables (when the input has attributes).
    filament_scale : ndarray (n,), int32 or None
        Neighbourhood size k at which the point's filament score is best.
    cluster : ndarray (n,), int32 or None
        Flat labels from the density hierarchy (its own selection, or the cut
        at ``level``), ranked by size, -1 = noise.
    hierarchy : dict or None
        The condensed tree (see :func:`density_hierarchy`).
    label_values : ndarray (n,), int32 or None
        The chosen label per point (-1 = unknown) behind ``labels``.
    labels : dict or None
        ``name, names``, and the agreement of fragments, filaments and the
        hierarchy with the label (purity, adjusted Rand index, composition).
    """

    fragment: np.ndarray
    filament: np.ndarray
    filament_score: np.ndarray
    knn_distance: np.ndarray
    log_density: np.ndarray
    local_dimension: np.ndarray
    index: np.ndarray
    pc_scores: np.ndarray
    fragments: list = field(default_factory=list)
    filaments: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    enrichment: dict | None = None
    filament_scale: np.ndarray | None = None
    cluster: np.ndarray | None = None
    hierarchy: dict | None = None
    label_values: np.ndarray | None = None
    labels: dict | None = None

    @property
    def n(self) -> int:
        return int(len(self.fragment))

    @property
    def n_fragments(self) -> int:
        """Number of fragments, the main one included."""
        return len(self.fragments)

    @property
    def n_filaments(self) -> int:
        return len(self.filaments)

    #: Registry name (:mod:`latentlab.analysis._registry`); its figures and page follow the analysis contract.
    name = "fragments"

    def figures(self):
        """Yield ``(file name, caption, Figure)`` for every fragment figure."""
        from .. import plots

        for name, (spec, caption) in FIGURES.items():
            if name in _FIGURE_NEEDS and getattr(self, _FIGURE_NEEDS[name]) is None:
                continue
            func, _, by = spec.partition(":")
            yield name, caption, getattr(plots, func)(self, by=by) if by else getattr(plots, func)(self)

    def lines(self) -> list[str]:
        """What ``latentlab fragments`` prints."""
        p, s = self.parameters, self.stats
        recall = f", recall {s['knn_recall']:.3f}" if s.get("knn_recall") is not None else ""
        sizes = [f["size"] for f in self.fragments]
        shown = ", ".join(str(x) for x in sizes[:8]) + (", ..." if len(sizes) > 8 else "")
        out = [
            f"fragments of {p['source']}: {self.n} points, k={p['k']} ({p['knn_method']} k-NN{recall}), "
            f"{p['n_components']} PCs ({p['explained_variance']:.1%} variance), {s['timings_s']['total']:.1f} s",
            f"fragments: {len(sizes)} (sizes {shown or '-'}); halo: {s['n_halo']} points ({s['halo_fraction']:.1%})",
            f"filaments: {self.n_filaments} with {s['n_filament_points']} points; TwoNN dimension {s['twonn_dimension']:.1f}",
        ]
        if self.hierarchy:
            h = self.hierarchy
            cut = h["cut"]["level"]
            sizes = ", ".join(str(x) for x in h["label_sizes"][:8]) + (", ..." if len(h["label_sizes"]) > 8 else "")
            how = f"cut at level {cut}" if cut is not None else "HDBSCAN selection"
            out.append(f"hierarchy: {h['n_nodes']} components; {how}: {len(h['label_sizes'])} clusters (sizes {sizes or '-'})")
        if self.labels:
            lab = self.labels
            out.append(f"label {lab['name']!r}: " + "; ".join(
                f"{part} purity {lab[part]['purity'] or 0:.2f} ARI {lab[part]['adjusted_rand_index']:.2f}"
                for part in ("fragments", "hierarchy") if part in lab))
        if self.enrichment:
            n_sig = sum(r["significant"] for g in self.enrichment["groups"] for r in g["rows"])
            out.append(f"attribute enrichment: {n_sig} significant (group, attribute) pairs (q < {self.enrichment['alpha']})")
        return out

    def to_dict(self) -> dict:
        """JSON-ready summary: counts, sizes, parameters, tables (no per-point arrays)."""
        return jsonable(
            {
                "n_points": self.n,
                "n_fragments": self.n_fragments,
                "n_halo": int(np.sum(self.fragment < 0)),
                "n_filaments": self.n_filaments,
                "n_filament_points": int(np.sum(self.filament >= 0)),
                "fragment_sizes": [f["size"] for f in self.fragments],
                "filament_sizes": [f["size"] for f in self.filaments],
                "parameters": self.parameters,
                "stats": self.stats,
                "fragments": self.fragments,
                "filaments": self.filaments,
                "enrichment": self.enrichment,
                "hierarchy": self.hierarchy,
                "labels": self.labels,
            }
        )

    def save(self, out_dir: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``out_dir/fragments.h5`` (per-point arrays) and ``out_dir/fragments.json``.

        Returns
        -------
        (h5_path, json_path)
        """
        import h5py

        from .._checks import check_output_dir
        from .._io import dumps_json, write_bytes, write_json

        out = check_output_dir(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        h5_path, json_path = out / FRAGMENTS_H5, out / FRAGMENTS_JSON
        summary = self.to_dict()
        # Built in memory and written as plain bytes: a full disk is then an ordinary OSError naming the
        # path, never an HDF5 flush that fails again (and crashes) when h5py's objects are finalised.
        image = io.BytesIO()
        with h5py.File(image, "w") as f:
            f.create_dataset("fragment", data=self.fragment.astype(np.int32))
            f.create_dataset("filament", data=self.filament.astype(np.int32))
            f.create_dataset("filament_score", data=self.filament_score.astype(np.float32))
            f.create_dataset("knn_distance", data=self.knn_distance.astype(np.float32))
            f.create_dataset("log_density", data=self.log_density.astype(np.float32))
            f.create_dataset("local_dimension", data=self.local_dimension.astype(np.float32))
            f.create_dataset("index", data=self.index.astype(np.int64))
            f.create_dataset("pc_scores", data=self.pc_scores.astype(np.float32))
            for name in _OPTIONAL_ARRAYS:
                if getattr(self, name) is not None:
                    f.create_dataset(name, data=getattr(self, name).astype(np.int32))
            f.attrs["summary_json"] = dumps_json(summary, indent=None)
            f.attrs["format"] = "latentlab.fragments/1"
        write_bytes(h5_path, image.getbuffer())
        write_json(json_path, summary)
        return h5_path, json_path


def load_fragments(path: str | os.PathLike) -> FragmentResult:
    """Read a :class:`FragmentResult` written by :meth:`FragmentResult.save`.

    Parameters
    ----------
    path : path-like
        The output folder or its ``fragments.h5``.
    """
    import h5py

    path = Path(path)
    if path.is_dir():
        path = path / FRAGMENTS_H5
    if not path.exists():
        raise LatentlabError(f"{path}: no such file (run `latentlab fragments` first)")
    try:
        with h5py.File(path, "r") as f:
            summary = json.loads(f.attrs["summary_json"])
            # a fragments file may come from someone else: only self-contained datasets with sane chunks are read
            arrays = {k: _guarded(f, k, path)[:] for k in (
                "fragment", "filament", "filament_score", "knn_distance", "log_density",
                "local_dimension", "index", "pc_scores")}
            arrays.update({k: _guarded(f, k, path)[:] for k in _OPTIONAL_ARRAYS if k in f})
    except (OSError, KeyError) as exc:
        raise LatentlabError(f"{path}: not a fragments file ({str(exc).splitlines()[0]})") from None
    return FragmentResult(
        **arrays,
        fragments=summary["fragments"],
        filaments=summary["filaments"],
        parameters=summary["parameters"],
        stats=summary["stats"],
        enrichment=summary["enrichment"],
        hierarchy=summary.get("hierarchy"),
        labels=summary.get("labels"),
    )


# --------------------------------------------------------------------------- helpers
def _store_fingerprint(data) -> str | None:
    from ..store import ZStore, open_store

    if isinstance(data, ZStore):
        return data.fingerprint
    if isinstance(data, (str, os.PathLike)):
        with open_store(data) as store:
            return store.fingerprint
    return None


#: bumped whenever the same options give other results (2: the hierarchy on the whole graph, exact
#: below EXACT_HIERARCHY_MAX_POINTS), so a fragments.h5 from older code is recomputed, not reused
RESULT_VERSION = 2


def _guarded(f, key: str, path):
    """``f[key]`` through the store reader's guard (no external links or storage, no virtual datasets, chunk cap)."""
    from ..store._reader import _dataset

    obj = _dataset(f, key, Path(path))
    if obj is None:
        raise KeyError(key)
    return obj


def fragments_match(path, store, *, partition=None, options: dict | None = None) -> bool:
    """Whether ``path`` (a ``fragments.h5``) was computed from ``store``'s rows with these settings.

    It must record the store's :attr:`~latentlab.store.ZStore.fingerprint`, the
    same ``partition`` and, for each key of ``options`` it records, the same
    value, and the same :data:`RESULT_VERSION`. Results without a recorded
    fingerprint or version (older files) never match,
    so a cached result is recomputed rather than shown for the wrong data.
    """
    import h5py

    from ..store import open_store

    try:
        with h5py.File(path, "r") as f:
            params = json.loads(f.attrs["summary_json"])["parameters"]
    except (OSError, KeyError, ValueError, TypeError):
        return False
    recorded = params.get("store_fingerprint")
    if not recorded or params.get("result_version") != RESULT_VERSION:
        return False
    with open_store(store) as s:
        if recorded != s.fingerprint:
            return False
    if (params.get("partition") or "all") != (partition or "all"):
        return False
    for key, value in (options or {}).items():
        if key in params and params[key] != value:
            return False
    return True


def _load_input(data, partition, attributes, attribute_names):
    """Return (z float32, index, attributes or None, attribute names, source name)."""
    from ..store import ZStore, open_store

    if isinstance(data, (str, os.PathLike)):
        with open_store(data) as store:
            return _load_input(store, partition, attributes, attribute_names)
    if isinstance(data, ZStore):
        store = data
        sel = store.selection(partition)
        z = store.read_z(partition)
        index = np.arange(store.n) if sel is None else sel
        attrs = None
        if store.attributes is not None and attributes is None:
            a = store.attributes[:]
            attrs = a if sel is None else a[sel]
            attribute_names = store.attribute_names
        elif attributes is not None:
            attrs = np.asarray(attributes)
        return z, index, attrs, list(attribute_names or []), store.path.name
    if partition not in (None, "all"):
        raise LatentlabError("partition: only applies to a z-store, not to an array")
    z = np.asarray(data, dtype=np.float32)
    if z.ndim != 2:
        raise LatentlabError(f"find_fragments: expected a 2-D array (n, z_dim), got shape {z.shape}")
    attrs = None if attributes is None else np.asarray(attributes)
    return z, np.arange(len(z)), attrs, list(attribute_names or []), "array"


def _pca_reduce(z: np.ndarray, variance: float | None, chunk: int = 16384):
    """Centre and project onto the components holding ``variance`` of the total.

    Returns (y float32 (n, m), components (d, m), mean (d,), explained ratio (m,)).
    """
    from ._pca import pca_of_rows

    n, d = z.shape
    pca = pca_of_rows(z, chunk)  # latentlab's one PCA core: PC signs as in the PCA report
    mean, w, v = pca.mean_, pca.eigenvalues_, pca.components_.T
    total = w.sum()
    ratio = w / total if total > 0 else np.full(d, 1.0 / d)
    if variance is None or variance >= 1.0:
        m = d
    else:
        m = int(np.searchsorted(np.cumsum(ratio), variance) + 1)
    m = max(1, min(m, d))
    comps = v[:, :m].astype(np.float32)
    y = np.empty((n, m), dtype=np.float32)
    mean32 = mean.astype(np.float32)
    for s in range(0, n, chunk):
        y[s:s + chunk] = (z[s:s + chunk] - mean32) @ comps
    return y, comps, mean, ratio[:m]


def _line_fit(y: np.ndarray, ind: np.ndarray, rows: np.ndarray | None = None, batch: int | None = None):
    """Local PCA of neighbourhoods: ``1 - λ2/λ1`` and the RMS distance from the local line.

    ``rows`` restricts the work to those points (default all). The spread
    off the line is ``sqrt((Σλ - λ1) / (k - 1))`` of the neighbours (the
    point itself excluded): the tube radius when the neighbourhood is a
    piece of a noisy curve.
    """
    rows = np.arange(len(ind)) if rows is None else np.asarray(rows)
    k = ind.shape[1]
    score = np.zeros(len(rows), dtype=np.float32)
    spread = np.zeros(len(rows), dtype=np.float32)
    if k < 2:
        return score, spread
    # keep the gathered (batch, k, m) neighbourhoods near 64 MiB whatever k is
    batch = batch or max(256, (1 << 24) // max(k * y.shape[1], 1))
    # One BLAS thread: OpenBLAS threading the many small k×m products took 10.7 s instead of
    # 0.33 s for 1,500 neighbourhoods of 45 × 241 on the shared 2-core machine (k = 30: 0.29 / 0.20 s).
    with threadpool_limits(1, user_api="blas"):
        return _line_fit_batches(y, ind, rows, batch, score, spread)


def _line_fit_batches(y, ind, rows, batch, score, spread):
    k = ind.shape[1]
    for s in range(0, len(rows), batch):
        nb = y[ind[rows[s:s + batch]]]  # (b, k, m)
        # Gram matrix of the centred neighbourhood, H G H with H = I - 11'/k (no centred copy of nb)
        gram = np.matmul(nb, nb.transpose(0, 2, 1)).astype(np.float64)
        r = gram.mean(axis=2, keepdims=True)
        gram -= r
        gram -= r.transpose(0, 2, 1)
        gram += r.mean(axis=1, keepdims=True)
        trace = np.trace(gram, axis1=1, axis2=2)
        ev = np.linalg.eigvalsh(gram)
        l1, l2 = ev[:, -1], np.maximum(ev[:, -2], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            score[s:s + batch] = np.where(l1 > 0, 1.0 - l2 / l1, 0.0)
        spread[s:s + batch] = np.sqrt(np.maximum(trace - l1, 0.0) / (k - 1))
    return score, spread


def _filament_scores(y: np.ndarray, ind: np.ndarray) -> np.ndarray:
    """``1 - λ2/λ1`` of each point's neighbourhood (its k neighbours, itself excluded)."""
    return _line_fit(y, ind)[0]


#: Larger filament scales are scored only where the previous scale already
#: leans one-dimensional: bulk points of a 241-d Gaussian score < 0.2 at k = 15
#: (99th percentile), 32-d bulk < 0.4, while tubes 10x wider than their point
#: spacing still score 0.55 at k = 15 and > 0.95 at k = 45.
LADDER_PREFILTER = 0.3


def _multiscale_line_fit(y: np.ndarray, ind: np.ndarray, ladder: list[int]):
    """Best filament score over neighbourhood sizes ``ladder`` (prefixes of ``ind``), with its scale.

    Returns (score, k at the best score, spread off the local line at that scale).
    """
    score, spread = _line_fit(y, ind[:, :ladder[0]])
    scale = np.full(len(ind), ladder[0], dtype=np.int32)
    for k in ladder[1:]:
        rows = np.flatnonzero(score >= LADDER_PREFILTER)
        if not len(rows):
            break
        s_k, r_k = _line_fit(y, ind[:, :k], rows)
        better = s_k > score[rows]
        rows = rows[better]
        score[rows], spread[rows], scale[rows] = s_k[better], r_k[better], k
    return score, scale, spread


def _symmetric_edges(ind: np.ndarray, dist: np.ndarray | None = None):
    n, k = ind.shape
    rows = np.repeat(np.arange(n), k)
    cols = ind.ravel()
    ok = cols >= 0
    return rows[ok], cols[ok], (None if dist is None else dist.ravel()[ok])


def _components(mask: np.ndarray, ind: np.ndarray):
    """Connected components of the k-NN graph (made undirected) restricted to ``mask``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(mask)
    rows, cols, _ = _symmetric_edges(ind)
    keep = mask[rows] & mask[cols]
    g = coo_matrix((np.ones(keep.sum(), np.int8), (rows[keep], cols[keep])), shape=(n, n)).tocsr()
    _, labels = connected_components(g, directed=True, connection="weak")
    labels = np.where(mask, labels, -1)
    return labels


def _segment(ind: np.ndarray, log_rk: np.ndarray, log_ratio: float, min_size: int) -> np.ndarray:
    """Fragments from density-consistent k-NN edges; halo = much sparser than the own fragment.

    An edge joins two points only when their k-th neighbour distances differ
    by less than ``exp(log_ratio)`` (so a dense fragment never merges with a
    sparser bulk through the bulk points that list it as neighbours, the
    "hub" effect of high dimensions). Connected components of at least
    ``min_size`` points are fragments (0 = largest); inside each fragment,
    points whose k-th neighbour distance exceeds ``exp(log_ratio)`` × the
    fragment's median become halo (-1), as do points in smaller components.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(log_rk)
    rows, cols, _ = _symmetric_edges(ind)
    keep = np.abs(log_rk[rows] - log_rk[cols]) <= log_ratio
    g = coo_matrix((np.ones(keep.sum(), np.int8), (rows[keep], cols[keep])), shape=(n, n)).tocsr()
    _, labels = connected_components(g, directed=True, connection="weak")
    fragment = rank_components(labels, min_size)
    n_frag = int(fragment.max()) + 1
    if n_frag > 0:
        sel = fragment >= 0
        med = np.zeros(n_frag)
        for f in range(n_frag):
            med[f] = np.median(log_rk[fragment == f])
        halo = np.zeros(n, dtype=bool)
        halo[sel] = log_rk[sel] - med[fragment[sel]] > log_ratio
        fragment = np.where(halo, -1, fragment)
        # Dropping halo points may shrink a fragment below the minimum or reorder sizes.
        fragment = rank_components(fragment, min_size)
    return fragment


def _principal(y: np.ndarray, *, vector: bool = False, chunk: int = 8192):
    """Mean, covariance eigenvalues (descending) and, if asked, the leading eigenvector."""
    from scipy.linalg import eigh

    mu = y.mean(axis=0)
    m = y.shape[1]
    if len(y) < 2:
        return mu, np.zeros(1), np.eye(m, 1)[:, 0]
    if len(y) < m:  # the Gram matrix is smaller than the covariance
        c = (y - mu).astype(np.float64)
        g = c @ c.T
        w, v = eigh(g)
        top = c.T @ v[:, -1]
        top /= max(np.linalg.norm(top), 1e-300)
    else:
        # scatter matrix: float32 products on row blocks, summed in float64 (no float64 copy of y)
        g = np.zeros((m, m))
        mu32 = mu.astype(y.dtype)
        for s in range(0, len(y), chunk):
            c = y[s:s + chunk] - mu32
            g += (c.T @ c).astype(np.float64)
        if vector:
            w, v = eigh(g)
            top = v[:, -1]
        else:
            w, top = eigh(g, eigvals_only=True), None
    w = np.maximum(w[::-1], 0.0) / (len(y) - 1)
    return mu, w, top


def _min_distance(a: np.ndarray, b: np.ndarray) -> float:
    a2 = np.einsum("ij,ij->i", a, a)[:, None]
    b2 = np.einsum("ij,ij->i", b, b)[None, :]
    return float(np.sqrt(max(float((a2 - 2 * a @ b.T + b2).min()), 0.0)))


def _fragment_table(y, z, fragment, knn_distance, to_metric, rng, n_extent=5):
    rows = []
    n_frag = int(fragment.max()) + 1 if (fragment >= 0).any() else 0
    if n_frag == 0:
        return rows
    main = np.flatnonzero(fragment == 0)
    main_sample = y[rng.choice(main, size=min(len(main), 8192), replace=False)]
    main_mu = y[main].mean(axis=0)
    for f in range(n_frag):
        members = np.flatnonzero(fragment == f)
        mu, ev, _ = _principal(y[members])
        total = float(ev.sum())
        row = {
            "id": f,
            "size": int(len(members)),
            "fraction": len(members) / len(fragment),
            "centre": z[members].mean(axis=0).astype(np.float64),
            "rms_radius": float(np.sqrt(total)),
            "extent_std": np.sqrt(ev[:n_extent]),
            "effective_dimension": float(total**2 / np.sum(ev**2)) if total > 0 else 0.0,
            "median_knn_distance": float(np.median(knn_distance[members])),
        }
        if f == 0:
            row["centre_distance_to_main"] = 0.0
            row["gap_to_main"] = 0.0
        else:
            sample = y[rng.choice(members, size=min(len(members), 256), replace=False)]
            row["centre_distance_to_main"] = to_metric(float(np.linalg.norm(mu - main_mu)))
            row["gap_to_main"] = to_metric(_min_distance(sample, main_sample))
        rows.append(row)
    return rows


def _filament_table(y, ind, dist, filament, fragment, comps, to_metric, scale=None, spread=None):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree

    rows = []
    n_fil = int(filament.max()) + 1 if (filament >= 0).any() else 0
    if n_fil == 0:
        return rows
    r, c, w = _symmetric_edges(ind, dist)
    same = (filament[r] >= 0) & (filament[r] == filament[c])
    r, c, w = r[same], c[same], np.maximum(w[same].astype(np.float64), 1e-12)
    n = len(filament)
    mst = minimum_spanning_tree(coo_matrix((w, (r, c)), shape=(n, n)).tocsr()).tocoo()
    path = np.bincount(filament[mst.row], weights=mst.data, minlength=n_fil)
    for f in range(n_fil):
        members = np.flatnonzero(filament == f)
        mu, ev, d_red = _principal(y[members], vector=True)
        proj = (y[members] - mu) @ d_red
        direction = comps @ d_red.astype(np.float32)
        direction /= max(float(np.linalg.norm(direction)), 1e-12)
        frag_labels, frag_counts = np.unique(fragment[members], return_counts=True)
        rows.append({
            "id": f,
            "size": int(len(members)),
            "length": to_metric(float(proj.max() - proj.min())),
            "path_length": to_metric(float(path[f])),
            "linearity": float(ev[0] / ev.sum()) if ev.sum() > 0 else 1.0,
            "direction": direction.astype(np.float64),
            "fragment": int(frag_labels[np.argmax(frag_counts)]),
            # the neighbourhood size at which its points looked most one-dimensional, and the
            # RMS distance of its points from their local line there (≈ the tube radius)
            "scale_k": None if scale is None else int(np.median(scale[members])),
            "tube_radius": None if spread is None else to_metric(float(np.median(spread[members]))),
        })
    return rows


# --------------------------------------------------------------------------- enrichment
def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values."""
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    if n == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def attribute_enrichment(
    attributes: np.ndarray,
    groups: dict[str, np.ndarray],
    attribute_names: list[str] | None = None,
    *,
    alpha: float = 0.05,
) -> dict:
    """Over- and under-representation of binary attributes in groups of points.

    For every (group, attribute) a two-sided hypergeometric test (Fisher's
    exact test of group membership against the attribute) compares the
    count of positives in the group with the whole; q-values by
    Benjamini–Hochberg over all tests.

    Parameters
    ----------
    attributes : ndarray of shape (n, A)
        +1 / -1 (CelebA) or 1 / 0; positive means ``> 0``.
    groups : dict of name -> boolean mask of shape (n,) (or row indices)
    attribute_names : list of str, optional
    alpha : float
        q-value below which a row counts as significant.

    Returns
    -------
    dict
        ``{"attributes": [...], "alpha": alpha, "groups": [{"group", "size",
        "rows": [{"attribute", "count", "fraction", "fraction_all",
        "log2_fold", "p_value", "q_value", "significant"}, ...]}]}``; rows
        sorted by q-value then ``|log2_fold|``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.where(np.arange(100)[:, None] < 50, 1, -1) * np.ones((1, 2), int)
    >>> res = attribute_enrichment(a, {"first": np.arange(100) < 40}, ["A", "B"])
    >>> res["groups"][0]["rows"][0]["log2_fold"] > 0.9
    True
    """
    from scipy.stats import hypergeom

    a = np.asarray(attributes) > 0
    n, n_attr = a.shape
    names = list(attribute_names or [f"attr{j}" for j in range(n_attr)])
    positives = a.sum(axis=0)
    frac_all = positives / max(n, 1)
    table, pvals = [], []
    for gname, g in groups.items():
        g = np.asarray(g)
        mask = g if g.dtype == bool else np.isin(np.arange(n), g)
        size = int(mask.sum())
        counts = a[mask].sum(axis=0)
        p_over = hypergeom.sf(counts - 1, n, positives, size)
        p_under = hypergeom.cdf(counts, n, positives, size)
        p = np.minimum(1.0, 2.0 * np.minimum(p_over, p_under))
        fold = np.log2(((counts + 0.5) / (size + 1.0)) / ((positives + 0.5) / (n + 1.0)))
        table.append((gname, size, counts, fold))
        pvals.append(p)
    q_all = _bh(np.concatenate(pvals)) if pvals else np.array([])
    out_groups = []
    for i, (gname, size, counts, fold) in enumerate(table):
        p = pvals[i]
        q = q_all[i * n_attr:(i + 1) * n_attr]
        rows = [
            {
                "attribute": names[j],
                "count": int(counts[j]),
                "fraction": float(counts[j] / size) if size else 0.0,
                "fraction_all": float(frac_all[j]),
                "log2_fold": float(fold[j]),
                "p_value": float(p[j]),
                "q_value": float(q[j]),
                "significant": bool(q[j] < alpha),
            }
            for j in range(n_attr)
        ]
        rows.sort(key=lambda r: (r["q_value"], -abs(r["log2_fold"])))
        out_groups.append({"group": gname, "size": size, "rows": rows})
    return {"attributes": names, "alpha": alpha, "test": "two-sided hypergeometric, BH q-values",
            "groups": out_groups}


# --------------------------------------------------------------------------- main entry
#: Up to this many points (where the k-NN graph is exact, so its lists are reused) the density hierarchy is
#: scikit-learn's HDBSCAN tree of the coordinates; above, the tree of the 3k-wide k-NN graph, since the exact
#: tree then needs its own O(n² d) float64 neighbour pass (957 s instead of 46 s at 70,000 points under load;
#: docs/performance.md). ``exact_hierarchy=True`` asks for it at any size.
EXACT_HIERARCHY_MAX_POINTS = 20_000

#: Largest |z| the analysis accepts: k · (2 · sqrt(d) · |z|)² stays far below float32's 3.4e38.
MAX_ABS_Z = 1e15


def default_min_fragment_size(n: int) -> int:
    """``max(5, min(100, n // 200))``: 5 for the 100-point demo, 100 from 20,000 points."""
    return int(max(5, min(100, n // 200)))


def _check_options(metric, pca_variance, k, halo_ratio, filament_threshold, filament_scales, level,
                   min_cluster_size):
    from .._checks import check_float, check_int

    if metric not in ("euclidean", "cosine"):
        raise LatentlabError(f"metric: unknown {metric!r}; use euclidean or cosine")
    # NaN fails every comparison, so each number is checked as finite first (check_float)
    check_float(pca_variance, "pca_variance", low=0, low_inclusive=False, high=1, optional=True)
    check_int(k, "k", minimum=2)
    check_float(halo_ratio, "halo_ratio", low=1, low_inclusive=False)
    check_float(filament_threshold, "filament_threshold", low=0, high=1, low_inclusive=False, high_inclusive=False)
    check_int(filament_scales, "filament_scales", minimum=1, maximum=8)
    check_float(level, "level", low=0, low_inclusive=False, high=1, optional=True)
    check_int(min_cluster_size, "min_cluster_size", minimum=2, optional=True)


def _label_vector(label, attrs, attr_names):
    """(values (n,) int, names) for ``label``: an attribute name (negative/positive) or ``'class'``."""
    if label is None:
        return None, None
    if attrs is None or attrs.ndim != 2 or attrs.shape[1] == 0:
        raise LatentlabError(f"label: {label!r} asked for, but the input has no attributes")
    positive = np.asarray(attrs) > 0
    if label == "class":
        if not np.all(positive.sum(axis=1) == 1):
            raise LatentlabError("label: 'class' needs one-hot attributes (exactly one positive per row)")
        return positive.argmax(axis=1).astype(np.int32), list(attr_names)
    if label not in attr_names:
        shown = ", ".join(attr_names[:8]) + (", ..." if len(attr_names) > 8 else "")
        raise LatentlabError(f"label: no attribute {label!r} (have: class, {shown})")
    j = attr_names.index(label)
    return positive[:, j].astype(np.int32), [f"not {label}", label]


def _default_label(attrs, attr_names):
    """``'class'`` for one-hot attributes (e.g. Fashion-MNIST's classes), else None."""
    if attrs is not None and attrs.ndim == 2 and attrs.shape[1] > 1 and np.all((np.asarray(attrs) > 0).sum(1) == 1):
        return "class"
    return None


def _composition(values, names, mask, top: int = 5) -> list[dict]:
    counts = np.bincount(values[mask & (values >= 0)], minlength=len(names))
    total = max(int(counts.sum()), 1)
    return [{"label": names[g], "count": int(counts[g]), "fraction": counts[g] / total}
            for g in np.argsort(-counts)[:top] if counts[g] > 0]


def _agreement(values, partition_labels) -> dict:
    """Purity (share of the clustered points in their part's majority label) and ARI (noise = one part)."""
    from sklearn.metrics import adjusted_rand_score

    known = values >= 0
    inside = known & (partition_labels >= 0)
    purity = None
    if inside.any():
        majority = 0
        for part in np.unique(partition_labels[inside]):
            majority += np.bincount(values[inside & (partition_labels == part)]).max()
        purity = majority / inside.sum()
    return {"purity": purity, "coverage": float(inside.sum() / max(known.sum(), 1)),
            "adjusted_rand_index": float(adjusted_rand_score(values[known], partition_labels[known]))}


def _label_summary(label, values, names, fragment, filament, cluster, frag_rows, fil_rows, hierarchy):
    """Composition of every fragment / filament (added to their rows) and agreement with the label."""
    for row in frag_rows:
        row["composition"] = _composition(values, names, fragment == row["id"])
    for row in fil_rows:
        row["composition"] = _composition(values, names, filament == row["id"])
    out = {"name": label, "names": names, "n_labelled": int((values >= 0).sum()),
           "overall": _composition(values, names, np.ones(len(values), bool), top=len(names)),
           "halo": _composition(values, names, fragment < 0),
           "fragments": _agreement(values, fragment), "filaments": _agreement(values, filament)}
    if cluster is not None:
        out["hierarchy"] = _agreement(values, cluster)
    return out


def _reduce(z, metric, pca_variance):
    work = z
    if metric == "cosine":
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        work = z / np.where(norms > 0, norms, 1.0)
    return _pca_reduce(work, pca_variance)


def _neighbour_graph(y, k, scales, knn, recall_queries, random_state):
    """k-NN graph holding ``scales × k`` neighbours, and its recall against exact search."""
    n = len(y)
    k_graph = int(min(k * scales, n - 1))
    # NN-descent searches 3k neighbours for the k it keeps; up to 3 scales ride on that search
    ind, dist, used = knn_graph(y, k_graph, method=knn, n_build=max(3 * k, k_graph),
                                max_candidates=2 * k, random_state=random_state)
    quality = {"recall": None, "distance_ratio": None}
    if used == "approximate" and recall_queries:
        quality = knn_quality(y, ind[:, :k], dist[:, :k], n_queries=recall_queries, random_state=random_state)
    return ind, dist, used, quality


def _filaments(y, ind, k, scales, threshold, min_size):
    ladder = sorted({min(k * (j + 1), ind.shape[1]) for j in range(scales)})
    score, scale, spread = _multiscale_line_fit(y, ind, ladder)
    candidates = score >= threshold
    filament = rank_components(_components(candidates, ind[:, :k]), min_size)
    return score, scale, spread, filament, ladder, int(candidates.sum())


def _enrichment(attrs, attr_names, fragment, filament, n_frag, n_fil, max_groups):
    if attrs is None or attrs.ndim != 2 or attrs.shape[1] == 0:
        return None
    groups = {}
    for f in range(min(n_frag, max_groups)):
        groups["main fragment" if f == 0 else f"fragment {f}"] = fragment == f
    if (fragment < 0).any():
        groups["halo"] = fragment < 0
    for f in range(min(n_fil, max_groups)):
        groups[f"filament {f}"] = filament == f
    return attribute_enrichment(attrs, groups, attr_names)


def _run_stats(fragment, filament, scale, ladder, n_candidates, cluster, dim_global, local_dim,
               median_knn_distance, quality, recall_queries, timings) -> dict:
    return {
        "n_fragments": int(fragment.max() + 1) if (fragment >= 0).any() else 0,
        "n_halo": int((fragment < 0).sum()),
        "halo_fraction": float((fragment < 0).mean()),
        "n_filaments": int(filament.max() + 1) if (filament >= 0).any() else 0,
        "n_filament_points": int((filament >= 0).sum()),
        "n_filament_candidates": n_candidates,
        "filament_points_by_k": {str(kk): int(np.sum((filament >= 0) & (scale == kk))) for kk in ladder},
        "n_clusters": None if cluster is None else int(cluster.max() + 1),
        "twonn_dimension": dim_global,
        "median_local_dimension": float(np.nanmedian(local_dim)) if np.isfinite(local_dim).any() else None,
        "median_knn_distance": median_knn_distance,
        "knn_recall": quality["recall"],
        "knn_distance_ratio": quality["distance_ratio"],
        "knn_recall_queries": recall_queries if quality["recall"] is not None else 0,
        "timings_s": timings,
    }


def find_fragments(
    data,
    k: int = 15,
    *,
    metric: str = "euclidean",
    pca_variance: float | None = 0.99,
    min_fragment_size: int | None = None,
    halo_ratio: float = 1.5,
    filament_threshold: float = 0.8,
    min_filament_size: int | None = None,
    knn: str = "auto",
    partition: str | None = None,
    attributes: np.ndarray | None = None,
    attribute_names: list[str] | None = None,
    max_enrichment_groups: int = 50,
    recall_queries: int = 200,
    random_state: int = 0,
    filament_scales: int = 3,
    hierarchy: bool = True,
    level: float | None = None,
    min_cluster_size: int | None = None,
    label: str | None = None,
    exact_hierarchy: bool | None = None,
) -> FragmentResult:
    """Segment a z-point cloud into fragments and halo, find filaments, build its density hierarchy.

    Parameters
    ----------
    data : path, ZStore or array of shape (n, z_dim)
        A z-store (path or open store) or the points themselves.
    k : int, default 15
        Neighbours per point (clipped to ``n - 1``).
    metric : {'euclidean', 'cosine'}
        Cosine works on L2-normalised rows (distances reported as ``1 - cos``).
    pca_variance : float or None, default 0.99
        Keep the leading principal components holding this share of the
        variance before building the graph; ``None`` or 1 keeps all.
    min_fragment_size : int, optional
        Smallest connected component reported as a fragment
        (default :func:`default_min_fragment_size`).
    halo_ratio : float, default 1.5
        A point whose k-th neighbour distance exceeds ``halo_ratio`` × the
        median of its neighbours' is a halo point.
    filament_threshold : float, default 0.8
        Filament score (``1 - λ2/λ1`` of the local PCA) above which a point is
        a filament candidate.
    min_filament_size : int, optional
        Smallest chain of candidates reported as a filament (default ``max(5, k)``).
    knn : {'auto', 'exact', 'approximate'}
        See :func:`knn_graph`.
    partition : {'train', 'val', 'test', 'all'}, optional
        Restrict to one partition of a store.
    attributes, attribute_names : optional
        Binary attributes for the enrichment tables when ``data`` is an array
        (a store's own attributes are used automatically).
    max_enrichment_groups : int
        Enrichment is computed for at most this many fragments and as many filaments (largest first).
    recall_queries : int
        Rows on which an approximate k-NN graph is checked against exact search
        (``stats['knn_recall']``); 0 skips the check.
    random_state : int
    filament_scales : int, default 3
        Filament scores are computed on k, 2k, …, ``filament_scales``·k
        neighbours and each point keeps its best; 1 = the single scale k.
        A tube ten times wider than its point spacing scores ~0.55 at k = 15
        and > 0.95 at k = 45.
    hierarchy : bool, default True
        Build the density hierarchy (:func:`density_hierarchy`) on the k-NN graph.
    level : float in (0, 1], optional
        Cut the hierarchy where this fraction of the points (the densest) is
        inside, instead of HDBSCAN's own selection (``cluster``).
    min_cluster_size : int, optional
        Smallest component of the hierarchy (default ``min_fragment_size``).
    exact_hierarchy : bool, optional
        ``True``: the hierarchy is scikit-learn's ``HDBSCAN`` tree of the PCA
        coordinates (``min_samples = k + 1``, as scikit-learn counts the point
        itself); ``False``: the tree of the k-NN graph alone (faster, an
        approximation). Default: exact up to
        :data:`EXACT_HIERARCHY_MAX_POINTS` points (its spanning tree needs
        O(n² d) float64 work).
    label : str, optional
        An attribute name, or ``'class'`` for one-hot attributes (each row
        exactly one positive: classes); the composition of every part and the
        purity / adjusted Rand index against it go into ``labels``. Default:
        ``'class'`` when the attributes are one-hot, else none.

    Returns
    -------
    FragmentResult

    Examples
    --------
    >>> from latentlab.analysis import make_planted_cloud, find_fragments
    >>> cloud = make_planted_cloud(n_bulk=1500, dim=32, n_fragments=2, n_filaments=1)
    >>> res = find_fragments(cloud.z, k=15)
    >>> res.n_fragments >= 3, res.n_filaments
    (True, 1)
    """
    t_start = time.perf_counter()
    timings = {}

    def lap(name, t0):
        timings[name] = round(time.perf_counter() - t0, 3)
        return time.perf_counter()

    _check_options(metric, pca_variance, k, halo_ratio, filament_threshold, filament_scales, level,
                   min_cluster_size)
    from .._checks import check_int

    min_fragment_size = check_int(min_fragment_size, "min_fragment_size", minimum=2, optional=True)
    min_filament_size = check_int(min_filament_size, "min_filament_size", minimum=2, optional=True)
    from .._stages import stage

    t0 = time.perf_counter()
    stage("fragments: loading the points")
    z, index, attrs, attr_names, source = _load_input(data, partition, attributes, attribute_names)
    n, d = z.shape
    if n < 4:
        raise LatentlabError(f"find_fragments: need at least 4 points, got {n}")
    if not np.isfinite(z).all():
        raise LatentlabError(f"{source}: z holds NaN or Inf values; cannot build a neighbour graph")
    largest = float(np.abs(z).max())
    if largest > MAX_ABS_Z:
        # squared distances and the float32 local scatter matrices would overflow to inf / NaN
        raise LatentlabError(f"{source}: z values reach {largest:.3g}; distances between points this large overflow "
                             f"(|z| must stay below {MAX_ABS_Z:.0e}: rescale the points)")
    if attrs is not None and attrs.shape[0] != n:
        raise LatentlabError(f"attributes: {attrs.shape[0]} rows for {n} points")
    label = label if label is not None else _default_label(attrs, attr_names)
    label_values, label_names = _label_vector(label, attrs, attr_names)
    k_eff = int(min(k, n - 1))
    min_frag = int(min_fragment_size) if min_fragment_size else default_min_fragment_size(n)
    min_fil = int(min_filament_size) if min_filament_size else max(5, k_eff)
    t0 = lap("load", t0)

    stage(f"fragments: PCA of {n:,} points")
    y, comps, mean, ratio = _reduce(z, metric, pca_variance)
    t0 = lap("pca", t0)
    stage(f"fragments: {k_eff}-NN graph of {n:,} points")
    ind_all, dist_all, knn_used, quality = _neighbour_graph(y, k_eff, int(filament_scales), knn,
                                                             recall_queries, random_state)
    ind, dist = ind_all[:, :k_eff], dist_all[:, :k_eff]
    t0 = lap("knn", t0)

    def to_metric(euclid):
        return euclid**2 / 2.0 if metric == "cosine" else euclid

    r_k = dist[:, -1].astype(np.float64)
    log_rk = np.log(np.maximum(r_k, 1e-30))
    dim_global = twonn_dimension(dist)
    d_use = float(np.clip(dim_global if np.isfinite(dim_global) else y.shape[1], 1.0, y.shape[1]))
    log_density = (d_use * (np.median(log_rk) - log_rk)).astype(np.float32)
    local_dim = local_dimension_mle(dist)
    t0 = lap("local_stats", t0)

    stage("fragments: segmenting fragments and halo")
    fragment = _segment(ind, log_rk, np.log(halo_ratio), min_frag)
    t0 = lap("fragments", t0)

    stage("fragments: filaments")
    score, scale, spread, filament, ladder, n_cand = _filaments(y, ind_all, k_eff, int(filament_scales),
                                                                filament_threshold, min_fil)
    t0 = lap("filaments", t0)

    tree, cluster = None, None
    if hierarchy:
        stage("fragments: density hierarchy")
        exact = exact_hierarchy if exact_hierarchy is not None else n <= EXACT_HIERARCHY_MAX_POINTS
        # on the coordinates, the tree is scikit-learn's HDBSCAN tree; on the graph alone, an approximation of it
        # the whole graph (filament_scales · k neighbours): longer exact lists settle more of the spanning
        # tree's searches without a scan (4 s instead of 23 s on 10k Fashion-MNIST points), and without
        # points the wider graph's tree is closer to HDBSCAN's
        tree, cluster = density_hierarchy(ind_all, dist_all, min_cluster_size=min_cluster_size or min_frag,
                                          min_samples=k_eff, level=level, dimension=d_use, groups=label_values,
                                          group_names=label_names, points=y if exact else None,
                                          exact_neighbours=knn_used == "exact")
        t0 = lap("hierarchy", t0)

    del ind_all, dist_all
    stage("fragments: tables and label agreement")
    rng = np.random.default_rng(random_state)
    frag_rows = _fragment_table(y, z, fragment, r_k, to_metric, rng)
    fil_rows = _filament_table(y, ind, dist, filament, fragment, comps, to_metric, scale, spread)
    t0 = lap("tables", t0)

    enrichment = _enrichment(attrs, attr_names, fragment, filament, len(frag_rows), len(fil_rows),
                             max_enrichment_groups)
    labels = None
    if label_values is not None:
        labels = _label_summary(label, label_values, label_names, fragment, filament, cluster,
                                frag_rows, fil_rows, tree)
    if enrichment is not None or labels is not None:
        t0 = lap("labels", t0)

    pc = y[:, :N_PC_SCORES].copy()
    if pc.shape[1] < N_PC_SCORES:
        pc = np.hstack([pc, np.zeros((n, N_PC_SCORES - pc.shape[1]), np.float32)])
    timings["total"] = round(time.perf_counter() - t_start, 3)
    parameters = {
        "source": source, "partition": partition, "n": n, "z_dim": d, "k": k_eff, "k_requested": k,
        "metric": metric, "pca_variance": pca_variance, "n_components": int(y.shape[1]),
        "explained_variance": float(ratio.sum()), "knn": knn, "knn_method": knn_used,
        "min_fragment_size": min_frag, "halo_ratio": halo_ratio,
        "filament_threshold": filament_threshold, "min_filament_size": min_fil,
        "filament_scales": int(filament_scales), "filament_k": ladder,
        "hierarchy": bool(hierarchy), "hierarchy_exact": None if tree is None else tree["exact"],
        "level": level, "min_cluster_size": (min_cluster_size or min_frag),
        "label": label, "random_state": random_state,
        # provenance: a cached fragments.h5 is reused only for the same store rows (fragments_match)
        "store_fingerprint": _store_fingerprint(data),
        "result_version": RESULT_VERSION,
    }
    stats = _run_stats(fragment, filament, scale, ladder, n_cand, cluster, dim_global, local_dim,
                       to_metric(float(np.median(r_k))), quality, recall_queries, timings)
    knn_distance = (r_k**2 / 2.0 if metric == "cosine" else r_k).astype(np.float32)
    return FragmentResult(
        fragment=fragment, filament=filament, filament_score=score, knn_distance=knn_distance,
        log_density=log_density, local_dimension=local_dim, index=np.asarray(index, np.int64),
        pc_scores=pc, fragments=frag_rows, filaments=fil_rows, parameters=parameters,
        stats=stats, enrichment=enrichment, filament_scale=scale, cluster=cluster, hierarchy=tree,
        label_values=label_values, labels=labels,
    )
