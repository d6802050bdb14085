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

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

from .._errors import LatentlabError
from ._state import BASE_SCHEMA, StateError, validate_state

__all__ = ["MAX_SEED", "BaseRegion", "InputTypeError", "DensityRegion", "check_Z", "check_grid", "sample_sphere"]


class InputTypeError(LatentlabError, TypeError):
    """Input of a type no region takes (a dict in an object array): scikit-learn raises ``TypeError`` here."""


def _sklearn_first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(":") if text else type(exc).__name__


def check_Z(Z, *, name: str = "Z", n_features: int | None = None, min_rows: int = 1, estimator=None,
            reset: bool = True) -> np.ndarray:
    """Validate a point array: 2-D, finite, float64, enough rows, matching width.

    The checks are scikit-learn's own (:func:`sklearn.utils.validation.check_array`, or
    :func:`~sklearn.utils.validation.validate_data` with ``estimator``), so complex, sparse,
    object and string input is refused with scikit-learn's messages; a point given as a
    1-D array of length ``n_features`` is taken as one row.

    Raises
    ------
    LatentlabError
        With a one-line message naming ``name`` and the problem (``InputTypeError``, also a
        ``TypeError``, where scikit-learn raises ``TypeError``).
    """
    from sklearn.utils.validation import check_array, validate_data

    if n_features is not None and isinstance(Z, (np.ndarray, list, tuple)) and np.ndim(Z) == 1 and len(Z) == n_features:
        Z = np.asarray(Z)[None, :]
    kwargs = dict(dtype=np.float64, ensure_all_finite=True, ensure_min_samples=max(min_rows, 1))
    try:
        if estimator is not None:
            Z = validate_data(estimator, Z, reset=reset, **kwargs)
        else:
            Z = check_array(Z, input_name=name, **kwargs)
    except TypeError as exc:
        raise InputTypeError(f"{name}: {_sklearn_first_line(exc)}") from None
    except ValueError as exc:
        message = _sklearn_first_line(exc)
        if "is expecting" in message and estimator is not None:
            message += f" (the region's z_dim is {estimator.n_features_in_})"
        raise LatentlabError(f"{name}: {message}") from None
    if n_features is not None and Z.shape[1] != n_features:
        raise LatentlabError(f"{name}: X has {Z.shape[1]} features, but the region is expecting {n_features} "
                             "features as input (its z_dim)")
    return Z


#: Largest ``random_state`` a region takes: scikit-learn's (and NumPy's legacy) seeds are 32-bit.
MAX_SEED = 2**32 - 1


def check_grid(values, name: str, minimum: int = 1) -> None:
    """A grid parameter (``components_grid``, ``clusters_grid``): a non-empty list of integers >= ``minimum``."""
    from numbers import Integral

    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise LatentlabError(f"{name} must be a list of integers >= {minimum}, got {values!r}")
    values = list(values)
    if not values or not all(isinstance(v, Integral) and not isinstance(v, bool) and v >= minimum for v in values):
        raise LatentlabError(f"{name} must be a non-empty list of integers >= {minimum}, got {values!r}")


def _rng(random_state) -> np.random.Generator:
    """``numpy.random.default_rng`` of a seed that is None, a non-negative integer or a Generator (else one line)."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise LatentlabError(f"random_state (--seed) must be None or an integer >= 0, got {random_state!r}")
    return np.random.default_rng(int(random_state))


def _base_schema() -> dict:
    return BASE_SCHEMA


def sample_sphere(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` directions uniform on the unit sphere in ``d`` dimensions."""
    x = rng.standard_normal((n, d))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


