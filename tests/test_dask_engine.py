"""The dask engine gives the same results as the in-process numpy engine."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab import LatentlabError, write_store
from latentlab.analysis import component_stats, correlations, fit_pca, radii
from latentlab.cli import main


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = np.random.default_rng(7)
    n, d = 6000, 8
    z = rng.multivariate_normal(np.linspace(-1, 1, d), np.eye(d) + 0.3, size=n)
    path = tmp_path_factory.mktemp("dask") / "z.h5"
    write_store(path, z, partition=np.arange(n) % 3, chunk_rows=500)
    return path


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


KW = dict(chunk_rows=1000)


def test_pca_equal(store, client):
    a = fit_pca(store, engine="numpy", **KW)
    b = fit_pca(store, engine="dask", scheduler=client, **KW)
    np.testing.assert_allclose(b.eigenvalues_, a.eigenvalues_, rtol=1e-10)
    np.testing.assert_allclose(b.components_, a.components_, atol=1e-10)
    np.testing.assert_allclose(b.mean_, a.mean_, rtol=1e-12)
    c = fit_pca(store, engine="dask", scheduler=client, partition="test", **KW)
    np.testing.assert_allclose(c.eigenvalues_, fit_pca(store, partition="test").eigenvalues_, rtol=1e-10)


def test_components_equal(store, client):
    a = component_stats(store, engine="numpy", **KW)
    b = component_stats(store, engine="dask", scheduler=client, **KW)
    for key in ("mean", "std", "min", "max", "skewness", "kurtosis", "quantiles", "normal_pvalue"):
        np.testing.assert_allclose(getattr(b, key), getattr(a, key), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(b.hist_counts, a.hist_counts)


def test_radii_and_correlations_equal(store, client):
    a, b = radii(store, **KW), radii(store, engine="dask", scheduler=client, **KW)
    for key in ("r", "rc"):
        np.testing.assert_array_equal(b.data[key]["hist_counts"], a.data[key]["hist_counts"])
        assert b.data[key]["median"] == pytest.approx(a.data[key]["median"], rel=1e-12)
    assert b.generators["cube"]["params"]["b"] == pytest.approx(a.generators["cube"]["params"]["b"], rel=1e-12)
    c, e = correlations(store, **KW), correlations(store, engine="dask", scheduler=client, **KW)
    np.testing.assert_allclose(e.corr, c.corr, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(e.maha_counts, c.maha_counts)
    np.testing.assert_array_equal(e.sample, c.sample)
    assert e.maha_test["pvalue"] == pytest.approx(c.maha_test["pvalue"], rel=1e-9)


def test_local_threads_scheduler_and_cli(store, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    a = fit_pca(store, engine="dask")
    np.testing.assert_allclose(a.eigenvalues_, fit_pca(store).eigenvalues_, rtol=1e-10)
    assert main(["pca", str(store), "--engine", "dask", "--out", str(tmp_path)]) == 0
    assert main(["pca", str(store), "--engine", "spark", "--out", str(tmp_path)]) == 2
    assert "engine" in capsys.readouterr().err


def test_unknown_engine():
    with pytest.raises(LatentlabError, match="engine"):
        fit_pca(np.zeros((5, 2)), engine="ray")
