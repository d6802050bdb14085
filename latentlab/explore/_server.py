"""Serving the explorer: a Bokeh server (Tornado) bound to one local address.

BokehJS is served by the same server (``/static``), so the page needs no CDN
and works offline.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from .._errors import LatentlabError

__all__ = ["check_port", "make_server"]


def _check_host(host: str) -> str:
    if not isinstance(host, str) or not host.strip():
        raise LatentlabError(f"--host: expected an address such as 127.0.0.1, got {host!r}")
    host = host.strip()
    if host == "localhost":
        return host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise LatentlabError(f"--host: {host!r} is not an IP address (use 127.0.0.1, 0.0.0.0 or localhost)") from None
    return host


def check_port(port: int, host: str = "127.0.0.1") -> None:
    """Refuse (one line) a port outside 1..65535 or one that another program is listening on."""
    host = _check_host(host)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise LatentlabError(f"--port: expected 1..65535, got {port!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Tornado binds with SO_REUSEADDR; probe the same way, so only a live listener counts as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise _port_error(exc, host, port) from None


def _port_error(exc: OSError, host: str, port: int) -> LatentlabError:
    if exc.errno == errno.EADDRINUSE:
        return LatentlabError(f"port {port} on {host} is in use (choose another with --port)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return LatentlabError(f"port {port} on {host}: permission denied (choose a port above 1023 with --port)")
    return LatentlabError(f"cannot listen on {host}:{port} ({exc.strerror or exc})")


def make_server(app, *, port: int = 5006, host: str = "127.0.0.1", io_loop=None):
    """A started (listening) Bokeh ``Server`` for an :class:`~latentlab.explore.ExploreApp` at ``/``.

    Run its loop with ``server.io_loop.start()`` (or ``server.run_until_shutdown()``).
    Only pages served from ``host:port`` (and ``localhost:port``) may open its websocket.
    """
    from bokeh.application import Application
    from bokeh.application.handlers import FunctionHandler
    from bokeh.server.server import Server

    check_port(port, host)
    origins = {f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"}
    kw = {"io_loop": io_loop} if io_loop is not None else {}
    try:
        server = Server({"/": Application(FunctionHandler(app.modify_doc))}, port=port, address=host,
                        allow_websocket_origin=sorted(origins), **kw)
    except OSError as exc:
        raise _port_error(exc, host, port) from None
    server.start()
    return server
