"""Who may use a running explorer: loopback by default, a token off it, Origin checked on every websocket,
saves confined to --out. Real HTTP requests against a real server (threads of this process, or the CLI)."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

from latentlab import write_store
from latentlab.cli import main
from latentlab.explore._testing import free_port

_WS_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("access") / "z.h5"
    write_store(path, np.random.default_rng(0).normal(size=(200, 4)))
    return path


def _request(host, port, path="/", headers=None, method="GET"):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read(400)
    finally:
        conn.close()


def _websocket(host, port, headers=None):
    status, _, body = _request(host, port, "/ws", {**_WS_HEADERS, **(headers or {})})
    return status, body


@contextmanager
def _serving(store, host, port, **kw):
    """``make_server`` on ``host`` in a thread of this process; yields the server."""
    from tornado.ioloop import IOLoop

    from latentlab.explore import ExploreApp, ExploreData, make_server

    box, ready = {}, threading.Event()

    def run():
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        try:
            box["server"] = make_server(ExploreApp(ExploreData(store)), port=port, host=host, io_loop=loop, **kw)
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            return
        box["loop"] = loop
        ready.set()
        loop.start()
        loop.close(all_fds=True)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(60)
    if "error" in box:
        raise box["error"]
    try:
        yield box["server"]
    finally:
        def stop():
            box["server"].stop()
            box["loop"].stop()

        box["loop"].add_callback(stop)
        thread.join(10)


def test_a_host_other_machines_reach_needs_allow_remote(store, capsys):
    for host in ("0.0.0.0", "::"):
        rc = main(["explore", str(store), "--host", host, "--port", str(free_port())])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "--allow-remote" in err and f"--host {host}" in err, err


def test_loopback_serves_without_token_and_the_websocket_needs_our_own_origin(store):
    port = free_port()
    with _serving(store, "127.0.0.1", port) as server:
        assert server.latentlab_url == f"http://127.0.0.1:{port}/" and server.latentlab_token is None
        status, _, page = _request("127.0.0.1", port)
        assert status == 200 and b"bokeh" in page.lower()
        # a script or another user's process sends no Origin: Tornado alone would let it drive the page
        assert _websocket("127.0.0.1", port)[0] == 403
        assert _websocket("127.0.0.1", port, {"Origin": "http://evil.example"})[0] == 403
        assert _websocket("127.0.0.1", port, {"Origin": f"http://127.0.0.1:{port + 1}"})[0] == 403
        assert _websocket("127.0.0.1", port, {"Origin": f"http://127.0.0.1:{port}"})[0] == 101
        assert _websocket("127.0.0.1", port, {"Origin": f"http://localhost:{port}"})[0] == 101


def test_ipv6_loopback_is_served(store):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    with _serving(store, "::1", port) as server:
        assert server.latentlab_url == f"http://[::1]:{port}/"
        assert _request("::1", port)[0] == 200
        assert _websocket("::1", port, {"Origin": f"http://[::1]:{port}"})[0] == 101
        assert _websocket("::1", port)[0] == 403


def test_off_loopback_nothing_is_served_without_the_token_and_sigterm_is_one_line(store, tmp_path):
    port = free_port("0.0.0.0")
    proc = subprocess.Popen([sys.executable, "-c", "from latentlab.cli import main; main()", "explore", str(store),
                             "--host", "0.0.0.0", "--allow-remote", "--port", str(port), "--out", str(tmp_path / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "latentlab explore: http" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()
        url = line.split()[2]
        assert "?token=" in url
        token = url.split("?token=")[1]
        assert len(token) >= 40  # secrets.token_urlsafe(32)
        for path in ("/", "/static/js/bokeh.min.js", "/?token=wrong", f"/?token={token[:-1]}"):
            status, _, body = _request("127.0.0.1", port, path)
            assert status == 403 and b"token" in body, path
        own = {"Origin": f"http://127.0.0.1:{port}"}
        assert _websocket("127.0.0.1", port, own)[0] == 403  # an allowed origin is not enough
        status, headers, _ = _request("127.0.0.1", port, f"/?token={token}")
        assert status == 302 and headers["Location"] == "/"  # the token leaves the address bar
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        jar = {"Cookie": cookie.split(";")[0]}
        assert _request("127.0.0.1", port, "/", jar)[0] == 200
        status, _, script = _request("127.0.0.1", port, "/static/js/bokeh.min.js", jar)
        assert status == 200 and len(script) > 100
        assert _websocket("127.0.0.1", port, {**jar, **own})[0] == 101
        assert _websocket("127.0.0.1", port, jar)[0] == 403  # the cookie without an Origin
        assert _request("127.0.0.1", port, "/", {"Cookie": jar["Cookie"][:-2] + "xx"})[0] == 403
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    lines = err.strip().splitlines()
    # (Bokeh logs its own complaint about the raw handshakes above, which speak no Bokeh protocol)
    assert lines[0].startswith("warning: serving to other machines") and lines[-1] == "terminated (SIGTERM)", err


def test_the_save_folder_is_confined_to_out(tmp_path):
    from latentlab._checks import check_inside

    root = tmp_path / "out"
    (root / "inside").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, root / "link")
    assert check_inside(root, root / "inside", "save folder") == (root / "inside").resolve()
    assert check_inside(root, root / "new" / "deeper") == (root / "new" / "deeper").resolve()
    assert check_inside(root, "") == root.resolve()
    for escape in (root / ".." / "elsewhere", outside, root / "link", root / "link" / "x", "/etc", tmp_path):
        with pytest.raises(ValueError, match="outside"):
            check_inside(root, escape, "save folder")



@pytest.mark.skipif(not __import__("latentlab.explore._testing", fromlist=["x"]).chromium_available(),
                    reason="needs selenium, chromium and chromedriver")
def test_the_page_cannot_save_outside_out(demo, tmp_path):
    """In a real browser: the "save into folder" field pointing outside --out (``..``, a symlink) is refused on
    the page and nothing is written there; a folder inside --out is written."""
    from latentlab.explore import ExploreApp, load_explore_data
    from latentlab.explore._testing import running_app

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "link")
    app = ExploreApp(load_explore_data(demo.store, model_dir=demo.model_dir), out_dir=out)
    data = app.data
    with running_app(app) as page:
        page.open()
        page.activate_tool("LassoSelectTool")
        angles = np.linspace(0, 2 * np.pi, 7)
        poly = np.c_[1.5 * data.sd[0] * np.cos(angles), 1.5 * data.sd[1] * np.sin(angles)]
        assert len(page.lasso([page.to_page(x, y) for x, y in poly])) >= 2
        page.wait("return !model('sample-button').disabled;", timeout=60)
        page.set_value("n-samples", 4)
        page.set_value("region", "mnd")
        page.press("sample-button")
        page.wait("return !model('save-button').disabled;", timeout=120)
        for escape in (str(out / ".." / "elsewhere"), str(out / "link"), str(elsewhere)):
            page.js("model('status').text = '';")
            page.set_value("save-dir", escape)
            page.press("save-button")
            status = page.wait("const t = model('status').text; return t.startsWith('error') && t;", timeout=60)
            assert "outside" in status, status
        page.set_value("save-dir", str(out / "kept"))
        page.press("save-button")
        page.wait("return model('status').text.startsWith('wrote');", timeout=60)
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in (out / "kept").iterdir()) == [
        "selection_001.h5", "selection_001.png", "selection_001.region"]
