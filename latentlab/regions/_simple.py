"""Cube, ball, isotropic normal and the one full Gaussian (MND)."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._errors import LatentlabError
from ._base import DensityRegion, sample_sphere
from ._state import Array, StateError
from ._state import Real as RealState

__all__ = ["BallRegion", "CubeRegion", "MNDRegion", "NormalRegion", "gaussian_logpdf", "log_unit_ball_volume"]

_LOG_2PI = math.log(2.0 * math.pi)


def log_unit_ball_volume(d: int) -> float:
    """log of the volume of the unit ball in ``d`` dimensions."""
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1.0)


def _cholesky(cov: np.ndarray, reg: float) -> np.ndarray:
    d = cov.shape[0]
    jitter = reg
    for _ in range(8):
        try:
            return np.linalg.cholesky(cov + jitter * np.eye(d))
        except np.linalg.LinAlgError:
            jitter = max(jitter * 10, 1e-10)
    raise LatentlabError("covariance of the fit data is not positive definite (too few or duplicated points?)")


def check_cholesky(L: np.ndarray, key: str) -> None:
    """A region file's Cholesky factor(s): lower triangular with a positive diagonal (else the density is not one)."""
    if not np.array_equal(L, np.tril(L)):
        raise StateError(key, "is not lower triangular")
    if not (np.diagonal(L, axis1=-2, axis2=-1) > 0).all():
        raise StateError(key, "has a diagonal entry <= 0 (not a Cholesky factor)")


