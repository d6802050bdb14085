"""The analysis registry: every analysis runs by name, writes strict JSON, and is a CLI command and a report section."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import typer

from latentlab import LatentlabError, write_store
from latentlab.analysis import ANALYSES, get_analysis, run_analysis
from latentlab.analysis._contract import save_figures
from latentlab.cli import app, main


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(400, 5))
    z[:, 4] = 1.0  # a constant component: its skewness and normality test are NaN
    path = tmp_path_factory.mktemp("reg") / "z.h5"
    write_store(path, z, partition=np.arange(400) % 3)
    return path


@pytest.mark.parametrize("name", list(ANALYSES))
def test_every_analysis_runs_by_name_and_writes_strict_json(name, store, tmp_path):
    quick = get_analysis(name).defaults(quick=True)
    result = run_analysis(name, store, **{k: v for k, v in quick.items() if k not in ("partition",)})
    assert result.name == name
    written = result.save(tmp_path)
    assert tmp_path / f"{name}.json" in written
    for path in tmp_path.glob("*.json"):
        _strict(path.read_text())
    figures = save_figures(result, tmp_path)
    assert all(p.stat().st_size > 1000 for p, _ in figures)
    assert all(isinstance(line, str) for line in result.lines())


def test_unknown_analysis_and_option_are_errors(store):
    with pytest.raises(LatentlabError, match="unknown analysis"):
        run_analysis("nope", store)
    with pytest.raises(LatentlabError, match="unknown option"):
        run_analysis("radii", store, cube=1)


def test_every_analysis_is_a_command_with_its_declared_options():
    commands = typer.main.get_command(app).commands
    for name in ANALYSES:
        flags = {opt for p in commands[name].params for opt in p.opts}
        for option in get_analysis(name).all_options:
            if option.cli:
                assert option.flag in flags, (name, option.flag)
        assert {"--out", "--figures", "--report"} <= flags


@pytest.mark.parametrize("name", list(ANALYSES))
def test_bad_option_value_is_one_line_and_writes_nothing(name, store, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([name, str(store), "--out", str(out), "--seed", "abc"]) == 2
    assert "seed" in capsys.readouterr().err
    assert main([name, str(store), "--out", str(out), "--partition", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "partition" in err
    assert not out.exists()


def test_report_flag_writes_one_page(store, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["radii", str(store), "--out", str(out), "--report"]) == 0
    html = (out / "radii.html").read_text()
    assert "<h2>Radii</h2>" in html and html.count("<img") == 2
    assert "radii.html" in capsys.readouterr().out


def test_adding_an_analysis_is_one_registry_line(store, tmp_path):
    """A new module and one ANALYSES entry give a CLI command (checked in a fresh process)."""
    code = f"""
import sys, types
import numpy as np
from latentlab.analysis import ANALYSES, AnalysisResult, Analysis, Option
from latentlab.analysis._streaming import Moments, open_passes

class Spread(AnalysisResult):
    name = "spread"
    def __init__(self, std): self.std = std
    def to_dict(self): return {{"std": self.std}}
    def lines(self): return [f"largest std {{self.std.max():.3g}}"]

def spread(data, partition=None, chunk_rows=None, engine="numpy", scheduler=None, *, ddof=0):
    with open_passes(data, partition, chunk_rows, engine, scheduler) as passes:
        return Spread(passes.run({{"m": Moments(passes.shift)}})["m"].std(ddof))

module = types.ModuleType("spread_module")
module.SPREAD = Analysis("spread", "Spread", "Std of every component.", run=spread,
                         options=(Option("ddof", 0, "Delta degrees of freedom."),))
sys.modules["spread_module"] = module
ANALYSES["spread"] = "spread_module:SPREAD"
from latentlab.cli import main
assert main(["spread", {str(store)!r}, "--out", {str(tmp_path)!r}, "--ddof", "1"]) == 0
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "largest std" in proc.stdout
    assert "std" in json.loads((tmp_path / "spread.json").read_text())


def _run_quick(name, store):
    quick = get_analysis(name).defaults(quick=True)
    return run_analysis(name, store, **{k: v for k, v in quick.items() if k not in ("partition",)})


def _rows(store):
    import h5py

    with h5py.File(store, "r") as f:
        return np.asarray(f["z"][:], dtype=np.float64)


