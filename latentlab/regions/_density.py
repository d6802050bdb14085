"""Ex-post densities: Gaussian mixture (full covariance) and Gaussian KDE.

Both fit in seconds on 10⁵ points × 256 dimensions: the mixture runs EM on a
seeded subsample (``max_fit_samples``) from a k-means++ start, in warm-started
rounds that report progress; the KDE scores with chunked BLAS distances and
cross-validates all bandwidths of a fold from one distance matrix.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.utils._param_validation import Interval, StrOptions

from .._errors import LatentlabError
from ._base import MAX_SEED, DensityRegion, check_grid
from ._progress import steps
from ._simple import check_cholesky, gaussian_logpdf
from ._state import JSON, Array, Flag, Int, StateError, Text
from ._state import Real as RealState

__all__ = ["GMMRegion", "KDERegion", "select_by_heldout"]

_LOG_2PI = math.log(2.0 * math.pi)


def _subsample(Z, max_rows, seed):
    if max_rows is None or len(Z) <= max_rows:
        return Z
    rng = np.random.default_rng(seed)
    return Z[np.sort(rng.choice(len(Z), int(max_rows), replace=False))]


def select_by_heldout(Z, grid, fit_candidate, *, heldout_fraction=0.2, seed=0, label="model"):
    """Pick the grid value whose fit scores the best held-out mean log-likelihood.

    ``fit_candidate(value, Z_fit)`` returns a fitted density region (bounded ones
    offer ``_selection_score``, an everywhere-finite log-density). Returns
    ``(best_value, best_region, scores)`` with ``scores`` = value → held-out
    mean log-likelihood (``None`` where the fit failed).
    """
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(Z))
    n_held = max(1, int(round(len(Z) * heldout_fraction)))
    Zh, Zf = Z[perm[:n_held]], Z[perm[n_held:]]
    scores, best = {}, (None, None, -np.inf)
    with steps(f"{label}: model selection", total=len(grid)) as bar:
        for value in grid:
            try:
                cand = fit_candidate(value, Zf)
                score = getattr(cand, "_selection_score", cand.score_samples)
                ll = float(np.mean(score(Zh)))
            except (LatentlabError, np.linalg.LinAlgError):
                ll = None
            scores[str(value)] = ll if ll is not None and math.isfinite(ll) else None
            if scores[str(value)] is not None and ll > best[2]:
                best = (value, cand, ll)
            bar.advance(1, value=str(value))
    if best[0] is None:
        raise LatentlabError(f"{label}: no candidate of {list(grid)} could be fitted")
    return best[0], best[1], scores


class GMMRegion(DensityRegion):
    """Gaussian mixture with full covariances (the RAE ex-post density).

    Fits :class:`sklearn.mixture.GaussianMixture` (or
    :class:`~sklearn.mixture.BayesianGaussianMixture` with ``bayesian=True``,
    a Dirichlet-process prior that switches off unneeded components) on at most
    ``max_fit_samples`` seeded rows. Sampling and the log-density (the plug-in
    mixture density, normalised) are computed here, so ``sample(n, random_state)``
    is reproducible like every other region.

    Parameters
    ----------
    n_components : int or 'auto', default 10
        Capped at the number of fit points. ``'auto'`` fits every value of
        ``components_grid`` on 80 % of the fit points and keeps the one with the
        best held-out log-likelihood of the other 20 % (``selection_`` lists them).
    covariance_type : str, default 'full'
    bayesian : bool, default False
    max_iter : int, default 25
        EM iterations (fewer when ``tol`` is reached first). On the
        Fashion-MNIST store (10,000 × 256, 10 components, ~1 s an iteration)
        the lower bound was 408.6, 411.4 and 412.1 after 5, 10 and 20 iterations,
        and precision 0.28, 0.30, 0.30: later iterations change little.
    tol : float, default 1e-3
    reg_covar : float, default 1e-6
        Relative to the mean variance of the data.
    random_state : int, default 0
        Seed of the subsample and the EM initialisation.
    max_fit_samples : int or None, default 10000
        EM runs on a seeded subsample of this many rows (``None``: all).
    components_grid : tuple of int, default (1, 2, 5, 10)
        (20 components of 256 × 256 full covariances on 8,000 points overfit:
        their held-out log-likelihood was far below 10's on Fashion-MNIST.)

    Attributes
    ----------
    weights_, means_, covariances_ : ndarray
    n_components_ : int
    selection_ : dict
        ``'auto'`` only: candidate → held-out mean log-likelihood.
    n_iter_ : int
    mixture_ : fitted sklearn estimator (not saved with the region)

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.random.default_rng(0).normal(size=(300, 3))
    >>> GMMRegion(n_components=2).fit(Z).sample(2, random_state=0).shape
    (2, 3)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "bayesian": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "random_state": [Interval(Integral, 0, MAX_SEED, closed="both")],
        "max_fit_samples": [Interval(Integral, 2, None, closed="left"), None],
        "components_grid": ["array-like"],
    }
    _transient = ("mixture_",)
    #: ``_chols`` is recomputed from ``covariances_`` on load
    _fitted_schema = {
        "n_iter_": Int(0), "n_components_": Int(1, dim="k"), "weights_": Array(("k",), nonnegative=True),
        "means_": Array(("k", "d")), "covariances_": Array(("k", "d", "d")), "_chols": Array(("k", "d", "d"), optional=True),
        "converged_": Flag(), "selection_": JSON(dict, optional=True), "selection_method_": Text(optional=True),
    }

    def _check_state(self):
        if not abs(float(self.weights_.sum()) - 1.0) < 1e-6:
            raise StateError("weights_", f"sum to {float(self.weights_.sum())!r}, not 1")
        if not np.allclose(self.covariances_, np.swapaxes(self.covariances_, 1, 2)):
            raise StateError("covariances_", "are not symmetric")
        try:
            chols = np.linalg.cholesky(self.covariances_)
        except np.linalg.LinAlgError:
            raise StateError("covariances_", "are not positive definite") from None
        check_cholesky(chols, "covariances_")
        self._chols = chols

    def __init__(self, n_components=10, covariance_type: str = "full", bayesian: bool = False,
                 max_iter: int = 25, tol: float = 1e-3, reg_covar: float = 1e-6, random_state: int = 0,
                 max_fit_samples: int | None = 10_000, components_grid=(1, 2, 5, 10)):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.bayesian = bayesian
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.random_state = random_state
        self.max_fit_samples = max_fit_samples
        self.components_grid = components_grid

    def _check_params(self):
        if self.n_components == "auto":
            check_grid(self.components_grid, "gmm: components_grid")

    def _fit(self, Z):
        Zs = _subsample(Z, self.max_fit_samples, self.random_state)
        if self.n_components == "auto":
            grid = sorted({int(min(k, len(Zs))) for k in self.components_grid})
            best, model, self.selection_ = select_by_heldout(
                Zs, grid, lambda k, X: GMMRegion(**{**self.get_params(), "n_components": k, "max_fit_samples": None}).fit(X),
                seed=self.random_state, label="gmm")
            self._take(model)
            self.selection_method_ = "held-out log-likelihood (20 % of the fit points)"
            return
        self._em(Zs, int(min(self.n_components, len(Zs))))

    def _take(self, other):
        for key in ("mixture_", "n_components_", "weights_", "means_", "covariances_", "_chols", "converged_", "n_iter_"):
            setattr(self, key, getattr(other, key))

    def _em(self, Z, k):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

        cls = BayesianGaussianMixture if self.bayesian else GaussianMixture
        # reg_covar is relative to the data scale so that it means the same for any z range
        reg = self.reg_covar * max(float(Z.var(axis=0).mean()), 1e-12)
        m = cls(n_components=k, covariance_type=self.covariance_type, max_iter=10, tol=self.tol, reg_covar=reg,
                random_state=self.random_state, warm_start=True, init_params="k-means++")
        done = 0
        # warm-started rounds of 10 EM iterations: the same EM, with a progress report between rounds
        with steps(f"gmm: EM, {k} components, {len(Z):,} points", total=self.max_iter) as bar, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            while done < self.max_iter:
                m.max_iter = min(10, self.max_iter - done)
                try:
                    m.fit(Z)
                except ValueError as exc:  # scikit-learn: "ill-defined empirical covariance" (duplicate rows, reg_covar=0)
                    first = str(exc).strip().splitlines()[0].split(". ")[0]
                    raise LatentlabError(f"gmm: EM failed ({first}); use a larger reg_covar or fewer components") from None
                done += m.n_iter_
                bar.advance(m.n_iter_, lower_bound=float(m.lower_bound_))
                if m.converged_:
                    break
        self.mixture_ = m
        self.n_iter_ = done
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
        logs = np.stack([math.log(w) + gaussian_logpdf(Z, mu, L) if w > 0 else np.full(len(Z), -np.inf)
                         for w, mu, L in zip(self.weights_, self.means_, self._chols)])
        return logsumexp(logs, axis=0)


