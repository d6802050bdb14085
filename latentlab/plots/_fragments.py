"""Figures for :func:`latentlab.analysis.find_fragments` results (one function per figure)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "plot_fragment_pcs",
    "plot_fragment_pc_grid",
    "plot_filament_pcs",
    "plot_knn_distance_hist",
    "plot_local_dimension_hist",
    "plot_density_hierarchy",
    "plot_label_pcs",
]

_HALO = "#bbbbbb"
_MAX_LEGEND = 10


def _axes(ax, figsize=(6, 5)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _palette(n):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(max(n, 1))]


def _scatter_labels(ax, xy, labels, names, *, size=4, noise_name="halo / noise"):
    """Labels -1 in grey underneath; others coloured, smallest groups on top."""
    noise = labels < 0
    if noise.any():
        ax.scatter(xy[noise, 0], xy[noise, 1], s=size, c=_HALO, lw=0, label=f"{noise_name} ({noise.sum()})", rasterized=True)
    ids = [i for i in np.unique(labels) if i >= 0]
    colours = _palette(len(ids))
    for j, i in enumerate(ids):
        m = labels == i
        label = f"{names(i)} ({m.sum()})" if j < _MAX_LEGEND else None
        ax.scatter(xy[m, 0], xy[m, 1], s=size, color=colours[j], lw=0, label=label, rasterized=True)
    if len(ids) or noise.any():
        ax.legend(fontsize=7, markerscale=3, loc="best", frameon=True)


def plot_fragment_pcs(result, pcs=(0, 1), ax=None):
    """PC scores of every point, coloured by fragment (main, smaller fragments, halo in grey).

    Parameters
    ----------
    result : FragmentResult
    pcs : (int, int)
        Zero-based principal components on the axes.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax)
    xy = result.pc_scores[:, list(pcs)]
    _scatter_labels(ax, xy, np.asarray(result.fragment), lambda i: "main" if i == 0 else f"fragment {i}")
    ax.set_xlabel(f"PC{pcs[0] + 1}")
    ax.set_ylabel(f"PC{pcs[1] + 1}")
    ax.set_title("Fragments")
    return fig


def plot_filament_pcs(result, pcs=(0, 1), ax=None):
    """PC scores coloured by filament (points in no filament in grey).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax)
    xy = result.pc_scores[:, list(pcs)]
    _scatter_labels(ax, xy, np.asarray(result.filament), lambda i: f"filament {i}", noise_name="no filament")
    ax.set_xlabel(f"PC{pcs[0] + 1}")
    ax.set_ylabel(f"PC{pcs[1] + 1}")
    ax.set_title("Filaments")
    return fig


def plot_fragment_pc_grid(result, n_pcs: int = 4, by: str = "fragment"):
    """Grid of PC-pair scatter plots (lower triangle) coloured by fragment or filament.

    Parameters
    ----------
    result : FragmentResult
    n_pcs : int
        Leading components shown (at most the stored ones, 4).
    by : {'fragment', 'filament'}

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    n_pcs = max(2, min(n_pcs, result.pc_scores.shape[1]))
    labels = np.asarray(result.fragment if by == "fragment" else result.filament)
    fig, axes = plt.subplots(n_pcs - 1, n_pcs - 1, figsize=(2.6 * (n_pcs - 1), 2.6 * (n_pcs - 1)), squeeze=False)
    ids = [i for i in np.unique(labels) if i >= 0]
    colours = _palette(len(ids))
    for r in range(1, n_pcs):
        for c in range(n_pcs - 1):
            ax = axes[r - 1, c]
            if c >= r:
                ax.axis("off")
                continue
            x, y = result.pc_scores[:, c], result.pc_scores[:, r]
            m = labels < 0
            ax.scatter(x[m], y[m], s=2, c=_HALO, lw=0, rasterized=True)
            for j, i in enumerate(ids):
                m = labels == i
                ax.scatter(x[m], y[m], s=2, color=colours[j], lw=0, rasterized=True)
            ax.tick_params(labelsize=6)
            if r == n_pcs - 1:
                ax.set_xlabel(f"PC{c + 1}", fontsize=8)
            if c == 0:
                ax.set_ylabel(f"PC{r + 1}", fontsize=8)
    fig.suptitle(f"PC pairs coloured by {by} (grey: {'halo' if by == 'fragment' else 'no filament'})", fontsize=9)
    fig.tight_layout()
    return fig


def plot_knn_distance_hist(result, bins: int = 80, ax=None):
    """Histogram of the k-th neighbour distance, main fragment vs the rest.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, (6, 4))
    d = np.asarray(result.knn_distance, dtype=float)
    frag = np.asarray(result.fragment)
    edges = np.histogram_bin_edges(d[np.isfinite(d)], bins=bins)
    ax.hist(d[frag == 0], bins=edges, alpha=0.7, label="main fragment")
    if (frag != 0).any():
        ax.hist(d[frag != 0], bins=edges, alpha=0.7, label="other fragments + halo")
    k = result.parameters.get("k", "k")
    ax.set_xlabel(f"distance to neighbour {k}")
    ax.set_ylabel("points")
    ax.set_title("k-NN distance")
    ax.legend(fontsize=8)
    return fig


def plot_local_dimension_hist(result, bins: int = 60, ax=None):
    """Histogram of the local intrinsic dimension (Levina–Bickel MLE), filament points separately.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax, (6, 4))
    m = np.asarray(result.local_dimension, dtype=float)
    fil = np.asarray(result.filament) >= 0
    ok = np.isfinite(m)
    if ok.any():
        hi = np.quantile(m[ok], 0.995)
        edges = np.linspace(0, max(hi, 1.0), bins + 1)
        ax.hist(np.clip(m[ok & ~fil], 0, hi), bins=edges, alpha=0.7, label="not in a filament")
        if (ok & fil).any():
            ax.hist(np.clip(m[ok & fil], 0, hi), bins=edges, alpha=0.8, label="filament points")
    twonn = result.stats.get("twonn_dimension")
    if twonn:
        ax.axvline(twonn, color="k", ls="--", lw=1, label=f"TwoNN (global) {twonn:.1f}")
    ax.set_xlabel("local intrinsic dimension (MLE)")
    ax.set_ylabel("points")
    ax.set_title("Local intrinsic dimension")
    ax.legend(fontsize=8)
    return fig


