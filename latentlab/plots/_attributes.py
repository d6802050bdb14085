"""Figures of attribute directions: probe AUCs, the cosine matrix, directions on the PC1–PC2 plane."""

from __future__ import annotations

import numpy as np

from ._distributions import _ax

__all__ = ["plot_attribute_plane", "plot_cosine_matrix", "plot_probe_auc"]


def plot_probe_auc(names, auc, low=None, high=None, ax=None):
    """Held-out AUC per attribute (horizontal bars) with interval whiskers; 0.5 marked as chance.

    Examples
    --------
    >>> fig = plot_probe_auc(["A", "B"], [0.9, 0.6], [0.85, 0.5], [0.95, 0.7])
    >>> len(fig.axes)
    1
    """
    auc = np.asarray(auc, dtype=float)
    fig, ax = _ax(ax, (6, max(2.0, 0.28 * len(names) + 1.0)))
    y = np.arange(len(names))
    ax.barh(y, np.nan_to_num(auc, nan=0.0), color="#4c72b0", height=0.7)
    if low is not None and high is not None:
        low, high = np.asarray(low, float), np.asarray(high, float)
        ok = np.isfinite(low) & np.isfinite(high) & np.isfinite(auc)
        ax.errorbar(auc[ok], y[ok], xerr=[auc[ok] - low[ok], high[ok] - auc[ok]], fmt="none", ecolor="black",
                    capsize=2, linewidth=1)
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_yticks(y, [str(n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("held-out AUC of the linear probe")
    ax.set_title("How linearly each attribute is readable from z", fontsize=10)
    fig.tight_layout()
    return fig


def plot_cosine_matrix(names, cosines, ax=None):
    """Cosines between attribute directions as a diverging heat map (−1 blue … +1 red).

    Examples
    --------
    >>> fig = plot_cosine_matrix(["A", "B"], [[1.0, -0.2], [-0.2, 1.0]])
    >>> len(fig.axes)
    2
    """
    c = np.asarray(cosines, dtype=float)
    size = max(3.5, 0.3 * len(names) + 2.0)
    fig, ax = _ax(ax, (size + 1.0, size))
    im = ax.imshow(c, cmap="RdBu_r", vmin=-1, vmax=1)
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, [str(n) for n in names], rotation=90, fontsize=7)
    ax.set_yticks(ticks, [str(n) for n in names], fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="cosine")
    ax.set_title("Cosines between attribute directions", fontsize=10)
    fig.tight_layout()
    return fig


def plot_attribute_plane(names, projected, scores=None, ax=None):
    """Attribute directions ``d`` projected on PC1–PC2 as arrows from the data mean, over a data subsample.

    Parameters
    ----------
    names : list of str
    projected : array (A, 2)
        ``d · pc1``, ``d · pc2`` per attribute.
    scores : array (m, 2), optional
        Centred PC1–PC2 scores of a data subsample (grey background).

    Examples
    --------
    >>> fig = plot_attribute_plane(["A"], [[1.0, 0.5]], np.zeros((3, 2)))
    >>> len(fig.axes)
    1
    """
    p = np.asarray(projected, dtype=float).reshape(-1, 2)
    fig, ax = _ax(ax, (5.5, 5))
    if scores is not None and len(scores):
        s = np.asarray(scores, dtype=float)
        ax.scatter(s[:, 0], s[:, 1], s=3, alpha=0.3, color="#999999", linewidths=0)
    colours = [f"C{i % 10}" for i in range(len(p))]
    for (x, y), name, c in zip(p, names, colours):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        ax.annotate("", xy=(x, y), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": c, "linewidth": 1.5})
        ax.text(x, y, str(name), fontsize=7, color=c)
    finite = p[np.isfinite(p).all(axis=1)]
    if len(finite):  # keep every arrow in view even over a tight cloud
        ax.update_datalim(np.vstack([finite, -0.05 * finite]))
        ax.autoscale_view()
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title("Attribute directions μ₊ − μ₋ on the PC1–PC2 plane", fontsize=10)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig
