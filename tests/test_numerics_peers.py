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
