"""Regions in the PCA frame: the k-σ ellipsoid and per-plane confidence ellipses.

Both fit the data mean and covariance, diagonalise it (PCA: eigenvectors
``components_``, eigenvalues ``eigenvalues_``, descending) and work in
whitened PCA coordinates ``u = Vᵀ(z − mean) / sqrt(λ)``, where the fitted
Gaussian is N(0, I).

What "k σ" means (see ``docs/sampling.md``)
--------------------------------------------
In one dimension, |u| ≤ k holds the central ``p = erf(k / √2)`` of the mass
(95.45 % for k = 2). In d dimensions the Mahalanobis radius of a Gaussian
point follows the χ_d distribution, whose bulk lies near √d — so a literal
radius of k (acceptance P(χ²_d ≤ k²), about 1e-178 for d = 256, k = 2) would
reject everything. latentlab keeps the *probability mass* instead:

* ``bound="radius"`` (default): the ellipsoid ``|u|² ≤ χ²_d.ppf(p)``, holding
  the central ``p`` of the fitted Gaussian (k = 2 keeps 95.45 %).
* ``bound="axis"``: the box ``|u_i| ≤ k`` on every PCA axis (per-axis
  confidence limits).

Samples are drawn exactly (inverse-CDF of the truncated χ² radius or of the
truncated per-axis normal), never by naive rejection, so sampling costs the
same for z_dim 16 or 2000.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._errors import LatentlabError
from ._base import DensityRegion, sample_sphere
from ._simple import _cholesky, check_cholesky, gaussian_logpdf, log_unit_ball_volume
from ._state import Array, ArrayList, Flag, JSON, StateError
from ._state import Real as RealState

__all__ = ["EllipsoidRegion", "PlanesRegion", "sigma_mass"]


def sigma_mass(k: float) -> float:
    """Probability mass within ±k σ of a 1-D Gaussian: ``erf(k / √2)``."""
    return math.erf(k / math.sqrt(2.0))


class _PCAFrame(DensityRegion):
    """Shared fit: mean, covariance, eigendecomposition (descending)."""

    #: r = the kept axes (r = z_dim unless fitted on fewer points than dimensions); ``_sqrt_lam`` is recomputed on load
    _frame_schema = {
        "mean_": Array(("d",)),
        "eigenvalues_": Array(("r",), positive=True),
        "components_": Array(("r", "d")),
        "_sqrt_lam": Array(("r",), optional=True),
        "_cov": Array(("d", "d"), optional=True),
        "floor_": RealState(0.0, open_low=True, optional=True),
    }

    def _check_state(self):
        r, d = self.components_.shape
        if r > d or r < 1:
            raise StateError("components_", f"has {r} axes for z_dim {d}")
        if r < d and not hasattr(self, "floor_"):
            raise StateError("floor_", f"is missing (needed with {r} < z_dim axes)")
        # the axes must be orthonormal, or whitening and its inverse disagree and samples leave the region
        if not np.allclose(self.components_ @ self.components_.T, np.eye(r), atol=1e-4):
            raise StateError("components_", "rows are not orthonormal axes")

    def _restore(self):
        self._sqrt_lam = np.sqrt(self.eigenvalues_)

    def _fit_frame(self, Z, reg_covar, *, low_rank: bool = False):
        from ..analysis._pca import pca_of_rows, principal_axes_of_rows

        if low_rank and len(Z) <= Z.shape[1]:
            # fewer points than dimensions (a small cluster): past the rank every eigenvalue is the floor, so
            # keeping the r axes and the floor is exact, and costs r/d of the memory and of the scoring
            self.mean_, lam, components = principal_axes_of_rows(Z)
            floor = reg_covar * max(float(lam.sum()) / Z.shape[1], 1e-12)
            self.floor_ = floor
        else:
            pca = pca_of_rows(Z)  # latentlab's one PCA core: same axes and signs as the PCA report
            self.mean_, lam, components = pca.mean_, pca.eigenvalues_, pca.components_
            floor = reg_covar * max(float(lam.mean()), 1e-12)
            self._cov = pca.moments_.cov(ddof=1)
        self.eigenvalues_ = lam + floor
        self.components_ = components  # rows are PCA axes, like sklearn
        self._sqrt_lam = np.sqrt(self.eigenvalues_)

    @property
    def _low_rank(self) -> bool:
        return len(self.components_) < len(self.mean_)

    def _whitened_sq_norm(self, Z: np.ndarray) -> np.ndarray:
        """``|u|²`` of points ``Z`` (through the kept axes and the floor in the low-rank case)."""
        if not self._low_rank:
            return (self.to_whitened(Z) ** 2).sum(axis=1)
        X = Z - self.mean_
        P = X @ self.components_.T
        tail = np.maximum((X**2).sum(axis=1) - (P**2).sum(axis=1), 0.0)
        return (P**2 / self.eigenvalues_).sum(axis=1) + tail / self.floor_

    def _full_eigenvalues(self) -> np.ndarray:
        if not self._low_rank:
            return self.eigenvalues_
        return np.concatenate([self.eigenvalues_, np.full(self.n_features_in_ - len(self.eigenvalues_), self.floor_)])

    def to_whitened(self, Z: np.ndarray) -> np.ndarray:
        """Whitened PCA coordinates ``u`` of points ``Z`` (a frame fitted on ≥ z_dim points)."""
        if self._low_rank:
            raise LatentlabError(f"this frame was fitted on fewer points than dimensions and keeps only "
                                 f"{len(self.components_)} axes: it has no whitened coordinates for the others")
        return ((Z - self.mean_) @ self.components_.T) / self._sqrt_lam

    def from_whitened(self, U: np.ndarray) -> np.ndarray:
        """Latent coordinates of whitened PCA coordinates ``U`` (a frame fitted on ≥ z_dim points)."""
        if not self._low_rank:
            return self.mean_ + (U * self._sqrt_lam) @ self.components_
        raise LatentlabError("from_whitened needs a full-rank frame; sample() handles the low-rank case")

    def _from_whitened_low_rank(self, U: np.ndarray, rng) -> np.ndarray:
        """``from_whitened`` of a low-rank frame: past the kept axes the floor is isotropic, so only the norm
        of those coordinates matters; it is laid along a uniformly random direction of the complement."""
        r = len(self.components_)
        h = rng.standard_normal(U.shape)
        h -= (h @ self.components_.T) @ self.components_
        norms = np.linalg.norm(h, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        rest = np.linalg.norm(U[:, r:], axis=1, keepdims=True)
        return self.mean_ + (U[:, :r] * self._sqrt_lam) @ self.components_ + (math.sqrt(self.floor_) * rest) * h / norms

    def _mnd_logpdf(self, Z):
        d = self.n_features_in_
        return -0.5 * (d * math.log(2 * math.pi) + 2.0 * self._log_volume_factor() + self._whitened_sq_norm(Z))

    def _log_volume_factor(self):
        return 0.5 * float(np.log(self._full_eigenvalues()).sum())


def _truncated_normal(shape, k, rng):
    """Standard normal truncated to [-k, k], by inverse CDF (exact)."""
    from scipy.special import ndtr, ndtri

    lo = ndtr(-k)
    return ndtri(lo + rng.uniform(size=shape) * (1.0 - 2.0 * lo))


class EllipsoidRegion(_PCAFrame):
    """The PCA ellipsoid: a Gaussian (or uniform fill) truncated at k σ.

    Parameters
    ----------
    sigma : float, default 2
        k, the confidence level in standard deviations (k = 2 keeps 95.45 %
        of the fitted Gaussian's mass; see the module docstring).
    fill : {'gaussian', 'uniform'}, default 'gaussian'
        Each PCA axis Gaussian with its eigenvalue, truncated; or uniform
        inside the bound.
    bound : {'radius', 'axis'}, default 'radius'
        Truncate the whitened radius (ellipsoid) or each axis (box in the PCA frame).
    reg_covar : float, default 1e-6
        Eigenvalue floor relative to the mean eigenvalue.

    Attributes
    ----------
    mean_ : ndarray (z_dim,)
    components_ : ndarray (z_dim, z_dim) or (r, z_dim)
        PCA axes as rows, by decreasing variance. Fitted on fewer points than
        dimensions (``bound='radius'``), only the r axes with variance are kept.
    eigenvalues_ : ndarray (z_dim,) or (r,)
    floor_ : float
        Low-rank case only: the variance of every direction past the kept axes.
    mass_ : float
        Share of the fitted Gaussian inside the bound.
    radius_ : float
        Whitened (Mahalanobis) radius of the ellipsoid (``bound='radius'``)
        or the per-axis limit k (``bound='axis'``).

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.random.default_rng(0).normal(size=(500, 16))
    >>> ell = EllipsoidRegion(sigma=2).fit(Z)
    >>> bool(ell.contains(ell.sample(100, random_state=0)).all())
    True
    """

    bounded = True
    _parameter_constraints = {
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "fill": [StrOptions({"gaussian", "uniform"})],
        "bound": [StrOptions({"radius", "axis"})],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
    }
    _fitted_schema = {**_PCAFrame._frame_schema, "mass_": RealState(0.0, 1.0, open_low=True),
                      "radius_": RealState(0.0, open_low=True)}

    def __init__(self, sigma: float = 2.0, fill: str = "gaussian", bound: str = "radius", reg_covar: float = 1e-6):
        self.sigma = sigma
        self.fill = fill
        self.bound = bound
        self.reg_covar = reg_covar

    def _fit(self, Z):
        self._fit_frame(Z, self.reg_covar, low_rank=self.bound == "radius")
        self._set_bound(Z.shape[1])

    def _check_state(self):
        super()._check_state()
        if self.bound == "axis" and len(self.components_) != self.n_features_in_:
            raise StateError("components_", f"bound='axis' needs all {self.n_features_in_} axes")

    def _restore(self):
        super()._restore()
        self._set_bound(self.n_features_in_)  # derived from the parameters: a file cannot make them disagree

    def _set_bound(self, d):
        from scipy.stats import chi2

        p = sigma_mass(float(self.sigma))
        if self.bound == "radius":
            self.mass_ = p
            self.radius_ = float(math.sqrt(chi2.ppf(p, d)))
        else:
            self.mass_ = p**d
            self.radius_ = float(self.sigma)

    def _sample(self, n, rng):
        from scipy.stats import chi2

        d, R = self.n_features_in_, self.radius_
        if self.bound == "radius":
            if self.fill == "gaussian":
                r = np.sqrt(chi2.ppf(rng.uniform(size=(n, 1)) * self.mass_, d))
            else:
                r = R * rng.uniform(size=(n, 1)) ** (1.0 / d)
            U = r * sample_sphere(n, d, rng)
        elif self.fill == "gaussian":
            U = _truncated_normal((n, d), R, rng)
        else:
            U = rng.uniform(-R, R, size=(n, d))
        return self._from_whitened_low_rank(U, rng) if self._low_rank else self.from_whitened(U)

    def _contains(self, Z):
        tol = 1e-9 * max(1.0, self.radius_)
        if self.bound == "radius":
            return np.sqrt(self._whitened_sq_norm(Z)) <= self.radius_ + tol
        return (np.abs(self.to_whitened(Z)) <= self.radius_ + tol).all(axis=1)

    def _score_samples(self, Z):
        d, R = self.n_features_in_, self.radius_
        if self.fill == "gaussian" and self.bound == "radius":
            # one |u|² for both the density and the bound (cluster-ellipsoid scores through ~1,500 of these)
            r2 = self._whitened_sq_norm(Z)
            logp = -0.5 * (d * math.log(2 * math.pi) + 2.0 * self._log_volume_factor() + r2) - math.log(self.mass_)
            return np.where(np.sqrt(r2) <= R + 1e-9 * max(1.0, R), logp, -np.inf)
        if self.fill == "gaussian":
            logp = self._mnd_logpdf(Z) - math.log(self.mass_)
        elif self.bound == "radius":
            logp = np.full(len(Z), -(log_unit_ball_volume(d) + d * math.log(R) + self._log_volume_factor()))
        else:
            logp = np.full(len(Z), -(d * math.log(2 * R) + self._log_volume_factor()))
        return np.where(self._contains(Z), logp, -np.inf)


class PlanesRegion(_PCAFrame):
    """Per-coordinate-plane confidence ellipses (the reference study's method).

    A point is accepted only if its projection on each chosen pair of axes
    lies inside that plane's k-σ confidence ellipse (2-D Mahalanobis
    distance ≤ k, the usual ``n_std = k`` ellipse). Axes not in any pair are
    unconstrained Gaussian.

    Parameters
    ----------
    sigma : float, default 2
        k of the ellipses (each 2-D ellipse holds 1 − exp(−k²/2) of its
        plane's mass: 86.5 % for k = 2).
    axes : {'pca', 'original'}, default 'pca'
        Pairs of PCA axes (by decreasing variance) or of the original z coordinates.
    pairs : {'consecutive', 'all'} or list of (int, int), default 'consecutive'
        ``consecutive``: (0, 1), (2, 3), … over the first ``n_axes`` axes
        (an odd last axis gets the 1-D limit |u| ≤ k); ``all``: every pair
        among the first ``n_axes`` axes; or explicit pairs.
    n_axes : int, optional
        Number of leading axes the planes cover (default all for
        'consecutive', 6 for 'all').
    reg_covar : float, default 1e-6

    Notes
    -----
    With PCA axes and disjoint pairs the planes are independent under the
    fitted Gaussian and sampling is exact (truncated χ²₂ radius per plane);
    otherwise proposals from the fitted Gaussian are rejected, and the
    log-density normaliser (``acceptance``) is estimated once at fit time
    from 20,000 proposals (``normalizer_exact_`` is False).

    Attributes
    ----------
    planes_ : list of tuple
        The constraints, each 1 or 2 axis indices.
    log_mass_ : float
        log of the fitted Gaussian's mass inside all planes.
    normalizer_exact_ : bool
    """

    bounded = True
    _parameter_constraints = {
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "axes": [StrOptions({"pca", "original"})],
        "pairs": [StrOptions({"consecutive", "all"}), "array-like"],
        "n_axes": [Interval(Integral, 1, None, closed="left"), None],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
    }
    _fitted_schema = {**_PCAFrame._frame_schema, "planes_": JSON((list, tuple)), "normalizer_exact_": Flag(),
                      "_rejection": Flag(optional=True), "log_mass_": RealState(None, 0.0),
                      "_inv2": ArrayList(optional=True), "_chol": Array(("d", "d"), optional=True)}

    def __init__(self, sigma: float = 2.0, axes: str = "pca", pairs="consecutive", n_axes: int | None = None,
                 reg_covar: float = 1e-6):
        self.sigma = sigma
        self.axes = axes
        self.pairs = pairs
        self.n_axes = n_axes
        self.reg_covar = reg_covar

    def _check_params(self):
        if isinstance(self.pairs, str):
            return
        pairs = self.pairs.tolist() if isinstance(self.pairs, np.ndarray) else self.pairs
        ok = isinstance(pairs, (list, tuple)) and len(pairs) > 0
        for p in pairs if ok else ():
            ok = ok and isinstance(p, (list, tuple, np.ndarray)) and len(p) in (1, 2) and all(
                isinstance(i, Integral) and not isinstance(i, bool) and i >= 0 for i in p) and len(set(p)) == len(p)
        if not ok:
            raise LatentlabError(f"region 'planes': pairs must be 'consecutive', 'all' or a non-empty list of pairs of "
                                 f"distinct axis indices >= 0 such as [[0, 1], [2, 3]], got {str(self.pairs)[:80]}")

    def _make_planes(self, d):
        if isinstance(self.pairs, str):
            if self.pairs == "consecutive":
                m = d if self.n_axes is None else min(int(self.n_axes), d)
                planes = [(i, i + 1) for i in range(0, m - 1, 2)]
                if m % 2:
                    planes.append((m - 1,))
                return planes
            if self.pairs == "all":
                m = min(6 if self.n_axes is None else int(self.n_axes), d)
                return list(combinations(range(m), 2)) if m > 1 else [(0,)]
            raise LatentlabError(f"planes: pairs must be 'consecutive', 'all' or a list of pairs, got {self.pairs!r}")
        planes = []
        for p in self.pairs:
            p = tuple(int(i) for i in p)
            if len(p) not in (1, 2) or len(set(p)) != len(p) or min(p) < 0 or max(p) >= d:
                raise LatentlabError(f"planes: invalid pair {p} for z_dim {d}")
            planes.append(p)
        if not planes:
            raise LatentlabError("planes: no pairs given")
        return planes

    def _check_state(self):
        super()._check_state()
        d = self.n_features_in_
        if len(self.components_) != d:
            raise StateError("components_", f"planes need all {d} axes, found {len(self.components_)}")
        if not self.planes_:
            raise StateError("planes_", "is empty")
        for p in self.planes_:
            if (not isinstance(p, (list, tuple)) or len(p) not in (1, 2) or len(set(map(str, p))) != len(p)
                    or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < d for i in p)):
                raise StateError("planes_", f"entry {str(p)[:40]} is not 1 or 2 distinct axes in 0..{d - 1}")
        if self.axes == "original":
            if not hasattr(self, "_chol") or len(getattr(self, "_inv2", ())) != len(self.planes_):
                raise StateError("_inv2", "original-axes planes need one inverse covariance per plane and _chol")
            for p, inv in zip(self.planes_, self._inv2):
                if inv.shape != (len(p), len(p)):
                    raise StateError("_inv2", f"shape {inv.shape} for plane {p}")
            check_cholesky(self._chol, "_chol")
        flat = [i for p in self.planes_ for i in p]
        if self.normalizer_exact_ != (self.axes == "pca" and len(flat) == len(set(flat))):
            raise StateError("normalizer_exact_", "disagrees with the planes and axes")

    def _restore(self):
        super()._restore()
        self.planes_ = [tuple(int(i) for i in p) for p in self.planes_]
        self._rejection = not self.normalizer_exact_

    def _fit(self, Z):
        self._fit_frame(Z, self.reg_covar)
        d = Z.shape[1]
        self.planes_ = self._make_planes(d)
        k = float(self.sigma)
        flat = [i for p in self.planes_ for i in p]
        self.normalizer_exact_ = self.axes == "pca" and len(flat) == len(set(flat))
        if self.axes == "original":
            self._inv2 = []
            for p in self.planes_:
                idx = list(p)
                c = self._cov[np.ix_(idx, idx)] + 1e-12 * np.eye(len(idx))
                self._inv2.append(np.linalg.inv(c))
            self._chol = _cholesky(self._cov, self.reg_covar * max(float(np.trace(self._cov)) / d, 1e-12))
        self._rejection = not self.normalizer_exact_
        if self.normalizer_exact_:
            log_mass = 0.0
            for p in self.planes_:
                log_mass += math.log(1.0 - math.exp(-k * k / 2.0)) if len(p) == 2 else math.log(sigma_mass(k))
            self.log_mass_ = log_mass
        else:
            cand = self._propose(20_000, np.random.default_rng(12345))
            acc = float(self._contains(cand).mean())
            if acc == 0:
                raise LatentlabError(
                    f"planes: none of 20,000 Gaussian proposals lies inside all {len(self.planes_)} planes;"
                    " use fewer planes or a larger --sigma"
                )
            self.log_mass_ = math.log(acc)

    def _sample(self, n, rng):
        d, k = self.n_features_in_, float(self.sigma)
        U = rng.standard_normal((n, d))
        c2 = 1.0 - math.exp(-k * k / 2.0)
        for p in self.planes_:
            if len(p) == 2:
                r = np.sqrt(-2.0 * np.log1p(-rng.uniform(size=n) * c2))
                theta = rng.uniform(0, 2 * math.pi, size=n)
                U[:, p[0]] = r * np.cos(theta)
                U[:, p[1]] = r * np.sin(theta)
            else:
                U[:, p[0]] = _truncated_normal(n, k, rng)
        return self.from_whitened(U)

    def _propose(self, n, rng):
        if self.axes == "pca":
            return self.from_whitened(rng.standard_normal((n, self.n_features_in_)))
        return self.mean_ + rng.standard_normal((n, self.n_features_in_)) @ self._chol.T

    def _contains(self, Z):
        k2 = float(self.sigma) ** 2 * (1 + 1e-9)
        ok = np.ones(len(Z), dtype=bool)
        if self.axes == "pca":
            U = self.to_whitened(Z)
            for p in self.planes_:
                ok &= (U[:, list(p)] ** 2).sum(axis=1) <= k2
        else:
            D = Z - self.mean_
            for p, inv in zip(self.planes_, self._inv2):
                x = D[:, list(p)]
                ok &= np.einsum("ij,jk,ik->i", x, inv, x) <= k2
        return ok

    def _score_samples(self, Z):
        if self.axes == "pca":
            base = self._mnd_logpdf(Z)
        else:
            base = gaussian_logpdf(Z, self.mean_, self._chol)
        return np.where(self._contains(Z), base - self.log_mass_, -np.inf)
