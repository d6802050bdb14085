"""Drive the explorer in a real headless Chromium: used by the tests, the benchmark and the docs' screenshots.

Needs Selenium and a Chromium + chromedriver (Debian: ``chromium``,
``chromium-driver``). The server runs in a thread of the calling process on
a free loopback port; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from contextlib import contextmanager

import numpy as np

__all__ = ["AppInBrowser", "chromium_available", "free_port", "running_app"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

#: Searches every shadow root (Bokeh 3 renders widgets inside them).
_DEEP_QUERY = """
window.__llDeep = function(root, sel) {
  const out = [...root.querySelectorAll(sel)];
  for (const el of root.querySelectorAll('*')) if (el.shadowRoot) out.push(...window.__llDeep(el.shadowRoot, sel));
  return out;
};
"""


def chromium_available() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return bool(shutil.which(CHROMIUM) or shutil.which("chromium")) and bool(
        shutil.which(CHROMEDRIVER) or shutil.which("chromedriver"))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def serving(app, port: int | None = None):
    """Serve ``app`` on 127.0.0.1 in a background thread; yields the URL."""
    import asyncio

    from tornado.ioloop import IOLoop

    from ._server import make_server

    port = port or free_port()
    box, ready = {}, threading.Event()

    def run():
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        try:
            box["server"] = make_server(app, port=port, host="127.0.0.1", io_loop=loop)
        except BaseException as exc:  # report to the caller rather than dying silently
            box["error"] = exc
            ready.set()
            return
        box["loop"] = loop
        ready.set()
        loop.start()
        loop.close(all_fds=True)

    thread = threading.Thread(target=run, name="latentlab-explore", daemon=True)
    thread.start()
    ready.wait(60)
    if "error" in box:
        raise box["error"]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        loop = box["loop"]

        def stop():
            box["server"].stop()
            loop.stop()

        loop.add_callback(stop)
        thread.join(10)


def chrome(width: int = 1600, height: int = 1000):
    """A headless Chromium (WebGL through SwiftShader when there is no GPU) that keeps its console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--no-proxy-server",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which(CHROMIUM) or shutil.which("chromium")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which(CHROMEDRIVER) or shutil.which("chromedriver")), options=opts)


