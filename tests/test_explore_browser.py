"""`latentlab explore` in a real headless Chromium: page, hover, click-to-decode, lasso-to-sample.

The app is served on a free 127.0.0.1 port in this process; the browser talks
to nothing else (checked). Uses the demo store (100 LFW faces) and model.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.explore._testing import chromium_available

pytestmark = pytest.mark.skipif(not chromium_available(), reason="needs selenium, chromium and chromedriver")


@pytest.fixture(scope="module")
def demo_app(demo, tmp_path_factory):
    from latentlab.explore import ExploreApp, load_explore_data

    data = load_explore_data(demo.store, model_dir=demo.model_dir)
    return ExploreApp(data, out_dir=tmp_path_factory.mktemp("explore-out"))


@pytest.fixture(scope="module")
def page(demo_app):
    from latentlab.explore._testing import running_app

    with running_app(demo_app) as browser:
        browser.open()
        yield browser


def _png_pixels(src: str) -> np.ndarray:
    """The pixels of a ``data:image/png;base64,...`` URL as the page shows them, float in [0, 1], (H, W, C)."""
    import base64
    from io import BytesIO

    from PIL import Image

    assert src.startswith("data:image/png;base64,")
    arr = np.asarray(Image.open(BytesIO(base64.b64decode(src.split(",", 1)[1]))), dtype=np.float64) / 255.0
    return arr[:, :, None] if arr.ndim == 2 else arr


def _from_the_files(demo, row: int):
    """Row ``row`` of the demo store read with plain h5py, and its image loaded from the image source by id."""
    import h5py

    from latentlab.sources import Preprocessing, open_source

    with h5py.File(demo.store, "r") as f:
        attrs = dict(f.attrs)
        ident = f["ids"][row]
        ident = ident.decode() if isinstance(ident, bytes) else str(ident)
        z = np.asarray(f["z"][row], dtype=np.float64)
    dataset = str(attrs["dataset"])
    src = open_source(dataset, None if dataset == "lfw" else str(attrs["source"]))
    crop = attrs.get("crop")
    crop = None if isinstance(crop, (str, bytes)) else tuple(int(c) for c in crop)
    image = src.load(list(src.ids).index(ident), Preprocessing(int(attrs["image_size"]), int(attrs["channels"]), crop))
    return ident, z, np.asarray(image, dtype=np.float64) / (255.0 if np.asarray(image).dtype == np.uint8 else 1.0)


def _decoder(demo):
    """The demo's decoder, loaded with Keras itself (not through latentlab)."""
    import keras

    return keras.saving.load_model(demo.model_dir / "decoder.keras", compile=False)


def _isolated_row(data) -> int:
    """The point farthest (in map units) from its nearest neighbour: hovering it can only hit it."""
    xy = data.scores[:, :2].astype(np.float64) / data.sd[:2]
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(d, np.inf)
    inner = np.linalg.norm(xy, axis=1) < 2.5  # not at the edge of the frame
    return int(np.flatnonzero(inner)[np.argmax(d.min(axis=1)[inner])])


def test_page_loads_every_point_locally_without_console_errors(page, demo_app):
    n = demo_app.data.n
    drawn = page.js("""const pts = model('points'); return [pts.data_source.get_length(),
                       Bokeh.index.get_one(pts).glyph.data_size, Bokeh.index.get_one(model('map')).canvas_view.webgl != null];""")
    assert drawn[:2] == [n, n]
    assert page.errors() == []
    urls = page.resource_urls()
    assert urls, "no resources loaded"
    assert all(u.startswith(page.url.rstrip("/")) or u.startswith("data:") for u in urls), urls
    # the colour legend is there, and the points really are on the canvas (not only in the data)
    assert page.deep("[data-role=legend-item]")
    png = page.driver.get_screenshot_as_png()
    from io import BytesIO

    from PIL import Image

    left, top, width, height = page.js("const r = Bokeh.index.get_one(model('map')).canvas_view.el"
                                       ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height];")
    shot = np.asarray(Image.open(BytesIO(png)).convert("RGB")).astype(int)
    shot = shot[int(top):int(top + height), int(left):int(left + width)]
    blue = shot[..., 2] - shot[..., 0] > 50  # the points' colour, blended with the white background
    assert blue.sum() > n * 5, f"only {blue.sum()} point-coloured pixels for {n} points"


