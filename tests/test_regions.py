"""Sampling regions: sample statistics match each definition, seeds reproduce,
log-densities integrate to one, bounded regions contain their samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from latentlab import LatentlabError, write_store
from latentlab.regions import (
    REGIONS,
    BallRegion,
    CubeRegion,
    EllipsoidRegion,
    FragmentRegion,
    GMMRegion,
    KDERegion,
    MNDRegion,
    NormalRegion,
    PlanesRegion,
    fit_region,
    heldout_loglik,
    make_region,
    sigma_mass,
    split_rows,
)


def _correlated(n=3000, d=6, seed=0, shift=2.0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) / math.sqrt(d) + np.diag(np.linspace(0.5, 2.0, d))
    return rng.normal(size=(n, d)) @ A.T + shift, A @ A.T, np.full(d, shift)


Z6, COV6, MEAN6 = _correlated()


def _grid_integral(region, lo, hi, m=401):
    """Integrate exp(score_samples) over a 1-D or 2-D box by the trapezoid rule."""
    d = region.n_features_in_
    axes = [np.linspace(lo[i], hi[i], m) for i in range(d)]
    mesh = np.meshgrid(*axes, indexing="ij")
    pts = np.stack([g.ravel() for g in mesh], axis=1)
    dens = np.exp(region.score_samples(pts)).reshape([m] * d)
    for i in reversed(range(d)):
        dens = np.trapezoid(dens, axes[i], axis=i)
    return float(dens)


# --- every region --------------------------------------------------------------
ALL = [n for n in REGIONS if n not in ("fragment", "bgmm", "flow", "flow-matching")]  # flow, flow-matching: their own tests (train a Keras model)


@pytest.mark.parametrize("name", ALL)
def test_seed_reproduces_and_shapes(name):
    region = make_region(name).fit(Z6)
    a = region.sample(200, random_state=7)
    b = region.sample(200, random_state=7)
    c = region.sample(200, random_state=8)
    assert a.shape == (200, 6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.isfinite(a).all()
    if region.bounded:
        assert region.contains(a).all()
    if region.has_density:
        ll = region.score_samples(a)
        assert np.isfinite(ll).all()
    assert region.sample(0).shape == (0, 6)


@pytest.mark.parametrize("name", ALL)
def test_validation_errors(name):
    region = make_region(name)
    with pytest.raises(LatentlabError, match="not fitted"):
        region.sample(3)
    with pytest.raises(LatentlabError):
        region.fit(np.array([[np.nan, 1.0], [0.0, 1.0]]))
    region.fit(Z6)
    with pytest.raises(LatentlabError, match="z_dim"):
        if region.has_density:
            region.score_samples(np.zeros((2, 5)))
        else:
            region.contains(np.zeros((2, 5)))


def test_make_region_errors():
    with pytest.raises(LatentlabError, match="unknown region"):
        make_region("banana")
    with pytest.raises(LatentlabError, match="does not take sigma"):
        make_region("cube", sigma=2)
    with pytest.raises(LatentlabError, match="does not take"):
        make_region("normal", fitted=True)  # fixed by the registry name
    assert make_region("fragment:ellipsoid", sigma=3).base_params == {"sigma": 3}
    with pytest.raises(LatentlabError, match="does not take"):
        make_region("fragment:cube", sigma=3)
    with pytest.raises(NotImplementedError):
        make_region("mnd").fit(Z6).contains(Z6)


# --- cube ------------------------------------------------------------------------
def test_cube_moments_bounds_density():
    region = CubeRegion(b=1.5).fit(Z6)
    s = region.sample(40_000, random_state=0)
    assert np.abs(s).max() <= 1.5
    np.testing.assert_allclose(s.mean(axis=0), 0, atol=0.03)
    np.testing.assert_allclose(s.var(axis=0), 1.5**2 / 3, rtol=0.03)
    # E[r²] = d b² / 3
    assert (s**2).sum(axis=1).mean() == pytest.approx(6 * 1.5**2 / 3, rel=0.02)
    ll = region.score_samples(np.array([[0.0] * 6, [1.6] + [0.0] * 5]))
    assert ll[0] == pytest.approx(-6 * math.log(3.0)) and ll[1] == -np.inf
    assert region.contains(np.array([[1.5] * 6, [1.51] + [0] * 5])).tolist() == [True, False]


def test_cube_fitted_b_matches_median_radius_and_center():
    region = CubeRegion(center=True).fit(Z6)
    np.testing.assert_allclose(region.center_, Z6.mean(axis=0))
    s = region.sample(20_000, random_state=1)
    r_s = np.median(np.linalg.norm(s - region.center_, axis=1))
    r_z = np.median(np.linalg.norm(Z6 - Z6.mean(axis=0), axis=1))
    assert r_s == pytest.approx(r_z, rel=0.02)
    one_d = CubeRegion(b=2.0).fit(Z6[:, :1])
    assert _grid_integral(one_d, [-3], [3], m=6001) == pytest.approx(1.0, abs=2e-3)


# --- ball ----------------------------------------------------------------------
def test_ball_radius_distribution_and_density():
    region = BallRegion(quantile=0.9).fit(Z6)
    r_data = np.linalg.norm(Z6 - Z6.mean(axis=0), axis=1)
    assert region.radius_ == pytest.approx(np.quantile(r_data, 0.9))
    s = region.sample(5000, random_state=0)
    r = np.linalg.norm(s - region.center_, axis=1) / region.radius_
    assert r.max() <= 1 + 1e-12
    # P(r <= t) = t^d
    assert stats.kstest(r**6, "uniform").pvalue > 1e-3
    np.testing.assert_allclose(s.mean(axis=0), region.center_, atol=0.05 * region.radius_)
    two = BallRegion(radius=1.0).fit(np.random.default_rng(0).normal(size=(50, 2)))
    assert math.exp(two.score_samples(two.center_[None])[0]) == pytest.approx(1 / math.pi)
    assert _grid_integral(two, two.center_ - 1.2, two.center_ + 1.2, m=801) == pytest.approx(1.0, abs=5e-3)


# --- normal / mnd --------------------------------------------------------------
def test_normal_unfitted_is_standard_and_fitted_is_isotropic_mle():
    base = NormalRegion().fit(Z6)
    s = base.sample(50_000, random_state=0)
    np.testing.assert_allclose(s.mean(axis=0), 0, atol=0.02)
    np.testing.assert_allclose(s.std(axis=0), 1, atol=0.02)
    ll = base.score_samples(Z6[:20])
    np.testing.assert_allclose(ll, stats.multivariate_normal(np.zeros(6), np.eye(6)).logpdf(Z6[:20]))
    fitted = make_region("normal-fitted").fit(Z6)
    np.testing.assert_allclose(fitted.mean_, Z6.mean(axis=0))
    assert fitted.scale_**2 == pytest.approx(Z6.var(axis=0).mean())
    ref = stats.multivariate_normal(fitted.mean_, fitted.scale_**2 * np.eye(6))
    np.testing.assert_allclose(fitted.score_samples(Z6[:20]), ref.logpdf(Z6[:20]))


def test_mnd_moments_and_logpdf():
    region = MNDRegion().fit(Z6)
    np.testing.assert_allclose(region.covariance_, np.cov(Z6, rowvar=False), rtol=1e-4, atol=1e-6)
    s = region.sample(60_000, random_state=0)
    np.testing.assert_allclose(s.mean(axis=0), region.mean_, atol=0.03)
    np.testing.assert_allclose(np.cov(s, rowvar=False), region.covariance_, atol=0.06)
    ref = stats.multivariate_normal(region.mean_, region.covariance_)
    np.testing.assert_allclose(region.score_samples(Z6[:50]), ref.logpdf(Z6[:50]), rtol=1e-6)
    # data drawn from the MND fits its own covariance: held-out ll close to the truth's
    truth = stats.multivariate_normal(MEAN6, COV6).logpdf(Z6).mean()
    assert region.score(Z6) == pytest.approx(truth, abs=0.05)


# --- ellipsoid -------------------------------------------------------------------
def test_ellipsoid_radius_is_the_k_sigma_mass_quantile():
    assert sigma_mass(2) == pytest.approx(0.9545, abs=1e-4)
    region = EllipsoidRegion(sigma=2).fit(Z6)
    assert region.radius_**2 == pytest.approx(stats.chi2.ppf(sigma_mass(2), 6))
    # one dimension: radius is exactly k
    assert EllipsoidRegion(sigma=2).fit(Z6[:, :1]).radius_ == pytest.approx(2.0)
    # data from the Gaussian: about 95.45 % of it is inside
    big = np.random.default_rng(3).multivariate_normal(region.mean_, np.cov(Z6, rowvar=False), size=40_000)
    assert region.contains(big).mean() == pytest.approx(sigma_mass(2), abs=0.01)


def test_ellipsoid_gaussian_fill_is_truncated_chi():
    region = EllipsoidRegion(sigma=1.5).fit(Z6)
    s = region.sample(8000, random_state=0)
    u = region.to_whitened(s)
    r2 = (u**2).sum(axis=1)
    assert r2.max() <= region.radius_**2 * (1 + 1e-9)
    # squared radius ~ chi2_d truncated at R²: its CDF divided by the mass is uniform
    p = stats.chi2.cdf(r2, 6) / region.mass_
    assert stats.kstest(p, "uniform").pvalue > 1e-3
    # PCA frame: the sample covariance is diagonal there, ordered like the eigenvalues
    cov_u = np.cov(u, rowvar=False)
    assert np.abs(cov_u - np.diag(np.diag(cov_u))).max() < 0.05
    np.testing.assert_allclose(s.mean(axis=0), region.mean_, atol=0.05)


def test_ellipsoid_uniform_fill_and_axis_box():
    uni = EllipsoidRegion(sigma=2, fill="uniform").fit(Z6)
    u = uni.to_whitened(uni.sample(6000, random_state=0))
    r = np.sqrt((u**2).sum(axis=1)) / uni.radius_
    assert r.max() <= 1 + 1e-9
    assert stats.kstest(r**6, "uniform").pvalue > 1e-3
    box = EllipsoidRegion(sigma=2, bound="axis").fit(Z6)
    ub = box.to_whitened(box.sample(20_000, random_state=0))
    assert np.abs(ub).max() <= 2 + 1e-9
    # truncated normal on [-2, 2]: variance 1 - 2·2·φ(2)/(2Φ(2)-1)
    var = 1 - 4 * stats.norm.pdf(2) / sigma_mass(2)
    np.testing.assert_allclose(ub.var(axis=0), var, rtol=0.05)
    assert box.mass_ == pytest.approx(sigma_mass(2) ** 6)


@pytest.mark.parametrize("params", [dict(), dict(fill="uniform"), dict(bound="axis"), dict(bound="axis", fill="uniform")])
def test_ellipsoid_density_integrates_to_one(params):
    Z2 = Z6[:, :2]
    region = EllipsoidRegion(sigma=1.5, **params).fit(Z2)
    half = 2.2 * np.sqrt(region.eigenvalues_.max())
    m = region.mean_
    assert _grid_integral(region, m - half, m + half, m=801) == pytest.approx(1.0, abs=0.01)


def test_ellipsoid_in_256_dims_is_exact_and_fast():
    Z = np.random.default_rng(0).normal(size=(2000, 256)) * np.linspace(0.2, 3, 256)
    region = EllipsoidRegion(sigma=2).fit(Z)
    s = region.sample(2000, random_state=0)
    assert region.contains(s).all() and region.acceptance_ == 1.0
    # naive rejection at a literal radius of 2 would accept P(chi2_256 <= 4) ~ 0
    assert stats.chi2.cdf(4, 256) < 1e-100
    assert region.radius_ == pytest.approx(math.sqrt(stats.chi2.ppf(sigma_mass(2), 256)))


# --- planes ------------------------------------------------------------------------
def test_planes_pca_consecutive_exact():
    region = PlanesRegion(sigma=2).fit(Z6)
    assert region.planes_ == [(0, 1), (2, 3), (4, 5)] and region.normalizer_exact_
    u = region.to_whitened(region.sample(20_000, random_state=0))
    for i, j in region.planes_:
        r2 = u[:, i] ** 2 + u[:, j] ** 2
        assert r2.max() <= 4 * (1 + 1e-9)
        # truncated chi2_2: CDF / mass uniform
        assert stats.kstest(stats.chi2.cdf(r2, 2) / (1 - math.exp(-2)), "uniform").pvalue > 1e-3
    assert region.log_mass_ == pytest.approx(3 * math.log(1 - math.exp(-2)))
    odd = PlanesRegion(sigma=2, n_axes=3).fit(Z6)
    assert odd.planes_ == [(0, 1), (2,)]
    uo = odd.to_whitened(odd.sample(5000, random_state=0))
    assert np.abs(uo[:, 2]).max() <= 2 + 1e-9 and np.abs(uo[:, 3:]).max() > 2.5  # other axes free


def test_planes_rejection_paths_agree_with_definition():
    orig = PlanesRegion(sigma=2, axes="original", pairs=[(0, 1), (1, 2)]).fit(Z6)
    assert not orig.normalizer_exact_
    s = orig.sample(3000, random_state=0)
    assert orig.contains(s).all()
    assert 0 < orig.acceptance_ < 1
    d = s - orig.mean_
    for p in [(0, 1), (1, 2)]:
        c = np.cov(Z6[:, list(p)], rowvar=False)
        m2 = np.einsum("ij,jk,ik->i", d[:, list(p)], np.linalg.inv(c), d[:, list(p)])
        assert m2.max() <= 4 * (1 + 1e-6)
    allp = PlanesRegion(sigma=2, pairs="all", n_axes=4).fit(Z6)
    assert len(allp.planes_) == 6
    assert allp.contains(allp.sample(500, random_state=1)).all()
    # too tight: a clear error instead of an endless loop
    with pytest.raises(LatentlabError, match="planes|accepts only"):
        PlanesRegion(sigma=0.05, axes="original", pairs="all", n_axes=6).fit(Z6).sample(100, random_state=0)


def test_planes_density_integrates_to_one():
    Z2 = Z6[:, :2]
    for params in (dict(), dict(axes="original")):
        region = PlanesRegion(sigma=1.5, **params).fit(Z2)
        half = 2.0 * np.sqrt(region.eigenvalues_.max())
        tol = 0.01 if region.normalizer_exact_ else 0.03  # Monte-Carlo normaliser
        assert _grid_integral(region, region.mean_ - half, region.mean_ + half, m=801) == pytest.approx(1.0, abs=tol)


# --- gmm / kde ------------------------------------------------------------------------
def test_gmm_recovers_mixture_and_scores_like_sklearn():
    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(-3, 0.5, size=(1500, 3)), rng.normal(3, 1.0, size=(500, 3))])
    region = GMMRegion(n_components=2).fit(Z)
    order = np.argsort(region.means_[:, 0])
    np.testing.assert_allclose(region.weights_[order], [0.75, 0.25], atol=0.02)
    np.testing.assert_allclose(region.means_[order, 0], [-3, 3], atol=0.1)
    s = region.sample(20_000, random_state=0)
    assert (s[:, 0] < 0).mean() == pytest.approx(0.75, abs=0.015)
    np.testing.assert_allclose(region.score_samples(Z[:10]), region.mixture_.score_samples(Z[:10]))
    one = GMMRegion(n_components=2).fit(Z[:, :1])
    assert _grid_integral(one, [-8], [9], m=4001) == pytest.approx(1.0, abs=1e-3)
    # never more components than points
    assert GMMRegion(n_components=10).fit(Z[:4]).n_components_ == 4


def test_bayesian_gmm_option():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(300, 2))
    region = make_region("bgmm", n_components=3, max_iter=200).fit(Z)
    assert region.bayesian and region.sample(10, random_state=0).shape == (10, 2)


def test_bayesian_gmm_values():
    """Three separated Gaussians, six components offered: the Dirichlet prior keeps three, at the true weights."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(2)
    means = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    covs = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.5, 0.0], [0.0, 2.0]], [[1.5, -0.4], [-0.4, 0.6]]])
    sizes = [1500, 900, 600]
    Z = np.concatenate([rng.multivariate_normal(m, c, size=k) for m, c, k in zip(means, covs, sizes)])
    region = make_region("bgmm", n_components=6, max_iter=300).fit(Z)
    assert region.bayesian and region.n_components_ == 6
    order = np.argsort(region.weights_)[::-1]
    np.testing.assert_allclose(region.weights_[order[:3]], np.array(sizes) / sum(sizes), atol=0.02)
    assert region.weights_[order[3:]].sum() < 0.01
    assert region.weights_.sum() == pytest.approx(1.0, abs=1e-12)
    for m, c in zip(means, covs):
        j = order[:3][np.argmin(np.linalg.norm(region.means_[order[:3]] - m, axis=1))]
        np.testing.assert_allclose(region.means_[j], m, atol=0.12)
        np.testing.assert_allclose(region.covariances_[j], c, atol=0.2)
    # its density is the plug-in mixture of its own parameters (scipy), normalised
    X = rng.normal(size=(50, 2)) * 4 + 3
    expected = logsumexp([np.log(w) + multivariate_normal(m, c).logpdf(X)
                          for w, m, c in zip(region.weights_, region.means_, region.covariances_)], axis=0)
    np.testing.assert_allclose(region.score_samples(X), expected, rtol=1e-9, atol=1e-9)
    # samples follow the mixture: component shares and overall mean and covariance
    S = region.sample(30_000, random_state=0)
    mix_mean = region.weights_ @ region.means_
    mix_cov = sum(w * (c + np.outer(m - mix_mean, m - mix_mean))
                  for w, m, c in zip(region.weights_, region.means_, region.covariances_))
    np.testing.assert_allclose(S.mean(axis=0), mix_mean, atol=0.08)
    np.testing.assert_allclose(np.cov(S.T), mix_cov, rtol=0.05, atol=0.1)
    np.testing.assert_allclose(mix_mean, Z.mean(axis=0), atol=0.05)


