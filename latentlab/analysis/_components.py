"""Per-component statistics of a z-store, streamed over ``/z``.

Pass 1: count, mean, standard deviation, min, max, skewness, excess
kurtosis (float64 power sums) and a seeded row subsample (quantiles and the
D'Agostino–Pearson normality test). Pass 2: per-component histograms with
fixed edges from the pass-1 range.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._contract import Analysis, AnalysisResult, Option, Table
from ._streaming import Histograms, Moments, RowSample, open_passes

__all__ = ["ComponentStats", "component_stats"]

QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass
class ComponentStats(AnalysisResult):
    """Statistics of each latent component.

    Attributes
    ----------
    n_points, z_dim : int
    mean, std, min, max, skewness, kurtosis : ndarray (z_dim,)
        ``std`` with ``ddof=0``; ``kurtosis`` is the excess kurtosis (0 for a normal).
        ``mean`` and ``std`` are also the maximum-likelihood Gaussian fit.
    quantile_levels : tuple of float
    quantiles : ndarray (len(quantile_levels), z_dim)
        From a seeded subsample of ``sample_size`` rows (exact when the store is smaller).
    normal_statistic, normal_pvalue : ndarray (z_dim,)
        D'Agostino–Pearson ``scipy.stats.normaltest`` on at most ``normal_sample`` rows.
    hist_edges : ndarray (z_dim, bins + 1)
    hist_counts : ndarray (z_dim, bins)
        Histograms of all rows.
    mean_norm : float
        ``‖mean‖``.
    mean_std : float
        Mean over components of ``std``.
    offset : float
        ``‖mean‖ / mean_std``: the distance of the data centre from the origin
        in units of the typical component spread.
    """

    n_points: int
    z_dim: int
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    skewness: np.ndarray
    kurtosis: np.ndarray
    quantile_levels: tuple
    quantiles: np.ndarray
    normal_statistic: np.ndarray
    normal_pvalue: np.ndarray
    normal_sample: int
    sample_size: int
    hist_edges: np.ndarray
    hist_counts: np.ndarray
    partition: str | None = None
    store: str = ""

    name = "components"

    @property
    def mean_norm(self) -> float:
        return float(np.linalg.norm(self.mean))

    @property
    def mean_std(self) -> float:
        return float(np.mean(self.std))

    @property
    def offset(self) -> float:
        return self.mean_norm / self.mean_std if self.mean_std > 0 else float("inf")

    def n_non_normal(self, alpha: float = 0.01) -> int:
        """Components whose normality test rejects at level ``alpha``."""
        return int(np.sum(self.normal_pvalue < alpha))

    def table(self) -> tuple[list[str], list[list]]:
        """``(headers, rows)``: one row per component."""
        headers = ["component", "mean", "std", "min", "max", "skewness", "excess_kurtosis"]
        headers += [f"q{lvl:g}" for lvl in self.quantile_levels]
        headers += ["normaltest_stat", "normaltest_p"]
        rows = []
        for j in range(self.z_dim):
            row = [j, self.mean[j], self.std[j], self.min[j], self.max[j], self.skewness[j], self.kurtosis[j]]
            row += list(self.quantiles[:, j])
            row += [self.normal_statistic[j], self.normal_pvalue[j]]
            rows.append([r if isinstance(r, int) else float(r) for r in row])
        return headers, rows

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write :meth:`table` as CSV (atomically)."""
        from .._io import write_text

        headers, rows = self.table()
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(headers)
        w.writerows(rows)
        return write_text(path, buf.getvalue())

    def _save_files(self, out: Path) -> list[Path]:
        return [self.to_csv(out / "components.csv")]

    def figures(self):
        from .. import plots

        yield ("components_histograms.png",
               f"Histograms of the first {min(16, self.z_dim)} components with their fitted Gaussians (red).",
               plots.plot_component_histograms(self))
        yield ("components_overview.png", "Mean ± standard deviation of every component, with min and max in grey.",
               plots.plot_component_overview(self))

    def summary(self) -> list:
        worst = np.argsort(self.normal_pvalue)[:5]
        text = (
            f"{self.n_points} points in {self.z_dim} dimensions. The data centre lies {self.offset:.2f} mean "
            f"standard deviations from the origin (‖mean‖ = {self.mean_norm:.3g}, mean std = {self.mean_std:.3g}). "
            f"{self.n_non_normal(0.01)} of {self.z_dim} components reject normality at 1 % "
            f"(D'Agostino–Pearson on {self.normal_sample} rows)."
        )
        rows = [[f"z{j}", self.mean[j], self.std[j], self.skewness[j], self.kurtosis[j], self.normal_pvalue[j]]
                for j in worst]
        return [text, Table(["least normal component", "mean", "std", "skewness", "excess kurtosis", "normaltest p"], rows)]

    def lines(self) -> list[str]:
        return [
            f"components of {Path(self.store).name}: {self.n_points} points, z_dim {self.z_dim}",
            f"centre offset  {self.offset:.3f} mean std from the origin (|mean| {self.mean_norm:.4g}, mean std {self.mean_std:.4g})",
            f"std range      {self.std.min():.4g} .. {self.std.max():.4g}",
            f"|skewness| max {np.abs(self.skewness).max():.3f}   excess kurtosis range "
            f"{self.kurtosis.min():.3f} .. {self.kurtosis.max():.3f}",
            f"non-normal     {self.n_non_normal(0.01)} of {self.z_dim} components (normaltest p < 0.01, {self.normal_sample} rows)",
        ]

    def to_dict(self) -> dict:
        return {
            "store": self.store,
            "partition": self.partition,
            "n_points": int(self.n_points),
            "z_dim": int(self.z_dim),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "min": self.min.tolist(),
            "max": self.max.tolist(),
            "skewness": self.skewness.tolist(),
            "excess_kurtosis": self.kurtosis.tolist(),
            "quantile_levels": list(self.quantile_levels),
            "quantiles": self.quantiles.tolist(),
            "normality_test": "scipy.stats.normaltest (D'Agostino-Pearson)",
            "normal_statistic": self.normal_statistic.tolist(),
            "normal_pvalue": self.normal_pvalue.tolist(),
            "normal_sample": int(self.normal_sample),
            "n_non_normal_at_0.01": self.n_non_normal(0.01),
            "gaussian_fit": {"mu": self.mean.tolist(), "sigma": self.std.tolist()},
            "mean_norm": self.mean_norm,
            "mean_std": self.mean_std,
            "offset": self.offset,
            "sample_size": int(self.sample_size),
            "hist_edges": self.hist_edges.tolist(),
            "hist_counts": self.hist_counts.tolist(),
        }


