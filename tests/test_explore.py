"""latentlab.explore without a browser: map data, decoding positions, lasso sampling, exports, CLI errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from latentlab import write_store
from latentlab.cli import main
from latentlab.explore import ExploreData, export_parquet, export_projector


@pytest.fixture
def labelled_store(tmp_path):
    """Three planted classes as one-hot attributes, train/test partitions."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6, size=(3, 8))
    y = np.repeat(np.arange(3), 200)
    z = centres[y] + rng.normal(size=(600, 8))
    att = -np.ones((600, 3), np.int8)
    att[np.arange(600), y] = 1
    part = np.where(np.arange(600) % 5 == 0, 2, 0).astype(np.int8)
    path = tmp_path / "z.h5"
    write_store(path, z, ids=[f"p{i:03d}" for i in range(600)], partition=part, attributes=att,
                attribute_names=["alpha", "beta", "gamma"])
    return path, z, y


def test_map_is_the_analysis_pca_and_colours_follow_the_store(labelled_store):
    from latentlab.analysis import fit_pca

    path, z, y = labelled_store
    data = ExploreData(path)
    ref = fit_pca(path)
    assert np.allclose(data.plane(0, 1)[0], ref.transform(z, 2)[:, 0], atol=1e-4)
    assert {"none", "label", "attribute: beta", "partition", "density", "radius"} <= set(data.colours)
    label = data.colours["label"]
    assert label.categories == ["alpha", "beta", "gamma"] and (label.values == y).all()
    assert data.colours["partition"].categories == ["train", "test"]
    dens = data.colour_values("density", (0, 1)).values
    assert dens.shape == (600,) and np.isfinite(dens).all()
    xy = data.scores[:, :2]
    off_centre = np.linalg.norm(xy - np.stack([xy[y == c].mean(axis=0) for c in range(3)])[y], axis=1)
    cores = [np.flatnonzero(y == c)[np.argmin(off_centre[y == c])] for c in range(3)]
    assert dens[cores].min() > np.percentile(dens[off_centre > np.percentile(off_centre, 90)], 75)
    assert np.allclose(data.colours["radius"].values, np.linalg.norm(z, axis=1), rtol=1e-5)
    row = data.describe_row(6)
    assert row["id"] == "p006" and row["label"] == "alpha" and row["partition"] == "train"
    assert data.image(6) == (None, "none") and "original images not available" in data.originals_note


def test_clicked_position_keeps_the_plane_coordinates_and_the_neighbours_other_coordinates(labelled_store):
    path, z, y = labelled_store
    data = ExploreData(path, neighbours=10)
    target = data.scores[y == 2, :2].mean(axis=0)  # the middle of class "gamma" in the PC1/PC2 plane
    point, k = data.point_at(0, 1, float(target[0]), float(target[1]))
    assert k == 10
    assert np.allclose(data.map_position(point, 0, 1), target, atol=1e-6)
    scores = data.pca.transform(point[None, :])[0]
    d2 = ((data.scores[:, 0] - target[0]) / data.sd[0]) ** 2 + ((data.scores[:, 1] - target[1]) / data.sd[1]) ** 2
    near = np.argsort(d2)[:10]
    assert np.allclose(scores[2:], data.pca.transform(z[near]).mean(axis=0)[2:], atol=1e-6)
    moved, _ = data.point_at(0, 1, float(target[0]), float(target[1]), offsets=[0.0, 0.0, 2.0])
    assert np.allclose(data.pca.transform(moved[None, :])[0][2] - scores[2], 2.0 * data.sd[2], atol=1e-6)
    assert data.decode_at(0, 1, 0.0, 0.0).image is None  # no model: the position, no image
    with pytest.raises(Exception, match="decoding needs"):
        data.decode(point[None, :])