def gaussian_logpdf(Z: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """log N(Z; mean, L Lᵀ) for a lower-triangular Cholesky factor ``L``."""
    from scipy.linalg import solve_triangular

    d = mean.shape[0]
    y = solve_triangular(chol, (Z - mean).T, lower=True)
    maha = np.einsum("ij,ij->j", y, y)
    logdet = 2.0 * np.log(np.diag(chol)).sum()
    return -0.5 * (d * _LOG_2PI + logdet + maha)


class CubeRegion(DensityRegion):
    """Independent uniform components in ``[-b, b]`` (optionally around the data mean).

    Parameters
    ----------
    b : float, optional
        Half-width of the cube. ``None`` fits it so that the median distance
        of cube samples from the centre matches the median radius of the data.
    center : bool, default False
        Centre the cube on the data mean instead of the origin.

    Attributes
    ----------
    b_ : float
    center_ : ndarray of shape (z_dim,)

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.random.default_rng(0).normal(size=(500, 8))
    >>> cube = CubeRegion(b=1.5).fit(Z)
    >>> cube.sample(4, random_state=0).shape
    (4, 8)
    """

    bounded = True

    _parameter_constraints = {"b": [Interval(Real, 0, None, closed="neither"), None], "center": ["boolean"]}
    _fitted_schema = {"center_": Array(("d",)), "b_": RealState(0.0, open_low=True)}

    def __init__(self, b: float | None = None, center: bool = False):
        self.b = b
        self.center = center

    def _fit(self, Z):
        d = Z.shape[1]
        self.center_ = Z.mean(axis=0) if self.center else np.zeros(d)
        if self.b is not None:
            self.b_ = float(self.b)
        else:
            data_r = np.median(np.linalg.norm(Z - self.center_, axis=1))
            # median radius of the unit cube [-1, 1]^d (Monte Carlo, fixed seed; r scales with b)
            u = np.random.default_rng(12345).uniform(-1.0, 1.0, size=(20_000, d))
            unit_r = np.median(np.linalg.norm(u, axis=1))
            self.b_ = float(data_r / unit_r) if data_r > 0 else 1.0

    def _sample(self, n, rng):
        return self.center_ + rng.uniform(-self.b_, self.b_, size=(n, self.n_features_in_))

    def _contains(self, Z):
        return (np.abs(Z - self.center_) <= self.b_).all(axis=1)

    def _score_samples(self, Z):
        logp = -self.n_features_in_ * math.log(2.0 * self.b_)
        return np.where(self._contains(Z), logp, -np.inf)


class BallRegion(DensityRegion):
    """Uniform in a ball around the data mean; radius = a quantile of the data radii.

    Parameters
    ----------
    quantile : float, default 0.95
        The ball's radius is this quantile of the distances of the fit points
        from their mean.
    radius : float, optional
        Fixed radius (overrides ``quantile``).

    Attributes
    ----------
    center_ : ndarray of shape (z_dim,)
    radius_ : float
    """

    bounded = True

    _parameter_constraints = {"quantile": [Interval(Real, 0, 1, closed="right")],
                              "radius": [Interval(Real, 0, None, closed="neither"), None]}
    _fitted_schema = {"center_": Array(("d",)), "radius_": RealState(0.0, open_low=True)}

    def __init__(self, quantile: float = 0.95, radius: float | None = None):
        self.quantile = quantile
        self.radius = radius

    def _fit(self, Z):
        self.center_ = Z.mean(axis=0)
        if self.radius is not None:
            self.radius_ = float(self.radius)
        else:
            self.radius_ = float(np.quantile(np.linalg.norm(Z - self.center_, axis=1), self.quantile))
            if self.radius_ <= 0:
                raise LatentlabError("ball: all fit points coincide; cannot fit a radius")

    def _sample(self, n, rng):
        d = self.n_features_in_
        r = self.radius_ * rng.uniform(size=(n, 1)) ** (1.0 / d)
        return self.center_ + r * sample_sphere(n, d, rng)

    def _contains(self, Z):
        return np.linalg.norm(Z - self.center_, axis=1) <= self.radius_

    def _score_samples(self, Z):
        d = self.n_features_in_
        logp = -(log_unit_ball_volume(d) + d * math.log(self.radius_))
        return np.where(self._contains(Z), logp, -np.inf)


class NormalRegion(DensityRegion):
    """Isotropic Gaussian: N(0, I) (unfitted) or N(mean, s² I) (fitted).

    Parameters
    ----------
    fitted : bool, default False
        ``False``: the unfitted baseline N(0, s² I) most libraries sample from
        (``fit`` only learns z_dim). ``True``: mean = data mean and
        s² = mean per-coordinate variance (the isotropic maximum-likelihood fit).
    scale : float, optional
        Fixed standard deviation s (default 1 when unfitted, fitted otherwise).

    Attributes
    ----------
    mean_ : ndarray of shape (z_dim,)
    scale_ : float
    """


    _parameter_constraints = {"fitted": ["boolean"], "scale": [Interval(Real, 0, None, closed="neither"), None]}
    _fitted_schema = {"mean_": Array(("d",)), "scale_": RealState(0.0, open_low=True)}

    def __init__(self, fitted: bool = False, scale: float | None = None):
        self.fitted = fitted
        self.scale = scale

    def _fit(self, Z):
        d = Z.shape[1]
        if self.fitted:
            self.mean_ = Z.mean(axis=0)
            s = float(np.sqrt(Z.var(axis=0).mean())) if self.scale is None else float(self.scale)
            self.scale_ = s if s > 0 else 1.0
        else:
            self.mean_ = np.zeros(d)
            self.scale_ = 1.0 if self.scale is None else float(self.scale)

    def _sample(self, n, rng):
        return self.mean_ + self.scale_ * rng.standard_normal((n, self.n_features_in_))

    def _score_samples(self, Z):
        d = self.n_features_in_
        sq = ((Z - self.mean_) ** 2).sum(axis=1) / self.scale_**2
        return -0.5 * (d * _LOG_2PI + 2 * d * math.log(self.scale_) + sq)


class MNDRegion(DensityRegion):
    """The one full Gaussian N(mean, Σ) with the data covariance.

    Parameters
    ----------
    reg_covar : float, default 1e-6
        Added to the diagonal of Σ (relative to its mean variance) for stability.

    Attributes
    ----------
    mean_ : ndarray of shape (z_dim,)
    covariance_ : ndarray of shape (z_dim, z_dim)
    cholesky_ : ndarray of shape (z_dim, z_dim)
    """


    _parameter_constraints = {"reg_covar": [Interval(Real, 0, None, closed="left")]}
    _fitted_schema = {"mean_": Array(("d",)), "cholesky_": Array(("d", "d")), "covariance_": Array(("d", "d"))}

    def _check_state(self):
        check_cholesky(self.cholesky_, "cholesky_")

    def __init__(self, reg_covar: float = 1e-6):
        self.reg_covar = reg_covar

    def _fit(self, Z):
        self.mean_ = Z.mean(axis=0)
        cov = np.atleast_2d(np.cov(Z, rowvar=False))
        reg = self.reg_covar * max(float(np.trace(cov)) / cov.shape[0], 1e-12)
        self.cholesky_ = _cholesky(cov, reg)
        self.covariance_ = self.cholesky_ @ self.cholesky_.T

    def _sample(self, n, rng):
        return self.mean_ + rng.standard_normal((n, self.n_features_in_)) @ self.cholesky_.T

    def _score_samples(self, Z):
        return gaussian_logpdf(Z, self.mean_, self.cholesky_)