def test_hover_shows_the_points_id_and_original_image(page, demo_app, demo):
    data = demo_app.data
    row = _isolated_row(data)
    # expected values straight from the files: the store's id and z of that row, the source's image of that id
    ident, z, expected = _from_the_files(demo, row)
    x, y = (z - data.pca.mean_) @ data.pca.components_[:2].T  # where that z-point is drawn
    page.hover(*page.to_page(x + 0.01, y - 0.01))
    shown = page.wait(f"""return window.__llDeep(document, '[data-role=hover][data-row="{row}"]').length > 0
                          && window.__llDeep(document, '[data-role=hover-id]')[0].textContent;""")
    assert shown == ident
    image = page.deep("img[data-role=hover-image]")[0]
    assert image.get_attribute("data-kind") == "original"
    pixels = _png_pixels(image.get_attribute("src"))
    assert pixels.shape == expected.shape
    np.testing.assert_allclose(pixels, expected, atol=0.6 / 255)
    # and it is not the image of any other row (a lookup shifted by one would show a neighbour's face)
    _, _, other = _from_the_files(demo, row + 1 if row + 1 < data.n else row - 1)
    assert np.abs(pixels - other).mean() > 0.02
    assert page.driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == expected.shape[1]


def test_click_on_empty_space_decodes_that_position(page, demo_app, demo):
    import h5py

    data = demo_app.data
    # the emptiest spot of a coarse grid inside the central region
    xs, ys = np.meshgrid(np.linspace(-1.5, 1.5, 13) * data.sd[0], np.linspace(-1.5, 1.5, 13) * data.sd[1])
    cand = np.c_[xs.ravel(), ys.ravel()]
    dist = np.min(np.linalg.norm((cand[:, None] - data.scores[None, :, :2]) / data.sd[:2], axis=2), axis=1)
    x, y = cand[np.argmax(dist)]
    page.click(*page.to_page(x, y))
    page.wait("return window.__llDeep(document, 'img[data-role=decoded-image]').length > 0;")
    image = page.deep("img[data-role=decoded-image]")[0]
    cx, cy = float(image.get_attribute("data-x")), float(image.get_attribute("data-y"))
    assert abs(cx - x) < 0.05 * data.sd[0] and abs(cy - y) < 0.05 * data.sd[1]  # within a pixel or two

    # The z of a map position, computed here: the mean of the `neighbours` stored points nearest to it on the
    # map (in σ of each axis), moved along the two map axes onto the clicked scores; decoded with Keras.
    with h5py.File(demo.store, "r") as f:
        z_all = np.asarray(f["z"][:], dtype=np.float64)
    comps, mean = data.pca.components_, data.pca.mean_
    scores = ((z_all - mean) @ comps[:2].T).astype(np.float32).astype(np.float64)  # the map's float32 scores
    near = np.argsort(((scores[:, 0] - cx) / data.sd[0]) ** 2 + ((scores[:, 1] - cy) / data.sd[1]) ** 2,
                      kind="stable")[: data.neighbours]
    z = z_all[near].mean(axis=0)
    z += (cx - (z - mean) @ comps[0]) * comps[0] + (cy - (z - mean) @ comps[1]) * comps[1]
    decoder = _decoder(demo)

    def decoded(zz):
        return np.clip(np.asarray(decoder(zz[None].astype(np.float32)))[0].astype(np.float64), 0, 1)

    np.testing.assert_allclose(_png_pixels(image.get_attribute("src")), decoded(z), atol=1.5 / 255)
    assert page.js("return model('marker-source').get_length();") == 1
    # a slider moves the decoded point along PC1 by 1.5 standard deviations of the data on that axis
    page.js("const s = model('slider-0'); s.value = 1.5; s.value_throttled = 1.5;")
    page.wait("return window.__llDeep(document, '[data-role=decoded]')[0].textContent.includes('PC1 +1.5σ');")
    moved = page.deep("img[data-role=decoded-image]")[0].get_attribute("src")
    sd1 = np.sqrt(np.var(scores[:, 0], ddof=1))
    np.testing.assert_allclose(_png_pixels(moved), decoded(z + 1.5 * sd1 * comps[0]), atol=1.5 / 255)


