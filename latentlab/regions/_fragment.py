"""A region fitted only on one fragment of the point cloud."""

from __future__ import annotations

import os
from numbers import Integral
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from ._base import DensityRegion
from ._state import Int, RegionList, StateError

__all__ = ["FragmentRegion", "read_fragment_labels"]


def read_fragment_labels(path: str | os.PathLike, n_rows: int | None = None) -> np.ndarray:
    """Fragment label per store row from ``fragments.h5`` (``/fragment``; 0 = main fragment).

    ``latentlab fragments`` may have analysed only some rows (a partition);
    its ``/index`` gives their store rows. With ``n_rows``, the labels are
    spread onto all rows of the store, rows not analysed getting -1.
    """
    import h5py

    path = Path(path)
    if path.is_dir():
        path = path / "fragments.h5"
    if not path.is_file():
        raise LatentlabError(f"{path}: no such fragments file (run `latentlab fragments` first)")
    try:
        with h5py.File(path, "r") as f:
            if "fragment" not in f:
                raise LatentlabError(f"{path}: no /fragment dataset (not a `latentlab fragments` result)")
            # a fragments file may come from someone else: the store reader's guard (no external links or storage,
            # no virtual datasets, chunk cap) and at most one label per store row
            from ..store._reader import _dataset

            found = {key: _dataset(f, key, path) for key in ("fragment", "index")}
            if n_rows is not None and any(d is not None and d.size > n_rows for d in found.values()):
                raise LatentlabError(f"{path}: more fragment labels than the store's {n_rows} rows")
            labels = np.asarray(found["fragment"][:]).astype(np.int64).ravel()
            index = np.asarray(found["index"][:]).astype(np.int64).ravel() if found["index"] is not None else None
    except OSError as exc:
        raise LatentlabError(f"{path}: cannot read fragments file ({str(exc).splitlines()[0]})") from None
    if n_rows is None or index is None:
        return labels
    if len(index) != len(labels) or (len(index) and (index.min() < 0 or index.max() >= n_rows)):
        raise LatentlabError(f"{path}: /index does not fit a store of {n_rows} rows")
    full = np.full(n_rows, -1, dtype=np.int64)
    full[index] = labels
    return full


class FragmentRegion(DensityRegion):
    """Any region, fitted only on the points of one fragment (default: the main one).

    It declares the extra data it needs, ``fit_inputs = {"labels": "fragments"}``:
    :func:`~latentlab.regions.fit_region` and ``compare_samplers`` read the
    fragment labels of the fit rows from ``fragments.h5`` and pass them to
    ``fit(Z, labels=…)``, like any other declared input.

    Parameters
    ----------
    base : str, default 'mnd'
        Registry name of the region fitted on the fragment.
    fragment : int, default 0
        Fragment label to keep (``latentlab fragments`` numbers the main fragment 0).
    fragments : path-like, optional
        ``fragments.h5`` whose ``/fragment`` labels are aligned with the rows
        passed to :meth:`fit` (used when ``fit`` gets no ``labels``).
    base_params : dict, optional
        Parameters for the base region.

    Attributes
    ----------
    base_ : BaseRegion
        The fitted base region; sampling, ``contains`` and ``score_samples``
        delegate to it.
    n_fragment_ : int
        Points in the fragment.
    """

    fit_inputs = {"labels": "fragments"}
    wraps_base = True
    _parameter_constraints = {
        "base": [str],
        "fragment": [Integral],
        "fragments": [str, os.PathLike, None],
        "base_params": [dict, None],
    }
    _fitted_schema = {"base_": RegionList(), "n_fragment_": Int(1)}

    def _check_state(self):
        from ._registry import region_name

        if region_name(self.base_) != self.base:
            raise StateError("base_", f"is a {region_name(self.base_)!r} region, but the parameters say {self.base!r}")

    def __init__(self, base="mnd", fragment: int = 0, fragments=None, base_params: dict | None = None):
        self.base = base
        self.fragment = fragment
        self.fragments = fragments
        self.base_params = base_params

    def _base_region(self):
        from ._registry import make_region

        if self.base == "fragment" or self.base.startswith("fragment:"):
            raise LatentlabError("fragment: the base region cannot itself be a fragment region")
        return make_region(self.base, **(self.base_params or {}))

    @property
    def bounded(self) -> bool:
        return (self.base_ if hasattr(self, "base_") else self._base_region()).bounded

    @property
    def has_density(self) -> bool:
        return (self.base_ if hasattr(self, "base_") else self._base_region()).has_density

    def _fit(self, Z, labels=None):
        if labels is None:
            if self.fragments is None:
                raise LatentlabError("fragment: give labels to fit() or a fragments.h5 path")
            labels = read_fragment_labels(self.fragments)
        labels = np.asarray(labels).ravel()
        if len(labels) != len(Z):
            raise LatentlabError(f"fragment: {len(labels)} labels for {len(Z)} points")
        keep = labels == int(self.fragment)
        if keep.sum() < 2:
            raise LatentlabError(f"fragment: fragment {self.fragment} has {int(keep.sum())} point(s); need at least 2")
        self.base_ = self._base_region().fit(Z[keep])
        self.n_fit_ = int(keep.sum())
        self.n_fragment_ = int(keep.sum())

    def _sample(self, n, rng):
        return self.base_.sample(n, rng)

    def _last_acceptance(self) -> float:
        return float(getattr(self.base_, "acceptance_", 1.0))

    def _contains(self, Z):
        return self.base_._contains(Z)

    def _score_samples(self, Z):
        return self.base_._score_samples(Z)

    def describe(self) -> dict:
        out = super().describe()
        if hasattr(self, "base_"):
            out["base"] = self.base_.describe()
        return out