def plot_label_pcs(result, pcs=(0, 1), ax=None):
    """PC scores coloured by the chosen label (``result.label_values``; unknown in grey).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _axes(ax)
    xy = result.pc_scores[:, list(pcs)]
    info = result.labels or {}
    names = info.get("names") or []
    values = np.asarray(result.label_values if result.label_values is not None else np.full(len(xy), -1))
    _scatter_labels(ax, xy, values, lambda i: names[i] if i < len(names) else str(i), noise_name="unknown")
    ax.set_xlabel(f"PC{pcs[0] + 1}")
    ax.set_ylabel(f"PC{pcs[1] + 1}")
    ax.set_title(f"Coloured by {info.get('name', 'label')}")
    return fig


def _leaf_order(parents: np.ndarray, keep: np.ndarray) -> list[int]:
    """Kept nodes in depth-first order (children of a node next to each other)."""
    children = {i: [] for i in range(len(parents))}
    for i, p in enumerate(parents):
        if p >= 0:
            children[int(p)].append(i)
    order, stack = [], [0]
    while stack:
        node = stack.pop()
        if keep[node]:
            order.append(node)
        stack.extend(sorted(children[node], reverse=True))
    return order


def plot_density_hierarchy(result, ax=None, max_nodes: int = 60):
    """The density hierarchy: one bar per component from the level it appears to where it splits or fades.

    The vertical axis is the log density relative to the median point
    (up = denser); bar width grows with the component's size (log scale);
    components HDBSCAN selects are outlined; with a label, each bar is
    coloured by its most common label and annotated with its share.

    Parameters
    ----------
    result : FragmentResult or dict
        A result with ``hierarchy`` (or the hierarchy dict itself).
    ax : matplotlib Axes, optional
    max_nodes : int
        Only the largest components are drawn (the root always).

    Returns
    -------
    matplotlib.figure.Figure
    """
    tree = result if isinstance(result, dict) else result.hierarchy
    fig, ax = _axes(ax, (8, 5))
    if not tree or not tree.get("nodes"):
        ax.text(0.5, 0.5, "no hierarchy", ha="center", va="center", transform=ax.transAxes)
        return fig
    nodes = tree["nodes"]
    parents = np.array([nd["parent"] for nd in nodes])
    sizes = np.array([nd["size"] for nd in nodes], dtype=float)
    keep = np.zeros(len(nodes), bool)
    keep[np.argsort(-sizes)[:max_nodes]] = True
    keep[0] = True
    order = _leaf_order(parents, keep)
    x_of = {node: i for i, node in enumerate(order)}

    def level(value, fallback):
        return fallback if value is None or not np.isfinite(value) else value

    deaths = [nd["death_log_density"] for nd in nodes if nd["death_log_density"] is not None]
    births = [nd["birth_log_density"] for nd in nodes if nd["birth_log_density"] is not None]
    top = max([v for v in deaths if np.isfinite(v)] or [1.0])
    bottom = min([v for v in births if np.isfinite(v)] + [v for v in deaths if np.isfinite(v)] or [0.0])
    bottom -= 0.05 * max(top - bottom, 1.0)
    label_names = sorted({nd["composition"][0]["label"] for nd in nodes if nd.get("composition")})
    colours = dict(zip(label_names, _palette(len(label_names))))
    width = 0.8 * np.log1p(sizes) / np.log1p(sizes.max())
    for node in order:
        nd = nodes[node]
        y0 = level(nd["birth_log_density"], bottom)
        y1 = level(nd["death_log_density"], bottom)  # null: split by the graph itself, at the lowest level
        comp = nd.get("composition")
        colour = colours[comp[0]["label"]] if comp else "#4c72b0"
        ax.bar(x_of[node], y1 - y0, bottom=y0, width=max(width[node], 0.08), color=colour, alpha=0.85,
               edgecolor="k" if nd["selected"] else "none", linewidth=1.2)
        if nd["parent"] >= 0 and keep[nd["parent"]]:
            ax.plot([x_of[nd["parent"]], x_of[node]], [y0, y0], color="#777777", lw=0.6)
        text = f"{int(nd['size'])}"
        if comp:
            text += f"\n{comp[0]['label'][:10]} {comp[0]['fraction']:.0%}"
        if nd["size"] >= sizes.max() * 0.01 or nd["selected"]:
            ax.annotate(text, (x_of[node], y1), fontsize=6, ha="center", va="bottom")
    ax.set_xticks([])
    ax.set_xlim(-0.7, len(order) - 0.3)
    ax.set_ylim(bottom, top + 0.12 * max(top - bottom, 1.0))
    ax.set_ylabel("log density relative to the median point (up = denser)")
    ax.set_title(f"Density hierarchy: {len(nodes)} components of >= {tree['min_cluster_size']} points, "
                 f"{tree['n_selected']} selected (outlined)", fontsize=9)
    if colours:
        import matplotlib.patches as mpatches

        handles = [mpatches.Patch(color=c, label=name) for name, c in list(colours.items())[:_MAX_LEGEND]]
        ax.legend(handles=handles, fontsize=7, loc="lower right", title="most common label", title_fontsize=7)
    return fig