def test_kde_cross_validated_bandwidth_and_density():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(400, 1))
    region = KDERegion().fit(Z)
    assert region.cv_bandwidths_.min() <= region.bandwidth_ <= region.cv_bandwidths_.max()
    assert _grid_integral(region, [-7], [7], m=4001) == pytest.approx(1.0, abs=1e-3)
    s = region.sample(20_000, random_state=0)
    assert s.var() == pytest.approx(Z.var() + region.bandwidth_**2, rel=0.05)
    fixed = KDERegion(bandwidth=0.3).fit(Z)
    assert fixed.bandwidth_ == 0.3


# --- fragment, store helpers -----------------------------------------------------------
def test_fragment_region_fits_only_the_fragment(tmp_path):
    import h5py

    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(0, 1, size=(300, 4)), rng.normal(10, 1, size=(100, 4))])
    labels = np.r_[np.zeros(300, int), np.ones(100, int)]
    region = FragmentRegion(base="mnd").fit(Z, labels=labels)
    np.testing.assert_allclose(region.base_.mean_, Z[:300].mean(axis=0))
    assert region.n_fragment_ == 300 and region.has_density and not region.bounded
    frag_file = tmp_path / "fragments.h5"
    with h5py.File(frag_file, "w") as f:
        f["fragment"] = labels
    part = np.where(np.arange(400) % 5 == 0, 1, 0)
    store = write_store(tmp_path / "z.h5", Z.astype(np.float32), partition=part)
    fitted = fit_region("fragment:ellipsoid", store, fragments=frag_file, sigma=2)
    train = (part == 0) & (labels == 0)
    np.testing.assert_allclose(fitted.base_.mean_, Z[train].mean(axis=0), rtol=1e-5)
    assert fitted.bounded and fitted.contains(fitted.sample(50, random_state=0)).all()
    with pytest.raises(LatentlabError, match="no such fragments file"):
        fit_region("fragment", store, fragments=tmp_path / "missing.h5")


