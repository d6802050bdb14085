"""k-NN based sample-quality measures, computed in row chunks.

* :func:`prdc` — precision / recall / density / coverage (Naeem et al. 2020).
* :func:`on_data_fraction` — share of samples that lie "on the data": their
  k-NN distance to the real points falls within the central ``quantile`` of
  the real points' own (leave-one-out) k-NN distances — neither farther from
  the data nor more crowded by it than real points are.

Distances are computed block by block (``chunk_rows`` × M at a time, about
32 MiB by default), never as a full N × M matrix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .._errors import LatentlabError

__all__ = ["NoveltyResult", "OnDataResult", "PRDCResult", "bootstrap_interval", "kth_neighbour_distance", "knn_radii",
           "nearest_distance", "novelty", "on_data_fraction", "prdc"]

#: Elements per distance block (chunk_rows × M); 4 Mi float64 = 32 MiB.
_BLOCK_ELEMENTS = 1 << 22


def _as_points(X, name):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not len(X):
        raise LatentlabError(f"{name}: expected a non-empty 2-D array, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise LatentlabError(f"{name}: contains NaN or Inf values")
    return X


def _rows_per_chunk(m: int, chunk_rows: int | None) -> int:
    return int(chunk_rows) if chunk_rows else max(1, _BLOCK_ELEMENTS // max(1, m))


#: Relative error bound of a squared distance from ``|a|² + |b|² - 2a·b`` (per feature, with margin).
_EXPANSION_ERROR = 16 * np.finfo(np.float64).eps


def _sq_dist_blocks(A, B, chunk_rows=None):
    """Yield ``(start, D2, tol)``: squared distances of an A row block to all of B, and their error bound.

    Both sets are shifted by the mean of ``B`` first: the expansion
    ``|a|² + |b|² - 2a·b`` loses the digits that ``|a|²`` spends on the
    cloud's offset from the origin, so centring makes the result independent
    of a translation of the data. ``tol`` (one per row) bounds the rounding
    error of every entry of the row; entries that close to a threshold are
    recomputed by :func:`_exact_sq_pairs`.
    """
    shift = B.mean(axis=0)
    Bc = B - shift
    b2 = np.einsum("ij,ij->i", Bc, Bc)
    bound = _EXPANSION_ERROR * (A.shape[1] + 4)
    step = _rows_per_chunk(len(B), chunk_rows)
    for start in range(0, len(A), step):
        a = A[start:start + step] - shift
        a2 = np.einsum("ij,ij->i", a, a)
        d2 = a2[:, None] + b2[None, :] - 2.0 * (a @ Bc.T)
        np.maximum(d2, 0.0, out=d2)
        yield start, d2, bound * (a2 + b2.max())


def _exact_sq_pairs(A, B, rows, cols):
    """Squared distances of the pairs ``(A[rows], B[cols])`` as sums of squared differences.

    The same two points give the same bits whichever side they are on, so a
    point and its exact copy tie exactly, and a fake point exactly at a real
    point's k-th neighbour distance is on the boundary, as the definition says.
    """
    out = np.empty(len(rows))
    for s in range(0, len(rows), 1 << 16):
        diff = A[rows[s:s + (1 << 16)]] - B[cols[s:s + (1 << 16)]]
        out[s:s + len(diff)] = np.einsum("ij,ij->i", diff, diff)
    return out


def _strictly_inside(A, B, start, d2, tol, radii, *, radius_of_b: bool):
    """``d(a, b) < r`` for a block of A rows against all of B, exact at the boundary.

    ``radii`` holds the radii of B's balls (``radius_of_b``) or of A's rows.
    Entries within the rounding bound of the radius are recomputed exactly
    and compared as distances (``sqrt`` of the same bits gives the same
    radius), so ties follow the strict ``<`` of the reference.
    """
    r = radii[None, :] if radius_of_b else radii[start:start + len(d2), None]
    inside = d2 < r**2
    near = np.abs(d2 - r**2) <= tol[:, None]
    if near.any():
        i, j = np.nonzero(near)
        exact = np.sqrt(_exact_sq_pairs(A, B, start + i, j))
        inside[i, j] = exact < (radii[j] if radius_of_b else radii[start + i])
    return inside


def _kth_sq_distance(A, B, k, *, exclude_self, chunk_rows=None):
    """Exact squared distance from each row of ``A`` to its k-th nearest row of ``B``."""
    out = np.empty(len(A))
    for start, d2, tol in _sq_dist_blocks(A, B, chunk_rows):
        rows = np.arange(d2.shape[0])
        if exclude_self:
            d2[rows, start + rows] = np.inf
        kth = np.partition(d2, k - 1, axis=1)[:, k - 1]
        # every point whose exact distance could be at or below the exact k-th one
        i, j = np.nonzero(d2 <= (kth + 2 * tol)[:, None])
        exact = _exact_sq_pairs(A, B, start + i, j)
        order = np.lexsort((exact, i))
        first = np.searchsorted(i[order], rows)
        out[start:start + len(d2)] = exact[order][first + k - 1]
    return out


def kth_neighbour_distance(A, B, k: int = 5, *, exclude_self: bool = False, chunk_rows: int | None = None) -> np.ndarray:
    """Distance from each row of ``A`` to its k-th nearest row of ``B``.

    Exact to rounding and independent of a translation of the data: the
    distances near the k-th are recomputed as sums of squared differences.

    Parameters
    ----------
    exclude_self : bool
        ``A`` and ``B`` are the same set: skip each point itself (leave-one-out).

    Examples
    --------
    >>> import numpy as np
    >>> B = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]) + 1e6
    >>> kth_neighbour_distance(B, B, 1, exclude_self=True).tolist()
    [5.0, 5.0, 5.0]
    """
    A, B = _as_points(A, "A"), _as_points(B, "B")
    avail = len(B) - (1 if exclude_self else 0)
    if not 1 <= k <= avail:
        raise LatentlabError(f"k={k} nearest neighbours need at least {k + int(exclude_self)} reference points, got {len(B)}")
    return np.sqrt(_kth_sq_distance(A, B, k, exclude_self=exclude_self, chunk_rows=chunk_rows))


def knn_radii(X, k: int = 5, *, chunk_rows: int | None = None) -> np.ndarray:
    """Leave-one-out k-NN distance of each point of ``X`` within ``X``."""
    return kth_neighbour_distance(X, X, k, exclude_self=True, chunk_rows=chunk_rows)


@dataclass
class PRDCResult:
    """Precision, recall, density and coverage of fake vs real points (Naeem et al. 2020)."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    n_real: int
    n_fake: int
    #: Per-point indicators (not serialised): fake points inside a real ball, real balls hit per fake
    #: point / k, real points recalled, real balls covered, for bootstrap intervals.
    indicators: dict | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("indicators", None)
        return d

    def intervals(self, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> dict:
        """Percentile bootstrap intervals of the four measures, resampling the per-point indicators."""
        ind = self.indicators or {}
        return {name: bootstrap_interval(ind[key], n_boot=n_boot, seed=seed, level=level)
                for name, key in (("precision", "precise"), ("density", "density"), ("recall", "recalled"),
                                  ("coverage", "covered")) if key in ind}


def bootstrap_interval(values, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-point ``values``.

    Examples
    --------
    >>> lo, hi = bootstrap_interval(np.r_[np.ones(50), np.zeros(50)])
    >>> 0.35 < lo < 0.5 < hi < 0.65
    True
    """
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def prdc(real, fake, k: int = 5, *, chunk_rows: int | None = None, real_radii=None) -> PRDCResult:
    """Precision / recall / density / coverage with k-NN balls (Naeem et al. 2020).

    * precision: share of fake points inside at least one real k-NN ball;
    * recall: share of real points inside at least one fake k-NN ball;
    * density: mean number of real balls containing a fake point, divided by k;
    * coverage: share of real balls that contain at least one fake point.

    Works in any feature space (latent codes, downscaled pixels, …).

    Parameters
    ----------
    real, fake : array (n, d)
    k : int, default 5
    chunk_rows : int, optional
        Rows per distance block (default: about 32 MiB per block).
    real_radii : array, optional
        The real points' leave-one-out k-NN distances (:func:`knn_radii`), when
        several fake sets are measured against the same real set.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> prdc(X, X).precision
    1.0
    """
    real, fake = _as_points(real, "real points"), _as_points(fake, "fake points")
    if real.shape[1] != fake.shape[1]:
        raise LatentlabError(f"real points have dimension {real.shape[1]}, fake points {fake.shape[1]}")
    r_real = knn_radii(real, k, chunk_rows=chunk_rows) if real_radii is None else np.asarray(real_radii, np.float64)
    r_fake = knn_radii(fake, k, chunk_rows=chunk_rows)
    # A point is inside a ball when strictly closer than the ball's radius (clovaai's ``prdc``: ``d < radius``),
    # so a fake point exactly at a real point's k-th neighbour distance is outside, and real == fake gives
    # density 1: each real ball holds its centre and its k - 1 nearer neighbours.
    precise, dens = np.zeros(len(fake), bool), np.zeros(len(fake))
    for start, d2, tol in _sq_dist_blocks(fake, real, chunk_rows):
        inside = _strictly_inside(fake, real, start, d2, tol, r_real, radius_of_b=True)
        precise[start:start + len(d2)] = inside.any(axis=1)
        dens[start:start + len(d2)] = inside.sum(axis=1) / k
    recalled, covered = np.zeros(len(real), bool), np.zeros(len(real), bool)
    for start, d2, tol in _sq_dist_blocks(real, fake, chunk_rows):
        recalled[start:start + len(d2)] = _strictly_inside(real, fake, start, d2, tol, r_fake,
                                                           radius_of_b=True).any(axis=1)
        covered[start:start + len(d2)] = _strictly_inside(real, fake, start, d2, tol, r_real,
                                                          radius_of_b=False).any(axis=1)
    return PRDCResult(
        precision=float(precise.mean()),
        recall=float(recalled.mean()),
        density=float(dens.mean()),
        coverage=float(covered.mean()),
        k=int(k),
        n_real=len(real),
        n_fake=len(fake),
        indicators={"precise": precise, "density": dens, "recalled": recalled, "covered": covered},
    )


@dataclass
class OnDataResult:
    """How many samples lie on the data.

    Attributes
    ----------
    fraction : float
        Share of samples whose k-NN distance to the real points lies in
        ``[lower, upper]``.
    lower, upper : float
        The ``(1 - quantile) / 2`` and ``(1 + quantile) / 2`` quantiles of the
        real points' leave-one-out k-NN distances.
    too_close, too_far : float
        Share of samples below ``lower`` (closer to k real points than real
        points ever are: in many dimensions, the empty interior of the cloud)
        and above ``upper`` (off the data).
    median_ratio : float
        Median sample k-NN distance / median real k-NN distance (1 = as close
        as the real points are to each other).
    """

    fraction: float
    lower: float
    upper: float
    too_close: float
    too_far: float
    median_ratio: float
    k: int
    quantile: float
    n_samples: int
    n_real: int
    on: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("on", None)
        return d


def on_data_fraction(samples, real, k: int = 5, quantile: float = 0.95, *, chunk_rows: int | None = None,
                     real_radii=None) -> OnDataResult:
    """Share of samples "on the data", relative to the real points' own spacing.

    Parameters
    ----------
    samples : array (n, d)
    real : array (m, d)
    k : int, default 5
    quantile : float, default 0.95
        A sample is on the data when the distance to its k-th nearest real
        point lies within the central ``quantile`` of the real points'
        leave-one-out k-NN distances, so a sampler that draws from the data's
        own distribution scores about ``quantile``.

    Notes
    -----
    The band is two-sided because of how high-dimensional clouds look: the
    real points sit in a thin shell, and a point in the shell's empty
    interior is *closer* to its k nearest real points than the real points
    are to each other. A one-sided test would call such samples (N(0, I)
    inside an off-centre, wider cloud, say) "on the data"; here they count
    as ``too_close``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(1000, 64))
    >>> on_data_fraction(rng.normal(size=(500, 64)), real).fraction > 0.8
    True
    >>> on_data_fraction(0.3 * rng.normal(size=(500, 64)), real).too_close
    1.0
    """
    if not 0 < quantile <= 1:
        raise LatentlabError(f"quantile must be in (0, 1], got {quantile}")
    samples, real = _as_points(samples, "samples"), _as_points(real, "real points")
    if samples.shape[1] != real.shape[1]:
        raise LatentlabError(f"samples have dimension {samples.shape[1]}, real points {real.shape[1]}")
    r_real = knn_radii(real, k, chunk_rows=chunk_rows) if real_radii is None else np.asarray(real_radii, np.float64)
    lower, upper = (float(v) for v in np.quantile(r_real, [(1 - quantile) / 2, (1 + quantile) / 2]))
    d = kth_neighbour_distance(samples, real, k, chunk_rows=chunk_rows)
    med = float(np.median(r_real))
    on = (d >= lower) & (d <= upper)
    return OnDataResult(
        fraction=float(on.mean()),
        lower=lower,
        upper=upper,
        too_close=float((d < lower).mean()),
        too_far=float((d > upper).mean()),
        median_ratio=float(np.median(d) / med) if med > 0 else float("inf"),
        k=int(k),
        quantile=float(quantile),
        n_samples=len(samples),
        n_real=len(real),
        on=on,
    )


def nearest_distance(A, B, *, chunk_rows: int | None = None) -> np.ndarray:
    """Distance from each row of ``A`` to its nearest row of ``B``."""
    return kth_neighbour_distance(A, B, 1, chunk_rows=chunk_rows)


@dataclass
class NoveltyResult:
    """How far samples are from the training points, against held-out real points.

    Attributes
    ----------
    median_ratio : float
        Median over samples of (distance to the nearest fit point) / (the median
        of the held-out real points' nearest-fit distances). Real unseen data scores
        1; a sampler that copies training points scores near 0.
    copies : float
        Share of samples closer to a fit point than the 5th percentile
        (``copy_quantile``) of the held-out real points' nearest-fit distances:
        held-out real points score ``copy_quantile`` by construction.
    """

    median_ratio: float
    copies: float
    threshold: float
    heldout_median: float
    copy_quantile: float
    n_samples: int
    n_fit: int

    def to_dict(self) -> dict:
        return asdict(self)


def novelty(samples, fit, heldout_distances, *, copy_quantile: float = 0.05, chunk_rows: int | None = None) -> NoveltyResult:
    """Memorisation check after FLD / dgm-eval: nearest-fit distances of samples vs held-out real points.

    Parameters
    ----------
    samples : array (n, d)
    fit : array (m, d)
        The points the sampler was fitted on (training points).
    heldout_distances : array
        ``nearest_distance(heldout, fit)`` for real points the sampler never saw.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fit, held = rng.normal(size=(500, 8)), rng.normal(size=(200, 8))
    >>> base = nearest_distance(held, fit)
    >>> novelty(fit[:100] + 1e-3, fit, base).copies
    1.0
    >>> 0.8 < novelty(rng.normal(size=(200, 8)), fit, base).median_ratio < 1.2
    True
    """
    h = np.asarray(heldout_distances, dtype=np.float64)
    d = nearest_distance(samples, fit, chunk_rows=chunk_rows)
    med = float(np.median(h))
    thr = float(np.quantile(h, copy_quantile))
    return NoveltyResult(
        median_ratio=float(np.median(d) / med) if med > 0 else float("inf"),
        copies=float((d < thr).mean()),
        threshold=thr,
        heldout_median=med,
        copy_quantile=float(copy_quantile),
        n_samples=len(d),
        n_fit=len(fit),
    )
