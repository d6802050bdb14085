"""Per-component statistics streamed from a z-store vs in-memory numpy / scipy."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats as st

from latentlab import LatentlabError, write_store
from latentlab.analysis import component_stats
from latentlab.cli import main


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory):
    """Columns with known shapes: normal, uniform, exponential (skewed), shifted normal."""
    rng = np.random.default_rng(3)
    n = 12_000
    z = np.column_stack([
        rng.normal(0, 1, n), rng.uniform(-2, 2, n), rng.exponential(1.0, n), rng.normal(5, 0.5, n),
    ]).astype(np.float32)
    path = tmp_path_factory.mktemp("comp") / "z.h5"
    write_store(path, z, partition=np.arange(n) % 2, chunk_rows=500)
    return path, z


def test_moments_equal_in_memory_numpy_scipy(mixed_store):
    path, z = mixed_store
    z64 = z.astype(np.float64)
    s = component_stats(path, chunk_rows=777)
    assert s.n_points == len(z) and s.z_dim == 4
    np.testing.assert_allclose(s.mean, z64.mean(0), rtol=1e-6)
    np.testing.assert_allclose(s.std, z64.std(0), rtol=1e-6)
    np.testing.assert_array_equal(s.min, z64.min(0))
    np.testing.assert_array_equal(s.max, z64.max(0))
    np.testing.assert_allclose(s.skewness, st.skew(z64), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s.kurtosis, st.kurtosis(z64), rtol=1e-6, atol=1e-9)
    # the subsample covers every row here, so the quantiles are exact
    np.testing.assert_allclose(s.quantiles, np.quantile(z64, s.quantile_levels, axis=0), rtol=1e-12)
    # histograms use all rows
    np.testing.assert_array_equal(s.hist_counts.sum(axis=1), len(z))
    ref, _ = np.histogram(z64[:, 2], bins=s.hist_edges[2])
    np.testing.assert_array_equal(s.hist_counts[2], ref)


def test_known_shapes_and_normality_verdicts(mixed_store):
    s = component_stats(mixed_store[0])
    assert abs(s.skewness[2] - 2.0) < 0.3  # exponential: skewness 2
    assert abs(s.kurtosis[1] + 1.2) < 0.1  # uniform: excess kurtosis -1.2
    assert s.normal_pvalue[0] > 0.01 and s.normal_pvalue[3] > 0.01
    assert s.normal_pvalue[1] < 1e-6 and s.normal_pvalue[2] < 1e-6
    assert s.normal_sample == 5000
    # offset: |mean| / mean std
    assert s.offset == pytest.approx(np.linalg.norm(s.mean) / s.std.mean())


def test_chunk_size_and_partition(mixed_store):
    path, z = mixed_store
    a, b = component_stats(path, chunk_rows=101), component_stats(path, chunk_rows=50_000)
    for key in ("mean", "std", "skewness", "kurtosis", "quantiles", "normal_pvalue"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(a.hist_counts, b.hist_counts)
    t = component_stats(path, partition="val")
    np.testing.assert_allclose(t.mean, z[1::2].astype(np.float64).mean(0), rtol=1e-6)


def test_subsample_quantiles_are_close(mixed_store):
    path, z = mixed_store
    s = component_stats(path, sample_size=4000)
    assert s.sample_size == 4000
    np.testing.assert_allclose(s.quantiles[3], np.quantile(z, 0.5, axis=0), atol=0.1)


def test_bad_input(tmp_path):
    with pytest.raises(LatentlabError, match="no such file"):
        component_stats(tmp_path / "x.h5")
    with pytest.raises(LatentlabError, match="engine"):
        component_stats(np.zeros((10, 2)), engine="spark")


def test_cli_components_outputs(mixed_store, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["components", str(mixed_store[0]), "--out", str(out)]) == 0
    info = json.loads((out / "components.json").read_text())
    for key in ("mean", "std", "skewness", "excess_kurtosis", "quantiles", "normal_pvalue", "offset", "gaussian_fit"):
        assert key in info
    rows = list(csv.reader((out / "components.csv").open()))
    assert rows[0][0] == "component" and len(rows) == 5
    assert (out / "components_histograms.png").stat().st_size > 1000
    assert (out / "components_overview.png").stat().st_size > 1000
    assert "non-normal" in capsys.readouterr().out
