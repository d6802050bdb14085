"""Serving the explorer: a Bokeh server (Tornado) bound to one address, loopback unless asked otherwise.

BokehJS is served by the same server (``/static``), so the page needs no CDN
and works offline.

What the server exposes (the threat model is in ``docs/reliability.md``): the
page lets its user read every point, id and image of the store, decode z-points
with the model and write selections into the ``--out`` folder. So:

* it listens on loopback (``127.0.0.1``, ``::1``, ``localhost``) unless
  ``allow_remote=True`` (``--allow-remote``) is given with another address;
* off loopback every request (page, ``/static``, websocket) needs a random
  token (:func:`secrets.token_urlsafe`): the printed URL carries it once, the
  server answers with an ``HttpOnly``, ``SameSite=Strict`` cookie and a
  redirect to the URL without it; anything else gets 403;
* the websocket is refused to a client that sends no ``Origin`` header (a script
  or another local user's process, which Tornado would let through) and to pages
  served from anywhere but this server's own addresses.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import logging
import secrets
import socket
from urllib.parse import parse_qsl, urlencode, urlsplit

from .._errors import LatentlabError

__all__ = ["check_host", "check_port", "is_loopback", "make_server", "server_url"]

#: Query parameter and cookie (suffixed by the port) that carry the access token off loopback.
TOKEN_PARAM = "token"
_COOKIE = "latentlab_explore_{port}"


def check_host(host: str, *, allow_remote: bool = False) -> str:
    """``host`` when it is an address to listen on; a non-loopback one only with ``allow_remote``.

    Examples
    --------
    >>> check_host("::1")
    '::1'
    >>> try:
    ...     check_host("0.0.0.0")
    ... except ValueError as exc:
    ...     print(str(exc)[:46])
    --host 0.0.0.0: not this machine only; the exp
    >>> check_host("0.0.0.0", allow_remote=True)
    '0.0.0.0'
    """
    if not isinstance(host, str) or not host.strip():
        raise LatentlabError(f"--host: expected an address such as 127.0.0.1, got {host!r}")
    host = host.strip()
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise LatentlabError(f"--host: {host!r} is not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or localhost)") from None
    if not is_loopback(host) and not allow_remote:
        raise LatentlabError(
            f"--host {host}: not this machine only; the explorer shows every point and image of the store and writes"
            f" into --out, so serving it to other machines needs --allow-remote (the URL then carries a secret token)")
    return host


# kept for callers of the old private name
_check_host = check_host


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind_family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_url(host: str, port: int, token: str | None = None) -> str:
    """The URL to open: an unspecified address (``0.0.0.0``, ``::``) is shown as this machine's name."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    query = f"?{urlencode({TOKEN_PARAM: token})}" if token else ""
    return f"http://{_netloc(shown, port)}/{query}"


def check_port(port: int, host: str = "127.0.0.1", *, allow_remote: bool = False) -> None:
    """Refuse (one line) a bad ``host``, a port outside 1..65535 or one that another program is listening on."""
    host = check_host(host, allow_remote=allow_remote)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise LatentlabError(f"--port: expected 1..65535, got {port!r}")
    with socket.socket(_bind_family(host), socket.SOCK_STREAM) as probe:
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
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return LatentlabError(f"--host {host}: not an address of this machine ({exc.strerror or exc})")
    return LatentlabError(f"cannot listen on {host}:{port} ({exc.strerror or exc})")


def _own_origins(host: str, port: int) -> set[str]:
    """``host:port`` spellings of this server that a page it served may carry as its ``Origin``."""
    names = {"localhost", "127.0.0.1", "::1", host}
    if not is_loopback(host):
        names |= {socket.gethostname(), socket.getfqdn()}
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
        except OSError:
            pass
        names -= {"0.0.0.0", "::"}
    return {_netloc(name.lower(), port) for name in names if name}


