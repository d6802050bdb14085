"""C_T, AuthPct, the log-likelihood gap and per-sample scores against hand-computed values and the papers' definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import mannwhitneyu, norm

from latentlab import LatentlabError
from latentlab.metrics._memorisation import (
    DataCopyingTest,
    authentic,
    authpct,
    ct_score,
    loglik_gap,
    memorisation_scores,
    zu_statistic,
)
from latentlab.regions import make_region


def _u_by_hand(q, p):
    """Mann-Whitney U of q: pairs with q > p, ties ½ (Mann & Whitney 1947)."""
    q, p = np.asarray(q)[:, None], np.asarray(p)[None, :]
    return float((q > p).sum() + 0.5 * (q == p).sum())


def test_zu_is_the_continuity_corrected_z_of_the_u_statistic():
    q, p = [0.3, 1.5, 0.2, 2.5], [1.0, 2.0, 3.0, 0.25, 4.0]
    u = _u_by_hand(q, p)  # 0.3>0.25, 1.5>1.0, 1.5>0.25, 0.2>-, 2.5>1,2,0.25 → 1 + 2 + 0 + 3 = 6
    assert u == 6 == mannwhitneyu(q, p).statistic
    m, n = 4, 5
    assert zu_statistic(q, p) == pytest.approx((6 - (m * n / 2 - 0.5)) / math.sqrt(m * n * (m + n + 1) / 12))
    assert zu_statistic([0.1, 0.2], [1.0, 2.0, 3.0]) == pytest.approx(-2.5 / math.sqrt(3))


def test_ct_with_one_cell_is_the_mann_whitney_z_of_nearest_training_distances():
    rng = np.random.default_rng(1)
    train, held, gen = rng.normal(size=(300, 3)), rng.normal(size=(80, 3)), rng.normal(size=(60, 3)) * 0.7
    res = ct_score(train, held, gen, n_cells=1)
    lq, lp = cdist(gen, train).min(axis=1), cdist(held, train).min(axis=1)
    m, n = len(lq), len(lp)
    expected = (_u_by_hand(lq, lp) - (m * n / 2 - 0.5)) / math.sqrt(m * n * (m + n + 1) / 12)
    assert res.statistic == pytest.approx(expected, rel=1e-12)
    assert res.p_value == pytest.approx(norm.cdf(expected))
    assert (res.n_cells, res.n_cells_used, res.n_generated, res.n_heldout) == (1, 1, 60, 80)


def test_ct_weights_cells_by_heldout_mass_and_drops_sparse_cells():
    """Three far-apart blobs are the k-means cells; the middle one has too few generated points."""
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])

    def blobs(counts, scale=1.0):
        return [c + scale * rng.normal(size=(k, 2)) for c, k in zip(centres, counts)]

    train, held, gen = blobs([200, 150, 100]), blobs([50, 30, 20]), blobs([40, 15, 30], 0.5)
    res = DataCopyingTest(n_cells=3, min_generated=20).fit(np.concatenate(train), np.concatenate(held)).score(np.concatenate(gen))
    zs, ws = [], []
    for t, h, g in zip(train, held, gen):  # the paper's definition, cell by cell, brute force
        if len(g) <= 20:
            continue
        lq, lp = cdist(g, t).min(axis=1), cdist(h, t).min(axis=1)
        m, n = len(lq), len(lp)
        zs.append((_u_by_hand(lq, lp) - (m * n / 2 - 0.5)) / math.sqrt(m * n * (m + n + 1) / 12))
        ws.append(n / 100)
    w = np.array(ws) / sum(ws)
    assert res.n_cells == 3 and res.n_cells_used == 2
    assert res.statistic == pytest.approx(float(np.dot(w, zs)), rel=1e-12)
    assert res.p_value == pytest.approx(norm.cdf(res.statistic / math.sqrt((w**2).sum())))
    assert sorted(x for x in res.cell_weight if x) == pytest.approx(sorted(w))


def test_ct_projects_on_64_principal_axes_first():
    rng = np.random.default_rng(3)
    train, held, gen = rng.normal(size=(400, 80)), rng.normal(size=(100, 80)), rng.normal(size=(100, 80))
    test = DataCopyingTest(n_cells=1).fit(train, held)
    assert test.train_.shape == (400, 64)
    res = test.score(gen)
    assert np.isfinite(res.statistic)


def test_ct_without_a_usable_cell_is_nan_and_bad_input_is_one_error():
    rng = np.random.default_rng(4)
    train, held = rng.normal(size=(100, 2)), rng.normal(size=(30, 2))
    res = ct_score(train, held, rng.normal(size=(10, 2)), n_cells=2)  # 10 generated points: no cell has > 20
    assert math.isnan(res.statistic) and res.n_cells_used == 0
    with pytest.raises(LatentlabError):
        ct_score(train, held[:, :1], held)
    with pytest.raises(LatentlabError):
        ct_score(train, held, np.full((30, 2), np.nan))


def test_authentic_by_hand_on_a_line():
    train = np.array([[0.0], [1.0], [10.0]])  # own nearest-other distances: 1, 1, 9
    gen = np.array([[0.2], [5.0], [14.0], [21.0]])
    # 0.2 → 0 at 0.2 (1 < 0.2? no); 5 → 1 at 4 (1 < 4 yes); 14 → 10 at 4 (9 < 4? no); 21 → 10 at 11 (9 < 11 yes)
    assert authentic(gen, train).tolist() == [False, True, False, True]
    assert authpct(gen, train) == 50.0


def test_authpct_matches_the_dgm_eval_definition_on_random_points():
    rng = np.random.default_rng(5)
    train, gen = rng.normal(size=(300, 5)), rng.normal(size=(120, 5))
    rr = cdist(train, train)
    np.fill_diagonal(rr, np.inf)
    gd = cdist(train, gen)
    expected = 100 * np.mean(rr.min(axis=0)[gd.argmin(axis=0)] < gd.min(axis=0))
    assert authpct(gen, train) == pytest.approx(expected)


def test_a_copying_region_is_flagged_and_the_heldout_real_points_are_not():
    rng = np.random.default_rng(6)
    means = rng.normal(scale=4, size=(4, 6))
    draw = lambda n: means[rng.integers(0, 4, n)] + rng.normal(size=(n, 6))  # noqa: E731
    train, held, fresh = draw(1500), draw(600), draw(400)
    test = DataCopyingTest(n_cells=4).fit(train, held)

    narrow = make_region("kde", bandwidth=0.02).fit(train)
    copies = narrow.sample(400, random_state=0)
    flagged = test.score(copies)
    assert flagged.statistic < -5 and flagged.p_value < 1e-6
    assert authpct(copies, train) < 5
    assert test.score(train[:400]).statistic < -5  # the fit rows themselves

    real = test.score(fresh)  # unseen real points from the same law: not flagged
    assert abs(real.statistic) < 2.5 and real.p_value > 0.01
    assert 35 < authpct(fresh, train) < 80

    gap_narrow = loglik_gap(narrow, train[:300], held[:300])[1]
    gap_mnd = loglik_gap(make_region("mnd").fit(train), train[:300], held[:300])[1]
    assert gap_narrow > 100 and abs(gap_mnd) < 1.0
    assert loglik_gap(make_region("cube").fit(train), train, held) == (None, None)


def test_per_sample_scores_against_brute_force():
    rng = np.random.default_rng(7)
    train, held, gen = rng.normal(size=(200, 4)), rng.normal(size=(100, 4)), rng.normal(size=(50, 4))
    gen[:5] = train[:5] + 1e-6
    s = memorisation_scores(gen, train, held)
    d = cdist(gen, train).min(axis=1)
    h = cdist(held, train).min(axis=1)
    np.testing.assert_allclose(s["nearest_train_distance"], d, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(s["novelty_ratio"], d / np.median(h), rtol=1e-9, atol=1e-9)
    assert s["near_copy"][:5].all() and not s["authentic"][:5].any()
    assert s["near_copy"].tolist() == (d < np.quantile(h, 0.05)).tolist()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Three planted clusters in 8-d with train/test partitions."""
    from latentlab import write_store

    tmp = tmp_path_factory.mktemp("planted_mem")
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 6, size=(3, 8))
    Z = np.concatenate([c + rng.normal(size=(1000, 8)) for c in centres]).astype(np.float32)
    part = np.where(rng.uniform(size=len(Z)) < 0.4, 2, 0).astype(np.int8)
    return write_store(tmp / "z.h5", Z, partition=part), tmp


