"""Fit once, sample many: fit-region, --region-file, --param, the held-out real row, novelty, --save-images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentlab import write_store
from latentlab.cli import main
from latentlab.metrics import HELDOUT_ROW, compare_samplers


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Three planted clusters in 8-d with train/test partitions (1,200 held-out rows)."""
    tmp = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 6, size=(3, 8))
    Z = np.concatenate([c + rng.normal(size=(1000, 8)) for c in centres]).astype(np.float32)
    part = np.where(rng.uniform(size=len(Z)) < 0.4, 2, 0).astype(np.int8)
    return write_store(tmp / "z.h5", Z, partition=part), tmp


def test_heldout_real_row_is_the_ceiling_and_kde_shows_as_copying(planted):
    store, tmp = planted
    res = compare_samplers(store, tmp / "cmp", regions=["mnd", "cluster-ellipsoid", "kde"], n=300, use_model=False,
                           params={"kde": {"bandwidth": 0.05}, "cluster-ellipsoid": {"n_clusters": 3, "pca_components": 4}})
    rows = {r["sampler"]: r for r in res.rows}
    real = rows[HELDOUT_ROW]
    assert 0.7 < real["novelty_ratio"] < 1.3 and real["near_copies"] < 0.15
    assert real["precision_lo"] <= real["precision"] <= real["precision_hi"]
    assert rows["kde"]["near_copies"] > 0.9 and rows["kde"]["novelty_ratio"] < 0.2  # a tiny bandwidth copies
    assert rows["cluster-ellipsoid"]["precision"] > rows["mnd"]["precision"]
    assert rows["cluster-ellipsoid"]["near_copies"] < 0.2
    data = json.loads((tmp / "cmp" / "compare.json").read_text())
    assert data["settings"]["heldout_row"] == HELDOUT_ROW


def test_fit_region_then_sample_everywhere_without_refit(planted, tmp_path, capsys):
    store, _ = planted
    region = tmp_path / "gmm.region"
    assert main(["fit-region", "--z", str(store), "--region", "gmm", "--param", "n_components=auto",
                 "--param", "components_grid=[1,3]", "--out", str(region)]) == 0
    assert "chosen from" in capsys.readouterr().out
    assert main(["fit-region", "--z", str(store), "--region", "gmm", "--out", str(region)]) == 2  # exists
    assert "already exists" in capsys.readouterr().err
    out = tmp_path / "cmp"
    assert main(["compare-samplers", "--z", str(store), "--latent-only", "--n", "200", "--region-file", str(region),
                 "--out", str(out)]) == 0
    rows = {s["sampler"]: s for s in json.loads((out / "compare.json").read_text())["samplers"]}
    assert set(rows) == {HELDOUT_ROW, "gmm"} and rows["gmm"]["region"]["fitted"]["n_components_"] == 3
    # another store: refused in one line
    other = write_store(tmp_path / "other.h5", np.zeros((50, 8), np.float32) + np.arange(8, dtype=np.float32))
    assert main(["compare-samplers", "--z", str(other), "--latent-only", "--region-file", str(region),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "fitted on another store" in err and err.count("\n") == 1 and not (tmp_path / "x").exists()


def test_param_flags_are_generic_and_validated(planted, tmp_path, capsys):
    store, _ = planted
    out = tmp_path / "cmp"
    assert main(["compare-samplers", "--z", str(store), "--latent-only", "--n", "100", "--regions", "ellipsoid,planes,cube",
                 "--param", "sigma=2.5", "--param", "planes.pairs=all", "--n-boot", "0", "--out", str(out)]) == 0
    rows = {s["sampler"]: s for s in json.loads((out / "compare.json").read_text())["samplers"]}
    assert rows["ellipsoid"]["region"]["params"]["sigma"] == 2.5 and rows["planes"]["region"]["params"]["pairs"] == "all"
    assert rows["cube"]["region"]["params"]["b"] is None and rows["cube"]["precision_lo"] is None
    capsys.readouterr()
    for bad in (["--param", "sigma"], ["--param", "ellipsoid.sigma=-1"], ["--param", "gmm.n_components=2"]):
        assert main(["compare-samplers", "--z", str(store), "--latent-only", "--regions", "ellipsoid", *bad,
                     "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "bad").exists()


def test_sample_and_compare_with_a_model_save_images_and_region(demo, tmp_path):
    region = tmp_path / "ell.region"
    assert main(["sample", "--z", str(demo.store), "--model", str(demo.model_dir), "--region", "ellipsoid",
                 "--n", "8", "--save-region", str(region), "--out", str(tmp_path / "a.png")]) == 0
    assert main(["sample", "--z", str(demo.store), "--model", str(demo.model_dir), "--region-file", str(region),
                 "--n", "8", "--out", str(tmp_path / "b.png")]) == 0
    assert main(["path", "--z", str(demo.store), "--model", str(demo.model_dir), "--region-file", str(region),
                 "--steps", "3", "--out", str(tmp_path / "p.png")]) == 0
    assert main(["compare-samplers", "--z", str(demo.store), "--model", str(demo.model_dir), "--regions", "mnd",
                 "--n", "20", "--save-images", str(tmp_path / "imgs"), "--out", str(tmp_path / "cmp")]) == 0
    assert len(list((tmp_path / "imgs" / "mnd").glob("*.png"))) == 20


def test_fit_region_refuses_a_bad_cluster_size_in_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    store = tmp_path / "z.h5"
    write_store(store, rng.normal(size=(200, 4)).astype(np.float32))
    out = tmp_path / "r.region"
    assert main(["fit-region", "--z", str(store), "--region", "cluster-ellipsoid", "--param", "cluster_size=1",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cluster_size" in err[0] and not out.exists()
