"""The learned prior: a RealNVP flow in Keras 3 with an exact log-density, saved with its region file."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab import write_store
from latentlab.regions import fit_region, load_region, make_region, save_region


def test_flow_learns_two_modes_has_a_normalised_density_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(-3, 0.4, size=(400, 2)), rng.normal(3, 0.4, size=(400, 2))]).astype(np.float32)
    store = write_store(tmp_path / "z.h5", Z)
    params = dict(flow_dims=2, n_layers=4, hidden=32, epochs=60, batch_size=64, learning_rate=5e-3, patience=8)
    flow = fit_region("flow", store, **params)
    assert 1 <= flow.epochs_ <= 60 and len(flow.history_["val_loss"]) == flow.epochs_
    s = flow.sample(2000, random_state=0)
    near = np.minimum(np.linalg.norm(s - 3, axis=1), np.linalg.norm(s + 3, axis=1))
    assert np.median(near) < 1.0  # on the two modes, not the empty middle (an MND puts its median at ~2.1)
    assert 0.3 < (s[:, 0] > 0).mean() < 0.7
    g = np.linspace(-7, 7, 141)
    xx, yy = np.meshgrid(g, g)
    mass = np.exp(flow.score_samples(np.c_[xx.ravel(), yy.ravel()])).sum() * (g[1] - g[0]) ** 2
    assert mass == pytest.approx(1.0, abs=0.05)
    mnd = make_region("mnd").fit(Z)
    assert flow.score(Z[:200]) > mnd.score(Z[:200]) + 0.5
    path = save_region(flow, tmp_path / "flow.region")
    back = load_region(path, store=store)
    np.testing.assert_allclose(back.sample(50, random_state=1), flow.sample(50, random_state=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(back.score_samples(Z[:20]), flow.score_samples(Z[:20]), rtol=1e-4, atol=1e-4)
    short = {**params, "epochs": 2}
    one, two = fit_region("flow", store, **short), fit_region("flow", store, **short)  # reproducible with the seed
    np.testing.assert_allclose(one.sample(20, random_state=0), two.sample(20, random_state=0), rtol=1e-4, atol=1e-4)