def test_lasso_selection_fits_a_registry_region_on_exactly_those_rows(labelled_store, tmp_path):
    path, z, y = labelled_store
    data = ExploreData(path)
    rows = np.flatnonzero(y == 1)
    samples = data.sample_selection(rows, "mnd", n=50, seed=3)
    assert samples.images is None and samples.z.shape == (50, 8)
    assert np.linalg.norm(samples.z.mean(axis=0) - z[rows].mean(axis=0)) < 1.0  # near the selected class
    assert np.linalg.norm(samples.z.mean(axis=0) - z[y == 0].mean(axis=0)) > 3.0
    again = data.sample_selection(rows, "mnd", n=50, seed=3)
    assert np.array_equal(again.z, samples.z)
    with pytest.raises(Exception, match="at least 2 points"):
        data.sample_selection(rows[:1], "mnd")
    with pytest.raises(Exception, match="unknown region"):
        data.sample_selection(rows, "nope")
    files = data.save_samples(samples, tmp_path / "saved")
    files2 = data.save_samples(samples, tmp_path / "saved")
    assert files["samples"].name == "selection_001.h5" and files2["samples"].name == "selection_002.h5"
    assert "grid" not in files  # no model, no images
    # the selection is a real region file: the same format as `latentlab fit-region`, for this store only
    from latentlab.regions import load_region, region_file_info

    assert files["region"].name == "selection_001.region"
    header = region_file_info(files["region"])
    assert header["region"] == "mnd" and header["store"]["rows"] == rows.tolist()
    assert header["store"]["fingerprint"] == data.fingerprint
    loaded = load_region(files["region"], store=path)
    assert np.array_equal(loaded.sample(50, random_state=3), samples.z)
    assert np.allclose(loaded.mean_, z[rows].mean(axis=0), atol=1e-5)  # fitted on exactly the selected rows