def test_fit_region_partitions_and_heldout(tmp_path):
    Zf = Z6[:500].astype(np.float32)
    part = np.r_[np.zeros(400, np.int8), np.ones(50, np.int8), np.full(50, 2, np.int8)]
    with_part = write_store(tmp_path / "p.h5", Zf, partition=part)
    no_part = write_store(tmp_path / "n.h5", Zf)
    r = fit_region("mnd", with_part)
    assert r.fit_partition_ == "train" and r.n_fit_ == 400
    np.testing.assert_allclose(r.mean_, Zf[:400].astype(np.float64).mean(axis=0), rtol=1e-5)
    r2 = fit_region("mnd", no_part)
    assert r2.fit_partition_ == "all" and r2.n_fit_ == 500
    score = heldout_loglik(r, with_part)
    assert score.n == 100
    assert score.mean_loglik == pytest.approx(r.score_samples(Zf[400:]).mean())
    cube = fit_region("cube", with_part, b=0.5)
    cs = heldout_loglik(cube, Zf[400:])
    assert cs.mean_loglik is None and 0 <= cs.inside < 1  # points outside: -inf, reported as None
    assert heldout_loglik(fit_region("planes", with_part), Zf[400:]).inside > 0.3
    fit, held, how = split_rows(with_part)
    assert how == "partition" and len(fit) == 400 and len(held) == 100
    fit, held, how = split_rows(no_part, seed=0)
    assert how == "random split" and len(held) == 100 and not set(fit) & set(held)
    np.testing.assert_array_equal(split_rows(no_part, seed=0)[1], held)


