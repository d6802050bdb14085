"""The shared base of every sampling region.

:class:`BaseRegion` owns the public verbs — :meth:`~BaseRegion.fit`,
:meth:`~BaseRegion.sample`, :meth:`~BaseRegion.contains`,
:meth:`~BaseRegion.score_samples` — and the rejection loop used by truncated
or bounded regions. A subclass fills in a few private steps:

``_fit(Z)``
    Learn the fitted attributes (ending in ``_``) from a validated float64 array.
``_sample(n, rng)``
    Draw exactly ``n`` points (direct samplers), **or**
``_propose(n, rng)`` + ``_contains(Z)``
    Propose candidates and keep those inside (rejection samplers; set
    ``_rejection = True``).
``_contains(Z)``
    Membership of a bounded region (``bounded = True``).
``_score_samples(Z)``
    Log-density (``has_density = True``).

Adding a region never touches the shared loop.
"""

from __future__ import annotations

import inspect

import numpy as np

from .._errors import LatentlabError

__all__ = ["BaseRegion", "check_Z", "sample_sphere"]


def check_Z(Z, *, name: str = "Z", n_features: int | None = None, min_rows: int = 1) -> np.ndarray:
    """Validate a point array: 2-D, finite, float64, enough rows, matching width.

    Raises
    ------
    LatentlabError
        With a one-line message naming ``name`` and the problem.
    """
    try:
        Z = np.asarray(Z, dtype=np.float64)
    except (TypeError, ValueError):
        raise LatentlabError(f"{name}: expected a numeric array") from None
    if Z.ndim == 1 and n_features is not None and Z.shape[0] == n_features:
        Z = Z[None, :]
    if Z.ndim != 2:
        raise LatentlabError(f"{name}: expected a 2-D array (n_points, z_dim), got shape {Z.shape}")
    if Z.shape[0] < min_rows:
        raise LatentlabError(f"{name}: need at least {min_rows} point(s), got {Z.shape[0]}")
    if Z.shape[1] < 1:
        raise LatentlabError(f"{name}: z_dim must be at least 1")
    if n_features is not None and Z.shape[1] != n_features:
        raise LatentlabError(f"{name}: has z_dim {Z.shape[1]}, but the region was fitted with z_dim {n_features}")
    if not np.isfinite(Z).all():
        raise LatentlabError(f"{name}: contains NaN or Inf values")
    return Z


