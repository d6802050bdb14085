"""Ex-post densities: Gaussian mixture (full covariance) and Gaussian KDE."""

from __future__ import annotations

import numpy as np

from .._errors import LatentlabError
from ._base import BaseRegion

__all__ = ["GMMRegion", "KDERegion"]


class GMMRegion(BaseRegion):
    """Gaussian mixture with full covariances (the RAE ex-post density).

    Wraps :class:`sklearn.mixture.GaussianMixture` (or
    :class:`~sklearn.mixture.BayesianGaussianMixture` with ``bayesian=True``,
    a Dirichlet-process prior that switches off unneeded components).
    Sampling is done here with :func:`numpy.random.default_rng`, so
    ``sample(n, random_state)`` is reproducible like every other region.

    Parameters
    ----------
    n_components : int, default 10
        Capped at the number of fit points.
    covariance_type : str, default 'full'
    bayesian : bool, default False
    max_iter : int, default 2000
    tol : float, default 1e-3
    reg_covar : float, default 1e-6
    random_state : int, default 0
        Seed of the EM initialisation.

    Attributes
    ----------
    mixture_ : fitted sklearn estimator
    weights_, means_, covariances_ : ndarray
    n_components_ : int
    """

    name = "gmm"
    has_density = True

    def __init__(self, n_components: int = 10, covariance_type: str = "full", bayesian: bool = False,
                 max_iter: int = 2000, tol: float = 1e-3, reg_covar: float = 1e-6, random_state: int = 0):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.bayesian = bayesian
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.random_state = random_state

    def _validate_params(self):
        if int(self.n_components) < 1:
            raise LatentlabError(f"gmm: n_components must be >= 1, got {self.n_components}")
        if self.covariance_type not in ("full", "tied", "diag", "spherical"):
            raise LatentlabError(f"gmm: unknown covariance_type {self.covariance_type!r}")

    def _fit(self, Z):
        from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

        k = int(min(self.n_components, len(Z)))
        cls = BayesianGaussianMixture if self.bayesian else GaussianMixture
        # reg_covar is relative to the data scale so that it means the same for any z range
        reg = self.reg_covar * max(float(Z.var(axis=0).mean()), 1e-12)
        self.mixture_ = cls(n_components=k, covariance_type=self.covariance_type, max_iter=self.max_iter,
                            tol=self.tol, reg_covar=reg, random_state=self.random_state).fit(Z)
        m = self.mixture_
        self.n_components_ = k
        self.weights_ = m.weights_ / m.weights_.sum()
        self.means_ = m.means_
        d = Z.shape[1]
        ct = self.covariance_type
        if ct == "full":
            covs = m.covariances_
        elif ct == "tied":
            covs = np.repeat(m.covariances_[None], k, axis=0)
        elif ct == "diag":
            covs = np.stack([np.diag(c) for c in m.covariances_])
        else:
            covs = np.stack([c * np.eye(d) for c in m.covariances_])
        self.covariances_ = covs
        self._chols = np.linalg.cholesky(covs)
        self.converged_ = bool(m.converged_)

    def _sample(self, n, rng):
        comp = rng.choice(self.n_components_, size=n, p=self.weights_)
        eps = rng.standard_normal((n, self.n_features_in_))
        return self.means_[comp] + np.einsum("nij,nj->ni", self._chols[comp], eps)

    def _score_samples(self, Z):
        return self.mixture_.score_samples(Z)


class KDERegion(BaseRegion):
    """Gaussian kernel density, bandwidth chosen by cross-validation.

    Parameters
    ----------
    bandwidth : float, optional
        Fixed bandwidth; ``None`` picks it by ``cv``-fold cross-validated
        log-likelihood over ``n_bandwidths`` values spaced logarithmically
        around Scott's rule.
    cv : int, default 5
    n_bandwidths : int, default 12
    max_cv_samples : int, default 2000
        Cross-validation uses at most this many fit points (a fixed random
        subset); the final KDE uses all of them.
    random_state : int, default 0

    Attributes
    ----------
    bandwidth_ : float
    kde_ : sklearn.neighbors.KernelDensity
    """

    name = "kde"
    has_density = True

    def __init__(self, bandwidth: float | None = None, cv: int = 5, n_bandwidths: int = 12,
                 max_cv_samples: int = 2000, random_state: int = 0):
        self.bandwidth = bandwidth
        self.cv = cv
        self.n_bandwidths = n_bandwidths
        self.max_cv_samples = max_cv_samples
        self.random_state = random_state

    def _validate_params(self):
        if self.bandwidth is not None and not self.bandwidth > 0:
            raise LatentlabError(f"kde: bandwidth must be > 0, got {self.bandwidth}")

    def _fit(self, Z):
        from sklearn.model_selection import GridSearchCV, KFold
        from sklearn.neighbors import KernelDensity

        n, d = Z.shape
        if self.bandwidth is not None:
            bw = float(self.bandwidth)
        else:
            sd = float(np.sqrt(Z.var(axis=0).mean())) or 1.0
            scott = sd * n ** (-1.0 / (d + 4))
            grid = scott * np.logspace(-1.5, 0.5, int(self.n_bandwidths))
            rng = np.random.default_rng(self.random_state)
            sub = Z if n <= self.max_cv_samples else Z[rng.choice(n, self.max_cv_samples, replace=False)]
            folds = int(min(self.cv, len(sub)))
            if folds < 2:
                raise LatentlabError("kde: need at least 2 fit points for cross-validated bandwidth")
            search = GridSearchCV(KernelDensity(kernel="gaussian"), {"bandwidth": grid},
                                  cv=KFold(folds, shuffle=True, random_state=self.random_state))
            search.fit(sub)
            bw = float(search.best_params_["bandwidth"])
            self.cv_bandwidths_ = grid
        self.bandwidth_ = bw
        self.kde_ = KernelDensity(kernel="gaussian", bandwidth=bw).fit(Z)
        self._data = Z

    def _sample(self, n, rng):
        idx = rng.integers(0, len(self._data), size=n)
        return self._data[idx] + self.bandwidth_ * rng.standard_normal((n, self.n_features_in_))

    def _score_samples(self, Z):
        return self.kde_.score_samples(Z)
