"""Principal component analysis of a z-store, streamed over ``/z``.

The exact method accumulates the float64 covariance (sums and ``XᵀX`` of
shift-centred blocks) in one pass and eigendecomposes it; memory is
``O(z_dim²)`` whatever the number of rows. For a large ``z_dim`` a
randomized range finder with power iterations runs as a few more passes
(memory ``O(z_dim · k)``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from ._streaming import (
    Moments,
    RangeProduct,
    as_store,
    check_engine,
    n_selected,
    provisional_shift,
    run_pass,
)

__all__ = ["LatentPCA", "fit_pca"]

_METHODS = ("auto", "exact", "randomized")
#: Above this z_dim, ``method='auto'`` uses the randomized solver when n_components is given.
_EXACT_MAX_DIM = 2048


def _flip_signs(components: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each component positive (scikit-learn's convention)."""
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


class LatentPCA:
    """PCA of latent points, fitted by streaming a z-store (or an array).

    Parameters
    ----------
    n_components : int, optional
        Components kept (default: all ``z_dim``).
    method : {'auto', 'exact', 'randomized'}
        ``exact``: eigendecomposition of the streamed covariance.
        ``randomized``: streamed randomized range finder (needs
        ``n_components``). ``auto``: exact unless ``z_dim > 2048`` and
        ``n_components`` is given.
    partition : {'train', 'val', 'test', 'all'}, optional
        Rows of the store used for fitting.
    chunk_rows : int, optional
        Rows per streamed block; does not change the result.
    engine : {'numpy', 'dask'}
    scheduler : str or dask.distributed.Client, optional
        For ``engine='dask'``.
    n_iter : int
        Power iterations of the randomized solver.
    n_oversamples : int
        Extra random directions of the randomized solver.
    random_state : int

    Attributes
    ----------
    mean_ : ndarray (z_dim,)
    components_ : ndarray (n_components, z_dim)
        Principal axes (rows, unit length), by decreasing variance.
    eigenvalues_ : ndarray (n_components,)
        Variances along the axes (covariance with ``ddof=1``, as scikit-learn).
    explained_variance_ : ndarray
        Alias of ``eigenvalues_``.
    explained_variance_ratio_ : ndarray
        ``eigenvalues_ / total_variance_``.
    total_variance_ : float
        Trace of the covariance (sum of all eigenvalues).
    n_samples_ : int
    n_features_in_ : int
    method_ : str

    Examples
    --------
    >>> pca = LatentPCA().fit("z.h5")                          # doctest: +SKIP
    >>> y = pca.transform(z)                                   # doctest: +SKIP
    >>> pca.n_components_for(0.9), pca.semi_axes(2.0)[:3]      # doctest: +SKIP
    """

    def __init__(
        self,
        n_components: int | None = None,
        *,
        method: str = "auto",
        partition: str | None = None,
        chunk_rows: int | None = None,
        engine: str = "numpy",
        scheduler=None,
        n_iter: int = 4,
        n_oversamples: int = 10,
        random_state: int = 0,
    ):
        self.n_components = n_components
        self.method = method
        self.partition = partition
        self.chunk_rows = chunk_rows
        self.engine = engine
        self.scheduler = scheduler
        self.n_iter = n_iter
        self.n_oversamples = n_oversamples
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------
    def _check_params(self, d: int) -> tuple[int, str]:
        if self.method not in _METHODS:
            raise LatentlabError(f"method: unknown PCA method {self.method!r}; use one of {', '.join(_METHODS)}")
        check_engine(self.engine)
        k = self.n_components
        if k is None:
            k = d
        elif not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
            raise LatentlabError(f"n_components: expected an integer in 1..{d}, got {k!r}")
        method = self.method
        if method == "auto":
            method = "randomized" if (d > _EXACT_MAX_DIM and self.n_components is not None) else "exact"
        if method == "randomized" and self.n_components is None:
            raise LatentlabError("n_components: the randomized PCA method needs n_components")
        return int(k), method

    def fit(self, X, y=None) -> LatentPCA:
        """Fit on a z-store path, an open :class:`~latentlab.ZStore` or an ``(N, z_dim)`` array."""
        with as_store(X) as store:
            d = store.z_dim
            k, method = self._check_params(d)
            n = n_selected(store, self.partition)
            if n < 2:
                raise LatentlabError(f"{store.path}: PCA needs at least 2 rows, found {n}")
            shift = provisional_shift(store, self.partition)
            kw = dict(partition=self.partition, chunk_rows=self.chunk_rows, engine=self.engine, scheduler=self.scheduler)
            if method == "exact":
                mom = run_pass(store, {"m": Moments(shift, cross=True)}, **kw)["m"]
                cov = mom.cov(ddof=1)
                w, v = np.linalg.eigh(cov)
                order = np.argsort(w)[::-1]
                w = np.clip(w[order], 0.0, None)
                comps = v[:, order].T
                total = float(np.trace(cov))
            else:
                mom = run_pass(store, {"m": Moments(shift)}, **kw)["m"]
                w, comps = self._randomized(store, mom.mean, mom.n, k, kw)
                total = float(mom.var(ddof=1).sum())
            self.mean_ = mom.mean
            self.n_samples_ = int(mom.n)
        self.n_features_in_ = d
        self.method_ = method
        self.components_ = _flip_signs(comps[:k])
        self.eigenvalues_ = w[:k].copy()
        self.total_variance_ = total
        self.explained_variance_ratio_ = self.eigenvalues_ / total if total > 0 else np.zeros(k)
        self.n_components_ = k
        return self

    def _randomized(self, store, mean, n, k, kw):
        d = store.z_dim
        width = min(d, k + int(self.n_oversamples))
        rng = np.random.default_rng(self.random_state)
        q, _ = np.linalg.qr(rng.standard_normal((d, width)))
        b = None
        for _ in range(max(1, int(self.n_iter))):
            acc = run_pass(store, {"r": RangeProduct(mean, q)}, **kw)["r"]
            b = acc.qtxtxq  # Rayleigh–Ritz of the current basis
            q_used = q
            q, _ = np.linalg.qr(acc.xtxq)
        w, u = np.linalg.eigh((b + b.T) / 2)
        order = np.argsort(w)[::-1]
        w = np.clip(w[order], 0.0, None) / (n - 1)
        comps = (q_used @ u[:, order]).T
        return w, comps

    # -- using the fit ------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "components_"):
            raise LatentlabError("LatentPCA: not fitted yet; call fit() or LatentPCA.load() first")

    @property
    def explained_variance_(self) -> np.ndarray:
        return self.eigenvalues_

    @property
    def z_dim(self) -> int:
        self._check_fitted()
        return int(self.components_.shape[1])

    def _k(self, n_components):
        k = self.components_.shape[0] if n_components is None else int(n_components)
        if not 1 <= k <= self.components_.shape[0]:
            raise LatentlabError(f"n_components: expected 1..{self.components_.shape[0]}, got {n_components!r}")
        return k

    def transform(self, z, n_components: int | None = None, *, whiten: bool = False) -> np.ndarray:
        """Scores ``(z - mean_) @ components_[:k].T`` (divided by ``sqrt(eigenvalue)`` when ``whiten``)."""
        self._check_fitted()
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise LatentlabError(f"z: expected shape (n, {self.z_dim}), got {z.shape}")
        k = self._k(n_components)
        y = (z - self.mean_) @ self.components_[:k].T
        if whiten:
            y = y / np.sqrt(np.maximum(self.eigenvalues_[:k], np.finfo(float).tiny))
        return y

    def inverse_transform(self, y, *, whiten: bool = False) -> np.ndarray:
        """Points ``mean_ + y @ components_[:k]`` for scores ``y`` of shape ``(n, k)``."""
        self._check_fitted()
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y[None, :]
        k = y.shape[1]
        if not 1 <= k <= self.components_.shape[0]:
            raise LatentlabError(f"scores: expected 1..{self.components_.shape[0]} columns, got {k}")
        if whiten:
            y = y * np.sqrt(self.eigenvalues_[:k])
        return self.mean_ + y @ self.components_[:k]

    def n_components_for(self, fraction: float) -> int | None:
        """Fewest components whose explained variance reaches ``fraction`` (None if the kept ones do not)."""
        self._check_fitted()
        if not 0 < fraction <= 1:
            raise LatentlabError(f"fraction: expected a value in (0, 1], got {fraction!r}")
        cum = np.cumsum(self.explained_variance_ratio_)
        hit = np.flatnonzero(cum >= fraction - 1e-12)
        return int(hit[0]) + 1 if len(hit) else None

    def semi_axes(self, k_sigma: float = 1.0) -> np.ndarray:
        """Semi-axes of the ``k_sigma`` confidence ellipsoid: ``k_sigma * sqrt(eigenvalues_)``."""
        self._check_fitted()
        return float(k_sigma) * np.sqrt(self.eigenvalues_)

    # -- persistence --------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``mean``, ``components``, ``eigenvalues`` (and totals) to an ``.npz`` file."""
        self._check_fitted()
        path = Path(path)
        np.savez(
            path,
            mean=self.mean_,
            components=self.components_,
            eigenvalues=self.eigenvalues_,
            explained_variance_ratio=self.explained_variance_ratio_,
            total_variance=np.float64(self.total_variance_),
            n_samples=np.int64(self.n_samples_),
            method=np.str_(self.method_),
        )
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path: str | os.PathLike) -> LatentPCA:
        """Read a fit written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise LatentlabError(f"{path}: no such PCA file")
        try:
            with np.load(path) as f:
                data = {k: f[k] for k in f.files}
        except Exception as exc:
            raise LatentlabError(f"{path}: not a PCA .npz file ({type(exc).__name__})") from None
        missing = {"mean", "components", "eigenvalues"} - set(data)
        if missing:
            raise LatentlabError(f"{path}: PCA file lacks {', '.join(sorted(missing))}")
        pca = cls(n_components=int(data["components"].shape[0]))
        pca.mean_ = data["mean"].astype(np.float64)
        pca.components_ = data["components"].astype(np.float64)
        pca.eigenvalues_ = data["eigenvalues"].astype(np.float64)
        pca.total_variance_ = float(data.get("total_variance", pca.eigenvalues_.sum()))
        pca.explained_variance_ratio_ = data.get(
            "explained_variance_ratio", pca.eigenvalues_ / max(pca.total_variance_, np.finfo(float).tiny)
        ).astype(np.float64)
        pca.n_samples_ = int(data.get("n_samples", 0))
        pca.n_features_in_ = int(pca.mean_.shape[0])
        pca.n_components_ = int(pca.components_.shape[0])
        pca.method_ = str(data.get("method", "exact"))
        return pca

    def to_dict(self) -> dict:
        """Plain-Python summary (the content of ``pca.json``)."""
        self._check_fitted()
        cum = np.cumsum(self.explained_variance_ratio_)
        out = {
            "n_points": int(self.n_samples_),
            "z_dim": int(self.z_dim),
            "method": self.method_,
            "partition": self.partition,
            "n_components": int(self.components_.shape[0]),
            "mean": self.mean_.tolist(),
            "mean_norm": float(np.linalg.norm(self.mean_)),
            "total_variance": float(self.total_variance_),
            "eigenvalues": self.eigenvalues_.tolist(),
            "explained_variance_ratio": self.explained_variance_ratio_.tolist(),
            "cumulative_explained_variance": cum.tolist(),
        }
        for pct in (50, 90, 99):
            out[f"n_components_{pct}"] = self.n_components_for(pct / 100)
        for k in (1, 2, 3):
            out[f"semi_axes_{k}sigma"] = self.semi_axes(k).tolist()
        return out

    def __repr__(self) -> str:
        if not hasattr(self, "components_"):
            return f"LatentPCA(n_components={self.n_components!r}, method={self.method!r})"
        return (
            f"<LatentPCA fitted: {self.n_samples_} points, z_dim {self.z_dim}, "
            f"{self.components_.shape[0]} components, 90% at {self.n_components_for(0.9)}>"
        )


def fit_pca(
    store_or_path,
    n_components: int | None = None,
    *,
    partition: str | None = None,
    chunk_rows: int | None = None,
    method: str = "auto",
    engine: str = "numpy",
    scheduler=None,
    random_state: int = 0,
) -> LatentPCA:
    """Fit a :class:`LatentPCA` on a z-store (path or open store) or an array.

    Parameters
    ----------
    store_or_path : path-like, ZStore or ndarray
    n_components : int, optional
    partition : {'train', 'val', 'test', 'all'}, optional
    chunk_rows : int, optional
    method : {'auto', 'exact', 'randomized'}
    engine : {'numpy', 'dask'}
    scheduler : optional
        Dask client or scheduler address (``engine='dask'``).
    random_state : int

    Returns
    -------
    LatentPCA
        Fitted.

    Examples
    --------
    >>> pca = fit_pca("z.h5", partition="train")            # doctest: +SKIP
    >>> pca.n_components_for(0.9)                            # doctest: +SKIP
    """
    return LatentPCA(
        n_components, method=method, partition=partition, chunk_rows=chunk_rows,
        engine=engine, scheduler=scheduler, random_state=random_state,
    ).fit(store_or_path)
