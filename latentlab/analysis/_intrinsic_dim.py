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

    ``log(r2 / r1)`` is exponential with rate d, so the estimate is the
    unbiased maximum-likelihood rate ``(n - 1) / sum log(r2 / r1)``. With
    ``discard_fraction`` the largest ratios (outliers) are *censored*, not
    dropped: keeping the ``m = int(n (1 - discard_fraction))`` smallest is
    Type-II censoring, and the estimate is
    ``(m - 1) / (sum_{i<=m} log mu_(i) + (n - m) log mu_(m))`` — scikit-dimension's
    ``TwoNN(method="mle")`` (dropping them instead would overstate d by about
    30 % on a 5-ball at ``discard_fraction=0.1``). Points with ``r1 = 0``
    (duplicates) have no ratio and are left out, as there.

    Parameters
    ----------
    knn_distances : ndarray of shape (n, k), k >= 2
    discard_fraction : float in [0, 1)

    Returns
    -------
    float (``nan`` when undefined)

    Examples
    --------
    >>> import numpy as np
    >>> from latentlab.analysis import knn_graph
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(4000, 5))
    >>> x = x / np.linalg.norm(x, axis=1, keepdims=True) * rng.uniform(size=(4000, 1)) ** (1 / 5)
    >>> _, d, _ = knn_graph(x, k=2)
    >>> 4.5 < twonn_dimension(d) < 5.5, 4.5 < twonn_dimension(d, discard_fraction=0.1) < 5.5
    (True, True)
    """
    if not 0.0 <= discard_fraction < 1.0:
        raise ValueError(f"discard_fraction must be in [0, 1), got {discard_fraction}")
    d = np.asarray(knn_distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] < 2:
        return float("nan")
    r1, r2 = d[:, 0], d[:, 1]
    ok = r1 > 0
    log_mu = np.sort(np.log(r2[ok] / r1[ok]))
    n_all = len(log_mu)
    n_keep = int(n_all * (1 - discard_fraction))
    if n_keep < 2:
        return float("nan")
    total = log_mu[:n_keep].sum() + (n_all - n_keep) * log_mu[n_keep - 1]
    if not total > 0:
        return float("nan")
    return float((n_keep - 1) / total)
