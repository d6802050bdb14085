"""Intrinsic-dimension estimates from nearest-neighbour distances."""

from __future__ import annotations

import numpy as np

__all__ = ["local_dimension_mle", "twonn_dimension"]

_TINY = 1e-12


def local_dimension_mle(knn_distances: np.ndarray) -> np.ndarray:
    """Levina–Bickel maximum-likelihood intrinsic dimension of every point.

    Uses the bias-corrected form ``(k - 2) / sum_{j<k} log(T_k / T_j)`` where
    ``T_j`` is the distance to the j-th neighbour.

    Parameters
    ----------
    knn_distances : ndarray of shape (n, k)
        Sorted neighbour distances (self excluded); ``k >= 3``.

    Returns
    -------
    ndarray of shape (n,), float32
        ``nan`` where the neighbourhood is degenerate (all distances equal or zero).

    Examples
    --------
    >>> import numpy as np
    >>> from latentlab.analysis import knn_graph
    >>> x = np.random.default_rng(0).normal(size=(2000, 3))
    >>> _, d, _ = knn_graph(x, k=20)
    >>> 2.5 < float(np.median(local_dimension_mle(d))) < 3.5
    True
    """
    t = np.maximum(np.asarray(knn_distances, dtype=np.float64), _TINY)
    k = t.shape[1]
    if k < 3:
        return np.full(t.shape[0], np.nan, dtype=np.float32)
    s = np.log(t[:, -1:] / t[:, :-1]).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(s > _TINY, (k - 2) / s, np.nan)
    return m.astype(np.float32)


def twonn_dimension(knn_distances: np.ndarray, *, discard_fraction: float = 0.0) -> float:
    """Global TwoNN intrinsic dimension (Facco et al. 2017) from the two nearest distances.

    The maximum-likelihood estimate ``(n - 1) / sum log(r2 / r1)``; optionally
    the largest ``discard_fraction`` of ratios are dropped first (a guard
    against outliers that biases the estimate slightly upwards).

    Parameters
    ----------
    knn_distances : ndarray of shape (n, k), k >= 2
    discard_fraction : float

    Returns
    -------
    float (``nan`` when undefined)
    """
    d = np.asarray(knn_distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] < 2:
        return float("nan")
    r1, r2 = d[:, 0], d[:, 1]
    ok = r1 > _TINY
    mu = np.sort(r2[ok] / r1[ok])
    if discard_fraction:
        mu = mu[: max(1, int(round(len(mu) * (1 - discard_fraction))))]
    logs = np.log(mu)
    total = logs.sum()
    if len(mu) < 2 or total <= 0:
        return float("nan")
    return float((len(mu) - 1) / total)
