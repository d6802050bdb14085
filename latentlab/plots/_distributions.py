"""Figures for the distribution analyses: components, correlations, radii, PCA.

One function per figure; each takes a result object (or arrays) and an
optional ``ax`` (``axes`` for grids) and returns the matplotlib Figure.
Nothing here computes more than it draws.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "plot_component_histograms",
    "plot_component_overview",
    "plot_correlation_matrix",
    "plot_pair_scatter",
    "plot_mahalanobis",
    "plot_radii",
    "plot_eigenvalues",
    "plot_cumulative_variance",
    "plot_semi_axes",
    "plot_pc_histograms",
    "plot_pc_scatter",
]


def _ax(ax, figsize=(6, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _grid(n, ncols, axes, size=2.4):
    import matplotlib.pyplot as plt

    if axes is not None:
        axes = np.atleast_1d(axes).ravel()
        return axes[0].figure, axes
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols + 0.5, size * 0.8 * nrows + 0.5), squeeze=False)
    axes = axes.ravel()
    for a in axes[n:]:
        a.set_visible(False)
    return fig, axes


def _gauss(x, mu, sigma):
    sigma = max(float(sigma), 1e-300)
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))


# -- components --------------------------------------------------------------
def plot_component_histograms(stats, components=None, *, max_components: int = 16, ncols: int = 4, axes=None):
    """Grid of per-component histograms (density) with the fitted Gaussian N(mean, std²).

    Parameters
    ----------
    stats : ComponentStats
    components : list of int, optional
        Which components (default: the first ``max_components``).
    """
    comps = list(range(min(stats.z_dim, max_components))) if components is None else list(components)
    fig, axs = _grid(len(comps), ncols, axes)
    for a, j in zip(axs, comps):
        edges, counts = stats.hist_edges[j], stats.hist_counts[j]
        width = np.diff(edges)
        dens = counts / max(counts.sum(), 1) / width
        a.bar(edges[:-1], dens, width=width, align="edge", color="#8fb3d9", edgecolor="none")
        x = np.linspace(edges[0], edges[-1], 200)
        a.plot(x, _gauss(x, stats.mean[j], stats.std[j]), color="#c0392b", lw=1.2)
        p = stats.normal_pvalue[j]
        a.set_title(f"z{j}  skew {stats.skewness[j]:.2f}  p {p:.2g}", fontsize=8)
        a.tick_params(labelsize=7)
    fig.suptitle("Per-component histograms with Gaussian fits", fontsize=10)
    fig.tight_layout()
    return fig


def plot_component_overview(stats, ax=None):
    """Mean ± std of every component (with min / max as faint marks)."""
    fig, ax = _ax(ax, (max(6, stats.z_dim * 0.08 + 4), 3.5))
    j = np.arange(stats.z_dim)
    ax.scatter(j, stats.min, s=4, color="#bbbbbb", label="min / max")
    ax.scatter(j, stats.max, s=4, color="#bbbbbb")
    ax.errorbar(j, stats.mean, yerr=stats.std, fmt="o", ms=3, color="#1f4e79", ecolor="#6f9fd8", label="mean ± std")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("component")
    ax.set_ylabel("value")
    ax.set_title(f"All components: mean ± std (centre offset {stats.offset:.2f} std from the origin)", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


# -- correlations ------------------------------------------------------------
def plot_correlation_matrix(result, ax=None):
    """Heat map of the correlation matrix."""
    fig, ax = _ax(ax, (5.5, 4.6))
    im = ax.imshow(result.corr, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="correlation")
    ax.set_xlabel("component")
    ax.set_ylabel("component")
    ax.set_title("Correlation matrix", fontsize=10)
    fig.tight_layout()
    return fig


def plot_pair_scatter(result, i: int, j: int, ax=None, *, kind: str = "scatter", sigmas=(1, 2, 3)):
    """Scatter (or hexbin density) of the subsample in plane (z_i, z_j) with k-σ covariance ellipses."""
    from matplotlib.patches import Ellipse

    fig, ax = _ax(ax, (4.2, 4.0))
    x, y = result.sample[:, i], result.sample[:, j]
    if kind == "density":
        ax.hexbin(x, y, gridsize=40, cmap="Blues", mincnt=1)
    else:
        ax.scatter(x, y, s=3, alpha=0.35, color="#1f4e79", linewidths=0)
    for k, c in zip(sigmas, ("#c0392b", "#e67e22", "#f1c40f")):
        e = result.ellipse(i, j, k)
        ax.add_patch(Ellipse(e["center"], e["width"], e["height"], angle=e["angle_deg"], fill=False, color=c, lw=1.4, label=f"{k}σ"))
    ax.set_xlabel(f"z{i}")
    ax.set_ylabel(f"z{j}")
    ax.set_title(f"z{i} vs z{j}: r = {result.corr[i, j]:.2f}", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig


def plot_mahalanobis(result, ax=None):
    """Histogram of squared Mahalanobis distances against the χ²(dof) density."""
    from scipy import stats as st

    fig, ax = _ax(ax, (6, 3.8))
    edges, counts = result.maha_edges, result.maha_counts
    width = np.diff(edges)
    dens = counts / max(result.n_points, 1) / width
    ax.bar(edges[:-1], dens, width=width, align="edge", color="#8fb3d9", edgecolor="none", label="data")
    x = np.linspace(edges[0], edges[-1], 400)
    ax.plot(x, st.chi2.pdf(x, result.maha_dof), color="#c0392b", lw=1.5, label=f"χ²({result.maha_dof})")
    t = result.maha_test
    ax.set_xlabel("squared Mahalanobis distance")
    ax.set_ylabel("density")
    ax.set_title(f"Mahalanobis² vs χ²: p = {t['pvalue']:.3g} ({t['verdict']})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- radii -------------------------------------------------------------------
_GEN_COLORS = {"cube": "#c0392b", "ball": "#8e44ad", "normal": "#27ae60", "mnd": "#e67e22"}


def plot_radii(result, which: str = "r", ax=None):
    """Histogram of ‖z‖ (``which='r'``) or ‖z − mean‖ (``'rc'``) with the generators' radius densities."""
    fig, ax = _ax(ax, (6.5, 4))
    d = result.data[which]
    edges, counts = np.asarray(d["hist_edges"]), np.asarray(d["hist_counts"])
    width = np.diff(edges)
    ax.bar(edges[:-1], counts / max(counts.sum(), 1) / width, width=width, align="edge", color="#8fb3d9", edgecolor="none", label="data")
    for name, g in result.generators.items():
        e = g[which]
        color = _GEN_COLORS.get(name, None)
        if "curve_x" in e:
            ax.plot(e["curve_x"], e["curve_pdf"], color=color, lw=1.4, label=f"{g['label']} (KS {e['ks']:.2f})")
        else:
            he, hd = np.asarray(e["hist_edges"]), np.asarray(e["hist_density"])
            ax.step(he[:-1], hd, where="post", color=color, lw=1.4, label=f"{g['label']} (KS {e['ks']:.2f})")
    ax.set_xlabel("‖z‖" if which == "r" else "‖z − mean‖")
    ax.set_ylabel("density")
    ax.set_title(("Radius from the origin" if which == "r" else "Radius from the data centre") + " vs generators", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# -- PCA ---------------------------------------------------------------------
def plot_eigenvalues(pca, ax=None):
    """Eigenvalue spectrum (log scale)."""
    fig, ax = _ax(ax)
    ev = np.asarray(pca.eigenvalues_)
    ax.semilogy(np.arange(1, len(ev) + 1), np.clip(ev, 1e-300, None), "o-", ms=3, color="#1f4e79")
    ax.set_xlabel("principal component")
    ax.set_ylabel("eigenvalue (variance)")
    ax.set_title("PCA eigenvalue spectrum", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_cumulative_variance(pca, ax=None):
    """Cumulative explained variance with the 50 / 90 / 99 % marks."""
    fig, ax = _ax(ax)
    cum = np.cumsum(pca.explained_variance_ratio_)
    k = np.arange(1, len(cum) + 1)
    ax.plot(k, cum, "-", color="#1f4e79")
    for frac, c in ((0.5, "#27ae60"), (0.9, "#e67e22"), (0.99, "#c0392b")):
        n = pca.n_components_for(frac)
        ax.axhline(frac, color=c, lw=0.8, ls="--")
        if n is not None:
            ax.axvline(n, color=c, lw=0.8, ls=":")
            ax.annotate(f"{frac:.0%}: {n}", (n, frac), fontsize=8, color=c, xytext=(4, -12), textcoords="offset points")
    ax.set_xlabel("number of components")
    ax.set_ylabel("explained variance")
    ax.set_ylim(0, 1.02)
    ax.set_title("Cumulative explained variance", fontsize=10)
    fig.tight_layout()
    return fig


def plot_semi_axes(pca, ax=None, *, max_components: int = 50, sigmas=(1, 2, 3)):
    """Semi-axes of the 1/2/3-σ confidence ellipsoids along the first principal axes."""
    fig, ax = _ax(ax)
    k = min(max_components, len(pca.eigenvalues_))
    idx = np.arange(1, k + 1)
    for s, c in zip(sigmas, ("#1f4e79", "#e67e22", "#c0392b")):
        ax.plot(idx, pca.semi_axes(s)[:k], "o-", ms=3, color=c, label=f"{s}σ")
    ax.set_xlabel("principal axis")
    ax.set_ylabel("semi-axis length")
    ax.set_title("Ellipsoid semi-axes", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_pc_histograms(pca, scores, *, n_components: int = 6, ncols: int = 3, axes=None):
    """Histograms of the data along the first PCs with N(0, eigenvalue) overlays."""
    scores = np.asarray(scores)
    k = min(n_components, scores.shape[1])
    fig, axs = _grid(k, ncols, axes, size=2.8)
    for a, j in zip(axs, range(k)):
        a.hist(scores[:, j], bins=40, density=True, color="#8fb3d9")
        s = np.sqrt(pca.eigenvalues_[j])
        x = np.linspace(scores[:, j].min(), scores[:, j].max(), 200)
        a.plot(x, _gauss(x, 0.0, s), color="#c0392b", lw=1.2)
        a.set_title(f"PC{j + 1} (σ = {s:.3g})", fontsize=8)
        a.tick_params(labelsize=7)
    fig.suptitle("Data along the first principal components", fontsize=10)
    fig.tight_layout()
    return fig


def plot_pc_scatter(scores, attribute=None, attribute_name: str | None = None, ax=None):
    """PC1–PC2 scatter, coloured by a ±1 attribute when given."""
    fig, ax = _ax(ax, (5, 4.5))
    scores = np.asarray(scores)
    if attribute is not None:
        attribute = np.asarray(attribute)
        for val, c, lab in ((-1, "#1f77b4", "no"), (1, "#d62728", "yes")):
            m = attribute == val
            ax.scatter(scores[m, 0], scores[m, 1], s=4, alpha=0.45, color=c, linewidths=0, label=f"{attribute_name or 'attribute'}: {lab}")
        ax.legend(fontsize=8, markerscale=3)
    else:
        ax.scatter(scores[:, 0], scores[:, 1], s=4, alpha=0.45, color="#1f4e79", linewidths=0)
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title("Data in the PC1–PC2 plane", fontsize=10)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig
