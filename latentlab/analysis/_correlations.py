"""Correlations between latent components and the multivariate-normal check.

Pass 1 accumulates the float64 covariance (and a seeded row subsample for
scatter plots). Pass 2 computes squared Mahalanobis distances
``(z - m)ᵀ Σ⁻¹ (z - m)`` and histograms them: for multivariate-normal data
they follow χ²(z_dim). The goodness of fit is a binned χ² test on bins that
are equiprobable under χ²(z_dim), so it uses every row and no chunk size or
engine changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from ._contract import Analysis, AnalysisResult, Option, Table
from ._streaming import Histograms, Mahalanobis2, Moments, RowSample, open_passes

__all__ = ["CorrelationResult", "correlations", "ellipse_params", "parse_pairs"]

#: Significance level for the multivariate-normal verdict.
MND_ALPHA = 0.01


def ellipse_params(cov2: np.ndarray, k_sigma: float = 1.0) -> tuple[float, float, float]:
    """``(width, height, angle_deg)`` of the ``k_sigma`` ellipse of a 2×2 covariance.

    ``k_sigma`` is a Mahalanobis radius: the ellipse ``xᵀ Σ⁻¹ x = k²``
    (it holds ``1 - exp(-k²/2)`` of a 2-D normal: 39 %, 86 %, 99 % for 1, 2, 3).
    """
    w, v = np.linalg.eigh(np.asarray(cov2, dtype=np.float64))
    w = np.clip(w, 0.0, None)
    angle = float(np.degrees(np.arctan2(v[1, 1], v[0, 1])))
    return 2 * k_sigma * float(np.sqrt(w[1])), 2 * k_sigma * float(np.sqrt(w[0])), angle


@dataclass
class CorrelationResult(AnalysisResult):
    """Covariance, correlations and the Mahalanobis-vs-χ² test.

    Attributes
    ----------
    n_points, z_dim : int
    mean : ndarray (z_dim,)
    cov : ndarray (z_dim, z_dim)
        Covariance (``ddof=0``).
    corr : ndarray (z_dim, z_dim)
    top_pairs : list of (i, j, r)
        Most correlated pairs by ``|r|``.
    pairs : list of (i, j)
        Coordinate planes chosen for scatter plots.
    sample : ndarray (m, z_dim)
        Seeded subsample of rows (for scatter / density plots).
    sample_attributes : ndarray (m, A) or None
    attribute_names : list of str
    maha_dof : int
        Degrees of freedom (rank of the covariance).
    maha_edges, maha_counts : ndarray
        Histogram of squared Mahalanobis distances (uniform bins).
    maha_test : dict
        ``statistic``, ``pvalue``, ``bins``, ``max_cdf_distance`` (largest gap
        between the empirical and χ² CDF at the bin edges), ``verdict``.
    """

    n_points: int
    z_dim: int
    mean: np.ndarray
    cov: np.ndarray
    corr: np.ndarray
    top_pairs: list
    pairs: list
    sample: np.ndarray
    maha_dof: int
    maha_edges: np.ndarray
    maha_counts: np.ndarray
    maha_above: int
    maha_mean: float
    maha_test: dict
    sample_attributes: np.ndarray | None = None
    attribute_names: list = field(default_factory=list)
    partition: str | None = None
    store: str = ""

    name = "correlations"

    @property
    def is_mnd(self) -> bool:
        """True when the χ² test does not reject a multivariate normal at 1 %."""
        return bool(self.maha_test["pvalue"] >= MND_ALPHA)

    def cov2(self, i: int, j: int) -> np.ndarray:
        return self.cov[np.ix_([i, j], [i, j])]

    def ellipse(self, i: int, j: int, k_sigma: float = 1.0) -> dict:
        """Centre, width, height, angle of the ``k_sigma`` ellipse in plane (i, j)."""
        w, h, a = ellipse_params(self.cov2(i, j), k_sigma)
        return {"center": [float(self.mean[i]), float(self.mean[j])], "width": w, "height": h, "angle_deg": a}

    def to_dict(self) -> dict:
        off = self.corr[np.triu_indices(self.z_dim, 1)]
        return {
            "store": self.store,
            "partition": self.partition,
            "n_points": int(self.n_points),
            "z_dim": int(self.z_dim),
            "mean": self.mean.tolist(),
            "cov": self.cov.tolist(),
            "corr": self.corr.tolist(),
            "mean_abs_corr": float(np.mean(np.abs(off))) if len(off) else 0.0,
            "max_abs_corr": float(np.max(np.abs(off))) if len(off) else 0.0,
            "top_pairs": [{"i": int(i), "j": int(j), "r": float(r)} for i, j, r in self.top_pairs],
            "pairs": [
                {"i": int(i), "j": int(j), "r": float(self.corr[i, j]),
                 "ellipses": {f"{k}sigma": self.ellipse(i, j, k) for k in (1, 2, 3)}}
                for i, j in self.pairs
            ],
            "mahalanobis": {
                "dof": int(self.maha_dof),
                "mean_d2": float(self.maha_mean),
                "hist_edges": self.maha_edges.tolist(),
                "hist_counts": self.maha_counts.tolist(),
                "above_last_edge": int(self.maha_above),
                **self.maha_test,
            },
        }


    def figures(self):
        from .. import plots

        yield ("correlation_matrix.png", "Correlation matrix of the latent components (red positive, blue negative).",
               plots.plot_correlation_matrix(self))
        kind = "density" if len(self.sample) > 3000 else "scatter"
        for i, j in self.pairs:
            yield (f"pair_{i}_{j}.png",
                   f"Subsample of the data in the (z{i}, z{j}) plane with the 1-, 2- and 3-σ ellipses of its 2×2 covariance.",
                   plots.plot_pair_scatter(self, i, j, kind=kind))
        yield ("mahalanobis.png",
               f"Squared Mahalanobis distances of all points against the χ²({self.maha_dof}) density expected for a multivariate normal.",
               plots.plot_mahalanobis(self))

    def summary(self) -> list:
        t = self.maha_test
        text = (
            f"Mean |r| over pairs: {self.to_dict()['mean_abs_corr']:.3f}. Squared Mahalanobis distances: mean "
            f"{self.maha_mean:.3g} (χ²({self.maha_dof}) expects {self.maha_dof}); binned χ² test statistic "
            f"{t['statistic']:.4g}, p = {t['pvalue']:.3g}, largest CDF gap {t['max_cdf_distance']:.3f}: {t['verdict']}."
        )
        return [text, Table(["component", "component", "correlation"], [[f"z{i}", f"z{j}", r] for i, j, r in self.top_pairs])]

    def lines(self) -> list[str]:
        info, t = self.to_dict(), self.maha_test
        return [
            f"correlations of {Path(self.store).name}: {self.n_points} points, z_dim {self.z_dim}",
            f"mean |r| {info['mean_abs_corr']:.3f}   max |r| {info['max_abs_corr']:.3f}",
            *(f"  z{i:<4} z{j:<4} r = {r:+.3f}" for i, j, r in self.top_pairs[:5]),
            f"Mahalanobis² vs chi2({self.maha_dof}): mean {self.maha_mean:.4g}, stat {t['statistic']:.4g}, p = {t['pvalue']:.3g}",
            f"verdict: {t['verdict']}",
        ]


def _top_pairs(corr: np.ndarray, k: int) -> list:
    d = corr.shape[0]
    iu, ju = np.triu_indices(d, 1)
    vals = corr[iu, ju]
    order = np.argsort(-np.abs(vals), kind="stable")[:k]
    return [(int(iu[o]), int(ju[o]), float(vals[o])) for o in order]


def _check_pairs(pairs, d: int) -> list:
    out = []
    for p in pairs:
        try:
            i, j = (int(v) for v in p)
        except (TypeError, ValueError):
            raise LatentlabError(f"pairs: expected pairs of component indices like (0, 1), got {p!r}") from None
        if not (0 <= i < d and 0 <= j < d) or i == j:
            raise LatentlabError(f"pairs: ({i}, {j}) is not a plane of two different components in 0..{d - 1}")
        out.append((i, j))
    return out


def correlations(
    store_or_path,
    partition: str | None = None,
    chunk_rows: int | None = None,
    engine: str = "numpy",
    *,
    scheduler=None,
    pairs=None,
    n_top: int = 10,
    sample_size: int = 5_000,
    gof_bins: int = 50,
    hist_bins: int = 80,
    seed: int = 0,
) -> CorrelationResult:
    """Correlation matrix, most correlated pairs and Mahalanobis distances vs χ²(z_dim).

    Parameters
    ----------
    store_or_path : path-like, ZStore or ndarray
    partition, chunk_rows, engine, scheduler
        As :func:`component_stats`.
    pairs : list of (i, j), optional
        Coordinate planes for scatter plots (default: the three most
        correlated pairs and (0, 1)).
    n_top : int
        Most correlated pairs listed.
    sample_size : int
        Rows kept for scatter / density plots.
    gof_bins : int
        Equiprobable χ² bins for the goodness-of-fit test.
    hist_bins : int
        Bins of the plotted Mahalanobis histogram.
    seed : int

    Returns
    -------
    CorrelationResult

    Examples
    --------
    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(3_000, 5))
    >>> res = correlations(z, pairs=[(0, 1), (3, 4)])
    >>> res.pairs, res.maha_test["verdict"]
    ([(0, 1), (3, 4)], 'consistent with a multivariate normal')
    """
    with open_passes(store_or_path, partition, chunk_rows, engine, scheduler) as passes:
        d = passes.z_dim
        if d < 2:
            raise LatentlabError(f"{passes.label}: correlations need z_dim >= 2, found {d}")
        if passes.n < 2:
            raise LatentlabError(f"{passes.label}: correlations need at least 2 rows, found {passes.n}")
        user_pairs = None if pairs is None else _check_pairs(pairs, d)
        idx = passes.sample_index(sample_size, seed)
        p1 = passes.run({"m": Moments(passes.shift, cross=True), "s": RowSample(idx)})
        mom = p1["m"]
        got, sample = p1["s"].result(d)
        mean, cov = mom.mean, mom.cov(ddof=0)
        dof, m2 = _mahalanobis(mean, cov)
        if dof == 0:  # every row the same point: no correlation, and no chi2 with 0 degrees of freedom
            raise LatentlabError(f"{passes.label}: all {passes.n} rows are the same point (covariance of rank 0); "
                                 "nothing to correlate")
        gof_edges, plot_edges = _mahalanobis_edges(dof, gof_bins, hist_bins)
        p2 = passes.run({"gof": Histograms(gof_edges, m2), "plot": Histograms(plot_edges, m2)})
        store = passes.store
        sample_attr = np.asarray(store.attributes[got]) if store.attributes is not None and len(got) else None
        names = list(store.attribute_names)
        n, label = passes.n, passes.label

    corr = _correlation_matrix(cov)
    top_pairs = _top_pairs(corr, int(n_top))
    chosen = user_pairs if user_pairs is not None else _default_pairs(top_pairs)
    plot = p2["plot"]
    return CorrelationResult(
        n_points=int(mom.n),
        z_dim=d,
        mean=mean,
        cov=cov,
        corr=corr,
        top_pairs=top_pairs,
        pairs=chosen,
        sample=sample,
        maha_dof=dof,
        maha_edges=plot.edges[0],
        maha_counts=plot.counts[0],
        maha_above=int(plot.above[0]),
        maha_mean=float(plot.s1[0] / max(plot.n, 1)),
        maha_test=_chi2_test(p2["gof"].counts[0], n),
        sample_attributes=sample_attr,
        attribute_names=names,
        partition=partition,
        store=label,
    )


def _mahalanobis(mean, cov) -> tuple[int, Mahalanobis2]:
    """Degrees of freedom (rank of ``cov``) and the squared-distance transform on that subspace."""
    w, v = np.linalg.eigh(cov)
    keep = w > max(w.max(), 0.0) * 1e-12
    return int(keep.sum()), Mahalanobis2(mean, v[:, keep] / np.sqrt(w[keep]))


def _mahalanobis_edges(dof: int, gof_bins: int, hist_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Equiprobable χ²(dof) bins for the test, uniform bins for the plot."""
    from scipy import stats as st

    gof_edges = st.chi2.ppf(np.linspace(0, 1, int(gof_bins) + 1), dof)
    gof_edges[-1] = np.inf
    top = st.chi2.ppf(0.9999, dof) * 1.5
    return gof_edges, np.linspace(0.0, top, int(hist_bins) + 1)