def sample_sphere(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` directions uniform on the unit sphere in ``d`` dimensions."""
    x = rng.standard_normal((n, d))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


class BaseRegion:
    """Base class of sampling regions (scikit-learn-like estimators).

    Class attributes
    ----------------
    name : str
        Registry name (``make_region(name)``).
    bounded : bool
        ``contains`` is defined (the region has a boundary).
    has_density : bool
        ``score_samples`` returns a normalised log-density.

    Attributes (after ``fit``)
    --------------------------
    n_features_in_ : int
        z_dim seen in ``fit``.
    n_fit_ : int
        Number of points the region was fitted on.
    acceptance_ : float
        Rejection samplers: the acceptance rate of the last :meth:`sample` call.
    """

    name = "base"
    bounded = False
    has_density = False
    _rejection = False
    #: Give up when fewer than this share of proposals are accepted.
    min_acceptance = 1e-4
    #: Minimum number of points ``fit`` needs.
    _min_fit_rows = 2

    # -- parameters (sklearn protocol) -------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict:
        """Parameters given to ``__init__`` (scikit-learn protocol)."""
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params) -> BaseRegion:
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise LatentlabError(
                    f"region {self.name!r} has no parameter {key!r}; valid: {', '.join(valid) or 'none'}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def describe(self) -> dict:
        """Name, parameters and scalar fitted attributes as plain JSON values."""
        out = {"region": self.name, "class": type(self).__name__, "params": _plain(self.get_params())}
        fitted = {}
        for key, value in vars(self).items():
            if key.endswith("_") and not key.startswith("_") and not isinstance(value, (np.ndarray, list, dict)):
                v = _plain(value)
                if isinstance(v, (int, float, str, bool)) or v is None:
                    fitted[key] = v
        out["fitted"] = fitted
        return out

    # -- fitting ------------------------------------------------------------
    def fit(self, Z, y=None) -> BaseRegion:
        """Fit the region to latent points ``Z`` of shape ``(n, z_dim)``.

        Returns
        -------
        self
        """
        Z = check_Z(Z, min_rows=self._min_fit_rows)
        self._validate_params()
        self.n_features_in_ = Z.shape[1]
        self.n_fit_ = Z.shape[0]
        self._fit(Z)
        return self

    def _validate_params(self) -> None:  # pragma: no cover - overridden where needed
        pass

    def _fit(self, Z: np.ndarray) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise LatentlabError(f"region {self.name!r} is not fitted yet; call fit(Z) first")

    # -- sampling -----------------------------------------------------------
    def sample(self, n: int = 1, random_state=None) -> np.ndarray:
        """Draw ``n`` points from the region.

        Parameters
        ----------
        n : int
        random_state : None, int or numpy.random.Generator
            Seed for :func:`numpy.random.default_rng`; the same seed gives
            the same points.

        Returns
        -------
        ndarray of shape (n, z_dim), float64
        """
        self._check_fitted()
        n = int(n)
        if n < 0:
            raise LatentlabError(f"n must be >= 0, got {n}")
        rng = np.random.default_rng(random_state)
        if n == 0:
            return np.empty((0, self.n_features_in_))
        if not self._rejection:
            out = self._sample(n, rng)
            self.acceptance_ = 1.0
            return out
        return self._rejection_sample(n, rng)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _propose(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _rejection_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Propose in batches, keep points inside, until ``n`` are accepted."""
        kept, n_kept, n_proposed, n_accepted = [], 0, 0, 0
        batch = max(64, n)
        while n_kept < n:
            cand = self._propose(batch, rng)
            inside = cand[self._contains(cand)]
            n_proposed += len(cand)
            n_accepted += len(inside)
            kept.append(inside)
            n_kept += len(inside)
            rate = n_accepted / n_proposed
            if n_kept < n and n_proposed >= 10_000 and rate < self.min_acceptance:
                raise LatentlabError(
                    f"region {self.name!r}: rejection sampling accepts only {rate:.2g} of proposals"
                    f" ({n_accepted} of {n_proposed}); loosen the bounds (e.g. a larger --sigma or fewer planes)"
                )
            # size the next batch from the observed rate (bounded to keep memory small)
            need = n - n_kept
            batch = int(min(max(64, 1.2 * need / max(rate, self.min_acceptance)), 200_000))
        self.acceptance_ = n_accepted / n_proposed
        return np.concatenate(kept)[:n]

    # -- membership and density ----------------------------------------------
    def contains(self, Z) -> np.ndarray:
        """Boolean mask: which points lie inside the (bounded) region.

        Raises
        ------
        NotImplementedError
            For unbounded regions (normal, mnd, gmm, kde).
        """
        self._check_fitted()
        if not self.bounded:
            raise NotImplementedError(f"region {self.name!r} is unbounded: contains() is not defined")
        Z = check_Z(Z, n_features=self.n_features_in_)
        return np.asarray(self._contains(Z), dtype=bool)

    def _contains(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score_samples(self, Z) -> np.ndarray:
        """Log-density of each point (``-inf`` outside a bounded region).

        Raises
        ------
        NotImplementedError
            For regions without a normalised density.
        """
        self._check_fitted()
        if not self.has_density:
            raise NotImplementedError(f"region {self.name!r} has no log-density")
        Z = check_Z(Z, n_features=self.n_features_in_)
        return np.asarray(self._score_samples(Z), dtype=np.float64)

    def _score_samples(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, Z, y=None) -> float:
        """Mean log-likelihood of ``Z`` (``-inf`` if any point is outside)."""
        return float(np.mean(self.score_samples(Z)))


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"array{value.shape}"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
