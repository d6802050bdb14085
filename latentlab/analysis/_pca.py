"""Principal component analysis of a z-store, streamed over ``/z``: latentlab's one PCA core.

The exact method accumulates the float64 covariance (sums and ``XᵀX`` of
shift-centred blocks, :class:`~latentlab.analysis._streaming.Moments`) in one
pass and eigendecomposes it; memory is ``O(z_dim²)`` whatever the number of
rows. For a large ``z_dim`` a randomized range finder with power iterations
runs as a few more passes (memory ``O(z_dim · k)``).

:class:`LatentPCA` also folds in-memory blocks with ``partial_fit`` and
combines fits of different rows with ``merge``. Every PCA in latentlab (this
analysis and its report, the fragments' reduction, the ellipsoid and planes
regions, ``latentlab path --axes pca``) goes through :func:`principal_axes`,
so they share one sign convention: scikit-learn's ``svd_flip`` on the
components (the largest-magnitude entry of each axis is positive), and PC1 is
the same vector in all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from ._contract import Analysis, AnalysisResult, Option, Table
from ._streaming import _SHIFT_ROWS, Moments, RangeProduct, RowSample, check_engine, open_passes

__all__ = ["LatentPCA", "PCAResult", "fit_pca", "pca_analysis", "pca_of_rows", "principal_axes", "principal_axes_of_rows"]

_METHODS = ("auto", "exact", "randomized")
#: Above this z_dim, ``method='auto'`` uses the randomized solver when n_components is given.
_EXACT_MAX_DIM = 2048


def _flip_signs(components: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each component (row) positive: scikit-learn's ``svd_flip``."""
    from sklearn.utils.extmath import svd_flip

    return svd_flip(None, np.array(components, dtype=np.float64), u_based_decision=False)[1]


def principal_axes(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, clipped at 0) and principal axes (rows, sign-flipped) of a covariance.

    Examples
    --------
    >>> w, axes = principal_axes(np.array([[1.0, 0.0], [0.0, 4.0]]))
    >>> w.tolist(), axes.tolist()
    ([4.0, 1.0], [[0.0, 1.0], [1.0, 0.0]])
    """
    w, v = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    order = np.argsort(w)[::-1]
    return np.clip(w[order], 0.0, None), _flip_signs(v[:, order].T)


def principal_axes_of_rows(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, eigenvalues and axes of a few rows (n ≤ z_dim) by the SVD of the centred rows.

    The same decomposition and signs as :func:`principal_axes` of their
    covariance (ddof 1), at n²·d instead of d³ cost, but only the ``rank``
    axes with variance are returned (eigenvalues descending, axes as rows).

    Examples
    --------
    >>> Z = np.random.default_rng(0).normal(size=(5, 40))
    >>> mean, w, axes = principal_axes_of_rows(Z)
    >>> w0, axes0 = principal_axes(np.cov(Z, rowvar=False))
    >>> axes.shape, bool(np.allclose(w, w0[:4])), bool(np.allclose(axes, axes0[:4]))
    ((4, 40), True, True)
    """
    Z = np.asarray(Z, dtype=np.float64)
    mean = Z.mean(axis=0)
    _, sv, vt = np.linalg.svd(Z - mean, full_matrices=False)
    w = sv**2 / max(len(Z) - 1, 1)
    keep = w > 1e-10 * max(float(w.max(initial=0.0)), 1e-300)
    return mean, w[keep], _flip_signs(vt[keep])


_PARAMS = ("n_components", "method", "partition", "chunk_rows", "engine", "scheduler", "n_iter",
           "n_oversamples", "random_state")