def _correlation_matrix(cov: np.ndarray) -> np.ndarray:
    std = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(std, std)
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def _default_pairs(top_pairs: list) -> list:
    """The three most correlated planes and (0, 1)."""
    chosen = [(i, j) for i, j, _ in top_pairs[:3]]
    if (0, 1) not in chosen:
        chosen.append((0, 1))
    return chosen


def _chi2_test(counts: np.ndarray, n: int) -> dict:
    """Binned χ² goodness of fit of counts in equiprobable bins, with the verdict at :data:`MND_ALPHA`."""
    from scipy import stats as st

    expected = np.full(len(counts), n / len(counts))
    stat, pval = st.chisquare(counts, expected)
    cdf_emp = np.cumsum(counts) / n
    cdf_chi = np.linspace(0, 1, len(counts) + 1)[1:]
    return {
        "test": "binned chi-square goodness of fit of squared Mahalanobis distances against chi2(dof)",
        "bins": int(len(counts)),
        "statistic": float(stat),
        "pvalue": float(pval),
        "max_cdf_distance": float(np.max(np.abs(cdf_emp - cdf_chi))),
        "alpha": MND_ALPHA,
        "verdict": (
            "consistent with a multivariate normal" if pval >= MND_ALPHA
            else "not a multivariate normal (rejected at 1 %)"
        ),
    }