def test_compare_samplers_flags_a_narrow_kde_and_not_the_heldout_real_row(planted):
    import csv

    from latentlab.metrics import HELDOUT_ROW, compare_samplers

    store, tmp = planted
    res = compare_samplers(store, tmp / "cmp", regions=["mnd", "kde"], n=300, use_model=False, n_boot=0,
                           params={"kde": {"bandwidth": 0.05}})
    rows = {r["sampler"]: r for r in res.rows}
    real, kde, mnd = rows[HELDOUT_ROW], rows["kde"], rows["mnd"]
    assert abs(real["ct"]) < 2.5 and real["ct_cells"] >= 2 and 30 < real["authpct"] < 85
    assert real["train_loglik"] is None and real["loglik_gap"] is None
    assert kde["ct"] < -5 and kde["ct_pvalue"] < 1e-6 and kde["authpct"] < 5
    assert kde["loglik_gap"] > 10 * abs(mnd["loglik_gap"]) and abs(mnd["loglik_gap"]) < 1.0
    assert mnd["loglik_gap"] == pytest.approx(mnd["train_loglik"] - mnd["heldout_loglik"])
    with open(tmp / "cmp" / "compare.csv") as f:
        header = next(csv.reader(f))
    assert {"ct", "ct_pvalue", "ct_cells", "authpct", "loglik_gap", "pixel_ct"} <= set(header)
    assert "C_T" in res.settings["memorisation"]["ct"]


