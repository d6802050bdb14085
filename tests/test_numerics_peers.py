"""Neighbour graphs, intrinsic dimension and the density hierarchy against the peers' own code.

Each expected value comes from an independent implementation: brute force in float64
(scipy's cKDTree), scikit-dimension's ``TwoNN``, scikit-learn's ``HDBSCAN`` on the
same coordinates.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from latentlab.analysis import knn_graph, knn_quality, twonn_dimension


def _plane_in_64d(n=2000, seed=0):
    """A 5-d Gaussian plane, rotated into 64-d."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 64))
    x[:, :5] = rng.normal(size=(n, 5))
    return x @ np.linalg.qr(rng.normal(size=(64, 64)))[0]


def _brute_force_neighbours(x, k):
    x = np.asarray(x, dtype=np.float64)
    dist, ind = cKDTree(x).query(x, k=k + 1)
    return ind[:, 1:], dist[:, 1:]


@pytest.mark.parametrize("shift", [0.0, 100.0, 1e4])
def test_exact_knn_graph_is_independent_of_a_translation(shift):
    """A cloud far from the origin keeps its neighbours (the float32 expansion kept 15 % at +100)."""
    x = (_plane_in_64d() + shift).astype(np.float32)  # what a store holds
    ind, dist, how = knn_graph(x, k=10, method="exact")
    ref_ind, ref_dist = _brute_force_neighbours(x, 10)
    assert how == "exact"
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, ref_ind)])
    assert recall == 1.0
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5, atol=1e-6 * max(shift, 1.0))
    # the same graph as the unshifted cloud (the float32 input rounds the points themselves at +1e4)
    if shift <= 100.0:
        ind0, _, _ = knn_graph(_plane_in_64d().astype(np.float32), k=10, method="exact")
        assert np.mean(np.sort(ind, axis=1) == np.sort(ind0, axis=1)) > 0.999
    assert knn_quality(x, ind, dist, n_queries=100)["recall"] == 1.0


def test_approximate_knn_graph_far_from_the_origin():
    x = (_plane_in_64d(seed=1) + 100.0).astype(np.float32)
    ind, _, how = knn_graph(x, k=10, method="approximate")
    ref_ind, _ = _brute_force_neighbours(x, 10)
    assert how == "approximate"
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, ref_ind)]) > 0.95


def _ball(n, dim, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True) * rng.uniform(size=(n, 1)) ** (1 / dim)


@pytest.mark.parametrize("discard_fraction", [0.0, 0.1, 0.25])
def test_twonn_censors_like_scikit_dimension(discard_fraction):
    """scikit-dimension's ``TwoNN(method='mle')``: discarded ratios are censored, not dropped."""
    skdim = pytest.importorskip("skdim")
    x = _ball(4000, 5, seed=0)
    _, dist, _ = knn_graph(x, k=2, method="exact")
    ref = skdim.id.TwoNN(discard_fraction=discard_fraction, dist=True, method="mle").fit(dist.astype(np.float64))
    got = twonn_dimension(dist, discard_fraction=discard_fraction)
    assert got == pytest.approx(ref.dimension_, rel=1e-12)
    assert 4.5 < got < 5.5  # dropping the largest 10 % instead read 6.4 here


@pytest.mark.parametrize("name, noise", [("M5a_Helix1d", 0.0), ("M6_Nonlinear", 0.0), ("M8_Nonlinear", 0.01)])
def test_twonn_on_benchmark_manifolds_equals_scikit_dimension(name, noise):
    skdim = pytest.importorskip("skdim")
    bench = skdim.datasets.BenchmarkManifolds(random_state=0)
    d_true, ambient = bench._dict_truth[name][:2]
    x = bench.generate(name, n=2500, d=d_true, dim=ambient, noise=noise)
    _, dist, _ = knn_graph(x, k=2, method="exact")
    for fraction in (0.0, 0.1):
        ref = skdim.id.TwoNN(discard_fraction=fraction, method="mle").fit(x).dimension_
        assert twonn_dimension(dist, discard_fraction=fraction) == pytest.approx(ref, rel=1e-6)


def test_twonn_censored_formula_by_hand():
    """The Type-II censored exponential MLE, written out independently."""
    r1 = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    r2 = np.exp([0.1, 0.2, 0.3, 0.4, 5.0])  # one outlier ratio
    d = np.c_[r1, r2]
    # keep m = int(5 * 0.8) = 4 smallest; the 5th is censored at log mu_(4) = 0.4
    assert twonn_dimension(d, discard_fraction=0.2) == pytest.approx(3 / (0.1 + 0.2 + 0.3 + 0.4 + 0.4))
    assert twonn_dimension(d) == pytest.approx(4 / 6.0)
    with pytest.raises(ValueError):
        twonn_dimension(d, discard_fraction=1.0)


def _sklearn_hdbscan_labels(y, min_samples, min_cluster_size):
    """scikit-learn's HDBSCAN on the coordinates; it counts the point itself among ``min_samples``."""
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_samples=min_samples + 1, min_cluster_size=min_cluster_size, copy=True).fit(
        np.asarray(y, np.float64)).labels_