def pca_of_rows(Z, chunk_rows: int = 16_384) -> LatentPCA:
    """Exact PCA of in-memory rows, folded ``chunk_rows`` at a time (``partial_fit``; no float64 copy of ``Z``).

    Examples
    --------
    >>> Z = np.random.default_rng(0).normal(size=(300, 3)) * [1.0, 5.0, 2.0]
    >>> np.abs(pca_of_rows(Z, chunk_rows=64).components_[0]).argmax()
    np.int64(1)
    """
    Z = np.asarray(Z)
    if Z.ndim != 2 or len(Z) < 2:
        raise LatentlabError(f"PCA needs a 2-D array of at least 2 rows, got shape {Z.shape}")
    pca = LatentPCA()
    for start in range(0, len(Z), int(chunk_rows)):
        pca.partial_fit(Z[start:start + int(chunk_rows)])
    return pca


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
    >>> z = np.random.default_rng(0).normal(size=(1_000, 3)) * [3.0, 1.0, 0.1]
    >>> pca = LatentPCA().fit(z)
    >>> pca.n_components_for(0.9), pca.transform(z).shape
    (1, (1000, 3))

    Blocks folded with ``partial_fit`` (or fits merged) give the same axes:

    >>> halves = LatentPCA().partial_fit(z[:500]).merge(LatentPCA().partial_fit(z[500:]))
    >>> bool(np.allclose(halves.components_, pca.components_))
    True
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
        """Fit on a z-store path, an open :class:`~latentlab.ZStore` or an ``(N, z_dim)`` array (streamed)."""
        with open_passes(X, self.partition, self.chunk_rows, self.engine, self.scheduler) as passes:
            k, method = self._check_params(passes.z_dim)
            if passes.n < 2:
                raise LatentlabError(f"{passes.label}: PCA needs at least 2 rows, found {passes.n}")
            if method == "exact":
                self._set_from_moments(passes.run({"m": Moments(passes.shift, cross=True)})["m"], k)
            else:
                mom = passes.run({"m": Moments(passes.shift)})["m"]
                w, comps = self._randomized(passes, mom.mean, mom.n, k)
                self._set_axes(mom, w, _flip_signs(comps), float(mom.var(ddof=1).sum()), k)
                self.moments_ = None
        self.method_ = method
        return self

    def partial_fit(self, X, y=None) -> LatentPCA:
        """Fold an in-memory block of rows into the running covariance and refit the axes (exact method).

        Sums are kept in float64 about a shift taken from the first block; see :meth:`merge`.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.dtype.kind not in "fiu":
            raise LatentlabError(f"X: expected a 2-D numeric array (n, z_dim), got shape {X.shape}")
        mom = getattr(self, "moments_", None)
        if mom is None:
            mom = Moments(np.asarray(X[:_SHIFT_ROWS], dtype=np.float64).mean(axis=0), cross=True)
        elif X.shape[1] != mom.shift.shape[0]:
            raise LatentlabError(f"X: expected {mom.shift.shape[0]} columns, got {X.shape[1]}")
        mom.update(X)
        return self._refit(mom)

    def merge(self, other: LatentPCA) -> LatentPCA:
        """A new fit on the rows of both (exact fits from :meth:`fit` or :meth:`partial_fit`)."""
        a, b = getattr(self, "moments_", None), getattr(other, "moments_", None)
        if a is None or b is None:
            raise LatentlabError("LatentPCA.merge: both fits need their moments (an exact fit, not a loaded one)")
        out = LatentPCA(**{k: getattr(self, k) for k in _PARAMS})
        return out._refit(a.merge(b))

    def _refit(self, mom: Moments) -> LatentPCA:
        d = mom.shift.shape[0]
        k, _ = self._check_params(d)
        if mom.n < 2:  # one row so far: nothing to diagonalise yet
            self.moments_ = mom
            return self
        self._set_from_moments(mom, k)
        self.method_ = "exact"
        return self

    def _set_from_moments(self, mom: Moments, k: int) -> None:
        cov = mom.cov(ddof=1)
        w, comps = principal_axes(cov)
        self._set_axes(mom, w, comps, float(np.trace(cov)), k)
        self.moments_ = mom

    def _set_axes(self, mom: Moments, w, comps, total: float, k: int) -> None:
        self.mean_ = mom.mean
        self.n_samples_ = int(mom.n)
        self.n_features_in_ = int(comps.shape[1])
        self.components_ = comps[:k]
        self.eigenvalues_ = w[:k].copy()
        self.total_variance_ = total
        self.explained_variance_ratio_ = self.eigenvalues_ / total if total > 0 else np.zeros(k)
        self.n_components_ = k

    def _randomized(self, passes, mean, n, k):
        d = passes.z_dim
        width = min(d, k + int(self.n_oversamples))
        rng = np.random.default_rng(self.random_state)
        q, _ = np.linalg.qr(rng.standard_normal((d, width)))
        b = None
        for _ in range(max(1, int(self.n_iter))):
            acc = passes.run({"r": RangeProduct(mean, q)})["r"]
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
        from .._io import atomic_path

        self._check_fitted()
        path = Path(path)
        target = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
        with atomic_path(target) as tmp:
            self._savez(tmp)
        return target

    def _savez(self, path: Path) -> None:
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
    >>> z = np.random.default_rng(0).normal(size=(500, 4)) * [2.0, 1.0, 1.0, 1.0]
    >>> fit_pca(z, n_components=2).components_.shape
    (2, 4)
    """
    return LatentPCA(
        n_components, method=method, partition=partition, chunk_rows=chunk_rows,
        engine=engine, scheduler=scheduler, random_state=random_state,
    ).fit(store_or_path)