# --- scikit-learn protocol -------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in __import__("latentlab.regions", fromlist=["REGIONS"]).REGIONS])
def test_every_region_is_a_sklearn_estimator_that_clones_with_its_name(name):
    from sklearn.base import BaseEstimator, clone

    from latentlab.regions import region_name

    region = make_region(name)
    assert isinstance(region, BaseEstimator)
    copy = clone(region)
    assert type(copy) is type(region) and copy.get_params() == region.get_params()
    assert region_name(copy) == name == copy.name
    assert "name" not in vars(region)
    if region.has_density:
        from sklearn.base import DensityMixin

        assert isinstance(region, DensityMixin)


def test_bad_parameters_are_latentlab_errors_and_value_errors():
    for name, params in [("ellipsoid", {"sigma": -1}), ("gmm", {"n_components": 0}), ("ellipsoid", {"fill": "x"}),
                         ("cluster-ellipsoid", {"n_clusters": "many"}), ("cluster-ellipsoid", {"cluster_size": 1}),
                         ("kde", {"cv": 1})]:
        with pytest.raises(LatentlabError, match=f"region '{name}'"):
            make_region(name, **params)
        with pytest.raises(ValueError):
            make_region(name).set_params(**params).fit(Z6)


def test_cluster_ellipsoid_separates_modes_and_selects_clusters():
    from latentlab.regions import ClusterEllipsoidRegion

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 8, size=(4, 6))
    Z = np.concatenate([c + rng.normal(size=(250, 6)) for c in centres])
    single = make_region("ellipsoid").fit(Z)
    multi = ClusterEllipsoidRegion(n_clusters="auto", clusters_grid=(1, 2, 4, 8), pca_components=4).fit(Z)
    assert multi.n_clusters_ >= 4 and set(multi.selection_) == {"1", "2", "4", "8"}
    s = multi.sample(400, random_state=0)
    nearest = np.linalg.norm(s[:, None] - centres[None], axis=2).min(axis=1)
    assert np.median(nearest) < 3.5  # on a mode, not between them
    blend = np.linalg.norm(single.sample(400, random_state=0)[:, None] - centres[None], axis=2).min(axis=1)
    assert np.median(blend) > np.median(nearest) + 1
    assert multi.contains(s).all() and np.isfinite(multi.score_samples(s)).all()
    labels = np.repeat(np.arange(4), 250)
    frag = make_region("cluster-ellipsoid", clusters="fragments").fit(Z, labels=labels)
    assert frag.n_clusters_ == 4 and frag.fit_inputs == {"labels": "fragments"}


