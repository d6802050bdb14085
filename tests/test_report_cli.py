"""`latentlab pca --report` and `latentlab report`: self-contained HTML pages."""

from __future__ import annotations

import re

import numpy as np
import pytest

from latentlab import write_store
from latentlab.cli import main


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = np.random.default_rng(2)
    n, d = 3000, 10
    z = rng.multivariate_normal(np.full(d, 0.5), np.diag(np.linspace(3, 0.2, d)), size=n)
    attrs = np.where(z[:, :2] > 0.5, 1, -1).astype(np.int8)
    path = tmp_path_factory.mktemp("rep") / "z.h5"
    write_store(path, z, partition=np.arange(n) % 3, attributes=attrs, attribute_names=["Smiling", "Male"])
    return path


def _self_contained(html: str) -> None:
    assert "<img" in html
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link" not in html and "<script src" not in html
    assert len(re.findall("<figcaption>", html)) == len(srcs)


def test_pca_report_page(store, tmp_path, capsys):
    out = tmp_path / "pca"
    assert main(["pca", str(store), "--report", "--out", str(out), "--partition", "train"]) == 0
    html = (out / "pca.html").read_text()
    _self_contained(html)
    for phrase in ("eigenvalue", "Cumulative", "semi-axis", "PC1–PC2", "coloured by the attribute Smiling"):
        assert phrase in html
    assert (out / "pca.json").exists() and (out / "pca.npz").exists()
    assert "pca.html" in capsys.readouterr().out


def test_report_all_distribution_sections(store, tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["report", str(store), "--out", str(out), "--sections", "components,correlations,radii,pca", "--quick"])
    assert rc == 0
    page = out / "report.html"
    assert capsys.readouterr().out.strip().endswith(str(page))
    html = page.read_text()
    _self_contained(html)
    for title in ("Components", "Correlations", "Radii", "PCA"):
        assert f"<h2>{title}</h2>" in html
    for name in ("components.json", "components.csv", "correlations.json", "radii.json", "pca.json", "pca.npz"):
        assert (out / name).exists(), name


def test_report_unknown_section_is_an_error(store, tmp_path, capsys):
    assert main(["report", str(store), "--out", str(tmp_path / "x"), "--sections", "nope"]) == 2
    assert "unknown report section" in capsys.readouterr().err
