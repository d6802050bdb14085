"""The analysis registry: every analysis the CLI offers and the report shows, in page order.

Each entry names an :class:`~latentlab.analysis._contract.Analysis` as
``"module:attribute"``; adding an analysis is its module and one line here.
"""

from __future__ import annotations

import importlib

from .._errors import LatentlabError

__all__ = ["ANALYSES", "analyses", "get_analysis", "run_analysis"]

#: name → ``"module:attribute"`` of its :class:`~latentlab.analysis._contract.Analysis`.
ANALYSES: dict[str, str] = {
    "components": "latentlab.analysis._components:COMPONENTS",
    "correlations": "latentlab.analysis._correlations:CORRELATIONS",
    "radii": "latentlab.analysis._radii:RADII",
    "pca": "latentlab.analysis._pca:PCA",
    "fragments": "latentlab.analysis._fragments_analysis:FRAGMENTS",
    "directions": "latentlab.analysis._directions:DIRECTIONS",
}


def get_analysis(name: str):
    """The registered :class:`~latentlab.analysis._contract.Analysis` called ``name``."""
    try:
        spec = ANALYSES[name]
    except KeyError:
        raise LatentlabError(f"unknown analysis {name!r}; known: {', '.join(ANALYSES)}") from None
    module, attr = spec.split(":")
    return getattr(importlib.import_module(module), attr)


def analyses() -> list:
    """Every registered analysis, in registry order."""
    return [get_analysis(name) for name in ANALYSES]


def run_analysis(name: str, data, **options):
    """Run the analysis ``name`` on ``data`` (path, open store or array).

    Examples
    --------
    >>> import numpy as np
    >>> res = run_analysis("components", np.random.default_rng(0).normal(size=(200, 3)))
    >>> res.name, sorted(res.to_dict())[:2]
    ('components', ['excess_kurtosis', 'gaussian_fit'])
    """
    return get_analysis(name)(data, **options)
