"""The therapist web panel's files, served over HTTP (HTTPS with a certificate) on the websocket port.

A browser's ordinary GET (no ``Upgrade: websocket``) gets a file of ``clients/web_panel/``; a
websocket handshake goes on to the protocol. The files are package data, found with
``importlib.resources``, so an installed wheel serves the same panel as a source checkout; a server
whose panel files are missing refuses to start rather than answer every page with 404. The files
hold no patient data — everything a panel shows comes over the authenticated websocket — so serving
them needs no login. Only files that exist in that folder are served (no directory listing, no path
escapes), with a strict Content Security Policy: the panel loads nothing from elsewhere, as a clinic
may be offline. ``HEAD`` gets the headers alone; other methods, 405. ``/wire.js`` is generated from
``server/wire.py`` (the protocol's version, message types and error codes) for the pages to import.

The WebXR headset page (``clients/webxr/``, docs/webxr.md) is served the same way under ``/xr``:
its own files, and the three.js build files that ``make install`` (``npm ci``) puts in its
``node_modules/three/build/`` under ``/xr/three/``. A server without them refuses to start too.
The page loads three through an inline import map, allowed by its SHA-256 hash in the page's CSP
(computed here from the file served, so the two cannot disagree).

A websocket handshake that a browser makes for a page of another site (its ``Origin`` is not this
server's own scheme-less ``host:port``, as the ``Host`` header names it) is refused with 403: a
page elsewhere must not reach the protocol with the browser's network position; on a TLS listener
only an ``https://`` origin is this server's (a plaintext one also takes ``https://``: the pages of a
TLS proxy in front of it). Devices and headsets are not browsers and send no
``Origin``; they pass. Over TLS every response for a host name carries HSTS (:func:`add_hsts`): a
browser that has been here once will not be talked into plain http for this host again.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import mimetypes
import re
from http import HTTPStatus
from importlib.abc import Traversable
from importlib.resources import files
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server import wire
from server.log_limit import LimitedLog
from server.tls import HSTS_MAX_AGE_S

log = logging.getLogger(__name__)

PANEL_PACKAGE, PANEL_FOLDER = "clients", "web_panel"
CSP = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
       "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
         ".json": "application/json", ".ico": "image/x-icon"}


XR_FOLDER, XR_PREFIX, THREE_PREFIX = "webxr", "/xr", "/xr/three/"
# The three.js build files the page imports (three.module.js imports ./three.core.js), and its licence.
THREE_FILES = ("node_modules/three/build/three.module.js", "node_modules/three/build/three.core.js",
               "node_modules/three/LICENSE")
XR_SUFFIXES = (".html", ".js", ".css", ".svg")
IMPORT_MAP = re.compile(rb'<script type="importmap">(.*?)</script>', re.DOTALL)


class PanelMissing(RuntimeError):
    """The panel's files are not installed: a broken install, said once at start-up."""


def panel_root() -> Traversable:
    return files(PANEL_PACKAGE) / PANEL_FOLDER


def xr_root() -> Traversable:
    return files(PANEL_PACKAGE) / XR_FOLDER


def _kind(name: str) -> str:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    return TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


class XrFiles:
    """The WebXR page's files and the three.js build it imports, read once at start-up."""

    def __init__(self, root: Traversable | None = None) -> None:
        root = xr_root() if root is None else root
        self.files: dict[str, tuple[bytes, str]] = {}
        if root.is_dir():
            for entry in sorted(root.iterdir(), key=lambda e: e.name):
                if entry.is_file() and entry.name.endswith(XR_SUFFIXES) and not entry.name.startswith("."):
                    self.files[f"{XR_PREFIX}/{entry.name}"] = (entry.read_bytes(), _kind(entry.name))
        if f"{XR_PREFIX}/index.html" not in self.files:
            raise PanelMissing(f"the WebXR page's files are missing (no index.html in {root}); "
                               "reinstall StrideVR (the wheel carries them as package data)")
        for name in THREE_FILES:
            entry = root.joinpath(*name.split("/"))
            if not entry.is_file():
                raise PanelMissing(f"the WebXR page's three.js is missing ({name} in {root}): run `make install` "
                                   "(it runs `npm ci` in clients/webxr), or install a wheel built after it")
            base = entry.name if name.endswith(".js") else "LICENSE.txt"
            self.files[THREE_PREFIX + base] = (entry.read_bytes(), _kind(base) if base.endswith(".js") else TEXT)
        page = self.files[f"{XR_PREFIX}/index.html"]
        self.files[XR_PREFIX] = self.files[f"{XR_PREFIX}/"] = page
        self.csp = xr_csp(page[0])


def xr_csp(page: bytes) -> str:
    """The panel's policy, plus the page's inline import map by its hash (nothing else inline runs)."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(m).digest()).decode()}'"
                      for m in IMPORT_MAP.findall(page))
    return CSP.replace("script-src 'self'", f"script-src 'self' {hashes}" if hashes else "script-src 'self'")


class PanelFiles:
    """The panel's files, read once at start-up: a fixed set, so a request can never name another."""

    def __init__(self, root: Traversable | None = None, xr: XrFiles | None = None, *, secure: bool = False) -> None:
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
        self.files["/wire.js"] = (wire.javascript_module().encode(), TYPES[".js"])
        self.xr = XrFiles() if xr is None else xr
        self._refusals = LimitedLog(log)

    def _read(self, folder: Traversable, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.startswith(".") or entry.name == "__pycache__":
                continue
            path = f"{prefix}/{entry.name}"
            if entry.is_dir():
                self._read(entry, path)
            elif entry.is_file():
                self.files[path] = (entry.read_bytes(), _kind(entry.name))

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
        xr = path == XR_PREFIX or path.startswith(XR_PREFIX + "/")
        body, kind = (self.xr.files if xr else self.files).get(path) or (b"not found\n", "")
        status = HTTPStatus.OK if kind else HTTPStatus.NOT_FOUND
        return _response(status, body, kind or TEXT, head=request.method == "HEAD", csp=self.xr.csp if xr else CSP)


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


def _response(status: HTTPStatus, body: bytes, kind: str, head: bool = False, csp: str = CSP) -> Response:
    """``head``: the headers a GET would get, Content-Length included, and no body."""
    headers = Headers({
        "Content-Type": kind,
        "Content-Length": str(len(body)),
        "Cache-Control": "no-cache",
        "Content-Security-Policy": csp,
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
