"""The Bokeh document of the explorer: one per browser session, all sharing one :class:`ExploreData`.

Everything the user does arrives as a Python callback on the Bokeh server's
event loop (hover index, tap position, lasso selection, buttons) and is
answered by :class:`~latentlab.explore.ExploreData`; the browser only draws.
"""

from __future__ import annotations

import functools
import html
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from ._data import N_SLIDERS, ExploreData, png_data_url
from ._raster import View, palette


__all__ = ["MAX_GLYPHS", "ExploreApp"]

#: Most points drawn as glyphs; a view holding more is shown as a server-rendered image of all of them.
MAX_GLYPHS = 10_000
#: The image (and the glyphs) cover the view plus this share of its size on each side, so a short pan shows no gap.
_VIEW_MARGIN = 0.25
#: Screen pixels per image pixel (a point of the image is about as big as a glyph).
_IMAGE_PX = 2
#: The map's plot frame in pixels (the figure is 720 × 640; axes, title and toolbar take the rest).
_FRAME_PX = (630, 560)
#: At most one re-render of a large view per this many milliseconds while it pans or zooms.
_REFRESH_MS = 100
#: Hovering the image picks the nearest point within this many screen pixels.
_HOVER_PX = 5

#: Pixels an image is shown at (small images are enlarged, pixelated, not blurred).
_SHOWN_PX = 128
_IMG_STYLE = "image-rendering:pixelated;border:1px solid #ccc;"
_NO_MODEL = ("No model given: clicking and sampling do not decode. Start with --model MODEL_DIR "
             "(or --decoder D) to decode positions and samples.")
#: A running fit's progress is drawn on the page every this many seconds.
_FIT_PROGRESS_S = 0.2


def _point_size(n: int) -> float:
    return 7.0 if n <= 2_000 else 4.0 if n <= 50_000 else 2.5


def _img(url: str, role: str, px: int = _SHOWN_PX, extra: str = "") -> str:
    return f'<img data-role="{role}" src="{url}" width="{px}" height="{px}" style="{_IMG_STYLE}" {extra}>'