def test_save_z_stores_per_sample_memorisation_scores(planted, tmp_path):
    import h5py

    from latentlab import open_store
    from latentlab.generate import GeneratedImages, save_samples_store
    from latentlab.metrics import store_memorisation_scores
    from latentlab.regions import fit_region

    store, _ = planted
    kde = fit_region("kde", store, bandwidth=0.05)
    z = kde.sample(40, random_state=0)
    scores = store_memorisation_scores(store, kde, z)
    result = GeneratedImages(z, np.zeros((40, 4, 4, 1), np.float32), [str(i) for i in range(40)], {"store": str(store)})
    path = save_samples_store(result, tmp_path / "s.h5", scores=scores)
    with open_store(path) as s:
        assert s.n == 40
    with open_store(store) as s:
        part = np.asarray(s.partition[:])
        s_train = np.asarray(s.z[np.flatnonzero(part == 0)], np.float64)
    with h5py.File(path, "r") as f:
        d = f["memorisation/nearest_train_distance"][:]
        np.testing.assert_allclose(d, cdist(z, s_train).min(axis=1), rtol=1e-5)
        assert f["memorisation/near_copy"][:].mean() > 0.9 and f["memorisation/authentic"][:].mean() < 0.1
    with pytest.raises(LatentlabError):
        save_samples_store(result, path, scores=scores)  # never replaced without overwrite


def test_scores_of_a_region_fitted_on_every_row_need_no_heldout_rows(tmp_path):
    from latentlab import write_store
    from latentlab.metrics import store_memorisation_scores
    from latentlab.regions import fit_region

    Z = np.random.default_rng(8).normal(size=(100, 3)).astype(np.float32)
    store = write_store(tmp_path / "z.h5", Z)  # no partition: the region is fitted on all rows
    mnd = fit_region("mnd", store)
    z = mnd.sample(10, random_state=0)
    scores = store_memorisation_scores(store, mnd, z)
    assert set(scores) == {"nearest_train_distance", "authentic"}
    np.testing.assert_allclose(scores["nearest_train_distance"], cdist(z, Z.astype(np.float64)).min(axis=1), rtol=1e-6)
