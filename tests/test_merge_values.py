"""Merged moments and PCA equal one fit on all rows, for blocks whose shift is far from their mean.

Every block here is larger than the rows a shift is taken from (1,024) and its mean drifts, so a
block's sums about its own shift have a large first moment and re-centring (``Moments.recentred``)
needs every cross term of the binomial expansion. The expected values are numpy / scipy /
scikit-learn on the concatenated rows, never latentlab.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn.decomposition import PCA

from latentlab import write_store
from latentlab.analysis import LatentPCA, fit_pca
from latentlab.analysis._streaming import Moments
from latentlab.store import merge_stores

D = 6


def _drifting(n: int, seed: int, offset: float) -> np.ndarray:
    """Rows whose mean moves linearly along the block (and between blocks), correlated columns."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(D, D))
    t = np.linspace(0.0, 1.0, n)[:, None]
    drift = np.linspace(1.0, 4.0, D) * (offset + 6.0 * t)
    return rng.normal(size=(n, D)) @ mix * 0.7 + drift + rng.exponential(size=(n, D)) ** 2


@pytest.fixture(scope="module")
def blocks():
    # several sizes: two of 3,000 rows (the case that surfaced the bug), unequal ones, and a tiny one
    sizes = [3000, 3000, 1500, 4100, 7]
    return [_drifting(n, seed, offset) for seed, (n, offset) in enumerate(zip(sizes, [0.0, 3.0, -5.0, 9.0, 20.0]))]


def _reference(rows):
    ref = PCA().fit(rows)
    return ref.explained_variance_, ref.components_, rows.mean(axis=0)


def _assert_same_axes(pca, rows, rtol=1e-9):
    w, comps, mean = _reference(rows)
    np.testing.assert_allclose(pca.eigenvalues_, w, rtol=rtol, atol=1e-9 * w[0])
    np.testing.assert_allclose(pca.mean_, mean, rtol=1e-12, atol=1e-12)
    # same axes up to sign (sign conventions are tested separately in test_pca.py)
    np.testing.assert_allclose(np.abs(np.sum(pca.components_ * comps, axis=1)), 1.0, atol=1e-8)
    assert pca.n_samples_ == len(rows)
    assert pca.total_variance_ == pytest.approx(np.trace(np.cov(rows.T)), rel=1e-10)


def _moments(rows, shift, **kw):
    m = Moments(shift, **kw)
    m.update(rows)
    return m


