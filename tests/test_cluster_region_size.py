"""cluster-ellipsoid region files hold their ellipsoids' axes as float32: half the size, the same region."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from latentlab.regions import load_region, make_region, save_region


def _data(n=3000, d=48, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4, size=(6, d))
    y = rng.integers(0, 6, n)
    return centres[y] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, size=(6, d))[y]


def test_saved_cluster_region_is_float32_and_bit_equal_after_loading(tmp_path, monkeypatch):
    Z = _data()
    region = make_region("cluster-ellipsoid", random_state=1).fit(Z[:2500])
    path = save_region(region, tmp_path / "c.region")
    with zipfile.ZipFile(path) as zf, np.load(io.BytesIO(zf.read("arrays.npz"))) as npz:
        big = [k for k in npz.files if k.endswith("components_")]
        assert big and all(npz[k].dtype == np.float32 for k in big)
        assert not [k for k in npz.files if k.endswith("_cov")]  # the unused covariance is not stored
    loaded = load_region(path)
    held = Z[2500:]
    assert np.array_equal(loaded.sample(200, random_state=3), region.sample(200, random_state=3))
    assert np.array_equal(loaded.score_samples(held), region.score_samples(held))
    # against the same fit with float64 axes: the file is about half, the log-likelihoods the same to a few 1e-6
    import latentlab.regions._clusters as clusters

    monkeypatch.setattr(clusters, "_store_axes_as_float32", lambda ellipsoid: None)
    exact = make_region("cluster-ellipsoid", random_state=1).fit(Z[:2500])
    exact_path = save_region(exact, tmp_path / "c64.region")
    assert path.stat().st_size < 0.6 * exact_path.stat().st_size
    a, b = region._selection_score(held), exact._selection_score(held)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert abs(a.mean() - b.mean()) < 1e-5 * abs(b.mean())
