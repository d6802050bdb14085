"""Region registry, fitting from a z-store, held-out log-likelihood."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from .._errors import LatentlabError
from ._base import BaseRegion, check_Z
from ._clusters import ClusterEllipsoidRegion
from ._density import GMMRegion, KDERegion
from ._ellipsoid import EllipsoidRegion, PlanesRegion
from ._flow import FlowRegion
from ._flow_matching import FlowMatchingRegion
from ._fragment import FragmentRegion, read_fragment_labels
from ._simple import BallRegion, CubeRegion, MNDRegion, NormalRegion

__all__ = [
    "DEFAULT_REGIONS",
    "REGIONS",
    "HeldoutScore",
    "FIT_INPUTS",
    "fit_region",
    "heldout_loglik",
    "load_fit_inputs",
    "make_region",
    "region_name",
    "split_rows",
]

#: name → (class, fixed parameters)
REGIONS: dict[str, tuple[type[BaseRegion], dict]] = {
    "cube": (CubeRegion, {}),
    "ball": (BallRegion, {}),
    "normal": (NormalRegion, {"fitted": False}),
    "normal-fitted": (NormalRegion, {"fitted": True}),
    "mnd": (MNDRegion, {}),
    "ellipsoid": (EllipsoidRegion, {}),
    "planes": (PlanesRegion, {}),
    "gmm": (GMMRegion, {}),
    "bgmm": (GMMRegion, {"bayesian": True}),
    "kde": (KDERegion, {}),
    "cluster-ellipsoid": (ClusterEllipsoidRegion, {}),
    "flow": (FlowRegion, {}),
    "flow-matching": (FlowMatchingRegion, {}),
    "fragment": (FragmentRegion, {}),
}

#: The samplers `latentlab compare-samplers` compares by default (plus "fragment" when a result exists).
DEFAULT_REGIONS = ["cube", "ball", "normal", "normal-fitted", "mnd", "ellipsoid", "cluster-ellipsoid", "planes", "gmm",
                   "kde"]


def region_name(region: BaseRegion) -> str:
    """The registry name of a region instance: its class and the registry's fixed parameters.

    The name is looked up, never stored on the instance, so ``sklearn.base.clone``
    of a ``normal-fitted`` region is still ``normal-fitted``.
    """
    best, best_fixed = None, -1
    for name, (cls, fixed) in REGIONS.items():
        if type(region) is cls and all(getattr(region, k, None) == v for k, v in fixed.items()) and len(fixed) > best_fixed:
            best, best_fixed = name, len(fixed)
    return best if best is not None else type(region).__name__


def make_region(name: str, **params) -> BaseRegion:
    """Create an (unfitted) region by registry name.

    ``"fragment:<base>"`` makes a :class:`FragmentRegion` around ``<base>``;
    parameters it does not take itself go to the base region.

    Raises
    ------
    LatentlabError
        Unknown name, or a parameter the region does not take.

    Examples
    --------
    >>> make_region("ellipsoid", sigma=3)
    EllipsoidRegion(sigma=3)
    """
    if not isinstance(name, str):
        raise LatentlabError(f"region name must be a string, got {name!r}")
    if name.startswith("fragment:"):
        params = {"base": name.split(":", 1)[1], **params}
        name = "fragment"
    if name not in REGIONS:
        import difflib

        close = difflib.get_close_matches(str(name), list(REGIONS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise LatentlabError(f"unknown region {name!r}{hint}; known: {', '.join(REGIONS)}")
    cls, fixed = REGIONS[name]
    valid = set(cls._get_param_names()) - set(fixed)
    if cls.wraps_base:  # parameters it does not take itself go to its base region
        own = {k: params.pop(k) for k in list(params) if k in valid}
        base = own.get("base", "mnd")
        if not isinstance(base, str) or base not in REGIONS or base == "fragment":
            raise LatentlabError(f"unknown base region {base!r} for fragment; known: {', '.join(n for n in REGIONS if n != 'fragment')}")
        make_region(base, **params)  # validate the base parameters now
        if params:
            own["base_params"] = {**(own.get("base_params") or {}), **params}
        params = own
    bad = sorted(set(params) - valid)
    if bad:
        raise LatentlabError(
            f"region {name!r} does not take {', '.join(bad)}; it takes: {', '.join(sorted(valid)) or 'no parameters'}"
        )
    return cls(**{**fixed, **params}).validate_params()


def _fragment_labels(store, rows, *, fragments=None, region=None):
    path = fragments or getattr(region, "fragments", None)
    if path is None:
        raise LatentlabError("no fragments.h5 given (run `latentlab fragments` first, or pass --fragments)")
    labels = read_fragment_labels(path, n_rows=store.n)
    if len(labels) != store.n:
        raise LatentlabError(f"{path}: {len(labels)} fragment labels but the store has {store.n} rows")
    return labels if rows is None else labels[rows]


#: kind of declared fit input → loader(store, rows, **sources) giving one value per fit row
FIT_INPUTS = {"fragments": _fragment_labels}


def load_fit_inputs(region: BaseRegion, store, rows=None, **sources) -> dict:
    """The extra data a region declares in ``fit_inputs``, for the given store rows.

    Parameters
    ----------
    region : BaseRegion
    store : ZStore
    rows : array of int, optional
        The fit rows (sorted), default all.
    **sources
        Where each kind of input comes from, e.g. ``fragments="fragments.h5"``.

    Returns
    -------
    dict of keyword → array, ready for ``region.fit(Z, **inputs)``.
    """
    return {key: FIT_INPUTS[kind](store, rows, region=region, **{k: v for k, v in sources.items() if k == kind})
            for key, kind in region.fit_inputs.items()}


@contextlib.contextmanager
def _opened(store):
    from ..store import ZStore, open_store

    if isinstance(store, ZStore):
        yield store
    else:
        with open_store(store) as s:
            yield s


def split_rows(store, *, partition: str = "train", heldout=("val", "test"), heldout_fraction: float = 0.2,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Row indices to fit on and to hold out.

    Uses ``/partition`` when the store has it (``partition`` to fit,
    ``heldout`` partitions held out). Without a partition, or when the
    held-out partitions are empty, a seeded random ``heldout_fraction`` of
    the rows is held out.

    Returns
    -------
    fit_rows, heldout_rows : ndarray of int
    how : str
        ``"partition"`` or ``"random split"``.
    """
    with _opened(store) as s:
        if s.partition is not None:
            part = np.asarray(s.partition[:])
            fit = np.flatnonzero(part == {"train": 0, "val": 1, "test": 2}[partition])
            codes = [{"train": 0, "val": 1, "test": 2}[p] for p in heldout]
            held = np.flatnonzero(np.isin(part, codes))
            if len(fit) >= 2 and len(held) >= 2:
                return fit, held, "partition"
        n = s.n
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_held = int(round(n * heldout_fraction))
    n_held = min(max(n_held, 1), n - 2) if n > 2 else 0
    return np.sort(perm[n_held:]), np.sort(perm[:n_held]), "random split"


