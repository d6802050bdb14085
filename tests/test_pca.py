"""PCA streamed from a z-store: known answers, agreement with numpy / scikit-learn, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentlab import LatentlabError, open_store, write_store
from latentlab.analysis import LatentPCA, fit_pca
from latentlab.cli import main

EIGS = np.array([9.0, 4.0, 2.0, 1.0, 0.5, 0.25])


def _known_cloud(n=20_000, seed=1):
    rng = np.random.default_rng(seed)
    d = len(EIGS)
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    mean = np.linspace(-2.0, 3.0, d)
    z = mean + (rng.normal(size=(n, d)) * np.sqrt(EIGS)) @ rot.T
    return z.astype(np.float32), mean, rot


@pytest.fixture(scope="module")
def known_store(tmp_path_factory):
    z, mean, rot = _known_cloud()
    path = tmp_path_factory.mktemp("pca") / "known.h5"
    part = np.arange(len(z)) % 3
    write_store(path, z, partition=part, chunk_rows=1000)
    return path, z, mean, rot


def test_recovers_known_eigenvalues_within_2_percent(known_store):
    path, _, mean, rot = known_store
    pca = fit_pca(path)
    assert pca.n_samples_ == 20_000
    np.testing.assert_allclose(pca.eigenvalues_, EIGS, rtol=0.02)
    np.testing.assert_allclose(pca.mean_, mean, atol=0.05)
    # each fitted axis is (up to sign) the true axis
    cos = np.abs(np.sum(pca.components_ * rot.T, axis=1))
    assert cos.min() > 0.98


def test_streamed_equals_in_memory_numpy_and_sklearn(known_store):
    from sklearn.decomposition import PCA

    path, z, _, _ = known_store
    z64 = z.astype(np.float64)
    pca = fit_pca(path, chunk_rows=777)
    np.testing.assert_allclose(pca.mean_, z64.mean(axis=0), rtol=1e-6)
    ref = np.sort(np.linalg.eigvalsh(np.cov(z64, rowvar=False)))[::-1]
    np.testing.assert_allclose(pca.eigenvalues_, ref, rtol=1e-6)
    sk = PCA(svd_solver="full").fit(z64)
    np.testing.assert_allclose(pca.eigenvalues_, sk.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(pca.explained_variance_ratio_, sk.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(pca.components_, sk.components_, atol=1e-6)  # same sign convention
    np.testing.assert_allclose(pca.transform(z64[:50]), sk.transform(z64[:50]), atol=1e-5)


def test_chunk_size_does_not_change_the_result(known_store):
    path = known_store[0]
    a, b = fit_pca(path, chunk_rows=97), fit_pca(path, chunk_rows=20_000)
    np.testing.assert_allclose(a.eigenvalues_, b.eigenvalues_, rtol=1e-10)
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-10)
    np.testing.assert_allclose(a.mean_, b.mean_, rtol=1e-12)


def test_partition_uses_only_its_rows(known_store):
    path, z, _, _ = known_store
    pca = fit_pca(path, partition="val")
    sub = z[np.arange(len(z)) % 3 == 1].astype(np.float64)
    assert pca.n_samples_ == len(sub)
    np.testing.assert_allclose(pca.mean_, sub.mean(axis=0), rtol=1e-6)


def test_accepts_open_store_and_array(known_store):
    path, z, _, _ = known_store
    with open_store(path) as s:
        a = fit_pca(s)
    b = fit_pca(z)
    np.testing.assert_allclose(a.eigenvalues_, b.eigenvalues_, rtol=1e-9)


def test_transform_inverse_roundtrip_and_whitening(known_store):
    path, z, _, _ = known_store
    pca = fit_pca(path)
    y = pca.transform(z[:200])
    np.testing.assert_allclose(pca.inverse_transform(y), z[:200], atol=1e-4)
    yw = pca.transform(z, whiten=True)
    np.testing.assert_allclose(yw.var(axis=0, ddof=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(pca.inverse_transform(yw[:10], whiten=True), z[:10], atol=1e-4)
    # truncated scores map back onto the 2-D principal plane through the mean
    y2 = pca.transform(z[:5], n_components=2)
    assert pca.inverse_transform(y2).shape == (5, z.shape[1])


def test_explained_variance_counts_and_semi_axes(known_store):
    pca = fit_pca(known_store[0])
    cum = np.cumsum(EIGS) / EIGS.sum()
    for frac in (0.5, 0.9, 0.99):
        expected = int(np.searchsorted(cum, frac) + 1)
        assert abs(pca.n_components_for(frac) - expected) <= 1
    # exactly: the sample's own eigenvalues (numpy on the stored float32 rows) decide
    z = known_store[1].astype(np.float64)
    lam = np.sort(np.linalg.eigvalsh(np.cov(z.T)))[::-1]
    sample_cum = np.cumsum(lam) / lam.sum()
    for frac in (0.5, 0.9, 0.99):
        assert pca.n_components_for(frac) == int(np.searchsorted(sample_cum, frac) + 1)
    np.testing.assert_allclose(pca.semi_axes(2.0), 2 * np.sqrt(pca.eigenvalues_))
    assert pca.n_components_for(1.0) == len(EIGS)


def test_randomized_matches_exact_top_components(known_store):
    path = known_store[0]
    exact = fit_pca(path)
    rnd = fit_pca(path, n_components=3, method="randomized")
    assert rnd.method_ == "randomized" and rnd.components_.shape == (3, len(EIGS))
    np.testing.assert_allclose(rnd.eigenvalues_, exact.eigenvalues_[:3], rtol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(rnd.components_ * exact.components_[:3], axis=1)), 1, atol=1e-6)
    np.testing.assert_allclose(rnd.explained_variance_ratio_, exact.explained_variance_ratio_[:3], rtol=1e-6)


def test_save_load_roundtrip(known_store, tmp_path):
    pca = fit_pca(known_store[0])
    path = pca.save(tmp_path / "pca.npz")
    back = LatentPCA.load(path)
    for key in ("mean_", "components_", "eigenvalues_", "explained_variance_ratio_"):
        np.testing.assert_array_equal(getattr(back, key), getattr(pca, key))
    z = np.zeros((3, len(EIGS)))
    np.testing.assert_allclose(back.transform(z), pca.transform(z))
    with pytest.raises(LatentlabError, match="no such PCA file"):
        LatentPCA.load(tmp_path / "missing.npz")


def test_bad_parameters_raise_one_line_errors(known_store):
    with pytest.raises(LatentlabError, match="n_components"):
        fit_pca(known_store[0], n_components=99)
    with pytest.raises(LatentlabError, match="method"):
        fit_pca(known_store[0], method="magic")
    with pytest.raises(LatentlabError, match="chunk_rows"):
        fit_pca(known_store[0], chunk_rows=0)
    with pytest.raises(LatentlabError, match="not fitted"):
        LatentPCA().transform(np.zeros((1, 6)))


def test_cli_pca_writes_json_npz_and_prints_table(known_store, tmp_path, capsys):
    path = known_store[0]
    out = tmp_path / "out"
    rc = main(["pca", str(path), "--out", str(out), "--partition", "train", "--chunk-rows", "4096"])
    assert rc == 0
    info = json.loads((out / "pca.json").read_text())
    for key in ("n_points", "z_dim", "mean", "eigenvalues", "explained_variance_ratio", "n_components_90"):
        assert key in info
    assert info["z_dim"] == len(EIGS) and info["n_points"] == int(np.sum(np.arange(20_000) % 3 == 0))
    assert info["eigenvalues"] == sorted(info["eigenvalues"], reverse=True)
    with np.load(out / "pca.npz") as f:
        assert {"mean", "components", "eigenvalues"} <= set(f.files)
        np.testing.assert_allclose(f["eigenvalues"], info["eigenvalues"])
    text = capsys.readouterr().out
    assert "eigenvalue" in text and "50/90/99" in text and "pca.json" in text
    assert not (out / "pca.html").exists()


def test_cli_pca_bad_store_is_one_line_error(tmp_path, capsys):
    rc = main(["pca", str(tmp_path / "nope.h5"), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no such file" in err and len(err.strip().splitlines()) == 1