def parse_pairs(values: list[str]) -> list[tuple[int, int]] | None:
    """CLI values like ``["0,1", "3,7"]`` (or ``"0,1;3,7"``) → ``[(0, 1), (3, 7)]``.

    Examples
    --------
    >>> parse_pairs(["0,1", "3,7"])
    [(0, 1), (3, 7)]
    """
    pairs = []
    for v in values:
        for tok in v.replace(";", " ").split():
            try:
                i, j = (int(p) for p in tok.split(","))
            except ValueError:
                raise LatentlabError(f"--pairs: expected component pairs like 0,1 3,7; got {tok!r}") from None
            pairs.append((i, j))
    return pairs or None


#: The registry entry (``latentlab correlations``, the report's "Correlations" section).
CORRELATIONS = Analysis(
    name="correlations",
    title="Correlations",
    help="Correlation matrix, top pairs, k-σ ellipses and Mahalanobis² vs χ² → correlations.json + figures.",
    run=correlations,
    options=(
        Option("pairs", None, "Coordinate planes to plot, e.g. --pairs 0,1 3,7 (default: the most correlated).",
               parse=parse_pairs, metavar="I,J"),
        Option("seed", 0, "Seed of the subsample shown in scatter plots."),
        Option("sample_size", 5_000, "Rows kept for scatter / density plots.", quick=2_000, cli=False),
    ),
)