def fit_region(region, store, partition: str | None = "train", *, fragments=None, rows=None, where=None,
               **params) -> BaseRegion:
    """Fit a region (name or instance) on a z-store.

    Parameters
    ----------
    region : str or BaseRegion
    store : path-like or ZStore
    partition : {'train', 'val', 'test', 'all'} or None, default 'train'
        Falls back to all rows when the store has no ``/partition``.
    fragments : path-like, optional
        ``fragments.h5`` for fragment regions (labels aligned with the store rows).
    rows : array of int, optional
        Explicit row indices to fit on (overrides ``partition``).
    where : dict or list of str, optional
        Conditions on the store's attributes, all of which must hold
        (``{"Smiling": 1}``, ``{"label": "Bag"}``, ``["Male=-1"]``; see
        :mod:`latentlab.regions._where`), within the ``partition`` / ``rows``
        selection. Recorded in ``fit_store_["where"]`` (and so in the region file).
    **params
        Region parameters when ``region`` is a name.

    Returns
    -------
    The fitted region, with ``fit_partition_`` set (``'train'``, ``'all'``, or ``'rows'``).
    """
    if isinstance(region, str):
        region = make_region(region, **params)
    elif params:
        region.set_params(**params)
    if not isinstance(region, BaseRegion):
        raise LatentlabError(f"not a region: {region!r}")
    with _opened(store) as s:
        if rows is not None:
            sel, used = np.asarray(rows, dtype=np.int64), "rows"
        elif partition in (None, "all") or s.partition is None:
            sel, used = None, "all"
        else:
            sel, used = s.selection(partition), partition
            if len(sel) < 2:
                sel, used = None, "all"
        if where:
            from ._where import parse_where, where_rows

            where = parse_where(where)
            sel = where_rows(s, where, sel)
        rows_sorted = None if sel is None else np.sort(sel)
        Z = s.read_z(dtype=np.float64) if sel is None else np.asarray(s.z[rows_sorted], dtype=np.float64)
        inputs = load_fit_inputs(region, s, rows_sorted, fragments=fragments)
        region.fit(Z, **inputs)
        region.fit_store_ = {"path": str(s.path), "fingerprint": s.fingerprint, "partition": used, "n_rows": int(s.n)}
        if where:
            region.fit_store_.update(where=dict(where), n_where_rows=int(len(rows_sorted)))
    region.fit_partition_ = used
    return region


@dataclass
class HeldoutScore:
    """Held-out log-likelihood of a density region.

    Attributes
    ----------
    mean_loglik : float or None
        Mean log-density of the held-out points; ``None`` when undefined
        (no density, or a held-out point outside a bounded region, i.e. -inf).
    mean_loglik_inside : float or None
        Mean over the held-out points inside the region.
    inside : float or None
        Share of held-out points inside a bounded region (1 for unbounded).
    n : int
    """

    mean_loglik: float | None
    mean_loglik_inside: float | None
    inside: float | None
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def heldout_loglik(region: BaseRegion, data, partition=("val", "test")) -> HeldoutScore:
    """Mean log-likelihood of held-out points under a fitted region.

    Parameters
    ----------
    region : fitted BaseRegion
    data : array (n, z_dim), path-like or ZStore
        Held-out points, or a store whose ``partition`` rows are read.
    partition : str or tuple of str, default ('val', 'test')
    """
    if isinstance(data, (str, os.PathLike)) or hasattr(data, "iter_chunks"):
        parts = (partition,) if isinstance(partition, str) else tuple(partition)
        with _opened(data) as s:
            if s.partition is None:
                raise LatentlabError(f"{s.path}: store has no /partition; pass held-out points explicitly")
            Z = np.concatenate([s.read_z(p, dtype=np.float64) for p in parts])
    else:
        Z = check_Z(data, name="held-out points", n_features=getattr(region, "n_features_in_", None))
    n = len(Z)
    inside = float(region.contains(Z).mean()) if region.bounded and n else (1.0 if n else None)
    if not region.has_density or n == 0:
        return HeldoutScore(None, None, inside, n)
    ll = region.score_samples(Z)
    finite = np.isfinite(ll)
    mean = float(ll.mean()) if finite.all() else None
    mean_in = float(ll[finite].mean()) if finite.any() else None
    if mean is not None and not math.isfinite(mean):
        mean = None
    return HeldoutScore(mean, mean_in, inside, n)