def test_lasso_fits_a_region_and_shows_a_grid_of_the_requested_size(page, demo_app):
    from matplotlib.path import Path as PolyPath

    data = demo_app.data
    page.activate_tool("LassoSelectTool")
    # a hexagon around the centre of the cloud, 1.2 σ across
    angles = np.linspace(0, 2 * np.pi, 7)
    poly = np.c_[1.2 * data.sd[0] * np.cos(angles), 1.2 * data.sd[1] * np.sin(angles)]
    pixels = [page.to_page(x, y) for x, y in poly]
    selected = page.lasso(pixels)
    pixels = np.round(pixels)  # what the pointer really drew
    on_screen = np.array([page.to_page(x, y) for x, y in data.scores[:, :2].astype(np.float64)])
    inside = set(np.flatnonzero(PolyPath(pixels).contains_points(on_screen)).tolist())
    # points within 2 px of the lasso's edge may fall either way (sub-pixel rounding)
    edge = {i for i in range(data.n) if PolyPath(pixels).contains_point(on_screen[i], radius=4)
            != PolyPath(pixels).contains_point(on_screen[i], radius=-4)}
    assert set(selected) - edge == inside - edge and len(selected) >= 5
    page.wait("return !model('sample-button').disabled;", timeout=60)  # the server saw the selection
    page.set_value("n-samples", 6)
    page.set_value("region", "mnd")
    page.press("sample-button")
    page.wait("return window.__llDeep(document, '[data-role=grid]').length > 0;", timeout=60)
    grid = page.deep("[data-role=grid]")[0]
    assert grid.get_attribute("data-n") == "6"
    assert len(page.deep("img[data-role=sample-image]")) == 6
    samples = demo_app.last_samples
    assert sorted(samples.rows.tolist()) == sorted(selected) and samples.z.shape == (6, data.z_dim)
    # save: the same files as `latentlab sample` (grid PNG, z-store of samples) and the region
    page.press("save-button")
    page.wait("return model('status').text.startsWith('wrote');", timeout=60)
    out = demo_app.out_dir
    assert sorted(p.name for p in out.iterdir()) == ["selection_001.h5", "selection_001.png", "selection_001.region"]
    from latentlab.regions import load_region

    region = load_region(out / "selection_001.region", store=data.store_path)  # a real region file of this store
    assert np.array_equal(region.sample(6, random_state=samples.seed), samples.z)
    from latentlab import open_store

    with open_store(out / "selection_001.h5") as s:
        assert s.n == 6 and np.allclose(s.read_z(), samples.z, atol=1e-6)
    assert page.errors() == []


def test_hover_falls_back_to_the_reconstruction_when_originals_are_not_here(demo_app, monkeypatch):
    data = demo_app.data
    monkeypatch.setattr(data, "_source", None)
    image, kind = data.image(7)
    assert kind == "reconstruction"
    assert np.allclose(image, data.decode(data.z[7:8])[0])


@pytest.fixture(scope="module")
def image_page(demo_app):
    """The same store shown as a large one would be: above max_glyphs = 30, views are server-rendered images."""
    from latentlab.explore import ExploreApp
    from latentlab.explore._testing import running_app

    app = ExploreApp(demo_app.data, out_dir=demo_app.out_dir / "image-mode", max_glyphs=30)
    with running_app(app) as browser:
        browser.open()
        yield browser, app


