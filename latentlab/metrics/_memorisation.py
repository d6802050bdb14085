"""Memorisation as the evaluation suites measure it: C_T, AuthPct, the likelihood gap, per-sample scores.

* :class:`DataCopyingTest` / :func:`ct_score` — the C_T statistic of Meehan, Chaudhuri
  and Dasgupta (2020, "A non-parametric test to detect data-copying in generative
  models"), as dgm-eval (``dgm_eval/metrics/ct.py``) and FLD compute it: the training
  points are projected on their first 64 principal axes and split into k-means cells;
  in every cell the distances of generated and of held-out points to their nearest
  training point *of that cell* are compared with a Mann-Whitney U test, Z-scored
  under the null; the cell Z scores are averaged with the held-out points' share of each
  cell as weight, over the cells holding more than ``min_generated`` generated points.
  Negative: the samples are closer to the training points than unseen real points
  are (data copying); positive: farther (underfitting); held-out real data scores ≈ 0.
* :func:`authpct` — AuthPct of Alaa et al. (2022), as dgm-eval ``authpct.py``: a
  sample is *authentic* when its nearest training point has another training point
  closer to it than the sample is. Held-out real data scores about 50–60 %; copies 0 %.
* :func:`loglik_gap` — mean log-likelihood of training rows minus held-out rows
  (FLD's overfitting signal): ≈ 0 for a density that generalises, large for one that
  memorises (a narrow KDE).
* :func:`memorisation_scores` — per-sample scores (nearest-training distance, its ratio
  to the held-out median, authenticity) for ``latentlab sample --save-z``.

Distances are Euclidean; neighbours come from scikit-learn's brute-force
``NearestNeighbors`` (chunked by its ``working_memory``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .._errors import LatentlabError

__all__ = ["CTResult", "DataCopyingTest", "authentic", "authpct", "ct_score", "loglik_gap", "memorisation_scores",
           "zu_statistic"]


def _points(X, name, d=None):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not len(X):
        raise LatentlabError(f"{name}: expected a non-empty 2-D array, got shape {X.shape}")
    if d is not None and X.shape[1] != d:
        raise LatentlabError(f"{name}: has {X.shape[1]} columns, expected {d}")
    if not np.isfinite(X).all():
        raise LatentlabError(f"{name}: contains NaN or Inf values")
    return X


def _nearest(queries, points, *, exclude_self=False):
    """(distance, index) of each query's nearest row of ``points``."""
    from sklearn.neighbors import NearestNeighbors

    k = 2 if exclude_self else 1
    if len(points) < k:
        raise LatentlabError(f"need at least {k} training point(s), got {len(points)}")
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(points)
    dist, idx = nn.kneighbors(queries, n_neighbors=k)
    if not exclude_self:
        return dist[:, 0], idx[:, 0]
    # the query is one of the points: drop it (its own distance is 0, or tied at 0 with a duplicate)
    own = np.arange(len(queries))
    first_is_self = idx[:, 0] == own
    return np.where(first_is_self, dist[:, 1], dist[:, 0]), np.where(first_is_self, idx[:, 1], idx[:, 0])


def zu_statistic(generated_distances, heldout_distances) -> float:
    """Z-scored Mann-Whitney U of generated vs held-out nearest-training distances (one cell).

    ``U`` is scipy's statistic for the generated sample (the number of
    (generated, held-out) pairs where the generated distance is larger, ties
    count ½); under the null it has mean ``mn/2`` and variance ``mn(m+n+1)/12``.
    As in Meehan et al.'s code (and dgm-eval), the mean is shifted by the
    continuity correction ½ toward the copying side: ``Z = (U − mn/2 + ½) / σ``.

    Examples
    --------
    >>> round(zu_statistic([0.1, 0.2], [1.0, 2.0, 3.0]), 4)  # U = 0: every generated point is closer
    -1.4434
    """
    from scipy.stats import mannwhitneyu

    q = np.asarray(generated_distances, dtype=np.float64).ravel()
    p = np.asarray(heldout_distances, dtype=np.float64).ravel()
    m, n = len(q), len(p)
    if not m or not n:
        raise LatentlabError("zu_statistic: needs at least one generated and one held-out distance")
    u = float(mannwhitneyu(q, p, alternative="less").statistic)
    return (u - (n * m / 2 - 0.5)) / math.sqrt(n * m * (n + m + 1) / 12)


