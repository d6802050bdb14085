"""The reference method for multimodal data: one PCA ellipsoid per cluster, mixed by cluster size."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.utils._param_validation import Interval, StrOptions

from .._errors import LatentlabError
from ._base import MAX_SEED, DensityRegion, check_grid
from ._density import _subsample, select_by_heldout
from ._ellipsoid import EllipsoidRegion
from ._progress import steps
from ._state import JSON, Array, Int, RegionList, StateError, Text

__all__ = ["ClusterEllipsoidRegion"]


def _store_axes_as_float32(ellipsoid) -> None:
    """Keep an ellipsoid's mean and axes as float32 values (in float64 arrays); drop its unused covariance.

    A region file stores a float64 array whose values are float32-exact as float32
    (``regions/_io.py``), so the ~1,500 clusters × ~40 axes × z_dim of the default
    fit take half the space (synthetic 60k × 256: 122.6 MB → 63.2 MB). The rounding
    (relative 6e-8, the precision of the store's own float32 z) moves a held-out
    point's log-likelihood by a few 1e-6 relative at most and their mean by ~1e-9
    (``benchmarks/bench_region_size.py``, ``tests/test_cluster_region_size.py``), and the
    region saved is bit for bit the region fitted, so its samples after loading
    are identical. The covariance matrix (z_dim² per full-rank cluster) is only
    used by the planes region.
    """
    for key in ("mean_", "components_"):
        setattr(ellipsoid, key, np.asarray(getattr(ellipsoid, key), dtype=np.float32).astype(np.float64))
    ellipsoid.__dict__.pop("_cov", None)


class ClusterEllipsoidRegion(DensityRegion):
    """PCA ellipsoids per cluster (or per fragment), mixed by cluster size.

    The seed's ellipsoid holds for one compact cloud. On data made of several
    (garment types, say) one ellipsoid spans the empty space between them and its
    samples blend the modes; here each cluster gets its own
    :class:`EllipsoidRegion` (its own mean, PCA axes and k-σ bound), and a
    sample first picks a cluster with probability proportional to its size.

    Parameters
    ----------
    n_clusters : int, 'auto' or None, default None
        ``None``: one cluster per ``cluster_size`` fit points, so the ellipsoids
        are local (on Fashion-MNIST at z 256 precision and density rise steadily
        from 10 to ~1,500 clusters while novelty stays ≥ 1; docs/sampling.md).
        ``'auto'`` keeps the value of ``clusters_grid`` with the best held-out
        log-likelihood (20 % of the fit points; ``selection_``): likelihood
        prefers fewer, wider clusters than sample quality does.
    cluster_size : int, default 40
        Mean points per cluster when ``n_clusters=None``.
    clusters : {'kmeans', 'fragments'}, default 'kmeans'
        k-means in the first ``pca_components`` PCA dimensions, or the labels of
        ``latentlab fragments`` (then ``fit`` takes ``labels``; label −1, the
        unassigned points, is left out).
    pca_components : int, default 32
        Dimensions the k-means runs in (the ellipsoids use all of them).
    sigma, fill : as :class:`EllipsoidRegion`
    reg_covar : float, default 1e-3
        Eigenvalue floor of each cluster's ellipsoid, relative to its mean eigenvalue
        (a cluster may have fewer points than dimensions).
    min_cluster_size : int, default 10
        Smaller clusters are dropped (their weight goes to the others).
    max_cluster_samples : int, default 20000
        k-means runs on a seeded subsample of this many points, then assigns all.
    random_state : int, default 0
    clusters_grid : tuple of int, default (5, 10, 20, 40, 80, 160)

    Attributes
    ----------
    ellipsoids_ : list of EllipsoidRegion
    weights_ : ndarray
    n_clusters_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Z = np.concatenate([rng.normal(-5, 1, (300, 4)), rng.normal(5, 1, (100, 4))])
    >>> r = ClusterEllipsoidRegion(n_clusters=2, pca_components=2).fit(Z)
    >>> np.round(np.sort(r.weights_), 2).tolist()
    [0.25, 0.75]
    """

    bounded = True
    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "cluster_size": [Interval(Integral, 2, None, closed="left")],
        "clusters": [StrOptions({"kmeans", "fragments"})],
        "pca_components": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "fill": [StrOptions({"gaussian", "uniform"})],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "min_cluster_size": [Interval(Integral, 2, None, closed="left")],
        "max_cluster_samples": [Interval(Integral, 2, None, closed="left")],
        "random_state": [Interval(Integral, 0, MAX_SEED, closed="both")],
        "clusters_grid": ["array-like"],
    }
    _fitted_schema = {"ellipsoids_": RegionList("EllipsoidRegion", many=True, dim="k"),
                      "weights_": Array(("k",), nonnegative=True), "n_clusters_": Int(1, dim="k"),
                      "selection_": JSON(dict, optional=True), "selection_method_": Text(optional=True)}

    def _check_state(self):
        if not abs(float(self.weights_.sum()) - 1.0) < 1e-6:
            raise StateError("weights_", f"sum to {float(self.weights_.sum())!r}, not 1")

    def __init__(self, n_clusters=None, cluster_size: int = 40, clusters: str = "kmeans", pca_components: int = 32, sigma: float = 2.0,
                 fill: str = "gaussian", reg_covar: float = 1e-3, min_cluster_size: int = 10,
                 max_cluster_samples: int = 20_000, random_state: int = 0, clusters_grid=(5, 10, 20, 40, 80, 160)):
        self.n_clusters = n_clusters
        self.cluster_size = cluster_size
        self.clusters = clusters
        self.pca_components = pca_components
        self.sigma = sigma
        self.fill = fill
        self.reg_covar = reg_covar
        self.min_cluster_size = min_cluster_size
        self.max_cluster_samples = max_cluster_samples
        self.random_state = random_state
        self.clusters_grid = clusters_grid

    def _check_params(self):
        if self.n_clusters == "auto":
            check_grid(self.clusters_grid, "cluster-ellipsoid: clusters_grid")

    @property
    def fit_inputs(self) -> dict:
        return {"labels": "fragments"} if self.clusters == "fragments" else {}

    def _kmeans_labels(self, Z, k):
        from sklearn.cluster import MiniBatchKMeans

        from ..analysis._pca import pca_of_rows

        m = min(int(self.pca_components), Z.shape[1])
        sub = _subsample(Z, self.max_cluster_samples, self.random_state)
        pca = pca_of_rows(sub)
        mean, basis = pca.mean_, pca.components_[:m].T
        k = int(min(k, len(sub)))
        # one k-means++ start: with ~1,500 clusters, restarts cost more than they change (BisectingKMeans
        # was measured too: slower at this k and 4 points lower precision on Fashion-MNIST)
        km = MiniBatchKMeans(n_clusters=k, random_state=self.random_state, n_init=1, batch_size=4096)
        km.fit((sub - mean) @ basis)
        return km.predict((Z - mean) @ basis)

    def _fit_clusters(self, Z, labels):
        from threadpoolctl import threadpool_limits

        ellipsoids, sizes = [], []
        values, inverse = np.unique(labels, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(values) + 1))
        # many small eigendecompositions: one BLAS thread each is ~10x faster than two (thread hand-off)
        with steps("cluster-ellipsoid: ellipsoids", total=len(values)) as bar, threadpool_limits(1, user_api="blas"):
            for i, v in enumerate(values):
                members = Z[order[bounds[i]:bounds[i + 1]]]
                if v >= 0 and len(members) >= self.min_cluster_size:
                    ell = EllipsoidRegion(sigma=self.sigma, fill=self.fill, reg_covar=self.reg_covar).fit(members)
                    _store_axes_as_float32(ell)
                    ellipsoids.append(ell)
                    sizes.append(len(members))
                bar.advance(1)
        if not ellipsoids:
            raise LatentlabError(f"cluster-ellipsoid: no cluster has at least {self.min_cluster_size} points")
        self.ellipsoids_ = ellipsoids
        self.weights_ = np.asarray(sizes, dtype=np.float64) / sum(sizes)
        self.n_clusters_ = len(ellipsoids)

    def _fit(self, Z, labels=None):
        if self.clusters == "fragments":
            if labels is None:
                raise LatentlabError("cluster-ellipsoid: clusters='fragments' needs the fragment labels (--fragments)")
            self._fit_clusters(Z, np.asarray(labels).ravel())
            return
        if self.n_clusters == "auto":
            grid = [int(k) for k in self.clusters_grid]

            def candidate(k, X):
                other = ClusterEllipsoidRegion(**{**self.get_params(), "n_clusters": k})
                other.n_features_in_, other.n_fit_ = X.shape[1], len(X)
                other._fit_clusters(X, other._kmeans_labels(X, k))
                return other

            _, best, self.selection_ = select_by_heldout(Z, grid, candidate, seed=self.random_state, label="cluster-ellipsoid")
            self.ellipsoids_, self.weights_, self.n_clusters_ = best.ellipsoids_, best.weights_, best.n_clusters_
            self.selection_method_ = "held-out log-likelihood (20 % of the fit points)"
            return
        k = self.n_clusters if self.n_clusters is not None else max(1, round(len(Z) / int(self.cluster_size)))
        self._fit_clusters(Z, self._kmeans_labels(Z, int(k)))

    def _sample(self, n, rng):
        which = rng.choice(self.n_clusters_, size=n, p=self.weights_)
        out = np.empty((n, self.n_features_in_))
        for c, ell in enumerate(self.ellipsoids_):
            at = np.flatnonzero(which == c)
            if len(at):
                out[at] = ell.sample(len(at), rng)
        return out

    def _contains(self, Z):
        inside = np.zeros(len(Z), dtype=bool)
        for ell in self.ellipsoids_:
            inside |= ell._contains(Z)
        return inside

    def _sq_radii(self, Z, chunk_rows: int = 512) -> np.ndarray:
        """``|u|²`` of every point in every cluster's whitened frame, shape (n, clusters).

        Each ellipsoid's ``_whitened_sq_norm``, for all clusters at once: one
        product with the stacked axes of every ellipsoid per block of rows (the ~1,500 local ellipsoids would otherwise
        each re-read all of ``Z``).
        """
        ells = self.ellipsoids_
        W = np.concatenate([e.components_ for e in ells])
        inv_lam = np.concatenate([1.0 / e.eigenvalues_ for e in ells])
        offsets = np.concatenate([e.components_ @ e.mean_ for e in ells])
        starts = np.cumsum([0] + [len(e.components_) for e in ells])[:-1]
        means = np.stack([e.mean_ for e in ells])
        inv_floor = np.array([1.0 / e.floor_ if e._low_rank else 0.0 for e in ells])
        mean_sq = (means**2).sum(axis=1)
        out = np.empty((len(Z), len(ells)))
        for s in range(0, len(Z), chunk_rows):
            Zb = Z[s:s + chunk_rows]
            P = Zb @ W.T - offsets
            P2 = P * P
            along = np.add.reduceat(P2 * inv_lam, starts, axis=1)
            dist2 = (Zb**2).sum(axis=1)[:, None] - 2.0 * (Zb @ means.T) + mean_sq
            tail = np.maximum(dist2 - np.add.reduceat(P2, starts, axis=1), 0.0)
            out[s:s + len(Zb)] = along + tail * inv_floor
        return out

    def _vectorised(self) -> bool:
        return self.fill == "gaussian"  # the ellipsoids are radius-bounded; a uniform fill scores each one

    def _log_terms(self, Z, truncated: bool) -> np.ndarray:
        """log w_c + log density of cluster c at each point, shape (clusters, n)."""
        d = self.n_features_in_
        r2 = self._sq_radii(np.asarray(Z, dtype=np.float64))
        norm = np.array([d * math.log(2 * math.pi) + 2.0 * e._log_volume_factor() for e in self.ellipsoids_])
        logs = -0.5 * (r2 + norm) + np.log(self.weights_)
        if truncated:
            radius = np.array([e.radius_ for e in self.ellipsoids_])
            logs = logs - np.log([e.mass_ for e in self.ellipsoids_])
            logs = np.where(np.sqrt(r2) <= radius * (1 + 1e-9) + 1e-9, logs, -np.inf)
        return logs.T

    def _selection_score(self, Z):
        """Log-density of the untruncated Gaussian mixture: finite everywhere, for model selection."""
        if self._vectorised():
            return logsumexp(self._log_terms(Z, truncated=False), axis=0)
        logs = np.stack([math.log(w) + ell._mnd_logpdf(Z) for w, ell in zip(self.weights_, self.ellipsoids_)])
        return logsumexp(logs, axis=0)

    def _score_samples(self, Z):
        if self._vectorised():
            return logsumexp(self._log_terms(Z, truncated=True), axis=0)
        logs = np.stack([math.log(w) + ell._score_samples(Z) for w, ell in zip(self.weights_, self.ellipsoids_)])
        return logsumexp(logs, axis=0)
