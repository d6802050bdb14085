"""Correlations and the Mahalanobis-vs-χ² multivariate-normal test on data with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentlab import LatentlabError, write_store
from latentlab.analysis import correlations, ellipse_params
from latentlab.cli import main

D = 6


def _cov():
    c = np.full((D, D), 0.1)
    np.fill_diagonal(c, 1.0)
    c[0, 3] = c[3, 0] = 0.8
    c[1, 2] = c[2, 1] = -0.6
    return c * np.outer(np.arange(1, D + 1), np.arange(1, D + 1)) ** 0.5


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    rng = np.random.default_rng(5)
    tmp = tmp_path_factory.mktemp("corr")
    mnd = rng.multivariate_normal(np.linspace(1, 2, D), _cov(), size=20_000)
    cube = rng.uniform(-1.5, 1.5, size=(20_000, D))
    write_store(tmp / "mnd.h5", mnd, chunk_rows=700)
    write_store(tmp / "cube.h5", cube, chunk_rows=700)
    return tmp / "mnd.h5", mnd.astype(np.float32).astype(np.float64), tmp / "cube.h5"


def test_matrix_equals_numpy_and_top_pairs(stores):
    path, z, _ = stores
    res = correlations(path, chunk_rows=999)
    np.testing.assert_allclose(res.corr, np.corrcoef(z, rowvar=False), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res.cov, np.cov(z, rowvar=False, ddof=0), rtol=1e-6)
    assert {(i, j) for i, j, _ in res.top_pairs[:2]} == {(0, 3), (1, 2)}
    assert res.top_pairs[0][2] == pytest.approx(0.8, abs=0.02)
    assert (0, 1) in res.pairs


def test_mnd_passes_and_cube_fails_chi2_test(stores):
    path, _, cube = stores
    good = correlations(path)
    assert good.maha_dof == D
    assert good.maha_mean == pytest.approx(D, rel=1e-9)  # ML covariance: mean d² = d exactly
    assert good.is_mnd and good.maha_test["pvalue"] > 0.01
    assert good.maha_test["verdict"].startswith("consistent")
    bad = correlations(cube)
    assert not bad.is_mnd and bad.maha_test["pvalue"] < 1e-6
    assert bad.maha_test["max_cdf_distance"] > 5 * good.maha_test["max_cdf_distance"]


def test_mahalanobis_equals_in_memory(stores):
    from scipy import stats as st

    path, z, _ = stores
    res = correlations(path)
    m, c = z.mean(0), np.cov(z, rowvar=False, ddof=0)
    d2 = np.einsum("ij,ij->i", z - m, np.linalg.solve(c, (z - m).T).T)
    ref, _ = np.histogram(d2, bins=res.maha_edges)
    assert np.abs(ref - res.maha_counts).max() <= 2  # only float ties at bin edges may move
    edges = st.chi2.ppf(np.linspace(0, 1, 51), D)
    counts, _ = np.histogram(d2, bins=edges)
    assert res.maha_test["statistic"] == pytest.approx(st.chisquare(counts).statistic, rel=1e-3)


def test_chunk_size_does_not_change_results(stores):
    a, b = correlations(stores[0], chunk_rows=123), correlations(stores[0], chunk_rows=20_000)
    np.testing.assert_allclose(a.corr, b.corr, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(a.maha_counts, b.maha_counts)
    assert a.maha_test["statistic"] == pytest.approx(b.maha_test["statistic"], rel=1e-12)
    np.testing.assert_array_equal(a.sample, b.sample)


def test_ellipse_params():
    w, h, ang = ellipse_params(np.array([[4.0, 0.0], [0.0, 1.0]]), 2)
    assert (w, h) == pytest.approx((8.0, 4.0)) and abs(ang) % 180 == pytest.approx(0.0, abs=1e-9)
    w, h, ang = ellipse_params(np.array([[1.0, 0.9], [0.9, 1.0]]), 1)
    assert ang % 180 == pytest.approx(45.0) and w == pytest.approx(2 * np.sqrt(1.9))


def test_bad_pairs(stores):
    with pytest.raises(LatentlabError, match="pairs"):
        correlations(stores[0], pairs=[(0, 99)])


def test_cli_correlations(stores, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["correlations", str(stores[0]), "--out", str(out), "--pairs", "0,1", "3,5"]) == 0
    info = json.loads((out / "correlations.json").read_text())
    assert [(p["i"], p["j"]) for p in info["pairs"]] == [(0, 1), (3, 5)]
    assert set(info["pairs"][0]["ellipses"]) == {"1sigma", "2sigma", "3sigma"}
    assert info["mahalanobis"]["dof"] == D and "pvalue" in info["mahalanobis"]
    for name in ("correlation_matrix.png", "pair_0_1.png", "pair_3_5.png", "mahalanobis.png"):
        assert (out / name).stat().st_size > 1000
    text = capsys.readouterr().out
    assert "verdict: consistent" in text
    assert main(["correlations", str(stores[0]), "--out", str(out), "--pairs", "0-1"]) == 2