@dataclass
class CTResult:
    """The C_T data-copying statistic.

    Attributes
    ----------
    statistic : float
        Weighted mean of the per-cell Z scores (weights: held-out share of each used
        cell, renormalised). Negative = copying; about 0 for held-out real data.
        ``nan`` when no cell has enough generated points.
    p_value : float
        One-sided (copying) p-value: under the null the cell Z scores are independent
        standard normals, so the statistic is normal with variance Σ wᵢ² and
        ``p = Φ(statistic / sqrt(Σ wᵢ²))``.
    n_cells : int
        k-means cells of the training set.
    n_cells_used : int
        Cells with more than ``min_generated`` generated points (and a held-out point).
    cell_z, cell_weight : list of float
        Per cell (``nan`` / 0 for dropped cells).
    """

    statistic: float
    p_value: float
    n_cells: int
    n_cells_used: int
    min_generated: int
    n_generated: int
    n_heldout: int
    n_train: int
    cell_z: list = field(default_factory=list)
    cell_weight: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class DataCopyingTest:
    """C_T (Meehan et al. 2020): cells and held-out distances computed once, then any number of samplers scored.

    Parameters
    ----------
    n_cells : int, default 10
        k-means cells on the (projected) training points. dgm-eval uses 3 with
        10,000-sample sets; with 1,000 samples, 10 cells keep about 100 generated
        points per cell for a sampler that follows the data.
    n_components : int, default 64
        PCA dimensions (as dgm-eval) when the features have more.
    min_generated : int, default 20
        A cell counts only with more than this many generated points (dgm-eval's
        ``tau = 20 / m``).
    max_train : int, optional
        A seeded subset of at most this many training points defines the cells and
        the nearest-training distances (``None``: all).
    random_state : int, default 0

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> train, held = rng.normal(size=(2000, 4)), rng.normal(size=(500, 4))
    >>> test = DataCopyingTest(n_cells=3).fit(train, held)
    >>> test.score(train[:500] + 1e-3).statistic < -5          # copies of training points
    True
    >>> abs(test.score(rng.normal(size=(500, 4))).statistic) < 3  # new points from the same law
    True
    """

    def __init__(self, n_cells: int = 10, n_components: int = 64, min_generated: int = 20, max_train: int | None = None,
                 random_state: int = 0):
        self.n_cells = n_cells
        self.n_components = n_components
        self.min_generated = min_generated
        self.max_train = max_train
        self.random_state = random_state

    def fit(self, train, heldout) -> DataCopyingTest:
        from sklearn.cluster import KMeans

        from ..analysis._pca import LatentPCA

        train = _points(train, "training points")
        heldout = _points(heldout, "held-out points", train.shape[1])
        if self.max_train is not None and len(train) > self.max_train:
            rng = np.random.default_rng(self.random_state)
            train = train[np.sort(rng.choice(len(train), int(self.max_train), replace=False))]
        k = int(self.n_cells)
        if not 1 <= k <= len(train):
            raise LatentlabError(f"n_cells must be between 1 and the number of training points ({len(train)}), got {k}")
        self.pca_ = None
        if train.shape[1] > self.n_components:
            self.pca_ = LatentPCA(n_components=int(self.n_components)).fit(train)
            train = self.pca_.transform(train)
        km = KMeans(n_clusters=k, n_init=3, random_state=self.random_state).fit(train)
        self.kmeans_ = km
        self.train_cells_ = km.labels_
        self.train_ = train
        held_proj = self._project(heldout)
        self.heldout_cells_ = km.predict(held_proj)
        self.heldout_distances_ = self._cell_distances(held_proj, self.heldout_cells_)
        self.heldout_share_ = np.bincount(self.heldout_cells_, minlength=k) / len(heldout)
        self.n_heldout_ = len(heldout)
        return self

    def _project(self, X):
        return self.pca_.transform(X) if self.pca_ is not None else X

    def _cell_distances(self, X, cells):
        """Distance of each point to the nearest training point of its own cell."""
        out = np.empty(len(X))
        for c in np.unique(cells):
            members = cells == c
            out[members] = _nearest(X[members], self.train_[self.train_cells_ == c])[0]
        return out

    def score(self, generated) -> CTResult:
        """C_T of ``generated`` against the fitted training and held-out points."""
        from scipy.stats import norm

        if not hasattr(self, "kmeans_"):
            raise LatentlabError("DataCopyingTest is not fitted yet; call fit(train, heldout) first")
        gen = self._project(_points(generated, "generated points", self.kmeans_.n_features_in_
                                    if self.pca_ is None else self.pca_.z_dim))
        cells = self.kmeans_.predict(gen)
        dist = self._cell_distances(gen, cells)
        k = int(self.n_cells)
        counts = np.bincount(cells, minlength=k)
        z = np.full(k, np.nan)
        used = (counts > int(self.min_generated)) & (self.heldout_share_ > 0)
        for c in np.flatnonzero(used):
            z[c] = zu_statistic(dist[cells == c], self.heldout_distances_[self.heldout_cells_ == c])
        w = np.where(used, self.heldout_share_, 0.0)
        if w.sum() > 0:
            w = w / w.sum()
            stat = float(np.dot(w[used], z[used]))
            p = float(norm.cdf(stat / math.sqrt(float((w**2).sum()))))
        else:
            stat, p = float("nan"), float("nan")
        return CTResult(stat, p, k, int(used.sum()), int(self.min_generated), len(gen), int(self.n_heldout_),
                        len(self.train_), [None if not np.isfinite(v) else float(v) for v in z], [float(v) for v in w])