# -- the PCA analysis (report figures and CLI) --------------------------------
#: Attributes tried, in order, to colour the PC1–PC2 scatter.
_COLOUR_ATTRIBUTES = ("Smiling", "Male", "Eyeglasses")
#: Principal components whose scores are kept for the figures.
_SCORE_COMPONENTS = 6


@dataclass
class PCAResult(AnalysisResult):
    """A fitted :class:`LatentPCA` with what its figures show (scores of a seeded subsample).

    The subsample is drawn on first use (:meth:`scores`) from ``source``, so
    writing only ``pca.json`` / ``pca.npz`` costs no extra pass.
    """

    model: LatentPCA
    source: object = None
    store: str = ""
    partition: str | None = None
    seed: int = 0
    sample_size: int = 5_000
    attribute: str | None = None
    _scores: tuple | None = field(default=None, repr=False)

    name = "pca"

    def to_dict(self) -> dict:
        return {**self.model.to_dict(), "store": self.store}

    def _save_files(self, out: Path) -> list[Path]:
        return [self.model.save(out / "pca.npz")]

    def scores(self) -> tuple[np.ndarray, np.ndarray | None, str | None]:
        """Scores of the subsample on the first PCs, its colouring attribute and that attribute's name."""
        if self._scores is None:
            self._scores = _pc_sample(self.source, self.model, partition=self.partition, seed=self.seed,
                                      size=self.sample_size, attribute=self.attribute)
        return self._scores

    def figures(self):
        from .. import plots

        pca = self.model
        yield ("pca_eigenvalues.png", "Eigenvalues of the covariance (variance along each principal axis), log scale.",
               plots.plot_eigenvalues(pca))
        yield ("pca_cumulative.png",
               "Cumulative fraction of the variance explained by the first k components, with the 50/90/99 % marks.",
               plots.plot_cumulative_variance(pca))
        yield ("pca_semi_axes.png",
               "Semi-axis lengths of the 1-, 2- and 3-σ confidence ellipsoids along the first principal axes.",
               plots.plot_semi_axes(pca))
        if self.source is None:
            return
        scores, attr, name = self.scores()
        yield ("pca_pc_histograms.png",
               "Histograms of a data subsample along the first principal components with N(0, eigenvalue) curves.",
               plots.plot_pc_histograms(pca, scores))
        if scores.shape[1] >= 2:
            cap = "A data subsample in the PC1–PC2 plane" + (f", coloured by the attribute {name}." if name else ".")
            yield ("pca_pc1_pc2.png", cap, plots.plot_pc_scatter(scores, attr, name))

    def summary(self) -> list:
        info = self.model.to_dict()
        text = (
            f"{info['n_points']} points, z_dim {info['z_dim']} ({info['method']} PCA). Components needed for 50 / 90 / 99 % "
            f"of the variance: {info['n_components_50']} / {info['n_components_90']} / {info['n_components_99']}. "
            f"Total variance {info['total_variance']:.4g}; distance of the mean from the origin {info['mean_norm']:.4g}."
        )
        k = min(10, len(info["eigenvalues"]))
        rows = [[f"PC{i + 1}", info["eigenvalues"][i], info["semi_axes_1sigma"][i], info["semi_axes_2sigma"][i],
                 info["semi_axes_3sigma"][i], info["cumulative_explained_variance"][i]] for i in range(k)]
        return [text, Table(["axis", "eigenvalue", "1σ semi-axis", "2σ semi-axis", "3σ semi-axis", "cumulative ratio"], rows)]

    def lines(self) -> list[str]:
        info = self.model.to_dict()
        ev, ratio = info["eigenvalues"], info["cumulative_explained_variance"]
        out = [f"PCA of {Path(self.store).name}: {info['n_points']} points, z_dim {info['z_dim']} ({info['method']})",
               f"{'PC':>4} {'eigenvalue':>12} {'sigma':>10} {'cum. ratio':>11}"]
        out += [f"{i + 1:>4} {ev[i]:>12.5g} {ev[i] ** 0.5:>10.4g} {ratio[i]:>11.4f}" for i in range(min(10, len(ev)))]
        counts = " / ".join("-" if info[f"n_components_{p}"] is None else str(info[f"n_components_{p}"]) for p in (50, 90, 99))
        return [*out, f"components for 50/90/99 % variance: {counts}"]


