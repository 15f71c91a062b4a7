"""The therapist web panel's files, served over HTTP (HTTPS with a certificate) on the websocket port.

A browser's ordinary GET (no ``Upgrade: websocket``) gets a file of ``clients/web_panel/``; a
websocket handshake goes on to the protocol. The files are package data, found with
``importlib.resources``, so an installed wheel serves the same panel as a source checkout; a server
whose panel files are missing refuses to start rather than answer every page with 404. The files
hold no patient data — everything a panel shows comes over the authenticated websocket — so serving
them needs no login. Only files that exist in that folder are served (no directory listing, no path
escapes), with a strict Content Security Policy: the panel loads nothing from elsewhere, as a clinic
may be offline. ``HEAD`` gets the headers alone; other methods, 405.

A websocket handshake that a browser makes for a page of another site (its ``Origin`` is not this
server's own scheme-less ``host:port``, as the ``Host`` header names it) is refused with 403: a
page elsewhere must not reach the protocol with the browser's network position; on a TLS listener
only an ``https://`` origin is this server's (a plaintext one also takes ``https://``: the pages of a
TLS proxy in front of it). Devices and headsets are not browsers and send no
``Origin``; they pass. Over TLS every response for a host name carries HSTS (:func:`add_hsts`): a
browser that has been here once will not be talked into plain http for this host again.
"""

from __future__ import annotations

import ipaddress
import logging
import mimetypes
from http import HTTPStatus
from importlib.abc import Traversable
from importlib.resources import files
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server.log_limit import LimitedLog
from server.tls import HSTS_MAX_AGE_S

log = logging.getLogger(__name__)

PANEL_PACKAGE, PANEL_FOLDER = "clients", "web_panel"
CSP = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
       "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
         ".json": "application/json", ".ico": "image/x-icon"}


class PanelMissing(RuntimeError):
    """The panel's files are not installed: a broken install, said once at start-up."""


def panel_root() -> Traversable:
    return files(PANEL_PACKAGE) / PANEL_FOLDER


class PanelFiles:
    """The panel's files, read once at start-up: a fixed set, so a request can never name another."""

    def __init__(self, root: Traversable | None = None, *, secure: bool = False) -> None:
        """``secure``: served over TLS (the page's origin is https)."""
        root = panel_root() if root is None else root
        self.schemes = ("https",) if secure else ("http", "https")
        self.files: dict[str, tuple[bytes, str]] = {}
        if root.is_dir():
            self._read(root, "")
        if "/index.html" not in self.files:
            raise PanelMissing(f"the therapist panel's files are missing (no index.html in {root}); "
                               "reinstall StrideVR (the wheel carries them as package data)")
        self.files["/"] = self.files["/index.html"]
        self._refusals = LimitedLog(log)

    def _read(self, folder: Traversable, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.startswith(".") or entry.name == "__pycache__":
                continue
            path = f"{prefix}/{entry.name}"
            if entry.is_dir():
                self._read(entry, path)
            elif entry.is_file():
                suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
                kind = TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
                self.files[path] = (entry.read_bytes(), kind)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' hook: None lets a websocket handshake proceed; a Response answers HTTP."""
        if "websocket" in request.headers.get("Upgrade", "").lower():
            foreign = foreign_origin(request, self.schemes)
            if foreign is None:
                return None
            self._refusals.warning("refused a websocket handshake from %s: Origin %s is not this server (%s)",
                                   connection.remote_address, foreign[:100],
                                   ", ".join(request.headers.get_all("Host"))[:100] or "no Host")
            return _response(HTTPStatus.FORBIDDEN, b"cross-origin websocket refused\n", TEXT)
        if request.method not in ("GET", "HEAD"):
            response = _response(HTTPStatus.METHOD_NOT_ALLOWED, b"method not allowed\n", TEXT)
            response.headers["Allow"] = "GET, HEAD"
            return response
        path = request.path.split("?", 1)[0]
        body, kind = self.files.get(path) or (b"not found\n", "")
        status = HTTPStatus.OK if kind else HTTPStatus.NOT_FOUND
        return _response(status, body, kind or TEXT, head=request.method == "HEAD")


def foreign_origin(request: Request, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """The handshake's ``Origin`` if a browser sent it from a page not served here (by one of
    ``schemes`` at the ``Host`` it asked for), else None."""
    origins = request.headers.get_all("Origin")
    if not origins:
        return None  # not a browser: a device, a headset, a script
    origin = origins[0]
    parts = urlsplit(origin)
    host = request.headers.get_all("Host")
    if (len(origins) == 1 and len(host) == 1 and parts.scheme in schemes
            and parts.netloc.lower() == host[0].lower()):
        return None
    return origin


TEXT = "text/plain; charset=utf-8"


def _response(status: HTTPStatus, body: bytes, kind: str, head: bool = False) -> Response:
    """``head``: the headers a GET would get, Content-Length included, and no body."""
    headers = Headers({
        "Content-Type": kind,
        "Content-Length": str(len(body)),
        "Cache-Control": "no-cache",
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Connection": "close",
    })
    return Response(status.value, status.phrase, headers, b"" if head else body)


def add_hsts(connection: ServerConnection, request: Request, response: Response) -> None:
    """websockets' ``process_response`` hook on a TLS listener: every response to a request for a
    host name says HTTPS only. Not for ``localhost`` (a browser would then refuse plain http on
    every localhost port, the ``make run`` server's and a Quest's ``adb reverse`` route included)
    nor an IP address (browsers ignore it there)."""
    if _names_a_host(request.headers.get("Host", "")):
        response.headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_S}"


def _names_a_host(host_header: str) -> bool:
    host = urlsplit(f"//{host_header}").hostname or ""
    if not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def too_many_requests(retry_after_s: int) -> Response:
    """The answer to an address that opens connections faster than it may (before any websocket)."""
    response = _response(HTTPStatus.TOO_MANY_REQUESTS, b"too many new connections; try again shortly\n",
                         "text/plain; charset=utf-8")
    response.headers["Retry-After"] = str(retry_after_s)
    return response