def test_export_projector_and_parquet(labelled_store, tmp_path):
    path, z, y = labelled_store
    out = tmp_path / "proj"
    result = export_projector(path, out)
    assert result["tensor_format"] == "tsv" and result["n_points"] == 600
    assert np.allclose(np.loadtxt(out / "tensors.tsv"), z, atol=1e-4)
    meta = (out / "metadata.tsv").read_text().splitlines()
    assert meta[0].split("\t") == ["row", "id", "label", "partition", "radius"] and len(meta) == 601
    assert meta[1].split("\t")[:4] == ["0", "p000", "alpha", "test"]
    config = (out / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "tensors.tsv"' in config and "tensor_shape: 600" in config and "sprite" not in config
    assert any("no sprite" in note for note in result["notes"])
    with pytest.raises(Exception, match="exists"):
        export_projector(path, out)
    small = export_projector(path, out, max_points=100, tensor_format="bytes", overwrite=True)
    raw = np.fromfile(out / "tensors.bytes", dtype="<f4").reshape(100, 8)
    kept = [int(line.split("\t")[0]) for line in (out / "metadata.tsv").read_text().splitlines()[1:]]
    assert small["n_points"] == 100 and np.allclose(raw, z[kept], atol=1e-6)
    assert not (out / "tensors.tsv").exists()  # no stale tensors beside the new config

    pd = pytest.importorskip("pandas")
    target = tmp_path / "z.parquet"
    export_parquet(path, target)
    frame = pd.read_parquet(target)
    assert list(frame.columns[:5]) == ["row", "id", "label", "partition", "radius"]
    assert {"pc1", "pc2", "z"} <= set(frame.columns) and len(frame) == 600
    assert np.allclose(np.stack(frame["z"].to_numpy()), z, atol=1e-6)
    assert (frame["label"].to_numpy() == np.array(["alpha", "beta", "gamma"])[y]).all()


def test_export_of_the_demo_store_has_a_sprite_of_the_originals(demo, tmp_path):
    result = export_projector(demo.store, tmp_path / "p")
    from PIL import Image

    sprite = Image.open(tmp_path / "p" / "sprite.png")
    assert sprite.size == (10 * 32, 10 * 32) and "sprite" in result["files"]
    assert "single_image_dim: 32" in (tmp_path / "p" / "projector_config.pbtxt").read_text()


def _cli(args, capsys):
    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_cli_refuses_bad_input_with_one_line(labelled_store, tmp_path, capsys):
    from latentlab.explore._testing import free_port

    path, _, _ = labelled_store
    cases = [
        (["explore", tmp_path / "missing.h5"], "no such file"),
        (["explore", path, "--model", tmp_path / "nomodel"], "no such model directory"),
        (["explore", path, "--encoder", tmp_path / "e.keras"], "both --encoder and --decoder"),
        (["explore", path, "--port", "0"], "--port"),
        (["explore", path, "--max-glyphs", "0"], "--max-glyphs"),
        (["explore", path, "--host", "not a host"], "--host"),
        (["explore", path, "--fragments", tmp_path / "nofrag.h5", "--port", free_port()], "no such fragments file"),
        (["export", path], "nothing to export"),
        (["export", path, "--parquet", tmp_path / "z.csv"], "must end in .parquet"),
        (["export", path, "--projector", tmp_path / "p", "--tensor-format", "xml"], "--tensor-format"),
    ]
    for args, needle in cases:
        rc, out, err = _cli(args, capsys)
        assert rc == 2, (args, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, (args, err)
        assert "Traceback" not in err
    assert not (tmp_path / "p").exists()


def test_cli_refuses_a_port_in_use(labelled_store, capsys):
    path, _, _ = labelled_store
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        rc, _, err = _cli(["explore", path, "--port", busy.getsockname()[1]], capsys)
    assert rc == 2 and "in use" in err and err.count("\n") == 1


def test_cli_export_never_replaces_without_overwrite(labelled_store, tmp_path, capsys):
    path, _, _ = labelled_store
    target = tmp_path / "z.parquet"
    target.write_text("keep me")
    rc, _, err = _cli(["export", path, "--parquet", target], capsys)
    assert rc == 2 and "--overwrite" in err and target.read_text() == "keep me"
    rc, out, _ = _cli(["export", path, "--parquet", target, "--projector", tmp_path / "proj", "--overwrite"], capsys)
    assert rc == 0 and "wrote" in out and target.read_bytes()[:4] == b"PAR1"


def test_explore_and_export_without_a_model_never_import_tensorflow(labelled_store, tmp_path):
    path, _, _ = labelled_store
    code = (
        "import sys\n"
        "from bokeh.document import Document\n"
        "from latentlab.cli import main\n"
        "from latentlab.explore import ExploreApp, ExploreData\n"
        f"assert main(['export', {str(path)!r}, '--projector', {str(tmp_path / 'p')!r},"
        f" '--parquet', {str(tmp_path / 'z.parquet')!r}]) == 0\n"
        f"app = ExploreApp(ExploreData({str(path)!r}))\n"
        "doc = Document(); app.modify_doc(doc)\n"
        "assert len(doc.get_model_by_name('points').data_source.data['x']) == 600\n"
        "assert doc.get_model_by_name('sample-button').disabled\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'tensorflow was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_cli_serves_the_page_offline_and_leaves_the_store_untouched(labelled_store, tmp_path):
    import signal
    import urllib.request

    from latentlab.explore._testing import free_port

    path, _, _ = labelled_store
    before = path.read_bytes()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from latentlab.cli import main; main()", "explore", str(path),
                             "--port", str(port), "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, line = time.time() + 120, ""
        while time.time() < deadline and "latentlab explore: http" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        assert "static/js/bokeh" in page and "cdn." not in page and "https://" not in page
        script = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/js/bokeh.min.js", timeout=30).read()
        assert len(script) > 100_000
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert path.read_bytes() == before
    with h5py.File(path, "r") as f:
        assert f["z"].shape == (600, 8)


def test_notebook_form_shows_the_same_document_inline(labelled_store, monkeypatch):
    import bokeh.io
    from bokeh.document import Document

    import latentlab

    path, _, _ = labelled_store
    shown = {}
    monkeypatch.setattr(bokeh.io, "output_notebook", lambda **kw: shown.setdefault("resources", kw["resources"]))
    monkeypatch.setattr(bokeh.io, "show", lambda obj, notebook_url=None: shown.update(app=obj, url=notebook_url))
    app = latentlab.explore(path)
    assert shown["resources"].mode == "inline" and shown["url"] == "localhost:8888"
    doc = Document()
    shown["app"](doc)
    assert shown["app"] == app.modify_doc and len(doc.get_model_by_name("points").data_source.data["x"]) == 600


# -- large views: the server-rendered image, picking and lasso on the server -----------------------------------------

def _rgba(image, iy, ix):
    return image.view(np.uint8).reshape(*image.shape, 4)[iy, ix]


def test_view_image_counts_every_point_in_view_and_colours_each_pixel_by_its_points(labelled_store):
    from latentlab.explore._raster import View, hex_to_rgb, palette

    path, z, y = labelled_store
    data = ExploreData(path)
    px, py = data.plane(0, 1)
    whole = View.around(px, py)
    image, counts, what = data.raster((0, 1), "label", whole, (40, 50))
    assert image.shape == counts.shape == (40, 50) and image.dtype == np.uint32
    assert counts.sum() == 600 and "most frequent category" in what
    rgba = image.view(np.uint8).reshape(40, 50, 4)
    assert ((rgba[..., 3] > 0) == (counts > 0)).all()  # empty pixels are transparent
    # the pixel of each point holds the majority of its points' labels: check against a direct count
    ix = np.minimum(((px - whole.x0) / (whole.x1 - whole.x0) * 50).astype(int), 49)
    iy = np.minimum(((py - whole.y0) / (whole.y1 - whole.y0) * 40).astype(int), 39)
    colours = hex_to_rgb(palette(3))
    for r in range(0, 600, 37):
        here = (ix == ix[r]) & (iy == iy[r])
        assert counts[iy[r], ix[r]] == here.sum()
        votes = np.bincount(y[here], minlength=3)
        if (votes == votes.max()).sum() == 1:
            assert (rgba[iy[r], ix[r], :3] == colours[votes.argmax()]).all()
    # a zoomed view: only the points inside it, and they are exactly view_rows
    zoom = View(float(np.percentile(px, 20)), float(np.percentile(px, 60)), float(np.percentile(py, 30)), float(np.percentile(py, 90)))
    rows = data.view_rows((0, 1), zoom)
    assert set(rows) == set(np.flatnonzero((px >= zoom.x0) & (px <= zoom.x1) & (py >= zoom.y0) & (py <= zoom.y1)))
    _, zoom_counts, _ = data.raster((0, 1), "density", zoom, (30, 30))
    assert zoom_counts.sum() == len(rows) > 0
    # radius: the mean over a pixel's points, on the colour scale of the glyphs
    from bokeh.palettes import Viridis256

    image, counts, what = data.raster((0, 1), "radius", whole, (8, 8))
    lo, hi = data.colour_range(data.colours["radius"])
    ix8 = np.minimum(((px - whole.x0) / (whole.x1 - whole.x0) * 8).astype(int), 7)
    iy8 = np.minimum(((py - whole.y0) / (whole.y1 - whole.y0) * 8).astype(int), 7)
    r0 = int(np.argmax(counts[iy8, ix8]))  # a point in the fullest pixel
    mean = data.colours["radius"].values[(ix8 == ix8[r0]) & (iy8 == iy8[r0])].mean()
    level = int(np.clip((mean - lo) / (hi - lo) * 255, 0, 255))
    assert (_rgba(image, iy8[r0], ix8[r0])[:3] == hex_to_rgb([Viridis256[level]])[0]).all()
    assert "mean radius" in what


def test_pick_and_lasso_on_the_server_match_a_direct_search(labelled_store):
    from matplotlib.path import Path as PolyPath

    path, z, y = labelled_store
    data = ExploreData(path)
    px, py = (a.astype(np.float64) for a in data.plane(0, 2))
    rng = np.random.default_rng(5)
    rx, ry = 0.05 * data.sd[0], 0.08 * data.sd[2]
    for qx, qy in zip(rng.uniform(px.min(), px.max(), 200), rng.uniform(py.min(), py.max(), 200)):
        d2 = ((px - qx) / rx) ** 2 + ((py - qy) / ry) ** 2
        expected = int(np.argmin(d2)) if d2.min() <= 1 else -1
        assert data.pick((0, 2), qx, qy, rx, ry) == expected
    assert data.pick((0, 2), float(px[17]), float(py[17]), rx, ry) == 17
    angles = np.linspace(0, 2 * np.pi, 9)[:-1]
    xs, ys = px.mean() + 1.2 * data.sd[0] * np.cos(angles), py.mean() + 0.9 * data.sd[2] * np.sin(angles)
    rows = data.rows_in_polygon((0, 2), xs, ys)
    inside = np.flatnonzero(PolyPath(np.c_[xs, ys]).contains_points(np.c_[px, py]))
    assert rows.tolist() == inside.tolist() and 0 < len(rows) < 600


def test_a_large_store_shows_an_image_until_a_view_holds_few_points(labelled_store):
    """The document of a store above max_glyphs, driven as the browser would (ranges, a lasso event)."""
    from bokeh.document import Document
    from bokeh.events import SelectionGeometry

    from latentlab.explore import ExploreApp

    path, z, y = labelled_store
    data = ExploreData(path)
    with pytest.raises(Exception, match="max_glyphs"):
        ExploreApp(data, max_glyphs=0)
    doc = Document()
    ExploreApp(data, max_glyphs=100).modify_doc(doc)
    model = doc.get_model_by_name
    points, image, note = model("points-source"), model("image-source"), model("view-note")
    assert len(points.data["row"]) == 0 and len(image.data["image"]) == 1
    assert 'data-mode="image"' in note.text and 'data-count="600"' in note.text

    def fire_timers():
        for cb in list(doc.session_callbacks):
            doc.remove_timeout_callback(cb)
            cb.callback()

    # a lasso on the image: the server selects the rows inside the polygon
    px, py = data.plane(0, 1)
    xs, ys = [float(np.percentile(px, 5)), float(np.percentile(px, 50)), float(np.percentile(px, 50))], \
             [float(np.percentile(py, 50)), float(np.percentile(py, 5)), float(np.percentile(py, 95))]
    fig = model("map")
    fig._trigger_event(SelectionGeometry(fig, geometry={"type": "poly", "x": xs, "y": ys}, final=True))
    lassoed = data.rows_in_polygon((0, 1), xs, ys)
    assert len(lassoed) > 0 and model("status").text.startswith(f"{len(lassoed):,} points selected")
    assert model("lasso-outline").data["x"] == xs
    # zoom in on a lassoed point: the points in view are drawn, the image goes, the selection follows the rows
    r = lassoed[len(lassoed) // 2]
    cx, cy, w = float(px[r]), float(py[r]), 0.05 * float(np.std(px))
    fig.x_range.update(start=cx - w, end=cx + w)
    fig.y_range.update(start=cy - w, end=cy + w)
    fire_timers()
    drawn = np.asarray(points.data["row"])
    assert 0 < len(drawn) <= 100 and len(image.data["image"]) == 0 and 'data-mode="points"' in note.text
    from latentlab.explore._raster import View

    assert drawn.tolist() == data.view_rows((0, 1), View(cx - w, cx + w, cy - w, cy + w).expanded(0.25)).tolist()
    assert r in drawn and drawn[points.selected.indices].tolist() == np.intersect1d(drawn, lassoed).tolist()
    assert model("status").text.startswith(f"{len(lassoed):,} points selected")  # not reset by the redraw
    # back out: the image again
    fig.x_range.update(start=-100, end=100)
    fig.y_range.update(start=-100, end=100)
    fire_timers()
    assert len(points.data["row"]) == 0 and len(image.data["image"]) == 1
