"""Radii of generated clouds against the analytic values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as st

from latentlab import LatentlabError, write_store
from latentlab.analysis import cube_radius_moments, radii
from latentlab.cli import main


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    rng = np.random.default_rng(11)
    tmp = tmp_path_factory.mktemp("radii")
    d = 32
    write_store(tmp / "cube.h5", rng.uniform(-1.5, 1.5, size=(20_000, d)), chunk_rows=1000)
    write_store(tmp / "normal.h5", rng.normal(size=(20_000, d)), chunk_rows=1000)
    shifted = rng.normal(size=(20_000, d)) * 0.5 + 2.0
    write_store(tmp / "shifted.h5", shifted, chunk_rows=1000)
    return tmp, d


def test_cube_radii_match_analytic_values(stores):
    tmp, d = stores
    res = radii(tmp / "cube.h5")
    mean, sd = cube_radius_moments(1.5, d)
    assert res.data["r"]["mean"] == pytest.approx(1.5 * np.sqrt(d / 3), rel=0.01)
    assert res.data["r"]["mean"] == pytest.approx(mean, rel=0.003)
    assert res.data["r"]["std"] == pytest.approx(sd, rel=0.05)
    # b fitted to the median radius recovers the cube's half-width
    assert res.generators["cube"]["params"]["b"] == pytest.approx(1.5, rel=0.01)
    assert res.generators["cube"]["r"]["ks"] < 0.03
    assert res.generators["normal"]["r"]["ks"] > 0.5


def test_normal_radii_follow_chi(stores):
    tmp, d = stores
    res = radii(tmp / "normal.h5", cube_b=1.5)
    chi = st.chi(d)
    assert res.data["r"]["mean"] == pytest.approx(chi.mean(), rel=0.005)
    assert res.data["r"]["mean"] == pytest.approx(np.sqrt(d - 0.5), rel=0.01)
    assert res.data["r"]["std"] == pytest.approx(chi.std(), rel=0.03)
    assert res.data["r"]["median"] == pytest.approx(chi.median(), rel=0.005)
    assert res.generators["normal"]["r"]["ks"] < 0.03
    assert res.generators["mnd"]["r"]["ks"] < 0.05
    assert res.generators["cube"]["params"] == {"b": 1.5, "fitted": False}
    # the cube with b = 1.5 is far larger than N(0, I) in 32 dimensions
    assert res.generators["cube"]["r"]["ks"] > 0.5


def test_centred_radius_and_offset(stores):
    tmp, d = stores
    res = radii(tmp / "shifted.h5")
    assert res.mean_norm == pytest.approx(2.0 * np.sqrt(d), rel=0.01)
    # about the centre the shifted cloud is 0.5 * chi(d)
    assert res.data["rc"]["mean"] == pytest.approx(0.5 * st.chi(d).mean(), rel=0.01)
    assert res.generators["mnd"]["rc"]["ks"] < 0.05
    assert res.generators["normal"]["r"]["ks"] > 0.9


def test_chunk_size_does_not_change_results(stores):
    tmp, _ = stores
    a, b = radii(tmp / "normal.h5", chunk_rows=333), radii(tmp / "normal.h5", chunk_rows=20_000)
    for key in ("r", "rc"):
        np.testing.assert_array_equal(a.data[key]["hist_counts"], b.data[key]["hist_counts"])
        assert a.data[key]["median"] == pytest.approx(b.data[key]["median"], rel=1e-12)
        assert a.data[key]["mean"] == pytest.approx(b.data[key]["mean"], rel=1e-12)


def test_bad_cube_b(stores):
    with pytest.raises(LatentlabError, match="cube_b"):
        radii(stores[0] / "cube.h5", cube_b=-1)


def test_cli_radii(stores, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["radii", str(stores[0] / "normal.h5"), "--out", str(out), "--cube-b", "1.5"]) == 0
    info = json.loads((out / "radii.json").read_text())
    assert set(info["generators"]) == {"cube", "ball", "normal", "mnd"}
    assert info["generators"]["cube"]["params"]["b"] == 1.5
    assert (out / "radii_origin.png").exists() and (out / "radii_centre.png").exists()
    assert "uniform cube" in capsys.readouterr().out
