"""Density hierarchy of a z-point cloud on its k-NN graph (HDBSCAN's condensed tree).

The flat segmentation of :func:`find_fragments` answers "which parts are
separated at one density contrast"; the hierarchy answers "how does the cloud
split as the density threshold rises": every component of the mutual
reachability graph that holds at least ``min_cluster_size`` points, the
level at which it appears (splits off its parent) and the level at which it
splits or dissolves, its size and composition.

It is scikit-learn's :class:`~sklearn.cluster.HDBSCAN` tree of the
coordinates. Given the points (``points=``, what :func:`find_fragments`
passes), the tree equals ``HDBSCAN(min_samples=min_samples + 1)`` on them
(scikit-learn counts the point itself among its ``min_samples``; latentlab's
k never does): the k-NN graph alone is not enough, since an edge of the
mutual reachability MST may join two points that are not each other's k
nearest (on 10k Fashion-MNIST z-points the k-NN graph's tree agreed with
scikit-learn's at ARI 0.89). So a minimum spanning tree of the *complete*
mutual reachability graph is built first (:func:`_mutual_reachability_mst`,
Borůvka's algorithm; a point's exact neighbour list settles most of its
searches, the rest scan all points in float64), and scikit-learn's
``HDBSCAN(metric="precomputed")`` runs on a sparse graph of the core
neighbours plus those edges: its core distances are exact and its MST is that
tree, so its single-linkage tree, condensed tree and labels are those of the
full distance matrix. Checked by ``tests/test_numerics_peers.py``
(``test_density_hierarchy_equals_sklearn_hdbscan_*``: ARI 1.0 on a planted
cloud and on Fashion-MNIST).

Without ``points`` the tree is that of the k-NN graph alone, a graph with
several connected components bridged by edges far longer than any real one,
so that those components separate at the lowest level (an approximation of
the HDBSCAN tree). ``fast_hdbscan`` (PyPI) has a sparse precomputed mode and
a public condensed tree, but its numba functions compile for ~110 s in a
fresh environment (measured at load 3-4; 4 s from its cache afterwards),
which CI would pay on every run.

A component with ``separate_in_graph`` is its own connected component of the
k-NN graph (apart at every level: birth distance ``inf``, ``birth_level``
1); its ``persistence`` is counted from the sparsest point's level.

Levels are given three ways: ``distance`` (mutual reachability distance in
the PCA space; a point belongs to the cloud at that level when its k-th
neighbour is closer), ``level`` (the fraction of all points whose k-th
neighbour distance is at most that distance: 1 = the whole cloud, 0.1 = only
the densest tenth) and ``log_density`` (``D · (log median r_k − log distance)``,
the scale of :attr:`FragmentResult.log_density`; higher = denser).
"""

from __future__ import annotations

import numpy as np

from .._errors import LatentlabError

__all__ = ["density_hierarchy"]

#: Bridging edges are this many times longer than the longest real edge.
_BRIDGE_FACTOR = 1e3