def ct_score(train, heldout, generated, *, n_cells: int = 10, n_components: int = 64, min_generated: int = 20,
             random_state: int = 0) -> CTResult:
    """C_T of ``generated`` (see :class:`DataCopyingTest`)."""
    return DataCopyingTest(n_cells, n_components, min_generated, random_state=random_state).fit(train, heldout).score(generated)


def authentic(generated, train) -> np.ndarray:
    """Per generated point: is it authentic (Alaa et al. 2022, as dgm-eval's AuthPct)?

    For a sample with nearest training point ``j`` at distance ``d1``, let ``d2`` be
    ``j``'s distance to its own nearest other training point; the sample is authentic
    when ``d2 < d1``. Only the training points that are some sample's nearest
    neighbour need their own neighbour distance.
    """
    train = _points(train, "training points")
    gen = _points(generated, "generated points", train.shape[1])
    d1, j = _nearest(gen, train)
    uniq, inv = np.unique(j, return_inverse=True)
    d2 = _nearest_other(train, uniq)
    return d2[inv] < d1


def _nearest_other(train, rows):
    from sklearn.neighbors import NearestNeighbors

    if len(train) < 2:
        raise LatentlabError("AuthPct needs at least 2 training points")
    nn = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(train)
    dist, idx = nn.kneighbors(train[rows], n_neighbors=2)
    return np.where(idx[:, 0] == rows, dist[:, 1], dist[:, 0])


def authpct(generated, train) -> float:
    """Percentage of authentic samples (0–100), as dgm-eval's ``compute_authpct``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> train = rng.normal(size=(500, 3))
    >>> authpct(train[:50] + 1e-6, train)   # copies are never authentic
    0.0
    """
    return float(100.0 * authentic(generated, train).mean())


def loglik_gap(region, train, heldout) -> tuple[float | None, float | None]:
    """``(mean train log-likelihood, train − held-out gap)`` of a density region (``None`` where undefined).

    The gap is FLD's overfitting signal: a density that memorises its training
    points scores them far higher than unseen ones.
    """
    if region is None or not getattr(region, "has_density", False):
        return None, None
    tr = np.asarray(region.score_samples(train), dtype=np.float64)
    he = np.asarray(region.score_samples(heldout), dtype=np.float64)
    mt, mh = float(tr.mean()), float(he.mean())
    if not math.isfinite(mt):
        return None, None
    return mt, (mt - mh) if math.isfinite(mh) else None


