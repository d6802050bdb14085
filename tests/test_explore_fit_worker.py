"""The explorer fits a lasso's region in a worker: the map answers meanwhile, progress shows, the result is a region file.

A real headless Chromium on a store without a model (no TensorFlow): the fit
is held open by the test, so "meanwhile" is a state, not a timing.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from latentlab import write_store
from latentlab.cli import main
from latentlab.explore._testing import chromium_available

pytestmark = pytest.mark.skipif(not chromium_available(), reason="needs selenium, chromium and chromedriver")


@pytest.fixture()
def held_fit(tmp_path):
    """An app whose fits report one step, then wait for ``release`` before fitting for real."""
    from latentlab.explore import ExploreApp, ExploreData
    from latentlab.explore._testing import running_app
    from latentlab.regions._progress import steps

    rng = np.random.default_rng(1)
    centres = rng.normal(scale=6, size=(3, 8))
    y = np.repeat(np.arange(3), 100)
    path = tmp_path / "z.h5"
    write_store(path, centres[y] + rng.normal(size=(300, 8)), ids=[f"p{i:03d}" for i in range(300)])
    data = ExploreData(path)
    release, started = threading.Event(), threading.Event()
    real = data.sample_selection

    def held(rows, region, **kw):
        with steps("held fit", total=3) as bar:
            bar.advance(1, note="waiting")
            started.set()
            assert release.wait(120), "the test never released the fit"
            bar.advance(2)
        return real(rows, region, **kw)

    data.sample_selection = held
    app = ExploreApp(data, out_dir=tmp_path / "saved")
    with running_app(app) as page:
        page.open()
        try:
            yield page, app, release, started, path
        finally:
            release.set()


def test_hover_is_answered_while_a_fit_runs_and_the_saved_selection_is_a_region_file(held_fit, capsys):
    page, app, release, started, path = held_fit
    data = app.data
    rows = np.flatnonzero(data.scores[:, 0] > np.median(data.scores[:, 0]))
    page.js("model('points-source').selected.indices = arguments[0];", rows.tolist())
    page.wait("return !model('sample-button').disabled;")
    page.set_value("region", "mnd")
    page.press("sample-button")
    assert started.wait(60)
    # the fit is running: its progress is on the page and the button is disabled …
    page.wait("const p = window.__llDeep(document, '[data-role=fit-progress]');"
              "return p.length && p[0].dataset.done === '1' && p[0].dataset.total === '3';")
    assert page.js("return model('sample-button').disabled;")
    # … and hovering a point is answered all the same
    far = int(np.argmax(np.linalg.norm(data.scores[:, :2] / data.sd[:2], axis=1) *
                        (np.linalg.norm(data.scores[:, :2] / data.sd[:2], axis=1) < 2.5)))
    page.hover(*page.to_page(data.scores[far, 0], data.scores[far, 1]))
    page.wait(f"return window.__llDeep(document, '[data-role=hover][data-row=\"{far}\"]').length > 0;", timeout=30)
    assert not release.is_set()  # answered while the fit was still held
    release.set()
    page.wait("return model('status').text.startsWith('fitted mnd');", timeout=60)
    assert not page.js("return model('sample-button').disabled;")
    assert page.js("return window.__llDeep(document, '[data-role=fit-progress]').length;") == 0
    # save: a region file that every command taking --region-file accepts for this store
    page.press("save-button")
    page.wait("return model('status').text.startsWith('wrote');", timeout=60)
    saved = app.out_dir / "selection_001.region"
    assert sorted(p.name for p in app.out_dir.iterdir()) == ["selection_001.h5", "selection_001.region"]
    from latentlab.regions import load_region, region_file_info

    assert region_file_info(saved)["store"]["rows"] == rows.tolist()
    region = load_region(saved, store=path)
    np.testing.assert_allclose(region.mean_, np.asarray(data.z, np.float64)[rows].mean(axis=0), atol=1e-5)
    capsys.readouterr()
    code = main(["compare-samplers", "--z", str(path), "--out", str(app.out_dir / "cmp"), "--latent-only",
                 "--region-file", str(saved), "--n", "50", "--n-boot", "0"])
    assert code == 0, capsys.readouterr().err
    assert page.errors() == []