def test_a_view_with_many_points_is_an_image_and_hover_click_lasso_zoom_work_on_it(image_page):
    from io import BytesIO

    from matplotlib.path import Path as PolyPath
    from PIL import Image

    from latentlab.explore._raster import View

    page, app = image_page
    data = app.data
    assert page.js("return [model('image-source').get_length(), model('points-source').get_length()];") == [1, 0]
    assert page.deep("[data-role=view-note][data-mode=image]")
    left, top, width, height = page.js("const r = Bokeh.index.get_one(model('map')).canvas_view.el"
                                       ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height];")
    shot = np.asarray(Image.open(BytesIO(page.driver.get_screenshot_as_png())).convert("RGB")).astype(int)
    frame = shot[int(top) + 40:int(top + height) - 40, int(left) + 70:int(left + width) - 40]
    coloured = (frame.max(axis=2) - frame.min(axis=2)) > 40  # the image's pixels, not the grey grid or text
    assert coloured.sum() > data.n, f"only {coloured.sum()} coloured pixels"
    # hover: the server picks the point under the pointer
    row = _isolated_row(data)
    page.hover(*page.to_page(data.scores[row, 0], data.scores[row, 1]))
    assert page.wait(f"return window.__llDeep(document, '[data-role=hover][data-row=\"{row}\"]').length > 0 && "
                     "window.__llDeep(document, '[data-role=hover-id]')[0].textContent;") == data.ids[row]
    # click: decoded at once
    page.click(*page.to_page(0.3 * data.sd[0], -0.4 * data.sd[1]))
    page.wait("return window.__llDeep(document, 'img[data-role=decoded-image]').length > 0;")
    cx = float(page.deep("img[data-role=decoded-image]")[0].get_attribute("data-x"))
    assert abs(cx - 0.3 * data.sd[0]) < 0.05 * data.sd[0]
    # lasso: the server selects the points inside the drawn polygon
    page.activate_tool("LassoSelectTool")
    angles = np.linspace(0, 2 * np.pi, 7)
    pixels = np.round([page.to_page(1.3 * data.sd[0] * np.cos(a), 1.3 * data.sd[1] * np.sin(a)) for a in angles])
    page.lasso(pixels, done_js="return model('status').text.includes('points selected') && "
                               "!model('sample-button').disabled;")
    on_screen = np.array([page.to_page(x, y) for x, y in data.scores[:, :2].astype(np.float64)])
    polygon = PolyPath(pixels)
    inside = set(np.flatnonzero(polygon.contains_points(on_screen)).tolist())
    edge = {i for i in range(data.n) if polygon.contains_point(on_screen[i], radius=4)
            != polygon.contains_point(on_screen[i], radius=-4)}
    page.set_value("n-samples", 4)
    page.press("sample-button")
    page.wait("return window.__llDeep(document, '[data-role=grid]').length > 0;", timeout=60)
    selected = set(app.last_samples.rows.tolist())
    assert selected - edge == inside - edge and len(selected) >= 5
    assert page.js("return model('lasso-outline').get_length();") > 3 and len(page.deep("img[data-role=sample-image]")) == 4
    # zoom in to at most 30 points: the image goes, exactly the points of the (widened) view are drawn
    x0, y0 = data.scores[row, 0], data.scores[row, 1]
    w, h = 0.4 * data.sd[0], 0.4 * data.sd[1]
    page.js("const p = model('map'); p.x_range.setv({start: arguments[0], end: arguments[1]});"
            "p.y_range.setv({start: arguments[2], end: arguments[3]});", x0 - w, x0 + w, y0 - h, y0 + h)
    page.wait("return model('points-source').get_length() > 0 && model('image-source').get_length() === 0;")
    drawn = page.js("return Array.from(model('points-source').data.row);")
    view = page.js("const p = model('map'); return [p.x_range.start, p.x_range.end, p.y_range.start, p.y_range.end];")
    assert sorted(drawn) == data.view_rows((0, 1), View(*view).expanded(0.25)).tolist() and row in drawn
    assert page.errors() == []
