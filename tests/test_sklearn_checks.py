"""scikit-learn's own estimator checks (``parametrize_with_checks``) on every registered region.

Each region runs with a small configuration so the whole file stays quick. Every check a region does not pass
is named, with the reason, in :data:`EXPECTED_FAILED_CHECKS` below (the one place); pytest reports it as
xfail and fails if it starts passing. The skips are in the same place: :data:`SLOW_REGIONS` (run with
``LATENTLAB_SLOW_CHECKS=1``), and ``check_array_api_input``, which scikit-learn itself skips unless
``SCIPY_ARRAY_API=1`` (regions compute with NumPy and SciPy, not the array API).
"""

from __future__ import annotations

import os

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from latentlab.regions import REGIONS, make_region

pytestmark = pytest.mark.filterwarnings("ignore")

#: Small settings so a fit on scikit-learn's 10-100 point check data takes milliseconds.
SMALL = {
    "gmm": {"n_components": 2, "max_iter": 5},
    "bgmm": {"n_components": 2, "max_iter": 5},
    "kde": {"n_bandwidths": 3, "cv": 2},
    "cluster-ellipsoid": {"n_clusters": 2, "pca_components": 2, "min_cluster_size": 2},
    "flow": {"flow_dims": 2, "n_layers": 2, "hidden": 4, "epochs": 1, "batch_size": 64},
    "flow-matching": {"width": 8, "n_blocks": 1, "epochs": 1, "batch_size": 64, "n_steps": 2, "score_steps": 2},
}

_FRAGMENT_LABELS = ("FragmentRegion.fit needs per-row fragment labels (its fit_inputs, from `latentlab fragments`), "
                    "which scikit-learn's checks cannot pass; without them it refuses in one line. Its sampling and "
                    "density are its base region's, which run every check here")
_FRAGMENT_FIT_CHECKS = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency",
    "check_estimators_nan_inf", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1feature",
    "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
    "check_fit2d_predict1d",
]

#: region name -> {check name: why the region does not pass it}. The only place checks are excused.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "fragment": dict.fromkeys(_FRAGMENT_FIT_CHECKS, _FRAGMENT_LABELS),
}


#: region name -> why its checks run only with LATENTLAB_SLOW_CHECKS=1.
SLOW_REGIONS: dict[str, str] = {
    "flow": "each of its ~40 checks trains a Keras model (a few seconds a fit, about a minute on a busy 2-core "
            "machine); with LATENTLAB_SLOW_CHECKS=1 all of them run",
    "flow-matching": "the same as flow: each check trains a Keras velocity network; with LATENTLAB_SLOW_CHECKS=1 all "
                     "of them run",
}


def _regions():
    return [make_region(name, **SMALL.get(name, {})) for name in REGIONS]


@parametrize_with_checks(_regions(), expected_failed_checks=lambda region: EXPECTED_FAILED_CHECKS.get(region.name, {}))
def test_region_passes_sklearn_estimator_checks(estimator, check):
    if estimator.name in SLOW_REGIONS and not os.environ.get("LATENTLAB_SLOW_CHECKS"):
        pytest.skip(f"{estimator.name}: {SLOW_REGIONS[estimator.name]}")
    check(estimator)


def test_every_excused_check_names_a_region_and_a_reason():
    for name, checks in EXPECTED_FAILED_CHECKS.items():
        assert name in REGIONS
        assert all(c.startswith("check_") and len(reason) > 40 for c, reason in checks.items())