class _Gate:
    """Decides, per request and before any Bokeh handler runs, whether the request is served."""

    def __init__(self, port: int, origins: set[str], token: str | None):
        self.port, self.origins, self.token = port, origins, token
        self.cookie = _COOKIE.format(port=port)

    def origin_ok(self, request) -> bool:
        origin = request.headers.get("Origin") or request.headers.get("Sec-Websocket-Origin")
        if not origin:  # browsers always send one on a websocket; a client without it is not a page of ours
            return False
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() in self.origins

    def token_in(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), self.token.encode())

    def decide(self, request) -> tuple[str, str]:
        """``("serve", "")``, ``("set-cookie", redirect)`` or ``("forbid", reason)``."""
        is_websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if is_websocket and not self.origin_ok(request):
            return "forbid", "websocket from a page this server did not serve (missing or foreign Origin header)"
        if self.token is None:
            return "serve", ""
        if self.token_in(_cookie_value(request, self.cookie)):
            return "serve", ""
        query = parse_qsl(urlsplit(request.uri).query, keep_blank_values=True)
        given = [v for k, v in query if k == TOKEN_PARAM]
        if not is_websocket and request.method in ("GET", "HEAD") and given and self.token_in(given[-1]):
            rest = urlencode([(k, v) for k, v in query if k != TOKEN_PARAM])
            return "set-cookie", request.path + (f"?{rest}" if rest else "")
        return "forbid", "open the URL with the token that `latentlab explore` printed"


def _cookie_value(request, name: str) -> str | None:
    try:
        morsel = request.cookies.get(name)
    except Exception:  # a malformed Cookie header
        return None
    return morsel.value if morsel is not None else None


def _install_gate(tornado_app, gate: _Gate) -> None:
    """Route every request through ``gate`` (page, ``/static``, websocket) before Bokeh's own handlers."""
    from tornado.web import RequestHandler

    class Forbidden(RequestHandler):
        def initialize(self, reason: str):
            self.reason = reason

        def prepare(self):
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"403 forbidden: {self.reason}\n")

    class SetCookie(RequestHandler):
        def initialize(self, target: str):
            self.target = target

        def prepare(self):
            self.set_cookie(gate.cookie, gate.token, httponly=True, samesite="Strict", path="/")
            self.redirect(self.target or "/")

    original = tornado_app.find_handler

    def find_handler(request, **kwargs):
        verdict, detail = gate.decide(request)
        if verdict == "serve":
            return original(request, **kwargs)
        if verdict == "set-cookie":
            return tornado_app.get_handler_delegate(request, SetCookie, {"target": detail})
        return tornado_app.get_handler_delegate(request, Forbidden, {"reason": detail})

    tornado_app.find_handler = find_handler


def make_server(app, *, port: int = 5006, host: str = "127.0.0.1", io_loop=None, allow_remote: bool = False,
                token: str | None = None):
    """A started (listening) Bokeh ``Server`` for an :class:`~latentlab.explore.ExploreApp` at ``/``.

    Run its loop with ``server.io_loop.start()`` (or ``server.run_until_shutdown()``).
    ``server.latentlab_url`` is the URL to open. Off loopback (``allow_remote=True``)
    it carries a random token (or ``token``), without which nothing is served.
    The websocket accepts only pages served by this server (an ``Origin`` header is required).
    """
    from bokeh.application import Application
    from bokeh.application.handlers import FunctionHandler
    from bokeh.server.server import Server

    check_port(port, host, allow_remote=allow_remote)
    remote = not is_loopback(host)
    token = (token or secrets.token_urlsafe(32)) if remote else None
    gate = _Gate(port, _own_origins(host, port), token)
    kw = {"io_loop": io_loop} if io_loop is not None else {}
    # Bokeh's own origin list cannot spell IPv6 addresses and lets clients without an Origin header
    # through; the gate checks every websocket instead, so Bokeh's check is opened up (and its warning
    # about doing so silenced).
    bokeh_util_log = logging.getLogger("bokeh.server.util")
    level = bokeh_util_log.level
    bokeh_util_log.setLevel(logging.ERROR)
    try:
        server = Server({"/": Application(FunctionHandler(app.modify_doc))}, port=port, address=host,
                        allow_websocket_origin=["*"], **kw)
    except OSError as exc:
        raise _port_error(exc, host, port) from None
    finally:
        bokeh_util_log.setLevel(level)
    _install_gate(server._tornado, gate)
    server.start()
    server.latentlab_url = server_url(host, port, token)
    server.latentlab_token = token
    return server
