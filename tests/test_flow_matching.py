"""The flow-matching prior: samples a known mixture, its log-density matches known densities, saved with its region file.

Tiny on purpose (a few hundred points, small networks, few epochs): the Fashion-MNIST numbers live in
benchmarks/bench_samplers.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from latentlab import LatentlabError, write_store
from latentlab.metrics import prdc
from latentlab.regions import fit_region, load_region, make_region, save_region

SMALL = dict(width=64, n_blocks=2, batch_size=64, learning_rate=2e-3, patience=15)


def _two_modes(rng, n):
    centre = np.where(rng.random(n) < 0.5, -3.0, 3.0)[:, None]
    return centre + 0.4 * rng.standard_normal((n, 2))


def _two_modes_logpdf(Z):
    return np.log(0.5 * multivariate_normal([-3, -3], 0.16 * np.eye(2)).pdf(Z)
                  + 0.5 * multivariate_normal([3, 3], 0.16 * np.eye(2)).pdf(Z))


def test_flow_matching_samples_a_two_mode_mixture_with_a_normalised_density_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    Z, held = _two_modes(rng, 600), _two_modes(rng, 600)
    store = write_store(tmp_path / "z.h5", Z.astype(np.float32))
    fm = fit_region("flow-matching", store, epochs=100, n_steps=24, **SMALL)
    assert 1 <= fm.epochs_ <= 100 and len(fm.history_["val_loss"]) == fm.epochs_

    s = fm.sample(1000, random_state=0)
    near = np.minimum(np.linalg.norm(s - 3, axis=1), np.linalg.norm(s + 3, axis=1))
    assert np.median(near) < 1.0  # on the two modes (an MND puts its median near 2.1)
    assert 0.35 < (s[:, 0] > 0).mean() < 0.65
    assert prdc(held, s, k=5).precision > 0.8  # fidelity against unseen points of the same mixture

    fm.set_params(trace="exact")  # the exact divergence: exp(log p) integrates to 1
    g = np.linspace(-6.5, 6.5, 45)
    xx, yy = np.meshgrid(g, g)
    mass = np.exp(fm.score_samples(np.c_[xx.ravel(), yy.ravel()])).sum() * (g[1] - g[0]) ** 2
    assert mass == pytest.approx(1.0, abs=0.08)
    # held-out log-likelihood near the true mixture's (-1.7), far above the one Gaussian's
    truth = _two_modes_logpdf(held[:200]).mean()
    assert fm.score(held[:200]) == pytest.approx(truth, abs=0.35)
    assert fm.score(held[:200]) > make_region("mnd").fit(Z).score(held[:200]) + 1.0

    fm.set_params(trace="hutchinson", n_probes=4)  # unbiased: the mean agrees with the exact trace's
    mean, err = fm.score_samples_error(held[:200])
    assert mean.mean() == pytest.approx(fm.set_params(trace="exact").score_samples(held[:200]).mean(), abs=0.1)
    assert np.isfinite(err).all() and (err >= 0).all()

    path = save_region(fm, tmp_path / "fm.region")
    back = load_region(path, store=store)
    np.testing.assert_allclose(back.sample(50, random_state=1), fm.sample(50, random_state=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(back.score_samples(held[:20]), fm.score_samples(held[:20]), rtol=1e-4, atol=1e-4)
    short = {**SMALL, "epochs": 1, "width": 16}
    one, two = fit_region("flow-matching", store, **short), fit_region("flow-matching", store, **short)
    np.testing.assert_allclose(one.sample(20, random_state=0), two.sample(20, random_state=0), rtol=1e-4, atol=1e-4)


def test_flow_matching_log_density_of_a_gaussian_matches_its_closed_form():
    rng = np.random.default_rng(1)
    d = 8
    A = rng.normal(size=(d, d)) / np.sqrt(d)
    cov, mean = A @ A.T + 0.2 * np.eye(d), rng.normal(size=d) * 3
    law = multivariate_normal(mean, cov)
    Z, held = law.rvs(600, random_state=2), law.rvs(200, random_state=3)
    fm = make_region("flow-matching", epochs=8, trace="exact", **SMALL).fit(Z)
    est, truth = fm.score_samples(held), law.logpdf(held)
    # the fitted whitening comes from 600 points: the per-point error is dominated by that, not by the ODE
    assert np.abs(est - truth).mean() < 0.3
    assert est.mean() == pytest.approx(truth.mean(), abs=0.2)
    hutch = fm.set_params(trace="hutchinson", n_probes=2).score_samples(held)
    assert hutch.mean() == pytest.approx(est.mean(), abs=0.15)
    s = fm.sample(2000, random_state=0)
    np.testing.assert_allclose(s.mean(axis=0), mean, atol=0.25)
    np.testing.assert_allclose(np.cov(s, rowvar=False), cov, atol=0.3)


def test_flow_matching_parameters_are_checked_before_fitting():
    with pytest.raises(LatentlabError):
        make_region("flow-matching", trace="approximate")
    with pytest.raises(LatentlabError):
        make_region("flow-matching", n_steps=0)
    with pytest.raises(NotImplementedError):
        make_region("flow-matching", epochs=1, width=8, n_blocks=0).fit(np.random.default_rng(0).normal(size=(40, 2))).contains(np.zeros((1, 2)))