class AppInBrowser:
    """A page of the explorer in Chromium, with helpers that speak in the map's data coordinates."""

    def __init__(self, driver, url: str):
        self.driver, self.url = driver, url

    def open(self, timeout: float = 60.0) -> float:
        """Load the page; returns seconds until the map (its points, or the image of a large view) is rendered
        and the document is idle."""
        t0 = time.perf_counter()
        self.driver.get(self.url)
        self.wait("""const d = window.Bokeh && Bokeh.documents[0]; if (!d) return false;
                     const p = d.get_model_by_name('points'); if (!p) return false;
                     const image = d.get_model_by_name('image');
                     if (image && image.data_source.get_length() === 0) return false;
                     const done = m => { const v = Bokeh.index.get_one(m); return !!(v && v.has_finished()); };
                     return done(p) && (!image || done(image)) && d.is_idle;""", timeout)
        self.driver.execute_script(_DEEP_QUERY)
        return time.perf_counter() - t0

    _PRELUDE = "const doc = window.Bokeh && Bokeh.documents[0]; const model = n => doc.get_model_by_name(n);\n"

    def js(self, code: str, *args):
        return self.driver.execute_script(self._PRELUDE + code, *args)

    def wait(self, condition_js: str, timeout: float = 30.0, poll: float = 0.05):
        """Wait until the JS body returns something truthy; returns it."""
        deadline = time.perf_counter() + timeout
        last_error = None
        while time.perf_counter() < deadline:
            try:
                value = self.driver.execute_script(self._PRELUDE + condition_js)
                if value:
                    return value
            except Exception as exc:  # the page may still be loading
                last_error = exc
            time.sleep(poll)
        raise TimeoutError(f"timed out waiting for: {condition_js.strip()[:200]} ({last_error})")

    def to_page(self, x: float, y: float) -> tuple[float, float]:
        """Viewport pixel of data point (x, y) on the map."""
        px, py = self.js("""const v = Bokeh.index.get_one(model('map'));
            const r = v.canvas_view.el.getBoundingClientRect();
            return [r.left + v.frame.x_scale.compute(arguments[0]), r.top + v.frame.y_scale.compute(arguments[1])];""",
                         float(x), float(y))
        return px, py

    def to_data(self, px: float, py: float) -> tuple[float, float]:
        x, y = self.js("""const v = Bokeh.index.get_one(model('map'));
            const r = v.canvas_view.el.getBoundingClientRect();
            return [v.frame.x_scale.invert(arguments[0] - r.left), v.frame.y_scale.invert(arguments[1] - r.top)];""",
                       float(px), float(py))
        return x, y

    def _actions(self):
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        return ActionBuilder(self.driver, duration=10)

    def hover(self, px: float, py: float) -> None:
        a = self._actions()
        a.pointer_action.move_to_location(int(round(px)), int(round(py)))
        a.perform()

    def click(self, px: float, py: float) -> None:
        a = self._actions()
        a.pointer_action.move_to_location(int(round(px)), int(round(py))).click()
        a.perform()

    def drag_path(self, points, step_ms: int = 50, settle_s: float = 1.0) -> None:
        """Press at the first pixel, move through the others, release (a lasso).

        Each move takes ``step_ms``, so that a busy page still receives every
        move (coalesced moves back to the start would read as a tap, not a drag).
        """
        from selenium.webdriver.common.actions.action_builder import ActionBuilder

        pts = [(int(round(x)), int(round(y))) for x, y in points]
        if len(pts) > 2 and pts[-1] == pts[0]:
            pts = pts[:-1]  # the lasso closes itself
        # Arrive first and let the page settle: hovering there may make the server update the page, and a
        # press that waits behind that repaint reads as Bokeh's "press" gesture, not the start of a drag.
        self.hover(*pts[0])
        time.sleep(settle_s)
        # Bokeh reads a press that has not moved 5 px within 300 ms as a "press", not a drag: so the first move
        # goes straight to the first pixel 8 px away (skipping only points on the path's straight first stretch).
        first = next((k for k, p in enumerate(pts) if np.hypot(p[0] - pts[0][0], p[1] - pts[0][1]) >= 8), 1)
        a = ActionBuilder(self.driver, duration=step_ms)
        a.pointer_action.move_to_location(*pts[0]).pointer_down()  # no pause after pressing, for the same reason
        for p in pts[first:]:
            a.pointer_action.move_to_location(*p)
        a.pointer_action.release()
        a.perform()

    def lasso(self, points, attempts: int = 3, wait_s: float = 20.0, done_js: str | None = None):
        """Draw a lasso through ``points`` (pixels); returns the selected indices (or what ``done_js`` returns).

        A page busy repainting may coalesce the moves of a drag into too few to
        make a lasso; then the gesture is drawn again (at most ``attempts`` times).
        ``done_js`` says when the selection arrived (default: the drawn points'
        selection is not empty; a server-rendered view's lasso is answered by the server).
        """
        pts = np.asarray(points, dtype=float)
        dense = np.concatenate([np.linspace(a, b, 4, endpoint=False) for a, b in zip(pts[:-1], pts[1:])])
        done_js = done_js or "const s = model('points-source').selected.indices; return s.length ? s : false;"
        for _ in range(attempts):
            self.drag_path(dense)
            try:
                return self.wait(done_js, timeout=wait_s)
            except TimeoutError:
                continue
        raise TimeoutError(f"no selection after {attempts} lasso gestures")

    def activate_tool(self, type_name: str) -> None:
        self.js("model('map').toolbar.tools.find(t => t.type === arguments[0]).active = true;", type_name)

    def set_value(self, name: str, value) -> None:
        self.js("model(arguments[0]).value = arguments[1];", name, value)

    def press(self, name: str) -> None:
        """Click a Bokeh button by its model name, as a user would."""
        button = self.driver.execute_script(
            "return Bokeh.index.get_one(Bokeh.documents[0].get_model_by_name(arguments[0])).el.shadowRoot"
            ".querySelector('button')", name)
        button.click()

    def deep(self, selector: str):
        return self.driver.execute_script(_DEEP_QUERY + "return window.__llDeep(document, arguments[0]);", selector)

    def errors(self) -> list[dict]:
        return [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def resource_urls(self) -> list[str]:
        return self.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")


@contextmanager
def running_app(app, *, width: int = 1600, height: int = 1000):
    """Serve ``app`` and open it in headless Chromium; yields an :class:`AppInBrowser` (page not yet loaded)."""
    with serving(app) as url:
        driver = chrome(width, height)
        try:
            yield AppInBrowser(driver, url)
        finally:
            driver.quit()