@pytest.mark.parametrize("shift_of", ["first_rows", "zero", "far"])
def test_recentred_equals_sums_about_the_new_shift(blocks, shift_of):
    rows = blocks[0]
    old = {"first_rows": rows[:1024].mean(axis=0), "zero": np.zeros(D), "far": np.full(D, -40.0)}[shift_of]
    new = rows[-1000:].mean(axis=0) + 0.25
    moved = _moments(rows, old, cross=True, higher=True).recentred(new)
    c = rows - new
    np.testing.assert_allclose(moved.shift, new)
    assert moved.n == len(rows)
    np.testing.assert_allclose(moved.s1, c.sum(axis=0), rtol=1e-10, atol=1e-7)
    np.testing.assert_allclose(moved.s2, (c**2).sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(moved.s3, (c**3).sum(axis=0), rtol=1e-9, atol=1e-6 * np.abs(c**3).sum())
    np.testing.assert_allclose(moved.s4, (c**4).sum(axis=0), rtol=1e-9)
    np.testing.assert_allclose(moved.cross, c.T @ c, rtol=1e-10, atol=1e-8 * np.abs(c.T @ c).max())
    np.testing.assert_array_equal(moved.min, rows.min(axis=0))
    np.testing.assert_array_equal(moved.max, rows.max(axis=0))


def test_moments_merge_of_blocks_with_their_own_shifts_equals_all_rows(blocks):
    rows = np.concatenate(blocks)
    merged = None
    for b in blocks:
        m = _moments(b, b[: min(len(b), 1024)].mean(axis=0), cross=True, higher=True)
        merged = m if merged is None else merged.merge(m)
    assert merged.n == len(rows)
    np.testing.assert_allclose(merged.mean, rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(merged.var(), rows.var(axis=0), rtol=1e-10)
    np.testing.assert_allclose(merged.var(ddof=1), rows.var(axis=0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(merged.std(ddof=1), rows.std(axis=0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(merged.cov(), np.cov(rows.T), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(merged.cov(ddof=0), np.cov(rows.T, ddof=0), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(merged.skewness(), scipy.stats.skew(rows), rtol=1e-8)
    np.testing.assert_allclose(merged.kurtosis(), scipy.stats.kurtosis(rows), rtol=1e-8)
    np.testing.assert_array_equal(merged.min, rows.min(axis=0))
    np.testing.assert_array_equal(merged.max, rows.max(axis=0))
    # merging is symmetric: the other order gives the same statistics
    rev = None
    for b in blocks[::-1]:
        m = _moments(b, b[:1024].mean(axis=0), cross=True, higher=True)
        rev = m if rev is None else rev.merge(m)
    np.testing.assert_allclose(rev.cov(), merged.cov(), rtol=1e-9, atol=1e-10)


def test_moments_without_cross_products_merge_too(blocks):
    a, b = blocks[0], blocks[3]
    merged = _moments(a, a[:10].mean(axis=0)).merge(_moments(b, np.zeros(D)))
    rows = np.concatenate([a, b])
    assert merged.cross is None and merged.s3 is None
    np.testing.assert_allclose(merged.var(), rows.var(axis=0), rtol=1e-10)


def test_one_row_and_constant_columns():
    m = _moments(np.array([[1.0, 2.0]]), np.zeros(2), higher=True)
    np.testing.assert_array_equal(m.var(), [0.0, 0.0])
    np.testing.assert_array_equal(m.var(ddof=1), [0.0, 0.0])  # n - ddof floored at 1
    two = _moments(np.array([[0.0, 1.0], [2.0, 1.0]]), np.array([5.0, -3.0]))
    np.testing.assert_allclose(two.var(ddof=1), [2.0, 0.0], atol=1e-12)  # n - ddof = 1: divided by 1
    np.testing.assert_allclose(two.var(), [1.0, 0.0], atol=1e-12)
    const = _moments(np.full((5, 2), 3.0), np.zeros(2), higher=True)
    np.testing.assert_array_equal(const.skewness(), [0.0, 0.0])
    np.testing.assert_array_equal(const.kurtosis(), [0.0, 0.0])
    assert not _moments(np.empty((0, 2)), np.zeros(2)).n


@pytest.mark.parametrize("sizes", [(3000, 3000), (3000, 1500, 4100), (1200, 7)])
def test_latentpca_merge_equals_one_fit_on_all_rows(blocks, sizes):
    parts = [_drifting(n, 10 + i, 4.0 * i) for i, n in enumerate(sizes)]
    fits = [LatentPCA().partial_fit(p) for p in parts]
    merged = fits[0]
    for f in fits[1:]:
        merged = merged.merge(f)
    _assert_same_axes(merged, np.concatenate(parts))


def test_partial_fit_over_blocks_of_several_sizes(blocks):
    pca = LatentPCA()
    for b in blocks:
        pca.partial_fit(b)
    _assert_same_axes(pca, np.concatenate(blocks))


def test_n_components_for_is_exact():
    # A two-level factorial design: the 64 sign patterns of columns with half-ranges 1, 4, 1, 2, 1, 2 have an
    # exactly diagonal covariance, eigenvalues (16, 4, 4, 1, 1, 1) * 64/63, so the cumulative explained
    # fractions are exactly 16/27, 20/27, 24/27, 25/27, 26/27, 1 (up to rounding of the last bit).
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * D, indexing="ij")).reshape(D, -1).T
    z = signs * [1.0, 4.0, 1.0, 2.0, 1.0, 2.0] + 3.0
    pca = LatentPCA().fit(z)
    lam = np.array([16.0, 4.0, 4.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(pca.eigenvalues_, lam * 64 / 63, rtol=1e-14)
    np.testing.assert_allclose(np.abs(pca.components_[0]), [0, 1, 0, 0, 0, 0], atol=1e-14)
    cum = np.cumsum(lam) / lam.sum()
    for k, f in enumerate(cum[:-1], start=1):
        assert pca.n_components_for(f) == k  # reaching the fraction exactly is enough
        assert pca.n_components_for(f + 1e-9) == k + 1
        assert pca.n_components_for(f - 1e-9) == k
    assert pca.n_components_for(1.0) == D
    assert pca.n_components_for(1e-9) == 1
    np.testing.assert_allclose(pca.explained_variance_ratio_, lam / lam.sum(), rtol=1e-14)
    np.testing.assert_allclose(pca.semi_axes(2.0), 2 * np.sqrt(lam * 64 / 63), rtol=1e-14)
    np.testing.assert_allclose(pca.semi_axes(), np.sqrt(lam * 64 / 63), rtol=1e-14)
    two = LatentPCA(n_components=2).fit(z)
    assert two.n_components_for(cum[1]) == 2 and two.n_components_for(cum[1] + 1e-9) is None


def test_dask_engine_on_drifting_rows_equals_one_fit(blocks, tmp_path):
    pytest.importorskip("dask")
    rows = np.concatenate(blocks).astype(np.float32)  # the store holds float32
    path = write_store(tmp_path / "z.h5", rows, chunk_rows=1000)
    for chunk_rows in (3000, 1700):
        pca = fit_pca(path, engine="dask", scheduler="threads", chunk_rows=chunk_rows)
        _assert_same_axes(pca, rows.astype(np.float64))


def test_sharded_stores_merged_equal_one_fit(blocks, tmp_path):
    """Shards of unequal size written separately, merged with ``merge_stores``, fitted once and per shard."""
    rows = np.concatenate(blocks[:4]).astype(np.float32)
    bounds = np.cumsum([0] + [len(b) for b in blocks[:4]])
    parts = []
    for i in range(4):
        start, stop = int(bounds[i]), int(bounds[i + 1])
        attrs = {"shard_index": i, "shard_count": 4, "shard_start": start, "shard_stop": stop,
                 "source_rows": int(bounds[-1])}
        parts.append(write_store(tmp_path / f"part{i}.h5", rows[start:stop], ids=[str(j) for j in range(start, stop)],
                                 attrs=attrs))
    merged_path = merge_stores(parts[::-1], tmp_path / "merged.h5")
    expected = rows.astype(np.float64)
    _assert_same_axes(fit_pca(merged_path, chunk_rows=3000), expected)
    per_shard = [fit_pca(p) for p in parts]
    combined = per_shard[0]
    for f in per_shard[1:]:
        combined = combined.merge(f)
    _assert_same_axes(combined, expected)


def test_recentred_moments_keep_accumulating(blocks):
    """A re-centred accumulator is a full one: more rows folded into it give the sums of all rows."""
    a, b = blocks[0], blocks[2]
    moved = _moments(a, a[:1024].mean(axis=0), cross=True, higher=True).recentred(np.zeros(D))
    assert moved.cross_wanted and moved.higher
    moved.update(b)
    rows = np.concatenate([a, b])
    for key, power in (("s1", 1), ("s2", 2), ("s3", 3), ("s4", 4)):
        np.testing.assert_allclose(getattr(moved, key), (rows**power).sum(axis=0), rtol=1e-9)
    np.testing.assert_allclose(moved.cross, rows.T @ rows, rtol=1e-9)
    fresh = moved.empty()
    assert fresh.n == 0 and fresh.cross is not None and fresh.s3 is not None
    np.testing.assert_array_equal(fresh.shift, np.zeros(D))


def test_histograms_merge_equals_one_histogram(blocks):
    from latentlab.analysis._streaming import Histograms, Norm

    rows = np.concatenate(blocks[:3])
    r = np.sqrt(np.einsum("ij,ij->i", rows, rows))  # bit-identical to the streamed norms (no ulp at the edges)
    edges = np.linspace(np.quantile(r, 0.05), np.quantile(r, 0.95), 21)  # some values below and above
    parts = []
    for b in blocks[:3]:
        h = Histograms([edges], Norm())
        h.update(b)
        parts.append(h)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    np.testing.assert_array_equal(merged.counts[0], np.histogram(r, bins=edges)[0])
    assert merged.below[0] == np.sum(r < edges[0]) and merged.above[0] == np.sum(r > edges[-1])
    assert merged.n == len(r)
    assert merged.s1[0] == pytest.approx(r.sum(), rel=1e-12) and merged.s2[0] == pytest.approx((r**2).sum(), rel=1e-12)
    assert merged.min[0] == r.min() and merged.max[0] == r.max()
    np.testing.assert_array_equal(merged.edges, parts[0].edges)
    # one accumulator fed block after block holds the same as the merge
    serial = Histograms([edges], Norm())
    for b in blocks[:3]:
        serial.update(b)
    np.testing.assert_array_equal(serial.counts, merged.counts)
    assert serial.n == merged.n and serial.s1[0] == pytest.approx(merged.s1[0], rel=1e-12)
    assert serial.s2[0] == pytest.approx(merged.s2[0], rel=1e-12)
    assert (serial.below[0], serial.above[0]) == (merged.below[0], merged.above[0])
    centred = Norm(rows.mean(0))(rows)
    np.testing.assert_allclose(centred, np.linalg.norm(rows - rows.mean(0), axis=1), rtol=1e-12)


def test_row_sample_merge_gathers_the_listed_rows_in_order(blocks):
    from latentlab.analysis._streaming import RowSample

    rows = np.concatenate(blocks[:2])
    want = np.array([3, 10, 2999, 3000, 5500])
    first, second = RowSample(want), RowSample(want)
    first.update(rows[3000:], np.arange(3000, 6000))  # the later block first: the result is still by index
    second.update(rows[:3000], np.arange(3000))
    idx, got = first.merge(second).result(D)
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(got, rows[want])
    idx0, got0 = RowSample(want).result(D)
    assert idx0.shape == (0,) and got0.shape == (0, D)


def test_mahalanobis_and_range_product_accumulators(blocks):
    from latentlab.analysis._streaming import Mahalanobis2, RangeProduct

    rows = np.concatenate(blocks[:2])
    mean, cov = rows.mean(0), np.cov(rows.T)
    w, v = np.linalg.eigh(cov)
    d2 = Mahalanobis2(mean, v / np.sqrt(w))(rows)
    np.testing.assert_allclose(d2, np.einsum("ij,jk,ik->i", rows - mean, np.linalg.inv(cov), rows - mean), rtol=1e-8)
    q = np.linalg.qr(np.random.default_rng(0).normal(size=(D, 3)))[0]
    a, b = RangeProduct(mean, q), RangeProduct(mean, q)
    a.update(blocks[0])
    b.update(blocks[1])
    both = a.merge(b)
    c = rows - mean
    np.testing.assert_allclose(both.xtxq, c.T @ (c @ q), rtol=1e-9)
    np.testing.assert_allclose(both.qtxtxq, (c @ q).T @ (c @ q), rtol=1e-9)
    assert not both.empty().xtxq.any() and both.empty().q is not None
    # fed block after block (and from an empty copy) it holds the same sums
    serial = a.empty()
    serial.update(blocks[0])
    serial.update(blocks[1])
    np.testing.assert_allclose(serial.xtxq, both.xtxq, rtol=1e-12)
    np.testing.assert_allclose(serial.qtxtxq, both.qtxtxq, rtol=1e-12)


def test_accumulators_compute_in_float64_from_float32_inputs(blocks):
    """Means, whiteners and bases given in float32 (as read from a store) are used in float64."""
    from latentlab.analysis._streaming import Mahalanobis2, RangeProduct

    rows = blocks[0].astype(np.float32)
    mean = rows.mean(0)  # float32
    whitener = (np.linalg.inv(np.linalg.cholesky(np.cov(rows.T.astype(np.float64)))).T).astype(np.float32)
    exact = (rows.astype(np.float64) - mean.astype(np.float64)) @ whitener.astype(np.float64)
    np.testing.assert_allclose(Mahalanobis2(mean, whitener)(rows), np.einsum("ij,ij->i", exact, exact), rtol=1e-12)
    q = np.linalg.qr(np.random.default_rng(1).normal(size=(D, 2)))[0].astype(np.float32)
    acc = RangeProduct(mean, q)
    acc.update(rows)
    c = rows.astype(np.float64) - mean.astype(np.float64)
    y = c @ q.astype(np.float64)
    np.testing.assert_allclose(acc.xtxq, c.T @ y, rtol=1e-12)
    np.testing.assert_allclose(acc.qtxtxq, y.T @ y, rtol=1e-12)


def test_sample_index_is_seeded_sorted_and_within_the_partition(tmp_path):
    from latentlab import open_store
    from latentlab.analysis._streaming import open_passes, sample_index

    part = np.arange(60) % 3
    store = write_store(tmp_path / "z.h5", np.arange(120.0).reshape(60, 2), partition=part)
    val = np.flatnonzero(part == 1)
    with open_store(store) as s:
        a = sample_index(s, 10, partition="val", seed=1)
        assert len(a) == 10 and set(a) <= set(val) and np.all(np.diff(a) > 0)
        np.testing.assert_array_equal(a, sample_index(s, 10, partition="val", seed=1))
        assert not np.array_equal(a, sample_index(s, 10, partition="val", seed=2))
        np.testing.assert_array_equal(sample_index(s, 20, partition="val"), val)  # as many as there are: all
        np.testing.assert_array_equal(sample_index(s, 100), np.arange(60))
        everywhere = sample_index(s, 30, seed=4)
        assert len(everywhere) == 30 and len(set(everywhere) - set(val)) > 0
    with open_passes(store, partition="test") as p:
        picked = p.sample_index(5, seed=3)
        assert len(picked) == 5 and set(picked) <= set(np.flatnonzero(part == 2))
        np.testing.assert_array_equal(picked, p.sample_index(5, seed=3))
        assert not np.array_equal(picked, p.sample_index(5, seed=4))
        with open_store(store) as s:
            np.testing.assert_array_equal(picked, sample_index(s, 5, partition="test", seed=3))
            # the same default seed as the module function: analyses reproduce each other's subsamples
            np.testing.assert_array_equal(p.sample_index(5), sample_index(s, 5, partition="test"))


def test_histograms_of_several_columns_keep_per_column_sums(blocks):
    from latentlab.analysis._streaming import Histograms

    rows = blocks[1][:, :2]
    edges = np.array([np.linspace(rows[:, j].min(), rows[:, j].max(), 11) for j in range(2)])
    h = Histograms(edges)
    h.update(rows[:1000])
    h.update(rows[1000:])
    for j in range(2):
        np.testing.assert_array_equal(h.counts[j], np.histogram(rows[:, j], bins=edges[j])[0])
    np.testing.assert_allclose(h.s1, rows.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(h.s2, (rows**2).sum(axis=0), rtol=1e-12)


def test_prefetch_loses_nothing_behind_a_slow_consumer_and_passes_errors_on():
    """The read-ahead thread waits for a slow consumer (here 0.25 s per block, longer than its put timeout)."""
    import time

    from latentlab.analysis._streaming import _prefetch

    got = []
    for item in _prefetch(iter(range(5))):
        got.append(item)
        time.sleep(0.25)
    assert got == list(range(5))

    def failing():
        yield 1
        raise ValueError("bad block")

    with pytest.raises(ValueError, match="bad block"):
        list(_prefetch(failing()))