def _histogram_edges(mom: Moments, bins: int) -> np.ndarray:
    """``(z_dim, bins + 1)`` edges spanning each component's range (a constant one gets width 1)."""
    lo, hi = mom.min.copy(), mom.max.copy()
    flat = hi <= lo
    lo[flat], hi[flat] = lo[flat] - 0.5, hi[flat] + 0.5
    return np.linspace(lo, hi, int(bins) + 1).T


def component_stats(
    store_or_path,
    partition: str | None = None,
    chunk_rows: int | None = None,
    engine: str = "numpy",
    *,
    scheduler=None,
    bins: int = 50,
    sample_size: int = 20_000,
    normal_sample: int = 5_000,
    quantile_levels=QUANTILE_LEVELS,
    seed: int = 0,
) -> ComponentStats:
    """Per-component statistics of a z-store (path or open store) or array.

    Parameters
    ----------
    store_or_path : path-like, ZStore or ndarray
    partition : {'train', 'val', 'test', 'all'}, optional
    chunk_rows : int, optional
        Rows per streamed block; results do not depend on it.
    engine : {'numpy', 'dask'}
    scheduler : optional
        Dask client or address for ``engine='dask'``.
    bins : int
        Histogram bins per component.
    sample_size : int
        Rows of the seeded subsample used for quantiles.
    normal_sample : int
        Rows (of that subsample) used for the normality test (≤ 5,000 recommended).
    seed : int

    Returns
    -------
    ComponentStats

    Examples
    --------
    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(loc=3.0, size=(2_000, 4))
    >>> stats = component_stats(z)
    >>> round(float(stats.mean[0]), 1), stats.n_non_normal()
    (3.0, 0)
    """
    from scipy import stats as st

    with open_passes(store_or_path, partition, chunk_rows, engine, scheduler) as passes:
        d = passes.z_dim
        idx = passes.sample_index(sample_size, seed)
        p1 = passes.run({"m": Moments(passes.shift, higher=True), "s": RowSample(idx)})
        mom, (_, sample) = p1["m"], p1["s"].result(d)
        hist = passes.run({"h": Histograms(_histogram_edges(mom, bins))})["h"]
        label = passes.label

    levels = tuple(float(q) for q in quantile_levels)
    quant = np.quantile(sample, levels, axis=0) if len(sample) else np.full((len(levels), d), np.nan)
    ns = min(int(normal_sample), len(sample))
    # rows of the subsample are in random order of selection only after a shuffle
    rng = np.random.default_rng(seed)
    test_rows = sample[np.sort(rng.permutation(len(sample))[:ns])] if ns else sample[:0]
    if ns >= 20:
        with np.errstate(all="ignore"):
            res = st.normaltest(test_rows, axis=0)
        stat, pval = np.asarray(res.statistic, float), np.asarray(res.pvalue, float)
    else:
        stat = pval = np.full(d, np.nan)
    return ComponentStats(
        n_points=int(mom.n),
        z_dim=d,
        mean=mom.mean,
        std=mom.std(ddof=0),
        min=mom.min,
        max=mom.max,
        skewness=mom.skewness(),
        kurtosis=mom.kurtosis(),
        quantile_levels=levels,
        quantiles=quant,
        normal_statistic=stat,
        normal_pvalue=pval,
        normal_sample=ns,
        sample_size=len(sample),
        hist_edges=hist.edges,
        hist_counts=hist.counts,
        partition=partition,
        store=label,
    )


#: The registry entry (``latentlab components``, the report's "Components" section).
COMPONENTS = Analysis(
    name="components",
    title="Components",
    help="Per-component mean, std, skewness, kurtosis, quantiles, normality → components.json/.csv + figures.",
    run=component_stats,
    options=(
        Option("seed", 0, "Seed of the subsample used for quantiles and normality tests."),
        Option("sample_size", 20_000, "Rows of the seeded subsample used for quantiles.", quick=5_000, cli=False),
    ),
)