@pytest.mark.parametrize("seed, rounding", [(0, None), (1, None), (2, 0.5)])
def test_mutual_reachability_tree_is_a_minimum_spanning_tree_of_the_complete_graph(seed, rounding):
    """Its weight equals scipy's MST of the dense mutual reachability matrix (ties included)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import cdist

    from latentlab.analysis._fragments_hierarchy import _exact_graph

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(500, 5))
    x[:150] += 4.0
    if rounding:
        x = np.round(x / rounding) * rounding  # many equal distances
    d = cdist(x, x)
    core = np.sort(d, axis=1)[:, 5]
    reach = np.maximum(d, np.maximum(core[:, None], core[None, :]))
    np.fill_diagonal(reach, 0.0)
    graph, got_core = _exact_graph(x, 5, 10)
    np.testing.assert_allclose(got_core, core, rtol=1e-12)
    g = graph.tocoo()
    w = np.maximum(reach[g.row, g.col], 1e-300)
    assert minimum_spanning_tree(coo_matrix((w, (g.row, g.col)), shape=d.shape)).sum() == pytest.approx(
        minimum_spanning_tree(reach).sum(), rel=1e-12)


def test_density_hierarchy_equals_sklearn_hdbscan_on_a_planted_cloud():
    from sklearn.metrics import adjusted_rand_score

    from latentlab.analysis import density_hierarchy, find_fragments, make_planted_cloud

    cloud = make_planted_cloud(n_bulk=2500, dim=32, n_fragments=3, n_filaments=1, random_state=0)
    ind, dist, _ = knn_graph(cloud.z, k=15)
    summary, labels = density_hierarchy(ind, dist, min_cluster_size=30, points=cloud.z)
    want = _sklearn_hdbscan_labels(cloud.z, 15, 30)
    assert adjusted_rand_score(want, labels) >= 0.99
    assert summary["n_selected"] == want.max() + 1
    # an approximate graph gives the same tree: only the coordinates decide it
    ind_a, dist_a, how = knn_graph(cloud.z, k=15, method="approximate")
    assert how == "approximate"
    assert adjusted_rand_score(want, density_hierarchy(ind_a, dist_a, min_cluster_size=30, points=cloud.z)[1]) >= 0.99
    # find_fragments' hierarchy is the one of its PCA coordinates
    result = find_fragments(cloud.z, k=15, min_cluster_size=30, filament_scales=1)
    from latentlab.analysis._fragments import _reduce

    y = _reduce(cloud.z, "euclidean", 0.99)[0]
    assert adjusted_rand_score(_sklearn_hdbscan_labels(y, 15, 30), result.cluster) >= 0.99
    assert result.parameters["hierarchy_exact"] is True and result.hierarchy["exact"] is True
    graph_only = find_fragments(cloud.z, k=15, min_cluster_size=30, filament_scales=1, exact_hierarchy=False)
    assert graph_only.parameters["hierarchy_exact"] is False and graph_only.hierarchy["exact"] is False


def test_density_hierarchy_equals_sklearn_hdbscan_on_fashion_mnist():
    """10,000 Fashion-MNIST images (PCA of the pixels, 50 components): the k-NN graph alone misses MST edges."""
    import gzip
    from pathlib import Path

    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score

    from latentlab.analysis import density_hierarchy
    from latentlab.sources import FASHION_MNIST_DIR

    images = Path(FASHION_MNIST_DIR) / "train-images-idx3-ubyte.gz"
    if not images.is_file():
        pytest.skip("apt-get install dataset-fashion-mnist")
    n = 10_000
    with gzip.open(images) as fh:
        pixels = np.frombuffer(fh.read(16 + n * 784), np.uint8, offset=16).reshape(n, 784) / 255.0
    y = PCA(50, random_state=0).fit_transform(pixels).astype(np.float32)
    ind, dist, _ = knn_graph(y, k=15, method="exact")
    for min_cluster_size in (50, 200):
        want = _sklearn_hdbscan_labels(y, 15, min_cluster_size)
        _, labels = density_hierarchy(ind, dist, min_cluster_size=min_cluster_size, points=y, exact_neighbours=True)
        assert adjusted_rand_score(want, labels) >= 0.99


def test_cli_fragments_on_values_whose_squares_overflow_is_one_line(tmp_path, capsys):
    """Finite ±3e38 float32 values: one ``error:`` line, exit 2, nothing written (was an internal error)."""
    from latentlab import write_store
    from latentlab.cli import main

    rng = np.random.default_rng(0)
    z = (rng.choice([-3e38, 3e38], size=(200, 16)) * rng.uniform(0.5, 1.0, size=(200, 16))).astype(np.float32)
    assert np.isfinite(z).all()
    write_store(tmp_path / "huge.h5", z)
    rc = main(["fragments", str(tmp_path / "huge.h5"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err
    assert "rescale" in err and "internal error" not in err
    assert not (tmp_path / "out").exists()


def test_fragments_do_not_change_when_the_points_are_scaled_by_a_power_of_two():
    """Large but representable values work: 2**40 · z (exact in float32) gives the same parts as z."""
    from sklearn.metrics import adjusted_rand_score

    from latentlab.analysis import find_fragments, make_planted_cloud

    cloud = make_planted_cloud(n_bulk=800, dim=16, n_fragments=2, n_filaments=0, random_state=3)
    small = find_fragments(cloud.z, k=10, filament_scales=1)
    large = find_fragments(cloud.z * np.float32(2.0**40), k=10, filament_scales=1)
    assert adjusted_rand_score(small.fragment, large.fragment) == 1.0
    assert adjusted_rand_score(small.cluster, large.cluster) == 1.0
    np.testing.assert_allclose(large.knn_distance, small.knn_distance * 2.0**40, rtol=1e-5)