def test_gmm_auto_components_picks_by_heldout_loglik():
    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(m, 0.5, size=(300, 2)) for m in (-4, 0, 4)])
    region = make_region("gmm", n_components="auto", components_grid=(1, 3, 8)).fit(Z)
    assert set(region.selection_) == {"1", "3", "8"} and region.n_components_ in (3, 8)
    assert region.selection_["3"] > region.selection_["1"]


# --- region files --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cube", "normal-fitted", "mnd", "ellipsoid", "planes", "gmm", "kde", "cluster-ellipsoid"])
def test_region_file_round_trips_and_is_refused_for_another_store(tmp_path, name):
    from latentlab.regions import load_region, save_region

    rng = np.random.default_rng(0)
    Zs = rng.normal(size=(300, 4)).astype(np.float32)
    store = write_store(tmp_path / "a.h5", Zs)
    other = write_store(tmp_path / "b.h5", Zs[::-1].copy())
    params = {"axes": "original"} if name == "planes" else ({"n_clusters": 3, "pca_components": 2} if name == "cluster-ellipsoid" else {})
    region = fit_region(name, store, **params)
    path = save_region(region, tmp_path / "r.region")
    back = load_region(path, store=store)
    assert type(back) is type(region) and back.name == name and back.get_params() == region.get_params()
    np.testing.assert_array_equal(back.sample(50, random_state=3), region.sample(50, random_state=3))
    if region.has_density:
        np.testing.assert_allclose(back.score_samples(Zs[:20]), region.score_samples(Zs[:20]))
    with pytest.raises(LatentlabError, match="another store"):
        load_region(path, store=other)
    with pytest.raises(LatentlabError, match="already exists"):
        save_region(region, path)
    (tmp_path / "junk.region").write_bytes(b"not a zip")
    with pytest.raises(LatentlabError, match="not a latentlab region file"):
        load_region(tmp_path / "junk.region")


