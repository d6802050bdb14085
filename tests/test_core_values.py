"""Exact values of the core numerics against closed forms and brute force (numpy / scipy), never latentlab.

Each test pins a number that a small plausible bug changes: the exponent of the ball's radius law,
a mean taken instead of a median, a quantile taken from the wrong tail, an off-by-one neighbour.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from scipy.spatial.distance import cdist

from latentlab.analysis import radii
from latentlab.metrics._prdc import (
    kth_neighbour_distance,
    knn_radii,
    nearest_distance,
    novelty,
    on_data_fraction,
)


# -- radii: the uniform-ball generator --------------------------------------------------------------
def _uniform_ball(n, d, radius, rng, centre=0.0):
    x = rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return centre + x * radius * rng.uniform(size=(n, 1)) ** (1.0 / d)


@pytest.fixture(scope="module")
def ball_result():
    d, radius = 3, 2.0
    # float32-exact values: the streamed passes read rows as a store would, in float32
    z = _uniform_ball(40_000, d, radius, np.random.default_rng(1)).astype(np.float32).astype(np.float64)
    return d, radius, z, radii(z, n_mc=2_000)


def test_ball_generator_radius_is_fitted_to_the_median(ball_result):
    d, radius, z, res = ball_result
    r = np.linalg.norm(z, axis=1)
    ball = res.generators["ball"]
    # P(r <= t) = (t/R)^d, so the median is R * 0.5^(1/d); the fit inverts it on the data's median
    expected_r = np.median(r) / 0.5 ** (1.0 / d)
    assert ball["params"]["R"] == pytest.approx(expected_r, rel=2e-3)
    assert ball["params"]["R"] == pytest.approx(radius, rel=0.01)
    assert ball["r"]["median"] == pytest.approx(np.median(r), rel=2e-3)
    assert ball["kind"] == "analytic"


def test_ball_generator_moments_are_the_closed_forms(ball_result):
    d, _, z, res = ball_result
    big_r = res.generators["ball"]["params"]["R"]
    # E r = R d/(d+1), E r^2 = R^2 d/(d+2)  ->  sd r = R sqrt(d/(d+2) - d^2/(d+1)^2)
    mean = big_r * d / (d + 1)
    sd = big_r * np.sqrt(d / (d + 2) - (d / (d + 1)) ** 2)
    for key in ("r", "rc"):
        assert res.generators["ball"][key]["mean"] == pytest.approx(mean, rel=1e-12)
        assert res.generators["ball"][key]["std"] == pytest.approx(sd, rel=1e-12)
    r = np.linalg.norm(z, axis=1)
    assert r.mean() == pytest.approx(mean, rel=0.01) and r.std() == pytest.approx(sd, rel=0.02)


def test_ball_generator_pdf_and_ks_against_the_radius_law(ball_result):
    d, _, z, res = ball_result
    big_r = res.generators["ball"]["params"]["R"]
    g = res.generators["ball"]["r"]
    x, pdf = np.asarray(g["curve_x"]), np.asarray(g["curve_pdf"])
    expected = np.where(x <= big_r, d * x ** (d - 1) / big_r**d, 0.0)
    np.testing.assert_allclose(pdf, expected, rtol=1e-10, atol=1e-12)
    # its KS gap is the one scipy computes for the data against the cdf (t/R)^d (the store's fine
    # histogram resolves the data's cdf to well under the sampling noise)
    r = np.linalg.norm(z, axis=1)
    ks = scipy.stats.kstest(r, lambda t: np.clip(t / big_r, 0, 1) ** d).statistic
    assert g["ks"] == pytest.approx(ks, abs=3e-3)
    assert g["ks"] < 0.02
    # the wrong exponent is far off: (t/R)^(d+1) and (t/R)^(d-1) are both rejected
    for wrong in (d - 1, d + 1):
        assert scipy.stats.kstest(r, lambda t: np.clip(t / big_r, 0, 1) ** wrong).statistic > 5 * g["ks"]
    # the ball is the right model here, the others are not
    assert res.generators["normal"]["r"]["ks"] > 0.2
    assert res.generators["cube"]["r"]["ks"] > g["ks"]


def test_data_radius_summary_equals_numpy(ball_result):
    _, _, z, res = ball_result
    for key, rr in (("r", np.linalg.norm(z, axis=1)), ("rc", np.linalg.norm(z - z.mean(0), axis=1))):
        s = res.data[key]
        assert s["mean"] == pytest.approx(rr.mean(), rel=1e-10)
        assert s["std"] == pytest.approx(rr.std(), rel=1e-8)
        assert s["min"] == pytest.approx(rr.min(), rel=1e-6) and s["max"] == pytest.approx(rr.max(), rel=1e-6)
        width = (rr.max() - rr.min()) / 500  # quantiles are interpolated in fine bins
        for name, p in (("median", 0.5), ("q01", 0.01), ("q99", 0.99)):
            assert s[name] == pytest.approx(np.quantile(rr, p), abs=2 * width)
        assert int(np.sum(s["hist_counts"])) == len(z)
        edges = np.asarray(s["hist_edges"])
        assert edges[0] <= rr.min() and edges[-1] >= rr.max()
        np.testing.assert_array_equal(np.histogram(rr, bins=edges)[0][1:-1], np.asarray(s["hist_counts"])[1:-1])
    assert res.mean_norm == pytest.approx(np.linalg.norm(z.mean(0)), rel=1e-10)
    assert res.n_points == len(z) and res.z_dim == z.shape[1]


def test_normal_and_mnd_generators_are_the_chi_law_and_the_fitted_gaussian(ball_result):
    d, _, z, res = ball_result
    chi = scipy.stats.chi(d)
    normal = res.generators["normal"]["r"]
    assert (normal["mean"], normal["std"], normal["median"]) == pytest.approx((chi.mean(), chi.std(), chi.median()),
                                                                              rel=1e-12)
    x = np.asarray(normal["curve_x"])
    np.testing.assert_allclose(normal["curve_pdf"], chi.pdf(x), rtol=1e-12)
    # N(mean, Σ) of a unit-free ball: Σ = R²/(d+2) I, so its radius is R/sqrt(d+2) times chi(d)
    big_r = res.generators["ball"]["params"]["R"]
    mnd = res.generators["mnd"]["rc"]
    assert mnd["mean"] == pytest.approx(big_r / np.sqrt(d + 2) * chi.mean(), rel=0.03)
    assert res.generators["mnd"]["n_samples"] == 2_000


def test_cube_generator_fitted_and_given(ball_result):
    _, _, z, res = ball_result
    d = z.shape[1]
    b = res.generators["cube"]["params"]["b"]
    assert res.generators["cube"]["params"]["fitted"] is True
    # the fit puts the cube's median radius on the data's: P(‖U[-b,b]^d‖ <= median) = 1/2
    rng = np.random.default_rng(9)
    u = np.linalg.norm(rng.uniform(-b, b, size=(200_000, d)), axis=1)
    assert np.mean(u <= res.data["r"]["median"]) == pytest.approx(0.5, abs=0.01)
    mc = res.generators["cube"]["mc_check"]
    assert mc["mean"] == pytest.approx(u.mean(), rel=0.02) and mc["std"] == pytest.approx(u.std(), rel=0.05)
    given = radii(z[:2000], cube_b=1.25, n_mc=1_000)
    assert given.generators["cube"]["params"] == {"b": 1.25, "fitted": False}
    # E r² = d b²/3 exactly for the cube
    m, s = given.generators["cube"]["r"]["mean"], given.generators["cube"]["r"]["std"]
    assert m**2 + s**2 == pytest.approx(d * 1.25**2 / 3, rel=0.02)


# -- nearest neighbours, on-data fraction, novelty -------------------------------------------------------
@pytest.fixture(scope="module")
def clouds():
    rng = np.random.default_rng(4)
    fit = rng.normal(size=(400, 5))
    held = rng.normal(size=(150, 5))
    samples = np.concatenate([rng.normal(size=(90, 5)) * 1.4 + 0.3, fit[:31] + rng.normal(size=(31, 5)) * 1e-3,
                              rng.normal(size=(12, 5)) * 10.0])  # copies and far outliers: mean != median
    return fit, held, samples


@pytest.mark.parametrize("chunk_rows", [None, 7, 1000])
def test_kth_neighbour_distance_is_brute_force(clouds, chunk_rows):
    fit, held, _ = clouds
    full = np.sort(cdist(held, fit), axis=1)
    for k in (1, 2, 5):
        np.testing.assert_allclose(kth_neighbour_distance(held, fit, k, chunk_rows=chunk_rows), full[:, k - 1],
                                   rtol=1e-9)
    own = cdist(fit, fit)
    np.fill_diagonal(own, np.inf)
    np.testing.assert_allclose(knn_radii(fit, 5, chunk_rows=chunk_rows), np.sort(own, axis=1)[:, 4], rtol=1e-9)
    np.testing.assert_allclose(nearest_distance(held, fit, chunk_rows=chunk_rows), full[:, 0], rtol=1e-9)


def test_novelty_is_the_median_ratio_and_copy_share(clouds):
    fit, held, samples = clouds
    h = cdist(held, fit).min(axis=1)
    d = cdist(samples, fit).min(axis=1)
    res = novelty(samples, fit, h)
    # medians (not means): the copies and the outliers pull the mean far from the median
    assert res.median_ratio == pytest.approx(np.median(d) / np.median(h), rel=1e-9)
    assert abs(np.mean(d) / np.median(h) - res.median_ratio) > 0.05
    assert res.heldout_median == pytest.approx(np.median(h), rel=1e-12)
    assert res.threshold == pytest.approx(np.quantile(h, 0.05), rel=1e-12)
    assert res.copies == pytest.approx(np.mean(d < np.quantile(h, 0.05)), abs=1e-12)
    assert res.copies >= 31 / len(samples)
    assert (res.n_samples, res.n_fit, res.copy_quantile) == (len(samples), len(fit), 0.05)
    other = novelty(samples, fit, h, copy_quantile=0.3, chunk_rows=5)
    assert other.threshold == pytest.approx(np.quantile(h, 0.3), rel=1e-12)
    assert other.copies == pytest.approx(np.mean(d < np.quantile(h, 0.3)), abs=1e-12)
    assert other.median_ratio == pytest.approx(res.median_ratio, rel=1e-12)
    assert res.to_dict()["median_ratio"] == res.median_ratio
    assert novelty(samples, fit, np.zeros(5)).median_ratio == float("inf")


def test_on_data_fraction_is_the_two_sided_band(clouds):
    fit, _, samples = clouds
    own = cdist(fit, fit)
    np.fill_diagonal(own, np.inf)
    r_real = np.sort(own, axis=1)[:, 2]  # k = 3
    d = np.sort(cdist(samples, fit), axis=1)[:, 2]
    for q in (0.95, 0.5):
        lo, hi = np.quantile(r_real, [(1 - q) / 2, (1 + q) / 2])
        res = on_data_fraction(samples, fit, k=3, quantile=q)
        assert (res.lower, res.upper) == pytest.approx((lo, hi), rel=1e-9)
        assert res.fraction == pytest.approx(np.mean((d >= lo) & (d <= hi)), abs=1e-12)
        assert res.too_close == pytest.approx(np.mean(d < lo), abs=1e-12)
        assert res.too_far == pytest.approx(np.mean(d > hi), abs=1e-12)
        assert res.fraction + res.too_close + res.too_far == pytest.approx(1.0)
        assert res.median_ratio == pytest.approx(np.median(d) / np.median(r_real), rel=1e-9)
        np.testing.assert_array_equal(res.on, (d >= lo) & (d <= hi))
        assert (res.k, res.quantile, res.n_samples, res.n_real) == (3, q, len(samples), len(fit))
    given = on_data_fraction(samples, fit, k=3, real_radii=r_real)
    assert given.fraction == on_data_fraction(samples, fit, k=3).fraction
    assert "on" not in given.to_dict()