class ExploreApp:
    """An explorer for one z-store: builds a Bokeh document per browser session.

    Parameters
    ----------
    data : latentlab.explore.ExploreData
    out_dir : path-like, optional
        Where "Save" writes a selection's region and samples
        (default ``explore-<store name>`` in the working directory).
    title : str, optional
    max_glyphs : int, default 10,000
        Stores with more points than this show a view holding more than
        ``max_glyphs`` points as one server-rendered image of all of them
        (re-rendered as the view pans and zooms), and draw individual points,
        with hover and lasso in the browser, once a zoomed view holds at most
        ``max_glyphs``. Hover, click and lasso work on the image too (answered
        by the server). Smaller stores always draw every point.

    Examples
    --------
    ``app.serve(port=5006)`` starts a Bokeh server for it (``latentlab explore`` does that); each browser
    session gets its own document, built as here:

    >>> import pathlib, tempfile
    >>> from bokeh.document import Document
    >>> from latentlab import write_store
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> store = write_store(d / "z.h5", np.random.default_rng(0).normal(size=(40, 3)))
    >>> app = ExploreApp(ExploreData(store), out_dir=d / "out", title="demo")
    >>> doc = Document()
    >>> app.modify_doc(doc)
    >>> doc.title, len(doc.roots), doc.get_model_by_name("points").data_source.data["row"][:3].tolist()
    ('demo', 1, [0, 1, 2])
    """

    def __init__(self, data: ExploreData, *, out_dir=None, title: str | None = None, max_glyphs: int = MAX_GLYPHS):
        if not isinstance(max_glyphs, (int, np.integer)) or max_glyphs < 1:
            raise LatentlabError(f"max_glyphs must be a positive integer, got {max_glyphs!r}")
        self.max_glyphs = int(max_glyphs)
        self.data = data
        self.out_dir = Path(out_dir) if out_dir is not None else Path.cwd() / f"explore-{data.store_path.stem}"
        self.title = title or f"latentlab explore: {data.store_path.name}"
        #: The latest samples of each session (for notebooks: ``app.last_samples``).
        self.last_samples = None
        # Fits run here, off the server's event loop: hover, click and the map answer while a GMM fits.
        # One worker: fits of several sessions queue rather than share two busy cores.
        self._fits = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latentlab-fit")
        if data.has_model:  # trace the decoder now, so the first click is answered at once
            from .._stages import stage

            stage("explore: tracing the decoder")
            data.decode(data.pca.mean_[None, :])

    # -- the document -------------------------------------------------------
    def modify_doc(self, doc) -> None:
        """Fill a Bokeh document (the ``FunctionHandler`` entry point)."""
        from bokeh.events import MouseMove, SelectionGeometry, Tap
        from bokeh.layouts import column, row
        from bokeh.models import (
            Button, ColumnDataSource, CustomJS, Div, HoverTool, LassoSelectTool, LinearColorMapper, Range1d, Select,
            Slider, Spinner, TextInput,
        )
        from bokeh.plotting import figure
        from bokeh.transform import transform

        data = self.data
        # A large store is drawn per view: an image of all points in it, or its points once few enough.
        large = data.n > self.max_glyphs
        state = {"plane": (0, 1), "colour": "label" if "label" in data.colours else "none", "field": None,
                 "xy": (0.0, 0.0), "samples": None, "selection": np.zeros(0, np.int64),
                 "mode": "points", "syncing": False, "refresh_pending": False, "fitting": False}
        axis_names = [f"PC{k + 1}" for k in range(data.n_axes)]

        x, y = data.plane(*state["plane"])
        drawn = np.zeros(0, np.int64) if large else np.arange(data.n)
        source = ColumnDataSource(data={"x": x[drawn], "y": y[drawn], "c": np.zeros(len(drawn), np.float32),
                                        "row": drawn}, name="points-source")
        mapper = LinearColorMapper(palette=["#1f77b4"], low=-0.5, high=0.5, low_color="#dddddd", high_color="#dddddd")
        ranges = {}
        if large:  # fixed ranges: auto-ranging on what is drawn would chase its own image
            start = View.around(x, y)
            ranges = {"x_range": Range1d(start.x0, start.x1), "y_range": Range1d(start.y0, start.y1)}
        fig = figure(name="map", width=720, height=640, output_backend="webgl",
                     tools="pan,wheel_zoom,box_zoom,reset,save", active_scroll="wheel_zoom",
                     title=f"{data.n:,} points of {data.store_path.name} (z_dim {data.z_dim})", **ranges)
        lasso = LassoSelectTool(continuous=False)
        fig.add_tools(lasso)
        if large:
            image_source = ColumnDataSource(data={"image": [], "x": [], "y": [], "dw": [], "dh": []},
                                            name="image-source")
            fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=image_source, name="image")
            outline_source = ColumnDataSource(data={"x": [], "y": []}, name="lasso-outline")
            fig.patch("x", "y", source=outline_source, fill_alpha=0.08, fill_color="black", line_color="black",
                      line_dash="dashed", line_width=1.5, name="lasso-outline-glyph")
        n_glyphs = self.max_glyphs if large else data.n
        points = fig.scatter("x", "y", source=source, name="points", size=_point_size(n_glyphs),
                             fill_color=transform("c", mapper), line_color=None,
                             fill_alpha=0.75 if n_glyphs <= 50_000 else 0.5)
        points.nonselection_glyph.fill_alpha = 0.15
        # While a pan or zoom gesture goes on draw a decimated subset (Bokeh's level of detail), all once it stops.
        fig.lod_factor = max(10, n_glyphs // 10_000)
        marker_source = ColumnDataSource(data={"x": [], "y": []}, name="marker-source")
        fig.scatter("x", "y", source=marker_source, marker="x", size=18, line_width=3, line_color="black",
                    name="decoded-marker")

        hover_state = ColumnDataSource(data={"row": [-1]}, name="hover-state")
        fig.add_tools(HoverTool(renderers=[points], tooltips=None, callback=CustomJS(
            args={"state": hover_state, "points": source}, code="""
            const idx = cb_data.index.indices;
            if (idx.length > 0) {
              const row = points.data.row[idx[0]];
              if (state.data.row[0] !== row) { state.data = {row: [row]}; }
            }
        """)))

        x_select = Select(title="x axis", value=axis_names[0], options=axis_names, name="x-axis", width=110)
        y_select = Select(title="y axis", value=axis_names[1], options=axis_names, name="y-axis", width=110)
        colour_select = Select(title="colour by", value=state["colour"], options=list(data.colours),
                               name="colour", width=230)
        legend = Div(name="legend", width=230)
        view_note = Div(name="view-note", width=230)
        hover_panel = Div(name="hover-panel", width=260,
                          text="<i>Hover a point: its image, id and attributes appear here.</i>")
        decoded_panel = Div(name="decoded-panel", width=260,
                            text=f"<i>{_NO_MODEL}</i>" if not data.has_model else
                            "<i>Click the map: the decoded z of that position appears here.</i>")
        sliders = [Slider(start=-3, end=3, step=0.1, value=0.0, title=f"move along PC{k + 1} (σ)", width=240,
                          name=f"slider-{k}", disabled=not data.has_model)
                   for k in range(min(N_SLIDERS, data.z_dim))]
        region_select = Select(title="region fitted on the lasso selection", value="ellipsoid",
                               options=data.region_names(), name="region", width=240)
        n_spinner = Spinner(title="samples", low=1, high=1024, step=1, value=16, name="n-samples", width=110)
        seed_spinner = Spinner(title="seed", low=0, step=1, value=0, name="seed", width=110)
        sample_button = Button(label="Fit region and sample" if data.has_model else "Fit region (no model: no samples)",
                               button_type="primary", name="sample-button", disabled=True, width=240)
        save_dir = TextInput(title="save into folder", value=str(self.out_dir), name="save-dir", width=240)
        save_button = Button(label="Save region and samples", name="save-button", disabled=True, width=240)
        status = Div(name="status", width=260, text="Lasso some points (the lasso tool), then fit a region.")
        fit_progress = Div(name="fit-progress", width=260, text="")
        grid = Div(name="grid-panel", width=720)

        def set_status(text: str) -> None:
            status.text = html.escape(text)

        def guarded(func):
            @functools.wraps(func)  # Bokeh checks a callback's signature
            def call(*args):
                try:
                    func(*args)
                except LatentlabError as exc:
                    set_status(f"error: {exc}")
            return call

        # -- colouring ------------------------------------------------------
        def recolour() -> None:
            field = state["field"] = data.colour_values(state["colour"], state["plane"])
            if field.categorical:
                k = len(field.categories)
                colours = palette(k)
                mapper.update(palette=colours, low=-0.5, high=k - 0.5)
                counts = np.bincount(field.values[field.values >= 0], minlength=k)
                items = "".join(
                    f'<div data-role="legend-item"><span style="display:inline-block;width:12px;height:12px;'
                    f'background:{colours[c]};margin-right:6px"></span>{html.escape(name)} ({counts[c]:,})</div>'
                    for c, name in enumerate(field.categories))
                missing = int((field.values < 0).sum())
                if missing:
                    items += f'<div data-role="legend-item"><span style="display:inline-block;width:12px;height:12px;' \
                             f'background:#dddddd;margin-right:6px"></span>none ({missing:,})</div>'
                legend.text = f"<b>{html.escape(field.name)}</b>{items}"
            else:
                from bokeh.palettes import Viridis256

                lo, hi = data.colour_range(field)
                mapper.update(palette=list(Viridis256), low=lo, high=hi,
                              low_color=Viridis256[0], high_color=Viridis256[-1])
                what = "log(1 + points per bin) in this plane" if field.name == "density" else "‖z‖"
                legend.text = (f'<b>{html.escape(field.name)}</b> <small>({what})</small>'
                               f'<div data-role="legend-item" style="height:12px;width:200px;background:linear-gradient('
                               f'to right, {Viridis256[0]}, {Viridis256[128]}, {Viridis256[-1]})"></div>'
                               f'<div style="width:200px;display:flex;justify-content:space-between">'
                               f'<span>{lo:.3g}</span><span>{hi:.3g}</span></div>')
            if field.categorical:
                mapper.update(low_color="#dddddd", high_color="#dddddd")
            if large:
                refresh_view()
            else:
                source.data["c"] = np.asarray(field.values, np.float32)

        # -- large stores: what the view shows -------------------------------
        def refresh_view() -> None:
            """Draw the current view: an image of all its points, or the points themselves when few enough."""
            state["refresh_pending"] = False
            xr, yr = fig.x_range, fig.y_range
            try:
                view = View(min(xr.start, xr.end), max(xr.start, xr.end), min(yr.start, yr.end), max(yr.start, yr.end))
            except (TypeError, ValueError):  # a range collapsed to nothing: keep what is shown
                return
            wide = view.expanded(_VIEW_MARGIN)
            rows = data.view_rows(state["plane"], wide)
            px, py = data.plane(*state["plane"])
            in_view = int(view.contains(px[rows], py[rows]).sum())
            state["syncing"] = True  # selection changes made here are not the user's
            try:
                if len(rows) <= self.max_glyphs:
                    state["mode"] = "points"
                    source.data = {"x": px[rows], "y": py[rows], "c": np.asarray(state["field"].values[rows], np.float32),
                                   "row": rows}
                    source.selected.indices = np.flatnonzero(np.isin(rows, state["selection"])).tolist()
                    image_source.data = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
                    view_note.text = (f'<div data-role="view-note" data-mode="points" data-count="{in_view}">'
                                      f'<small>{in_view:,} points in view, each drawn (hover, lasso)</small></div>')
                else:
                    state["mode"] = "image"
                    shape = tuple(round(p * (1 + 2 * _VIEW_MARGIN) / _IMAGE_PX) for p in _FRAME_PX[::-1])
                    image, _, what = data.raster(state["plane"], state["colour"], wide, shape)
                    image_source.data = {"image": [image], "x": [wide.x0], "y": [wide.y0],
                                         "dw": [wide.x1 - wide.x0], "dh": [wide.y1 - wide.y0]}
                    if len(source.data["row"]):
                        source.selected.indices = []
                        source.data = {"x": [], "y": [], "c": [], "row": []}
                    view_note.text = (
                        f'<div data-role="view-note" data-mode="image" data-count="{in_view}"><small>'
                        f'{in_view:,} points in view, shown as an image rendered on the server ({html.escape(what)}). '
                        f'Zoom in to at most {self.max_glyphs:,} points to see each point.</small></div>')
            finally:
                state["syncing"] = False

        def on_range(attr, old, new):
            if not state["refresh_pending"]:  # throttle: the latest range is drawn when the timer fires
                state["refresh_pending"] = True
                doc.add_timeout_callback(guarded(refresh_view), _REFRESH_MS)

        def on_image_hover(event):
            if state["mode"] != "image":
                return  # the glyphs' own hover tool answers
            xr, yr = fig.x_range, fig.y_range
            rx = abs(xr.end - xr.start) / _FRAME_PX[0] * _HOVER_PX
            ry = abs(yr.end - yr.start) / _FRAME_PX[1] * _HOVER_PX
            r = data.pick(state["plane"], float(event.x), float(event.y), rx, ry)
            if r >= 0 and hover_state.data["row"][0] != r:
                hover_state.data = {"row": [r]}

        def on_colour(attr, old, new):
            state["colour"] = new
            recolour()

        def on_plane(attr, old, new):
            i, j = axis_names.index(x_select.value), axis_names.index(y_select.value)
            if i == j:
                set_status("choose two different axes")
                return
            state["plane"] = (i, j)
            px, py = data.plane(i, j)
            if large:
                start = View.around(px, py)
                fig.x_range.update(start=start.x0, end=start.x1, reset_start=start.x0, reset_end=start.x1)
                fig.y_range.update(start=start.y0, end=start.y1, reset_start=start.y0, reset_end=start.y1)
                outline_source.data = {"x": [], "y": []}
            else:
                source.data.update(x=px, y=py)
            ratio = data.pca.explained_variance_ratio_
            fig.xaxis.axis_label = f"PC{i + 1} ({ratio[i]:.1%} of the variance)"
            fig.yaxis.axis_label = f"PC{j + 1} ({ratio[j]:.1%} of the variance)"
            if data.colours[state["colour"]].plane_dependent or state["field"] is None:
                recolour()
            elif large:
                refresh_view()
            marker_source.data = {"x": [], "y": []}

        # -- hover ----------------------------------------------------------
        def on_hover(attr, old, new):
            rows = new.get("row", [-1])
            r = int(rows[0]) if len(rows) else -1
            if not 0 <= r < data.n:
                return
            info = data.describe_row(r)
            image, kind = data.image(r)
            pic = (_img(png_data_url(image), "hover-image", extra=f'data-kind="{kind}"') if image is not None
                   else f"<i>no image: {html.escape(data.originals_note)} and no model</i>")
            lines = "".join(f"<div><b>{html.escape(k)}</b> {html.escape(_fmt(v))}</div>"
                            for k, v in info.items() if k not in ("id",))
            hover_panel.text = (f'<div data-role="hover" data-row="{r}" data-id="{html.escape(info["id"])}">'
                                f'<div><b>id</b> <span data-role="hover-id">{html.escape(info["id"])}</span></div>'
                                f'{pic}<div><small>{kind}</small></div>{lines}</div>')

        # -- click: decode --------------------------------------------------
        def redecode() -> None:
            i, j = state["plane"]
            x0, y0 = state["xy"]
            offsets = [s.value for s in sliders]
            decoded = data.decode_at(i, j, x0, y0, offsets)
            mx, my = data.map_position(decoded.z, i, j)
            marker_source.data = {"x": [mx], "y": [my]}
            where = (f"PC{i + 1} = {x0:.3g}, PC{j + 1} = {y0:.3g}; other axes at the mean of the "
                     f"{decoded.neighbours} nearest points")
            moved = ", ".join(f"PC{k + 1} {v:+.1f}σ" for k, v in enumerate(offsets) if v)
            pic = (_img(png_data_url(decoded.image), "decoded-image", extra=f'data-x="{x0!r}" data-y="{y0!r}"')
                   if decoded.image is not None else f"<i>{_NO_MODEL}</i>")
            decoded_panel.text = (f'<div data-role="decoded"><b>decoded</b><br>{pic}<div><small>{html.escape(where)}'
                                  f'{"; moved " + html.escape(moved) if moved else ""}</small></div></div>')

        def on_tap(event):
            state["xy"] = (float(event.x), float(event.y))
            redecode()

        def on_slider(attr, old, new):
            redecode()

        # -- lasso: fit, sample, save --------------------------------------
        def select_rows(rows) -> None:
            state["selection"] = rows = np.asarray(rows, dtype=np.int64)
            n_sel = len(rows)
            sample_button.disabled = state["fitting"] or n_sel < 2
            if not state["fitting"]:  # the running fit's status stays until it ends
                set_status(f"{n_sel:,} points selected" + ("" if data.has_model or not n_sel else f"; {_NO_MODEL}"))

        def on_selection(attr, old, new):
            if state["syncing"] or state["mode"] == "image":
                return  # the server set it, or there are no glyphs to select: the lasso's polygon decides
            drawn_rows = np.asarray(source.data["row"], dtype=np.int64)
            select_rows(drawn_rows[np.asarray(new, dtype=np.int64)] if len(new) else [])
            if large:
                outline_source.data = {"x": [], "y": []}

        def on_lasso_geometry(event):
            geometry = event.geometry or {}
            if not event.final or geometry.get("type") != "poly" or state["mode"] != "image":
                return
            xs, ys = np.asarray(geometry["x"], np.float64), np.asarray(geometry["y"], np.float64)
            select_rows(data.rows_in_polygon(state["plane"], xs, ys))
            outline_source.data = {"x": xs.tolist(), "y": ys.tolist()}

        def show_fit_progress(description: str, done: int, total, fields: dict, seconds: float) -> None:
            extra = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
            bar = (f'<progress data-role="fit-bar" value="{done}" max="{total}" style="width:240px"></progress>'
                   if total else "")
            fit_progress.text = (f'<div data-role="fit-progress" data-done="{done}" data-total="{total or ""}">'
                                 f'<small>{html.escape(description)}: {done}{f"/{total}" if total else ""}'
                                 f'{" — " + html.escape(extra) if extra else ""} ({seconds:.0f} s)</small>{bar}</div>')

        def fit_finished(future, region: str, n_rows: int, n: int, seconds: float) -> None:
            state["fitting"] = False
            sample_button.disabled = len(state["selection"]) < 2
            region_select.disabled = False
            fit_progress.text = ""
            try:
                samples = future.result()
            except LatentlabError as exc:
                set_status(f"error: {exc}")
                return
            except Exception as exc:  # a bug in a fit must not kill the session: say it on the page
                set_status(f"error: internal error while fitting {region}: {type(exc).__name__}: {exc}")
                return
            state["samples"] = self.last_samples = samples
            if samples.images is not None:
                tiles = "".join(_img(png_data_url(im), "sample-image", px=96) for im in samples.images)
                grid.text = (f'<div data-role="grid" data-n="{len(samples.images)}"><b>{len(samples.images)} samples '
                             f'from {html.escape(region)} fitted on {n_rows:,} selected points</b>'
                             f'<div style="display:flex;flex-wrap:wrap;gap:2px;max-width:720px">{tiles}</div></div>')
                set_status(f"fitted {region} on {n_rows:,} points in {seconds:.1f} s; {n} samples decoded")
            else:
                grid.text = (f'<div data-role="grid" data-n="0"><b>{html.escape(region)} fitted on {n_rows:,} selected '
                             f'points</b>: no model to decode samples; save the region and sample it later with '
                             f'<code>latentlab sample --region-file</code></div>')
                set_status(f"fitted {region} on {n_rows:,} points in {seconds:.1f} s")
            save_button.disabled = False

        def on_sample():
            if state["fitting"]:
                return
            rows = state["selection"].copy()
            region = region_select.value
            n, seed = int(n_spinner.value), int(seed_spinner.value or 0)
            state["fitting"] = True
            sample_button.disabled = region_select.disabled = True
            set_status(f"fitting {region} on {len(rows):,} points …")
            t0 = time.perf_counter()
            latest = {}  # written by the worker, drawn by a periodic callback on the loop

            def to_page(callback, *args) -> None:  # from the worker: Bokeh's thread-safe way into the document
                try:
                    doc.add_next_tick_callback(functools.partial(callback, *args))
                except Exception:  # the page was closed meanwhile: nobody to tell
                    pass

            def report(description, done, total, fields) -> None:
                latest["now"] = (str(description), int(done), total, dict(fields))

            def draw_progress() -> None:
                if state["fitting"] and "now" in latest:
                    show_fit_progress(*latest["now"], time.perf_counter() - t0)

            ticker = doc.add_periodic_callback(draw_progress, int(_FIT_PROGRESS_S * 1000))

            def work():
                from ..regions._progress import progress_to

                with progress_to(report):
                    return data.sample_selection(rows, region, n=n, seed=seed)

            def finished(future) -> None:
                try:
                    doc.remove_periodic_callback(ticker)
                except ValueError:  # already removed
                    pass
                fit_finished(future, region, len(rows), n, time.perf_counter() - t0)

            future = self._fits.submit(work)
            future.add_done_callback(lambda f: to_page(finished, f))

        def on_save():
            if state["samples"] is None:
                set_status("nothing to save yet: fit a region and sample first")
                return
            from .._checks import check_inside

            # the page's folder field is confined to --out: whoever drives the page writes nowhere else
            target = check_inside(self.out_dir, save_dir.value.strip() or self.out_dir, "save folder")
            try:
                files = data.save_samples(state["samples"], target)
            except OSError as exc:  # a full disk or a read-only folder: said on the page, the server goes on
                set_status(f"error: {exc.filename or target}: {exc.strerror or exc}")
                return
            set_status("wrote " + ", ".join(str(p) for p in files.values()))

        colour_select.on_change("value", guarded(on_colour))
        x_select.on_change("value", guarded(on_plane))
        y_select.on_change("value", guarded(on_plane))
        hover_state.on_change("data", guarded(on_hover))
        if data.has_model:
            fig.on_event(Tap, guarded(on_tap))
            for s in sliders:
                s.on_change("value_throttled", guarded(on_slider))
        source.selected.on_change("indices", guarded(on_selection))
        if large:
            for r in (fig.x_range, fig.y_range):
                r.on_change("start", guarded(on_range))
                r.on_change("end", guarded(on_range))
            fig.on_event(MouseMove, guarded(on_image_hover))
            fig.on_event(SelectionGeometry, guarded(on_lasso_geometry))
        sample_button.on_click(guarded(on_sample))
        save_button.on_click(guarded(on_save))

        on_plane(None, None, None)  # draws the first view, with its colouring
        controls = column(row(x_select, y_select), colour_select, legend, view_note, width=240)
        side = column(hover_panel, decoded_panel, *sliders, width=270)
        lasso_panel = column(region_select, row(n_spinner, seed_spinner), sample_button, save_dir, save_button,
                             status, fit_progress, width=270)
        doc.add_root(column(row(controls, fig, side, lasso_panel), grid, name="explore"))
        doc.title = self.title

    # -- serving --------------------------------------------------------------
    def serve(self, port: int = 5006, host: str = "127.0.0.1", *, io_loop=None):
        """Start a Bokeh server for this app (not yet running its loop); see :func:`~latentlab.explore.make_server`."""
        from ._server import make_server

        return make_server(self, port=port, host=host, io_loop=io_loop)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "–"
    return str(value)