def test_ellipsoid_on_fewer_points_than_dimensions_keeps_only_its_axes_and_stays_exact():
    """A cluster's ellipsoid (n < z_dim) keeps r axes + the floor: same density, same sample law, r/d the memory."""
    from latentlab.regions import EllipsoidRegion

    rng = np.random.default_rng(3)
    Z = rng.normal(size=(30, 64)) @ rng.normal(size=(64, 64))
    low = EllipsoidRegion(sigma=2.0, reg_covar=1e-3).fit(Z)
    full = EllipsoidRegion(sigma=2.0, reg_covar=1e-3, bound="radius")
    full._fit_frame(Z, 1e-3, low_rank=False)
    assert low.components_.shape == (29, 64) and low.floor_ > 0
    X = np.concatenate([Z[:5], low.sample(200, random_state=0), rng.normal(size=(20, 64)) * 30])
    assert np.allclose(low._whitened_sq_norm(X), (full.to_whitened(X) ** 2).sum(axis=1), rtol=1e-6)
    S = low.sample(4000, random_state=1)
    r2 = (full.to_whitened(S) ** 2).sum(axis=1)
    assert np.sqrt(r2.max()) <= low.radius_ * (1 + 1e-6)  # every sample inside the k-σ ellipsoid
    from scipy.stats import chi2, kstest
    assert kstest(r2, lambda x: chi2.cdf(x, 64) / low.mass_).pvalue > 1e-3  # the truncated χ² radius law


