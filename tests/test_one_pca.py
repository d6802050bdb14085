"""One PCA core: PC1 is the same vector (same sign) in the PCA report, fragments, regions and `path`."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab import write_store
from latentlab.analysis import LatentPCA, find_fragments, fit_pca, pca_analysis
from latentlab.regions import EllipsoidRegion, PlanesRegion


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    rng = np.random.default_rng(5)
    d = 8
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    rot[:, 0] = -np.abs(rot[:, 0])  # PC1's largest entry negative: an unflipped eigh may keep either sign
    z = (rng.normal(size=(1500, d)) * np.linspace(3.0, 0.3, d)) @ rot.T + 1.0
    path = tmp_path_factory.mktemp("pc1") / "z.h5"
    write_store(path, z.astype(np.float32))
    return path, z.astype(np.float32).astype(np.float64)


def test_pc1_is_one_vector_everywhere(cloud):
    from latentlab.generate import _frame

    path, z = cloud
    pc1 = fit_pca(path).components_[0]
    assert np.abs(pc1).argmax() == np.argmax(pc1)  # scikit-learn's svd_flip convention
    others = {
        "pca report": pca_analysis(path).model.components_[0],
        "ellipsoid region": EllipsoidRegion().fit(z).components_[0],
        "planes region": PlanesRegion().fit(z).components_[0],
        "path --axes pca": _frame(path, "pca", None)[1][0],
    }
    for name, vector in others.items():
        np.testing.assert_allclose(vector, pc1, atol=1e-6, err_msg=name)
    frag = find_fragments(path, k=10, recall_queries=0)
    expected = (z - z.mean(axis=0)) @ pc1
    np.testing.assert_allclose(frag.pc_scores[:, 0], expected, atol=1e-3 * np.abs(expected).max())


def test_partial_fit_and_merge_equal_one_fit(cloud):
    _, z = cloud
    whole = fit_pca(z)
    folded = LatentPCA()
    for start in range(0, len(z), 400):
        folded.partial_fit(z[start:start + 400])
    merged = LatentPCA().partial_fit(z[:700]).merge(LatentPCA().partial_fit(z[700:] + 0.0))
    for fit in (folded, merged):
        assert fit.n_samples_ == len(z)
        np.testing.assert_allclose(fit.eigenvalues_, whole.eigenvalues_, rtol=1e-6)
        np.testing.assert_allclose(fit.components_, whole.components_, atol=1e-6)
        np.testing.assert_allclose(fit.mean_, whole.mean_, atol=1e-9)
