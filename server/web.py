"""The therapist web panel's files, served over plain HTTP on the websocket port.

A browser's ordinary GET (no ``Upgrade: websocket``) gets a file of ``clients/web_panel/``; a
websocket handshake goes on to the protocol. The files hold no patient data — everything a panel
shows comes over the authenticated websocket — so serving them needs no login. Only files that
exist in that folder are served (no directory listing, no path escapes), with a strict Content
Security Policy: the panel loads nothing from elsewhere, as a clinic may be offline.
"""

from __future__ import annotations

import mimetypes
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

PANEL_DIR = Path(__file__).resolve().parents[1] / "clients" / "web_panel"
CSP = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
       "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
         ".json": "application/json", ".ico": "image/x-icon"}


class PanelFiles:
    """The panel's files, read once at start-up: a fixed set, so a request can never name another."""

    def __init__(self, root: Path = PANEL_DIR) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    self.files["/" + path.relative_to(root).as_posix()] = (path.read_bytes(), kind)
        if "/index.html" in self.files:
            self.files["/"] = self.files["/index.html"]

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' hook: None lets a websocket handshake proceed; a Response answers HTTP."""
        if "websocket" in request.headers.get("Upgrade", "").lower():
            return None
        path = request.path.split("?", 1)[0]
        found = self.files.get(path)
        if found is None:
            return _response(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
        body, kind = found
        return _response(HTTPStatus.OK, body, kind)


def _response(status: HTTPStatus, body: bytes, kind: str) -> Response:
    headers = Headers({
        "Content-Type": kind,
        "Content-Length": str(len(body)),
        "Cache-Control": "no-cache",
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Connection": "close",
    })
    return Response(status.value, status.phrase, headers, body)