def _pc_sample(source, pca, *, partition, seed, size, attribute=None):
    """Scores of a seeded subsample on the first PCs, and its colouring attribute (or None)."""
    with open_passes(source, partition) as passes:
        idx = passes.sample_index(size, seed)
        got, rows = passes.run({"s": RowSample(idx)})["s"].result(passes.z_dim)
        store = passes.store
        attr, name = None, None
        if store.attributes is not None and len(got):
            names = list(store.attribute_names)
            wanted = [attribute] if attribute else [a for a in _COLOUR_ATTRIBUTES if a in names] or names[:1]
            if wanted and wanted[0] in names:
                name = wanted[0]
                attr = np.asarray(store.attributes[got])[:, names.index(name)]
    k = min(_SCORE_COMPONENTS, pca.components_.shape[0])
    return pca.transform(rows, n_components=k), attr, name


def pca_analysis(
    data,
    n_components: int | None = None,
    *,
    method: str = "auto",
    partition: str | None = None,
    chunk_rows: int | None = None,
    engine: str = "numpy",
    scheduler=None,
    seed: int = 0,
    sample_size: int = 5_000,
    attribute: str | None = None,
) -> PCAResult:
    """Fit a :class:`LatentPCA` and keep what its figures need (``latentlab pca``, the report's PCA section).

    Parameters
    ----------
    data : path-like, ZStore or ndarray
    n_components, method, partition, chunk_rows, engine, scheduler
        As :func:`fit_pca`.
    seed, sample_size : int
        The seeded subsample projected in the PC figures.
    attribute : str, optional
        Attribute colouring the PC1–PC2 scatter (default: Smiling, Male, Eyeglasses or the first one).

    Returns
    -------
    PCAResult

    Examples
    --------
    >>> z = np.random.default_rng(0).normal(size=(500, 4)) * [2.0, 1.0, 1.0, 1.0]
    >>> res = pca_analysis(z, sample_size=100)
    >>> res.to_dict()["n_components_50"], res.scores()[0].shape
    (1, (100, 4))
    """
    model = fit_pca(data, n_components, partition=partition, chunk_rows=chunk_rows, method=method,
                    engine=engine, scheduler=scheduler)
    label = str(data) if isinstance(data, (str, os.PathLike)) else str(getattr(data, "path", "<array>"))
    return PCAResult(model, data, label, partition, seed, sample_size, attribute)


#: The registry entry (``latentlab pca``, the report's "PCA" section).
PCA = Analysis(
    name="pca",
    title="PCA",
    help="PCA of the z-cloud: eigenvalue spectrum, explained variance, ellipsoid axes → pca.json, pca.npz.",
    run=pca_analysis,
    options=(
        Option("n_components", None, "Components kept (default all).", int),
        Option("method", "auto", "auto, exact (streamed covariance) or randomized."),
        Option("seed", 0, "Seed for subsamples in the report."),
        Option("sample_size", 5_000, "Rows of the subsample shown in the PC figures.", quick=2_000, cli=False),
        Option("attribute", None, "Attribute colouring the PC1–PC2 scatter.", str, cli=False),
    ),
    figures=False,
)