def memorisation_scores(generated, train, heldout) -> dict:
    """Per-sample memorisation scores of ``generated`` against the training and held-out points.

    Returns
    -------
    dict of arrays (one value per sample)
        ``nearest_train_distance``; ``novelty_ratio`` (that distance over the median
        nearest-training distance of the held-out points: below 1 = closer than unseen
        real data); ``near_copy`` (closer than the held-out points' 5th percentile);
        ``authentic`` (AuthPct's rule).
    """
    train = _points(train, "training points")
    gen = _points(generated, "generated points", train.shape[1])
    held = _points(heldout, "held-out points", train.shape[1])
    d, _ = _nearest(gen, train)
    h, _ = _nearest(held, train)
    med = float(np.median(h))
    return {"nearest_train_distance": d,
            "novelty_ratio": d / med if med > 0 else np.full(len(d), np.inf),
            "near_copy": d < float(np.quantile(h, 0.05)),
            "authentic": authentic(gen, train)}


# -- compare-samplers: the memorisation columns, computed per sampler -----------------------------------------------

#: Columns :func:`~latentlab.metrics.compare_samplers` adds (empty where not measured).
MEMORISATION_COLUMNS = ["train_loglik", "loglik_gap", "ct", "ct_pvalue", "ct_cells", "authpct", "pixel_ct",
                        "pixel_ct_pvalue", "pixel_ct_cells", "pixel_authpct"]
__all__ += ["MEMORISATION_COLUMNS", "MemorisationReference", "prepare_memorisation"]


@dataclass
class MemorisationReference:
    """What every sampler's memorisation is measured against, fitted once per comparison.

    ``latent`` / ``pixel``: C_T tests fitted on the fit (training) rows and on held-out rows
    that are *not* the held-out real row's points (so that row is measured like a sampler);
    ``train`` / ``pixel_train``: the training points of AuthPct; ``train_score``: a seeded
    subset of fit rows for the train log-likelihood of the gap.
    """

    latent: DataCopyingTest | None
    train: np.ndarray
    train_score: np.ndarray
    pixel: DataCopyingTest | None = None
    pixel_train: np.ndarray | None = None
    pixel_size: int = 16

    def describe(self) -> dict:
        out = {"ct": None if self.latent is None else (f"C_T (Meehan et al. 2020, as dgm-eval): {self.latent.n_cells} k-means cells of the fit rows after PCA to"
                      f" {self.latent.n_components} dimensions; cells with more than {self.latent.min_generated} samples;"
                      f" {self.latent.n_heldout_} held-out rows outside the held-out real row"),
               "authpct": f"AuthPct (Alaa et al. 2022) against {len(self.train)} fit rows",
               "loglik_gap": f"mean log-likelihood of {len(self.train_score)} seeded fit rows minus heldout_loglik"}
        if self.pixel is not None:
            out["pixel"] = (f"the same on decoded images area-averaged to {self.pixel_size}x{self.pixel_size}:"
                            f" {len(self.pixel_train)} decoded fit rows, {self.pixel.n_heldout_} decoded held-out rows")
        return out

    def row(self, samples, region=None, heldout_loglik=None, images=None) -> dict:
        """The :data:`MEMORISATION_COLUMNS` of one sampler's samples (and decoded images, with a model)."""
        out = dict.fromkeys(MEMORISATION_COLUMNS)
        out["authpct"] = authpct(samples, self.train)
        if self.latent is not None:
            ct = self.latent.score(samples)
            out.update(ct=_nan_none(ct.statistic), ct_pvalue=_nan_none(ct.p_value), ct_cells=ct.n_cells_used)
        if region is not None and getattr(region, "has_density", False) and len(self.train_score):
            tr = float(np.mean(region.score_samples(self.train_score)))
            if math.isfinite(tr):
                out["train_loglik"] = tr
                if heldout_loglik is not None:
                    out["loglik_gap"] = tr - float(heldout_loglik)
        if self.pixel is not None and images is not None:
            from ._model import pixel_features

            feats = pixel_features(images, self.pixel_size)
            pct = self.pixel.score(feats)
            out.update(pixel_ct=_nan_none(pct.statistic), pixel_ct_pvalue=_nan_none(pct.p_value),
                       pixel_ct_cells=pct.n_cells_used, pixel_authpct=authpct(feats, self.pixel_train))
        return out