def _distance_graph(ind: np.ndarray, dist: np.ndarray):
    """Symmetric sparse CSR graph of the k-NN distances, bridged into one component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n, k = ind.shape
    rows = np.repeat(np.arange(n), k)
    cols = ind.ravel()
    w = np.maximum(dist.ravel().astype(np.float64), 1e-12)  # a stored 0 would read as "no edge"
    ok = cols >= 0
    rows, cols, w = rows[ok], cols[ok], w[ok]
    g = coo_matrix((np.r_[w, w], (np.r_[rows, cols], np.r_[cols, rows])), shape=(n, n)).tocsr()
    g.sum_duplicates()
    # duplicates were summed: an edge listed by both ends holds twice its length
    both = coo_matrix((np.ones(2 * len(w)), (np.r_[rows, cols], np.r_[cols, rows])), shape=(n, n)).tocsr()
    both.sum_duplicates()
    g.data /= both.data
    n_comp, comp = connected_components(g, directed=False)
    bridge = float(g.data.max()) * _BRIDGE_FACTOR
    if n_comp > 1:
        first = np.array([np.flatnonzero(comp == c)[0] for c in range(n_comp)])
        extra = coo_matrix((np.full(2 * (n_comp - 1), bridge),
                            (np.r_[first[1:], np.full(n_comp - 1, first[0])],
                             np.r_[np.full(n_comp - 1, first[0]), first[1:]])), shape=(n, n))
        g = (g + extra).tocsr()
    return g, n_comp, bridge


def _exact_pairs(x, a, b):
    diff = x[a] - x[b]
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


#: Below this many components, Borůvka scans each one against the points outside it.
_FEW_COMPONENTS = 32


def _reach(x, norms, core, q, cols=None):
    """Mutual reachability distances of rows ``q`` to ``cols`` (default all), from centred float64 points."""
    xc = x if cols is None else x[cols]
    nc = norms if cols is None else norms[cols]
    cc = core if cols is None else core[cols]
    d2 = norms[q, None] - 2.0 * (x[q] @ xc.T) + nc[None, :]
    return np.maximum(np.sqrt(np.maximum(d2, 0.0)), np.maximum(core[q, None], cc[None, :]))


def _mutual_reachability_mst(x, core, lists_ind, lists_dist, *, block_bytes: int = 1 << 25):
    """Edges of a minimum spanning tree of the *complete* mutual reachability graph.

    Borůvka's algorithm: every round, each component joins the cheapest edge
    leaving it, ``w(a, b) = max(core_a, core_b, d(a, b))``. A point's exact
    neighbour list (``lists_ind``, sorted, the K nearest) settles most
    searches without a scan: a point outside the list is at least ``R_a``
    (the list's last distance) away, so a list edge leaving the component
    that weighs at most ``R_a`` is that point's cheapest edge. Points whose
    list cannot settle it, and whose bound ``R_a`` is below what their
    component already has, are scanned against all points (blocks of rows,
    float64 on centred data). The edges returned contain a minimum spanning
    tree (ties may add an edge of a cycle, which changes no single-linkage
    height): sklearn's sparse HDBSCAN on them plus the core neighbours builds
    the same tree as on the full distance matrix.

    Returns ``(a, b)`` index arrays of the edges.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(x)
    rows = np.arange(n)
    bound = lists_dist[:, -1]
    w_list = np.maximum(np.maximum(core[:, None], core[lists_ind]), lists_dist)
    norms = np.einsum("ij,ij->i", x, x)
    step = max(1, block_bytes // (8 * n))
    comp = np.zeros(n, np.int64) if n < 2 else rows.copy()
    edges_a, edges_b = [], []
    while comp.max() > 0:
        n_comp = int(comp.max()) + 1
        leaving = np.where(comp[lists_ind] != comp[:, None], w_list, np.inf)
        j = leaving.argmin(axis=1)
        best_w, best_b = leaving[rows, j], lists_ind[rows, j]
        settled = best_w <= bound
        comp_best = np.full(n_comp, np.inf)
        np.minimum.at(comp_best, comp[settled], best_w[settled])
        # Scan the unsettled points whose bound is below their component's best so far; those whose list
        # already leaves the component go first (they lower the best fastest), and every block of results
        # lowers the bar for the rest.
        scan = np.flatnonzero(~settled & (bound < comp_best[comp]))
        scan = scan[np.lexsort((-bound[scan], best_w[scan]))]
        if n_comp <= _FEW_COMPONENTS:
            # few, large components: scan each against the points outside it only
            for c in np.unique(comp[scan]):
                outside = np.flatnonzero(comp != c)
                mine = scan[comp[scan] == c]
                cstep = max(1, block_bytes // (8 * len(outside)))
                while len(mine):
                    q, mine = mine[:cstep], mine[cstep:]
                    w = _reach(x, norms, core, q, outside)
                    jj = w.argmin(axis=1)
                    best_w[q], best_b[q] = w[np.arange(len(q)), jj], outside[jj]
                    comp_best[c] = min(comp_best[c], best_w[q].min())
                    mine = mine[bound[mine] < comp_best[c]]
            scan = scan[:0]
        while len(scan):
            q, scan = scan[:step], scan[step:]
            w = _reach(x, norms, core, q)
            w[comp[q, None] == comp[None, :]] = np.inf
            jj = w.argmin(axis=1)
            best_w[q], best_b[q] = w[np.arange(len(q)), jj], jj
            np.minimum.at(comp_best, comp[q], best_w[q])
            scan = scan[bound[scan] < comp_best[comp[scan]]]
        cand = np.flatnonzero(np.isfinite(best_w))
        order = cand[np.lexsort((best_b[cand], cand, best_w[cand], comp[cand]))]
        first = order[np.r_[True, comp[order][1:] != comp[order][:-1]]]
        edges_a.append(first)
        edges_b.append(best_b[first])
        a, b = np.concatenate(edges_a), np.concatenate(edges_b)
        _, comp = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
        if int(comp.max()) + 1 == n_comp:  # pragma: no cover - every round joins at least two components
            raise LatentlabError("density hierarchy: the spanning tree did not grow")
    if not edges_a:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(edges_a), np.concatenate(edges_b)


def _exact_graph(points, min_samples: int, n_list: int, lists_ind=None):
    """Sparse graph on which sklearn's HDBSCAN builds the tree of the full distance matrix.

    It holds every point's ``min_samples`` nearest neighbours (so its core
    distance is exact) and the edges of a minimum spanning tree of the
    complete mutual reachability graph (so its MST is that tree).
    ``lists_ind``: the exact ``n_list`` nearest neighbours of every point when
    already known (their distances are recomputed here in float64).
    Returns ``(graph, core distances)``.
    """
    from scipy.sparse import coo_matrix

    from ._neighbours import _centred, _exact_knn

    x = _centred(points)
    n = len(x)
    if lists_ind is None:
        n_list = int(min(max(n_list, min_samples), n - 1))
        lists_ind, _ = _exact_knn(x, n_list)
    n_list = lists_ind.shape[1]
    lists_dist = _exact_pairs(x, np.repeat(np.arange(n), n_list), lists_ind.ravel()).reshape(n, n_list)
    core = lists_dist[:, min_samples - 1]
    mst_a, mst_b = _mutual_reachability_mst(x, core, lists_ind, lists_dist)
    rows = np.r_[np.repeat(np.arange(n), min_samples), mst_a]
    cols = np.r_[lists_ind[:, :min_samples].ravel(), mst_b]
    w = np.r_[lists_dist[:, :min_samples].ravel(), _exact_pairs(x, mst_a, mst_b)]
    w = np.maximum(w, 1e-12)  # a stored 0 would read as "no edge"
    g = coo_matrix((np.r_[w, w], (np.r_[rows, cols], np.r_[cols, rows])), shape=(n, n)).tocsr()
    # an edge listed twice holds the sum of its copies: keep one length (all copies are equal)
    both = coo_matrix((np.ones(2 * len(w)), (np.r_[rows, cols], np.r_[cols, rows])), shape=(n, n)).tocsr()
    g.sum_duplicates()
    both.sum_duplicates()
    g.data /= both.data
    return g, core


def _condensed_nodes(tree: np.ndarray, n: int):
    """Cluster nodes of a condensed tree: parent, birth λ, death λ, size, stability."""
    child = tree["child"].astype(np.int64)
    parent = tree["parent"].astype(np.int64)
    lam = tree["value"].astype(np.float64)
    size = tree["cluster_size"].astype(np.int64)
    root = n
    n_nodes = int(max(child.max(initial=root), parent.max(initial=root)) - root + 1)
    node_parent = np.full(n_nodes, -1, np.int64)
    birth = np.zeros(n_nodes)
    n_points = np.zeros(n_nodes, np.int64)
    n_points[0] = n
    is_cluster = child >= n
    node_parent[child[is_cluster] - root] = parent[is_cluster] - root
    birth[child[is_cluster] - root] = lam[is_cluster]
    n_points[child[is_cluster] - root] = size[is_cluster]
    # a node dies at the largest λ recorded under it (its split, or its last point leaving)
    death = np.zeros(n_nodes)
    np.maximum.at(death, parent - root, np.where(np.isfinite(lam), lam, 0.0))
    stability = np.zeros(n_nodes)
    np.add.at(stability, parent - root, (np.where(np.isfinite(lam), lam, 0.0) - birth[parent - root]) * size)
    # each point's leaf: the node it falls out of
    leaf = np.full(n, -1, np.int64)
    pts = ~is_cluster
    leaf[child[pts]] = parent[pts] - root
    return node_parent, birth, death, n_points, stability, leaf


def _selected_nodes(labels: np.ndarray, leaf: np.ndarray, node_parent: np.ndarray, n_points: np.ndarray):
    """The condensed-tree node behind each flat HDBSCAN label (its subtree holds exactly that label's points)."""
    out = []
    for lab in range(int(labels.max()) + 1 if (labels >= 0).any() else 0):
        members = np.flatnonzero(labels == lab)
        node = int(leaf[members[0]])
        while node_parent[node] >= 0 and n_points[node] < len(members):
            node = int(node_parent[node])
        out.append(node)
    return out


def _to_levels(distance, r_sorted, log_median, dimension):
    """(level quantile, log density) of mutual reachability distances."""
    distance = np.asarray(distance, dtype=np.float64)
    level = np.searchsorted(r_sorted, distance, side="right") / len(r_sorted)
    with np.errstate(divide="ignore"):
        log_density = dimension * (log_median - np.log(np.maximum(distance, 1e-300)))
    return level, log_density


def _node_composition(leaf, node_parent, n_nodes, groups, n_groups):
    """counts[node, group]: the points under every node, by group (labels < 0 skipped)."""
    counts = np.zeros((n_nodes, max(n_groups, 1)), np.int64)
    valid = (groups >= 0) & (leaf >= 0)
    cur, g = leaf[valid], groups[valid]
    while len(cur):
        np.add.at(counts, (cur, g), 1)
        up = node_parent[cur]
        keep = up >= 0
        cur, g = up[keep], g[keep]
    return counts


def density_hierarchy(
    ind: np.ndarray,
    dist: np.ndarray,
    *,
    min_cluster_size: int,
    min_samples: int | None = None,
    level: float | None = None,
    dimension: float = 1.0,
    groups: np.ndarray | None = None,
    group_names: list[str] | None = None,
    points: np.ndarray | None = None,
    exact_neighbours: bool = False,
) -> tuple[dict, np.ndarray]:
    """HDBSCAN condensed tree of a point cloud, its flat selection, and a cut at ``level``.

    Parameters
    ----------
    ind, dist : ndarray of shape (n, k)
        The k-NN graph (indices sorted by distance, self excluded) and its distances.
    min_cluster_size : int
        Smallest component the hierarchy keeps (HDBSCAN's ``min_cluster_size``).
    min_samples : int, optional
        Neighbour whose distance is a point's core distance (default: k).
    level : float in (0, 1], optional
        Cut the hierarchy where this fraction of the points (the densest) is
        inside: DBSCAN* at the distance below which ``level`` of the points'
        k-th neighbour distances lie. ``None``: HDBSCAN's own selection
        (excess of mass) gives the flat labels.
    dimension : float
        D in the log-density scale (the global TwoNN dimension).
    groups : ndarray of shape (n,), int, optional
        A label per point (-1 = unknown) for the composition of every node.
    group_names : list of str, optional
    points : ndarray of shape (n, d), optional
        The coordinates the graph was built on. Given, the tree is
        scikit-learn's ``HDBSCAN(min_samples=min_samples + 1)`` on ``points``
        exactly (see the module notes): exact core distances and a minimum
        spanning tree of the complete mutual reachability graph. Without it,
        the tree of the k-NN graph alone (an approximation: edges the graph
        lacks cannot join the tree).
    exact_neighbours : bool, default False
        ``ind`` holds the exact nearest neighbours of ``points``
        (:func:`knn_graph` with ``method='exact'``): reused instead of
        searched again.

    Returns
    -------
    summary : dict
        ``nodes`` (one row per component: ``id, parent, size, birth_*, death_*``
        for ``distance / level / log_density``, ``persistence`` (log-density
        span), ``stability``, ``selected``, and ``composition`` with groups),
        ``n_selected``, ``cut`` (how the flat labels were chosen), ``n_components_graph``.
    labels : ndarray of shape (n,), int32
        The flat labels (selection or cut), -1 = noise, ranked by size.

    Examples
    --------
    >>> import numpy as np
    >>> from latentlab.analysis import knn_graph
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + 8]
    >>> ind, dist, _ = knn_graph(x, k=10)
    >>> summary, labels = density_hierarchy(ind, dist, min_cluster_size=50)
    >>> summary["n_selected"], sorted(np.bincount(labels[labels >= 0]).tolist())
    (2, [300, 300])
    """
    from sklearn.cluster import HDBSCAN

    try:
        from sklearn.cluster._hdbscan._tree import _condense_tree
    except ImportError as exc:  # scikit-learn moved its private tree module
        raise LatentlabError(f"density hierarchy: this scikit-learn has no condensed tree ({exc})") from None

    n, k = ind.shape
    min_samples = int(min(min_samples or k, k))
    min_cluster_size = int(max(2, min(min_cluster_size, n)))
    if level is not None and not 0.0 < level <= 1.0:
        raise LatentlabError(f"level: must be in (0, 1], got {level}")
    if points is not None:
        points = np.asarray(points)
        if points.ndim != 2 or len(points) != n:
            raise LatentlabError(f"density hierarchy: points of shape {points.shape} for a graph of {n} rows")
        graph, core = _exact_graph(points, min_samples, k, ind if exact_neighbours else None)
        n_comp, bridge = 1, np.inf
    else:
        graph, n_comp, bridge = _distance_graph(ind, dist)
        core = dist[:, min_samples - 1]
    model = HDBSCAN(metric="precomputed", min_cluster_size=min_cluster_size, min_samples=min_samples,
                    allow_single_cluster=False, copy=False)
    model.fit(graph)
    tree = _condense_tree(model._single_linkage_tree_, min_cluster_size)
    node_parent, birth, death, n_points, stability, leaf = _condensed_nodes(tree, n)
    selected = _selected_nodes(model.labels_, leaf, node_parent, n_points)

    r_sorted = np.sort(np.asarray(core, dtype=np.float64))
    log_median = float(np.log(max(np.median(r_sorted), 1e-300)))
    with np.errstate(divide="ignore"):
        birth_d = np.where(birth > 0, 1.0 / np.maximum(birth, 1e-300), np.inf)
        death_d = np.where(death > 0, 1.0 / np.maximum(death, 1e-300), np.inf)
    # splits at the bridging edges are not densities: those components are apart at every level
    birth_d = np.where(birth_d >= bridge / 2, np.inf, birth_d)
    death_d = np.where(death_d >= bridge / 2, np.inf, death_d)
    lowest_log_density = float(dimension * (log_median - np.log(max(r_sorted[-1], 1e-300))))
    b_level, b_logd = _to_levels(birth_d, r_sorted, log_median, dimension)
    d_level, d_logd = _to_levels(death_d, r_sorted, log_median, dimension)

    if level is None:
        labels = np.asarray(model.labels_)
        cut = {"method": "hdbscan excess of mass", "level": None, "distance": None}
    else:
        eps = float(np.quantile(r_sorted, level))
        labels = np.asarray(model.dbscan_clustering(cut_distance=eps, min_cluster_size=min_cluster_size))
        cut = {"method": "dbscan* cut", "level": level, "distance": eps,
               "log_density": float(dimension * (log_median - np.log(max(eps, 1e-300))))}
    from ._neighbours import rank_components

    labels = rank_components(labels, 1)

    comp = None
    if groups is not None:
        groups = np.asarray(groups, np.int64)
        n_groups = int(groups.max()) + 1 if (groups >= 0).any() else 0
        names = list(group_names or [str(g) for g in range(n_groups)])
        comp = _node_composition(leaf, node_parent, len(node_parent), groups, n_groups)
    nodes = []
    for i in range(len(node_parent)):
        row = {
            "id": i, "parent": int(node_parent[i]), "size": int(n_points[i]),
            "birth_distance": birth_d[i], "death_distance": death_d[i],
            "birth_level": float(b_level[i]) if np.isfinite(birth_d[i]) else 1.0,
            "death_level": float(d_level[i]) if np.isfinite(death_d[i]) else 1.0,
            "birth_log_density": b_logd[i], "death_log_density": d_logd[i],
            "persistence": float(max(d_logd[i], lowest_log_density) - max(b_logd[i], lowest_log_density)),
            "separate_in_graph": bool(not np.isfinite(birth_d[i])),
            "stability": float(stability[i]), "selected": i in selected,
        }
        if comp is not None:
            total = max(int(comp[i].sum()), 1)
            order = np.argsort(-comp[i])
            row["composition"] = [{"label": names[g], "count": int(comp[i, g]), "fraction": comp[i, g] / total}
                                  for g in order[:5] if comp[i, g] > 0]
        nodes.append(row)
    summary = {
        "min_cluster_size": min_cluster_size, "min_samples": min_samples, "exact": points is not None,
        "n_nodes": len(nodes), "n_selected": len(selected), "n_components_graph": int(n_comp),
        "cut": cut, "n_labelled": int((labels >= 0).sum()), "label_sizes": np.bincount(labels[labels >= 0]).tolist()
        if (labels >= 0).any() else [],
        "nodes": nodes,
    }
    return summary, labels