def test_components_values_equal_numpy_and_scipy(store):
    import scipy.stats

    z = _rows(store)
    res = _run_quick("components", store)
    np.testing.assert_allclose(res.mean, z.mean(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.std, z.std(0), rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(res.min, z.min(0))
    np.testing.assert_array_equal(res.max, z.max(0))
    np.testing.assert_allclose(res.skewness[:4], scipy.stats.skew(z[:, :4]), rtol=1e-8)
    np.testing.assert_allclose(res.kurtosis[:4], scipy.stats.kurtosis(z[:, :4]), rtol=1e-8)
    # 400 rows < sample_size: the quantiles are exact
    np.testing.assert_allclose(res.quantiles, np.quantile(z, res.quantile_levels, axis=0), rtol=1e-12)
    np.testing.assert_allclose(res.normal_pvalue[:4], scipy.stats.normaltest(z[:, :4]).pvalue, rtol=1e-8)
    for j in range(4):
        np.testing.assert_array_equal(res.hist_counts[j], np.histogram(z[:, j], bins=res.hist_edges[j])[0])
    assert res.mean_norm == pytest.approx(np.linalg.norm(z.mean(0)), rel=1e-12)
    assert res.mean_std == pytest.approx(z.std(0).mean(), rel=1e-10)
    assert res.offset == pytest.approx(np.linalg.norm(z.mean(0)) / z.std(0).mean(), rel=1e-10)


def test_correlations_values_equal_numpy_and_the_chi2_law(store):
    import scipy.stats

    z = _rows(store)
    res = _run_quick("correlations", store)
    np.testing.assert_allclose(res.mean, z.mean(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.cov, np.cov(z.T, ddof=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.corr[:4, :4], np.corrcoef(z[:, :4].T), rtol=1e-9, atol=1e-12)
    i, j, r = res.top_pairs[0]
    c = np.abs(np.corrcoef(z[:, :4].T) - np.eye(4))
    assert {i, j} == set(np.unravel_index(np.argmax(c), c.shape)) and abs(r) == pytest.approx(c.max(), rel=1e-9)
    # squared Mahalanobis distances in the 4-d span of the data (one column is constant)
    assert res.maha_dof == 4
    centred = z[:, :4] - z[:, :4].mean(0)
    d2 = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(np.cov(centred.T, ddof=0)), centred)
    assert d2.mean() == pytest.approx(4.0, rel=1e-9)  # the mean of d² is the rank exactly (ddof=0)
    edges = np.asarray(res.maha_edges)
    np.testing.assert_array_equal(res.maha_counts, np.histogram(d2, bins=edges)[0])
    # the test: 50 bins of equal χ²(4) probability, Pearson's statistic with 49 degrees of freedom
    bins = res.maha_test["bins"]
    counts = np.histogram(d2, bins=scipy.stats.chi2(4).ppf(np.linspace(0, 1, bins + 1)))[0]
    stat = np.sum((counts - len(d2) / bins) ** 2 / (len(d2) / bins))
    assert res.maha_test["statistic"] == pytest.approx(stat, rel=1e-9)
    assert res.maha_test["pvalue"] == pytest.approx(scipy.stats.chi2(bins - 1).sf(stat), rel=1e-9)
    gap = np.max(np.abs(np.cumsum(counts) / len(d2) - np.arange(1, bins + 1) / bins))
    assert res.maha_test["max_cdf_distance"] == pytest.approx(gap, abs=1e-12)
    assert res.maha_test["verdict"] == ("consistent with a multivariate normal" if res.maha_test["pvalue"] >= 0.01
                                        else "not a multivariate normal (rejected at 1 %)")


def test_pca_and_radii_values_equal_sklearn_and_numpy(store):
    from sklearn.decomposition import PCA

    z = _rows(store)
    pca = _run_quick("pca", store).model
    ref = PCA().fit(z)
    np.testing.assert_allclose(pca.eigenvalues_, ref.explained_variance_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(pca.components_[:4] * ref.components_[:4], axis=1)), 1.0, atol=1e-8)
    rad = _run_quick("radii", store)
    r = np.linalg.norm(z, axis=1)
    assert rad.data["r"]["mean"] == pytest.approx(r.mean(), rel=1e-10)
    assert rad.data["r"]["std"] == pytest.approx(r.std(), rel=1e-8)
    rc = np.linalg.norm(z - z.mean(0), axis=1)
    assert rad.data["rc"]["mean"] == pytest.approx(rc.mean(), rel=1e-10)


def test_fragments_neighbour_distances_and_scores_equal_brute_force(store):
    from scipy.spatial.distance import cdist
    from sklearn.decomposition import PCA

    z = _rows(store)
    res = _run_quick("fragments", store)
    k = res.parameters["k"]
    np.testing.assert_array_equal(res.index, np.arange(len(z)))
    d = cdist(z, z)
    np.fill_diagonal(d, np.inf)
    # the exact k-NN path (chosen for 400 points) on a PCA that keeps all the variance: exact distances
    assert res.parameters["knn_method"] == "exact"
    np.testing.assert_allclose(res.knn_distance, np.sort(d, axis=1)[:, k - 1], rtol=1e-5)
    assert res.stats["median_knn_distance"] == pytest.approx(np.median(np.sort(d, axis=1)[:, k - 1]), rel=1e-5)
    ref = PCA().fit(z).transform(z)
    m = res.pc_scores.shape[1]
    np.testing.assert_allclose(np.abs(res.pc_scores), np.abs(ref[:, :m]), atol=1e-4)
    # every point is labelled, and the labels count what the tables say
    assert res.fragment.shape == (len(z),) and res.stats["n_halo"] == int(np.sum(res.fragment == -1))
    assert sum(f["size"] for f in res.fragments) + res.stats["n_halo"] == len(z)
