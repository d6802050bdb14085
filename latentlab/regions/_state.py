"""The schema of a fitted region's state: what a region file may set on a region, checked like parameters.

Each region class declares its fitted attributes once, in ``_fitted_schema``
(name → spec), next to its ``_parameter_constraints``. A spec says what the
value is: an array with named dimensions (``"d"`` is z_dim, the other letters
must agree wherever they appear), a real or integer scalar in a range, a flag, a
string, a nested region, a Keras model. :func:`validate_state` checks a decoded
state against the class's schema *before* anything is set on the region:

* no attribute that the schema does not name (a file cannot override a method
  or set ``__class__``), none that it requires missing;
* arrays real (never complex or objects), finite, of the declared rank and
  consistent shapes (z_dim from ``n_features_in_``);
* scalars finite and in range.

Relations that a spec cannot express (weights summing to one, a triangular
Cholesky factor, plane indices below z_dim) are each class's ``_check_state``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Array", "Flag", "Int", "JSON", "Model", "Real", "RegionList", "Text", "validate_state", "BASE_SCHEMA"]


class StateError(ValueError):
    """One attribute breaks the schema: ``key`` and what is wrong."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key, self.problem = key, problem


@dataclass(frozen=True)
class _Spec:
    optional: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class Array(_Spec):
    """A finite real array whose shape is ``dims`` (letters bind to sizes; ``"d"`` is z_dim)."""

    dims: tuple = ()
    positive: bool = False
    nonnegative: bool = False

    def check(self, key, value, sizes):
        if isinstance(value, (float, int)) and not isinstance(value, bool) and self.dims == ():
            value = np.asarray(value, dtype=np.float64)
        if not isinstance(value, np.ndarray):
            raise StateError(key, f"expected an array, got {type(value).__name__}")
        if value.dtype.kind != "f":
            raise StateError(key, f"expected a real floating-point array, got dtype {value.dtype}")
        if value.ndim != len(self.dims):
            raise StateError(key, f"expected {len(self.dims)} dimension(s) {_shape(self.dims)}, got shape {value.shape}")
        for dim, size in zip(self.dims, value.shape):
            if isinstance(dim, int):
                if size != dim:
                    raise StateError(key, f"expected shape {_shape(self.dims)}, got {value.shape}")
            elif sizes.setdefault(dim, size) != size:
                raise StateError(key, f"shape {value.shape} disagrees with {dim} = {sizes[dim]} (z_dim {sizes.get('d')})")
        value = value.astype(np.float64, copy=False)
        if not np.isfinite(value).all():
            raise StateError(key, "contains NaN or Inf")
        if self.positive and value.size and value.min() <= 0:
            raise StateError(key, "must be positive")
        if self.nonnegative and value.size and value.min() < 0:
            raise StateError(key, "must not be negative")
        return value


def _shape(dims) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


