"""Benchmark: `latentlab explore` on a 200,000 × 256 store, driven by headless Chromium.

The store is synthesised with ``latentlab.write_store``: 10 anisotropic Gaussian
classes (one-hot attributes, so the map is coloured by label). Decoding uses
the Fashion-MNIST model's decoder *shape* (32×32 grey, z 256, filters
32-64-128-128) with untrained weights, built with
``latentlab.model.build_decoder`` — decoding costs the same as with trained
weights; ``--model DIR`` uses a real model instead.

Measured (seconds):

* ``load_s``: read the store, PCA (``latentlab.analysis``), scores, colours, decoder warm-up.
* ``first_render_s``: browser ``get`` → every point drawn and the document idle.
* ``click_decode_s``: click on the map → decoded image shown (median of 5; the
  round trip browser → server → decoder → browser).
* ``hover_s``: pointer over a point → its image and id shown (median of 5).
* ``zoom_frame_ms`` / ``pan_frame_ms``: one zoom or pan step → next painted
  frame (median and max of 10 steps each); interactive if well under 1 s.
  Above ``max_glyphs`` (10,000) points in view that frame is the view's
  server-rendered image, moved or scaled at once;
  ``zoom_image_ms`` / ``pan_image_ms``: the step → the re-rendered image of
  the new view received and painted (server render + transfer + paint).
* ``points_zoom_frame_ms`` / ``points_pan_frame_ms``: the same steps zoomed in
  on a view holding at most 10,000 points (drawn as WebGL glyphs), and
  ``points_pan_redraw_ms``: a pan step → the new view's points received and painted.
* ``lasso_sample_s``: fit an ellipsoid on a lasso selection (made on the image,
  answered by the server) and decode 16 samples.

Headless Chromium here renders WebGL in software (SwiftShader); a browser with
a GPU draws faster.

    python benchmarks/bench_explore.py               # 200,000 x 256
    python benchmarks/bench_explore.py --n 20000     # quicker
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_store(path: Path, n: int, dim: int) -> None:
    from latentlab import write_store

    rng = np.random.default_rng(0)
    k = 10
    centres = rng.normal(scale=3.0, size=(k, dim))
    scales = np.exp(rng.normal(scale=0.5, size=(k, dim)))
    y = rng.integers(0, k, size=n)
    z = (centres[y] + rng.standard_normal((n, dim)) * scales[y]).astype(np.float32)
    att = -np.ones((n, k), np.int8)
    att[np.arange(n), y] = 1
    write_store(path, z, ids=[f"s{i:06d}" for i in range(n)], attributes=att,
                attribute_names=[f"class {c}" for c in range(k)])


def make_autoencoder(dim: int, model_dir=None):
    if model_dir:
        from latentlab.generate import load_model

        return load_model(model_dir)
    from latentlab.model import Autoencoder, build_decoder, build_encoder

    filters = (32, 64, 128, 128)
    return Autoencoder(build_encoder(32, 1, dim, filters), build_decoder(32, 1, dim, filters), source="untrained")


_STEP_JS = """
const done = arguments[arguments.length - 1];
const [axis, factor, shift] = [arguments[0], arguments[1], arguments[2]];
const plot = Bokeh.documents[0].get_model_by_name('map');
const r = axis === 'x' ? plot.x_range : plot.y_range;
const t0 = performance.now();
const mid = (r.start + r.end) / 2, half = (r.end - r.start) / 2 * factor, move = (r.end - r.start) * shift;
r.setv({start: mid - half + move, end: mid + half + move});
requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
"""

#: A range step, then wait until the server's answer for the new view (the image of the view, or the points in it)
#: has arrived and is painted; returns [ms to the first frame, ms to the redrawn view].
_REDRAW_JS = """
const done = arguments[arguments.length - 1];
const [axis, factor, shift, watched] = [arguments[0], arguments[1], arguments[2], arguments[3]];
const doc = Bokeh.documents[0], plot = doc.get_model_by_name('map'), src = doc.get_model_by_name(watched);
const r = axis === 'x' ? plot.x_range : plot.y_range;
const before = src.data;
const t0 = performance.now();
let first = null;
const mid = (r.start + r.end) / 2, half = (r.end - r.start) / 2 * factor, move = (r.end - r.start) * shift;
r.setv({start: mid - half + move, end: mid + half + move});
requestAnimationFrame(() => requestAnimationFrame(() => { first = performance.now() - t0; }));
const poll = () => {
  if (src.data !== before && first !== null) {
    requestAnimationFrame(() => requestAnimationFrame(() => done([first, performance.now() - t0])));
  } else if (performance.now() - t0 > 60000) { done([first, -1]); } else { setTimeout(poll, 2); }
};
poll();
"""


def _stats(name: str, values) -> list[str]:
    if not values:
        return []
    return [f"{name}_median={statistics.median(values):.0f}", f"{name}_max={max(values):.0f}"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--model", default=None, help="a real model directory (default: untrained FM-shaped decoder)")
    args = ap.parse_args()

    from latentlab.explore import ExploreApp, ExploreData
    from latentlab.explore._testing import running_app

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "z.h5"
        t = time.perf_counter()
        make_store(store, args.n, args.dim)
        write_s = time.perf_counter() - t
        ae = make_autoencoder(args.dim, args.model)
        t = time.perf_counter()
        data = ExploreData(store, autoencoder=ae)
        app = ExploreApp(data, out_dir=Path(tmp) / "out")
        load_s = time.perf_counter() - t
        with running_app(app) as page:
            first_render_s = page.open(timeout=300)
            webgl = page.js("return Bokeh.index.get_one(model('map')).canvas_view.webgl != null;")
            page.driver.set_script_timeout(120)

            ranges = page.js("const p = model('map'); return [p.x_range.start, p.x_range.end, p.y_range.start, p.y_range.end];")
            large = page.js("return model('image') != null;")
            idle = [page.driver.execute_async_script(_STEP_JS, "x", 1.0, 0.0) for _ in range(5)]
            if large:  # each step waits for the server's image of the new view
                zoom_steps = [page.driver.execute_async_script(_REDRAW_JS, axis, 0.9, 0.0, "image-source")
                              for _ in range(5) for axis in "xy"]
                pan_steps = [page.driver.execute_async_script(_REDRAW_JS, "x", 1.0, 0.05, "image-source")
                             for _ in range(10)]
                zoom, zoom_image = [a for a, _ in zoom_steps], [b for _, b in zoom_steps]
                pan, pan_image = [a for a, _ in pan_steps], [b for _, b in pan_steps]
            else:
                zoom = [page.driver.execute_async_script(_STEP_JS, axis, 0.8, 0.0) for _ in range(5) for axis in "xy"]
                pan = [page.driver.execute_async_script(_STEP_JS, "x", 1.0, 0.05) for _ in range(10)]
                zoom_image = pan_image = []
            points_zoom = points_pan = points_redraw = []
            points_in_view = data.n
            if large:  # zoom in on class 0 until the view holds at most max_glyphs points: they are drawn
                from latentlab.explore._raster import View

                own = data.scores[data.colours["label"].values == 0, :2].astype(np.float64)
                cx, cy = np.median(own, axis=0)
                w, h = 1.5 * data.sd[0], 1.5 * data.sd[1]
                while len(data.view_rows((0, 1), View(cx - w, cx + w, cy - h, cy + h).expanded(0.25))) > app.max_glyphs:
                    w, h = 0.8 * w, 0.8 * h
                page.js("const p = model('map'); p.x_range.setv({start: arguments[0], end: arguments[1]});"
                        "p.y_range.setv({start: arguments[2], end: arguments[3]});", cx - w, cx + w, cy - h, cy + h)
                page.wait("return model('points-source').get_length() > 0 && model('image-source').get_length() === 0;",
                          timeout=120)
                time.sleep(1.0)
                points_in_view = len(data.view_rows((0, 1), View(cx - w, cx + w, cy - h, cy + h)))
                points_zoom = [page.driver.execute_async_script(_STEP_JS, axis, 0.95, 0.0) for _ in range(3) for axis in "xy"]
                page.js("const p = model('map'); p.x_range.setv({start: arguments[0], end: arguments[1]});"
                        "p.y_range.setv({start: arguments[2], end: arguments[3]});", cx - w, cx + w, cy - h, cy + h)
                time.sleep(1.0)
                pan_points = [page.driver.execute_async_script(_REDRAW_JS, "x", 1.0, s, "points-source")
                              for s in (0.02, -0.02) * 4]
                points_pan, points_redraw = [a for a, _ in pan_points], [b for _, b in pan_points]
            page.js("const p = model('map'), r = arguments[0]; p.x_range.setv({start: r[0], end: r[1]});"
                    "p.y_range.setv({start: r[2], end: r[3]});", ranges)
            time.sleep(2.0)
            print("frames:", *(f"{k} {statistics.median(v):.0f}/{max(v):.0f}" for k, v in [
                ("zoom", zoom), ("pan", pan), ("zoom_image", zoom_image), ("pan_image", pan_image),
                ("points_zoom", points_zoom), ("points_pan", points_pan), ("points_redraw", points_redraw)] if v),
                file=sys.stderr, flush=True)

            clicks, click_failures = [], 0
            for k in range(5):
                x, y = 0.3 * (k - 2) * data.sd[0], 0.2 * data.sd[1]
                before = page.js("const d = window.__llDeep(document, 'img[data-role=decoded-image]');"
                                 "return d.length ? d[0].getAttribute('data-x') : '';")
                t = time.perf_counter()
                page.click(*page.to_page(x, y))
                try:
                    page.wait("const d = window.__llDeep(document, 'img[data-role=decoded-image]');"
                              f"return d.length && d[0].getAttribute('data-x') !== {before!r};", timeout=60, poll=0.005)
                    clicks.append(time.perf_counter() - t)
                except TimeoutError:  # counted, not fatal: a page busy repainting may drop a click
                    click_failures += 1

            hovers = []
            rng = np.random.default_rng(1)
            for row in rng.choice(data.n, 5, replace=False):
                t = time.perf_counter()
                page.hover(*page.to_page(data.scores[row, 0], data.scores[row, 1]))
                try:
                    page.wait("const h = window.__llDeep(document, '[data-role=hover]');"
                              "return h.length && h[0].getAttribute('data-row');", timeout=30, poll=0.005)
                    hovers.append(time.perf_counter() - t)
                except TimeoutError:
                    pass
                page.hover(5, 5)

            page.activate_tool("LassoSelectTool")
            # a circle around the middle of class 0 holding about a fifth of it
            own = data.scores[data.colours["label"].values == 0, :2].astype(np.float64) / data.sd[:2]
            centre = np.median(own, axis=0)
            radius = np.percentile(np.linalg.norm(own - centre, axis=1), 20)
            angles = np.linspace(0, 2 * np.pi, 13)
            poly = [page.to_page((centre[0] + radius * np.cos(a)) * data.sd[0], (centre[1] + radius * np.sin(a)) * data.sd[1])
                    for a in angles]
            done_js = ("const m = model('status').text.match(/^([0-9,]+) points selected/);"
                       "return m && !model('sample-button').disabled ? m[1] : false;")
            n_sel = int(str(page.lasso(poly, attempts=3, wait_s=60, done_js=done_js)).replace(",", ""))
            t = time.perf_counter()
            page.press("sample-button")
            page.wait("return window.__llDeep(document, '[data-role=grid]').length > 0;", timeout=300)
            lasso_sample_s = time.perf_counter() - t
            errors = len(page.errors())

    print(f"store {args.n:,} x {args.dim} written in {write_s:.1f} s; decoder: {ae.source or 'untrained FM shape'}")
    print(f"webgl={webgl} console_errors={errors} lasso: {n_sel:,} points; large-view mode {large} "
          f"(zoomed-in view of {points_in_view:,} points drawn as glyphs); "
          f"load average during the run {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(" ".join([
        f"n={args.n}", f"dim={args.dim}", f"load_s={load_s:.2f}", f"first_render_s={first_render_s:.2f}",
        f"click_decode_s={statistics.median(clicks):.3f}" if clicks else "click_decode_s=nan",
        f"click_failures={click_failures}",
        f"hover_s={statistics.median(hovers):.3f}" if hovers else "hover_s=nan",
        f"idle_frame_ms={statistics.median(idle):.0f}", f"zoom_frame_ms_median={statistics.median(zoom):.0f}", f"zoom_frame_ms_max={max(zoom):.0f}",
        f"pan_frame_ms_median={statistics.median(pan):.0f}", f"pan_frame_ms_max={max(pan):.0f}",
        *_stats("zoom_image_ms", zoom_image), *_stats("pan_image_ms", pan_image),
        *_stats("points_zoom_frame_ms", points_zoom), *_stats("points_pan_frame_ms", points_pan),
        *_stats("points_pan_redraw_ms", points_redraw),
        f"lasso_sample_s={lasso_sample_s:.2f}", f"lasso_points={n_sel}",
    ]))


if __name__ == "__main__":
    main()