class BaseRegion(BaseEstimator):
    """Base class of sampling regions (scikit-learn estimators).

    Parameters are declared once in ``_parameter_constraints`` (scikit-learn's
    declarative validation) and checked in :meth:`fit` and by
    :func:`~latentlab.regions.make_region`; a bad value raises
    :class:`~latentlab.LatentlabError`, which is a ``ValueError``.

    Class attributes
    ----------------
    bounded : bool
        ``contains`` is defined (the region has a boundary).
    has_density : bool
        ``score_samples`` returns a normalised log-density.
    fit_inputs : dict
        Extra per-row data ``fit`` needs besides ``Z``: keyword → kind of data
        (``{"labels": "fragments"}`` for the fragment region). Callers that fit
        on a store get them from :func:`~latentlab.regions.load_fit_inputs`.

    Attributes (after ``fit``)
    --------------------------
    n_features_in_ : int
        z_dim seen in ``fit``.
    n_fit_ : int
        Number of points the region was fitted on.
    acceptance_ : float
        Rejection samplers: the acceptance rate of the last :meth:`sample` call.
    """

    bounded = False
    has_density = False
    fit_inputs: dict = {}
    #: The region wraps a base region (named by its ``base`` parameter): ``make_region`` hands it
    #: the parameters it does not take itself as ``base_params``.
    wraps_base = False
    _rejection = False
    _parameter_constraints: dict = {}
    #: Give up when fewer than this share of proposals are accepted.
    min_acceptance = 1e-4
    #: Minimum number of points ``fit`` needs.
    _min_fit_rows = 2

    @property
    def name(self) -> str:
        """The registry name this region answers to (looked up, not stored)."""
        from ._registry import region_name

        return region_name(self)

    # -- parameters (sklearn protocol) -------------------------------------
    def set_params(self, **params) -> BaseRegion:
        valid = self._get_param_names()
        for key in params:
            if key not in valid:
                raise LatentlabError(
                    f"region {self.name!r} has no parameter {key!r}; valid: {', '.join(valid) or 'none'}"
                )
        return super().set_params(**params)

    def validate_params(self) -> BaseRegion:
        """Check the parameters against ``_parameter_constraints`` and the region's own rules.

        Raises
        ------
        LatentlabError
            One line naming the region, the parameter and what it accepts.
        """
        try:
            validate_parameter_constraints(self._parameter_constraints, self.get_params(deep=False),
                                           caller_name=self.name)
        except InvalidParameterError as exc:
            raise LatentlabError(f"region {self.name!r}: {exc}") from None
        self._check_params()
        return self

    def _check_params(self) -> None:
        """Rules that constraints cannot express (relations between parameters)."""

    def describe(self) -> dict:
        """Name, parameters and scalar fitted attributes as plain JSON values."""
        out = {"region": self.name, "class": type(self).__name__, "params": _plain(self.get_params(deep=False))}
        fitted = {}
        for key, value in vars(self).items():
            if key.endswith("_") and not key.startswith("_") and not isinstance(value, (np.ndarray, list, dict)):
                v = _plain(value)
                if isinstance(v, (int, float, str, bool)) or v is None:
                    fitted[key] = v
        out["fitted"] = fitted
        return out

    # -- fitting ------------------------------------------------------------
    def fit(self, Z, y=None, **inputs) -> BaseRegion:
        """Fit the region to latent points ``Z`` of shape ``(n, z_dim)``.

        Parameters
        ----------
        Z : array (n, z_dim)
        y : ignored
        **inputs
            The extra per-row data the region declares in :attr:`fit_inputs`.

        Returns
        -------
        self
        """
        self.validate_params()
        Z = check_Z(Z, min_rows=self._min_fit_rows, estimator=self, reset=True)
        unknown = sorted(set(inputs) - set(self.fit_inputs))
        if unknown:
            raise LatentlabError(f"region {self.name!r}: fit() does not take {', '.join(unknown)}")
        for key, value in inputs.items():
            if value is not None and len(value) != len(Z):
                raise LatentlabError(f"region {self.name!r}: {len(value)} {key} for {len(Z)} points")
        self.n_features_in_ = Z.shape[1]
        self.n_fit_ = Z.shape[0]
        try:
            self._fit(Z, **inputs)
        except FloatingPointError as exc:
            raise LatentlabError(f"region {self.name!r}: fitting overflowed ({exc}); the data or a parameter is too "
                                 "extreme for float64") from None
        self._validate_fitted()
        return self

    def _validate_fitted(self) -> None:
        """The fitted state obeys the class's ``_fitted_schema`` (the one region files are checked against).

        So a parameter that fits to a non-finite radius, scale or covariance is refused here, in one line,
        instead of sampling NaN later (and a region file that ``save_region`` writes always loads).
        """
        schema = {**_base_schema(), **getattr(type(self), "_fitted_schema", {})}
        state = {k: v for k, v in vars(self).items() if k in schema}
        try:
            validate_state(type(self), state)
            self._check_state()
        except StateError as exc:
            raise LatentlabError(f"region {self.name!r}: the fit gives {exc.key} that {exc.problem}; a parameter or "
                                 "the data is too extreme") from None

    def _check_state(self) -> None:
        """Relations between fitted attributes that ``_fitted_schema`` cannot express (raise ``StateError``)."""

    def _fit(self, Z: np.ndarray, **inputs) -> None:
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
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise LatentlabError(f"n must be an integer, got {n!r}")
        n = int(n)
        if n < 0:
            raise LatentlabError(f"n must be >= 0, got {n}")
        rng = _rng(random_state)
        if n == 0:
            return np.empty((0, self.n_features_in_))
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are refused below, in one line
                if not self._rejection:
                    out = self._sample(n, rng)
                    self.acceptance_ = self._last_acceptance()
                else:
                    out = self._rejection_sample(n, rng)
        except OverflowError as exc:
            raise LatentlabError(f"region {self.name!r}: sampling overflowed ({exc}); a scale-like parameter is too "
                                 "large for float64") from None
        if not np.isfinite(out).all():
            raise LatentlabError(f"region {self.name!r}: sampling gave non-finite z-points (NaN or Inf); a scale-like "
                                 "parameter is too large for float64")
        return out

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _last_acceptance(self) -> float:
        return 1.0

    def _propose(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _rejection_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Propose in batches, keep points inside, until ``n`` are accepted."""
        from ._progress import steps

        kept, n_kept, n_proposed, n_accepted = [], 0, 0, 0
        batch = max(64, n)
        with steps(f"{self.name}: rejection rounds", total=n) as bar:
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
                bar.advance(min(len(inside), n - (n_kept - len(inside))), acceptance=rate)
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
        Z = check_Z(Z, n_features=self.n_features_in_, estimator=self, reset=False)
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
        Z = check_Z(Z, n_features=self.n_features_in_, estimator=self, reset=False)
        return np.asarray(self._score_samples(Z), dtype=np.float64)

    def _score_samples(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score(self, Z, y=None) -> float:
        """Mean log-likelihood of ``Z`` (``-inf`` if any point is outside)."""
        return float(np.mean(self.score_samples(Z)))


class DensityRegion(DensityMixin, BaseRegion):
    """A region with a normalised log-density (``score_samples``): scikit-learn's density estimators' type."""

    has_density = True
    score = BaseRegion.score


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