def _nan_none(v):
    return float(v) if v is not None and math.isfinite(v) else None


def prepare_memorisation(data, model=None, *, seed: int = 0, pixel_size: int = 16, max_heldout: int = 2000,
                         max_train_score: int = 2000, n_cells: int = 10) -> MemorisationReference:
    """Fit the C_T cells and pick the reference rows for :func:`~latentlab.metrics.compare_samplers` (its ``_Data``, ``_Model``)."""
    rng = np.random.default_rng((seed, 21))
    held = np.setdiff1d(data.held_rows, data.real_rows) if data.real_rows is not None else np.asarray(data.held_rows)
    if len(held) > max_heldout:
        held = np.sort(rng.choice(held, max_heldout, replace=False))
    Zheld = np.asarray(data.Z[held], dtype=np.float64) if len(held) else data.Zfit[:0]
    latent = None  # without held-out rows (tiny stores) C_T has no reference
    if len(Zheld) >= 2:
        latent = DataCopyingTest(n_cells=min(n_cells, max(1, len(data.Zfit) // 20)), random_state=seed).fit(data.Zfit, Zheld)
    score_rows = data.Zfit if len(data.Zfit) <= max_train_score else data.Zfit[np.sort(rng.choice(len(data.Zfit), max_train_score, replace=False))]
    ref = MemorisationReference(latent, data.Zfit, score_rows, pixel_size=pixel_size)
    if model is not None and len(model.fit_pix) >= 2 and len(Zheld) >= 2:
        from ._model import pixel_features

        held_pix = pixel_features(model.ae.decode(Zheld.astype(np.float32)), pixel_size)
        ref.pixel = DataCopyingTest(n_cells=min(n_cells, max(1, len(model.fit_pix) // 20)), random_state=seed).fit(model.fit_pix, held_pix)
        ref.pixel_train = model.fit_pix
    return ref


def store_memorisation_scores(store, region, samples, *, max_heldout: int = 2000, seed: int = 0) -> dict:
    """:func:`memorisation_scores` of ``samples`` against the rows ``region`` was fitted on and the store's held-out rows.

    The fit rows are the partition recorded at fit time (``fit_store_``); the held-out
    rows come from :func:`~latentlab.regions.split_rows` (at most ``max_heldout``, seeded).
    Used by ``latentlab sample --save-z`` to store one score per sample. A region fitted
    on every row has no held-out rows: then only ``nearest_train_distance`` and
    ``authentic`` are returned (and nothing for fewer than 2 fit rows).
    """
    from ..regions import split_rows
    from ..store import open_store

    with open_store(store) as s:
        used = (getattr(region, "fit_store_", None) or {}).get("partition") or getattr(region, "fit_partition_", "all")
        fit = s.selection(used) if used in ("train", "val", "test") and s.partition is not None else np.arange(s.n)
        _, held, _ = split_rows(s, partition=used if used in ("train", "val", "test") else "train", seed=seed)
        held = np.setdiff1d(held, fit)
        if len(held) > max_heldout:
            held = np.sort(np.random.default_rng(seed).choice(held, max_heldout, replace=False))
        if len(fit) < 2:
            return {}
        train = np.asarray(s.z[np.sort(fit)], dtype=np.float64)
        heldout = np.asarray(s.z[held], dtype=np.float64)
    if not len(heldout):  # fitted on every row: nothing unseen to compare with, so only the training-side scores
        gen = _points(samples, "generated points", train.shape[1])
        return {"nearest_train_distance": _nearest(gen, train)[0], "authentic": authentic(gen, train)}
    return memorisation_scores(samples, train, heldout)


__all__ += ["store_memorisation_scores"]