def _kernel_logsums(A, B, inv_two_h2, chunk_elements=1 << 22):
    """For each row of A: logsumexp over rows of B of -|a-b|² · c, for every c in ``inv_two_h2``.

    In place on one distance block per chunk (the max term is the nearest
    row): scipy's general ``logsumexp`` makes several temporary copies and
    was 10× slower here.
    """
    inv_two_h2 = np.atleast_1d(inv_two_h2)
    out = np.empty((len(inv_two_h2), len(A)))
    b2 = (B**2).sum(axis=1)
    step = max(1, chunk_elements // max(1, len(B)))
    buf = np.empty((min(step, len(A)), len(B)))
    for s in range(0, len(A), step):
        a = A[s:s + step]
        d2 = (a**2).sum(axis=1)[:, None] + b2[None, :] - 2.0 * (a @ B.T)
        np.maximum(d2, 0.0, out=d2)
        nearest = d2.min(axis=1)
        d2 -= nearest[:, None]
        for j, c in enumerate(inv_two_h2):
            e = np.multiply(d2, -c, out=buf[: len(a)])
            np.exp(e, out=e)
            out[j, s:s + len(a)] = np.log(e.sum(axis=1)) - c * nearest
    return out


class KDERegion(DensityRegion):
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
    cv_bandwidths_, cv_scores_ : ndarray
        The grid and its mean held-out log-likelihood per fold.

    Notes
    -----
    A KDE samples by jittering training points with the kernel: with a small
    bandwidth its samples are near-copies of training images (compare-samplers'
    novelty columns show it).
    """

    _parameter_constraints = {
        "bandwidth": [Interval(Real, 0, None, closed="neither"), None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "n_bandwidths": [Interval(Integral, 1, None, closed="left")],
        "max_cv_samples": [Interval(Integral, 2, None, closed="left")],
        "random_state": [Interval(Integral, 0, MAX_SEED, closed="both")],
    }
    _fitted_schema = {"bandwidth_": RealState(0.0, open_low=True), "_data": Array(("n", "d")),
                      "cv_bandwidths_": Array(("g",), positive=True, optional=True), "cv_scores_": Array(("g",), optional=True)}

    def __init__(self, bandwidth: float | None = None, cv: int = 5, n_bandwidths: int = 12,
                 max_cv_samples: int = 2000, random_state: int = 0):
        self.bandwidth = bandwidth
        self.cv = cv
        self.n_bandwidths = n_bandwidths
        self.max_cv_samples = max_cv_samples
        self.random_state = random_state

    def _fit(self, Z):
        n, d = Z.shape
        if self.bandwidth is not None:
            bw = float(self.bandwidth)
        else:
            sd = float(np.sqrt(Z.var(axis=0).mean())) or 1.0
            scott = sd * n ** (-1.0 / (d + 4))
            grid = scott * np.logspace(-1.5, 0.5, int(self.n_bandwidths))
            sub = _subsample(Z, self.max_cv_samples, self.random_state)
            folds = int(min(self.cv, len(sub)))
            if folds < 2:
                raise LatentlabError("kde: need at least 2 fit points for cross-validated bandwidth")
            fold_of = np.random.default_rng(self.random_state).permutation(len(sub)) % folds
            scores = np.zeros(len(grid))
            with steps("kde: bandwidth cross-validation folds", total=folds) as bar:
                for f in range(folds):
                    tr, te = sub[fold_of != f], sub[fold_of == f]
                    ls = _kernel_logsums(te, tr, 1.0 / (2.0 * grid**2))
                    norm = -np.log(len(tr)) - 0.5 * d * np.log(2 * np.pi * grid**2)
                    scores += (ls + norm[:, None]).mean(axis=1) / folds
                    bar.advance(1)
            bw = float(grid[int(np.argmax(scores))])
            self.cv_bandwidths_, self.cv_scores_ = grid, scores
        self.bandwidth_ = bw
        self._data = Z

    def _sample(self, n, rng):
        idx = rng.integers(0, len(self._data), size=n)
        return self._data[idx] + self.bandwidth_ * rng.standard_normal((n, self.n_features_in_))

    def _score_samples(self, Z):
        h = self.bandwidth_
        ls = _kernel_logsums(Z, self._data, 1.0 / (2.0 * h * h))[0]
        return ls - math.log(len(self._data)) - 0.5 * self.n_features_in_ * math.log(2 * math.pi * h * h)