@pytest.mark.parametrize("n_clusters", [None, 3])  # local low-rank ellipsoids, and full-rank ones
def test_cluster_ellipsoid_scores_all_clusters_at_once_exactly_as_each_ellipsoid_does(n_clusters):
    from scipy.special import logsumexp

    from latentlab.regions import ClusterEllipsoidRegion

    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(-3, 1, (3000, 32)), rng.normal(3, 1, (1000, 32))]) @ rng.normal(size=(32, 32))
    r = ClusterEllipsoidRegion(n_clusters=n_clusters, pca_components=8).fit(Z)
    X = np.concatenate([r.sample(200, random_state=0), Z[:200], rng.normal(size=(50, 32)) * 10])
    each = logsumexp([np.log(w) + e._score_samples(X) for w, e in zip(r.weights_, r.ellipsoids_)], axis=0)
    both = r.score_samples(X)
    assert np.array_equal(np.isfinite(both), np.isfinite(each)) and np.isfinite(both[:200]).all()
    assert np.allclose(both[np.isfinite(each)], each[np.isfinite(each)])
    untruncated = logsumexp([np.log(w) + e._mnd_logpdf(X) for w, e in zip(r.weights_, r.ellipsoids_)], axis=0)
    assert np.allclose(r._selection_score(X), untruncated)