@dataclass(frozen=True)
class Real(_Spec):
    """A finite real scalar in ``[low, high]`` (``open_low``: strictly above ``low``)."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False

    def check(self, key, value, sizes):
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise StateError(key, f"expected a real number, got {type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            raise StateError(key, "must be finite")
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            raise StateError(key, f"must be {'>' if self.open_low else '>='} {self.low}, got {value!r}")
        if self.high is not None and value > self.high:
            raise StateError(key, f"must be <= {self.high}, got {value!r}")
        return value


@dataclass(frozen=True)
class Int(_Spec):
    """An integer in ``[low, high]``; with ``dim``, it is the size bound to that letter."""

    low: int | None = None
    high: int | None = None
    dim: str | None = None

    def check(self, key, value, sizes):
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, int):
            raise StateError(key, f"expected an integer, got {type(value).__name__}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise StateError(key, f"must lie in {self.low}..{'' if self.high is None else self.high}, got {value}")
        if self.dim is not None and sizes.setdefault(self.dim, value) != value:
            raise StateError(key, f"is {value} but the arrays say {self.dim} = {sizes[self.dim]}")
        return int(value)


@dataclass(frozen=True)
class Flag(_Spec):
    def check(self, key, value, sizes):
        if not isinstance(value, bool):
            raise StateError(key, f"expected true or false, got {type(value).__name__}")
        return value


@dataclass(frozen=True)
class Text(_Spec):
    max_len: int = 10_000

    def check(self, key, value, sizes):
        if not isinstance(value, str) or len(value) > self.max_len:
            raise StateError(key, "expected a (short) string")
        return value


@dataclass(frozen=True)
class JSON(_Spec):
    """A plain JSON value of type ``kind`` (kept for reports, never computed with)."""

    kind: type | tuple = dict

    def check(self, key, value, sizes):
        if not isinstance(value, self.kind):
            raise StateError(key, f"expected a JSON {getattr(self.kind, '__name__', 'list')}, got {type(value).__name__}")
        return value


@dataclass(frozen=True)
class RegionList(_Spec):
    """Nested fitted region(s) of class ``cls_name`` (``many``: a list of them, its length bound to ``dim``)."""

    cls_name: str | None = None
    many: bool = False
    dim: str | None = None

    def check(self, key, value, sizes):
        items = value if self.many else [value]
        if self.many and not isinstance(value, list):
            raise StateError(key, "expected a list of regions")
        for item in items:
            # a region is what the reader built from the registry (duck-typed: this module imports no region code)
            is_region = hasattr(type(item), "_fitted_schema") and callable(getattr(item, "sample", None))
            if not is_region or (self.cls_name and type(item).__name__ != self.cls_name):
                raise StateError(key, f"expected {'regions' if self.many else 'a region'} {self.cls_name or ''}".rstrip())
            if getattr(item, "n_features_in_", None) != sizes.get("d"):
                raise StateError(key, f"a nested region has z_dim {getattr(item, 'n_features_in_', None)}, "
                                      f"not {sizes.get('d')}")
        if self.many and self.dim is not None and sizes.setdefault(self.dim, len(items)) != len(items):
            raise StateError(key, f"{len(items)} regions but {self.dim} = {sizes[self.dim]}")
        return value


@dataclass(frozen=True)
class ArrayList(_Spec):
    """A list of finite real arrays (their shapes are the class's ``_check_state``)."""

    def check(self, key, value, sizes):
        if not isinstance(value, list):
            raise StateError(key, "expected a list of arrays")
        return [Array(dims=tuple(f"_{key}{i}_{j}" for j in range(getattr(v, "ndim", 0)))).check(f"{key}[{i}]", v, {})
                for i, v in enumerate(value)]


@dataclass(frozen=True)
class Model(_Spec):
    def check(self, key, value, sizes):
        if not (type(value).__module__.startswith(("keras", "tensorflow")) and hasattr(value, "predict")):
            raise StateError(key, "expected a Keras model")
        return value


#: Fitted attributes every region has (set by ``BaseRegion.fit``, ``fit_region`` and ``sample``).
BASE_SCHEMA = {
    "n_features_in_": Int(1, 65_536, dim="d"),
    "n_fit_": Int(1),
    "fit_store_": JSON(dict, optional=True),
    "fit_partition_": Text(optional=True),
    "acceptance_": Real(0.0, 1.0, optional=True),
}


def validate_state(cls, state: dict) -> dict:
    """Check a decoded state against ``cls``'s schema; return it with values normalised (float64 arrays, floats).

    Raises
    ------
    StateError
        The first attribute that is unknown, missing or off its spec.
    """
    if not hasattr(cls, "_fitted_schema"):
        raise StateError("state", f"{cls.__name__} declares no _fitted_schema, so a file's state for it cannot be "
                                  "checked (add one next to its _parameter_constraints)")
    schema = {**BASE_SCHEMA, **cls._fitted_schema}
    for key in state:
        if key not in schema:
            raise StateError(key, f"is not a fitted attribute of {cls.__name__}")
    missing = [k for k, spec in schema.items() if not spec.optional and k not in state]
    if missing:
        raise StateError(missing[0], "is missing")
    sizes: dict = {}
    out = {"n_features_in_": schema["n_features_in_"].check("n_features_in_", state["n_features_in_"], sizes)}
    for key, value in state.items():
        if key != "n_features_in_":
            out[key] = schema[key].check(key, value, sizes)
    return out
