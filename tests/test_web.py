"""The web panel's files come from the server's own port; nothing else does."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from clients.link import Link
from tests.conftest import RunningServer

pytestmark = pytest.mark.db


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


async def test_panel_files_are_served_beside_the_websocket(running: RunningServer) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    status, headers, body = await asyncio.to_thread(get, base + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"StrideVR" in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for path in ("/../server/app.py", "/%2e%2e/pyproject.toml", "/nope.js", "/index.html/.."):
        status, _, _ = await asyncio.to_thread(get, base + path)
        assert status == 404, path
    # the same port still speaks the protocol
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    assert (await therapist.call({"type": "ping"}))["type"] == "pong"
    await therapist.close()


def test_panel_files_are_the_installed_package_data() -> None:
    """Every file of the panel folder is served, views included, and nothing but them."""
    from server.web import PanelFiles, panel_root

    panel = PanelFiles()
    root = Path(str(panel_root()))
    on_disk = {"/" + p.relative_to(root).as_posix() for p in root.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")}
    assert set(panel.files) == on_disk | {"/", "/wire.js"}
    assert "/views/session.js" in panel.files and panel.files["/"] == panel.files["/index.html"]


async def test_wire_js_is_the_protocol_catalogue_and_the_panel_uses_it(running: RunningServer) -> None:
    """``/wire.js`` carries server/wire.py's version, types and error codes; no page writes its own."""
    from server import wire
    from server.web import panel_root

    status, headers, body = await asyncio.to_thread(get, f"http://127.0.0.1:{running.server.port}/wire.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    exported = {m["name"]: json.loads(m["value"]) for m in re.finditer(
        r"^export const (?P<name>\w+) = (?:Object\.freeze\()?(?P<value>.+?)\)?;$", body.decode(), re.MULTILINE)}
    assert exported == {
        "PROTOCOL_VERSION": wire.PROTOCOL_VERSION, "INCOMING_TYPES": sorted(wire.INCOMING_TYPES),
        "OUTGOING_TYPES": sorted(wire.OUTGOING_TYPES), "ERROR_CODES": sorted(wire.ERROR_CODES),
        "SENDS": {role: sorted(types) for role, types in wire.SENDS.items()},
        "RECEIVES": {role: sorted(types) for role, types in wire.RECEIVES.items()}}
    root = Path(str(panel_root()))
    hand_written = [str(p) for p in root.rglob("*.js") if re.search(r"\bv:\s*\d", p.read_text(encoding="utf-8"))]
    assert hand_written == []
    assert 'from "./wire.js"' in (root / "connection.js").read_text(encoding="utf-8")


def test_a_missing_panel_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    from server.web import PanelFiles, PanelMissing

    (tmp_path / "app.js").write_text("// no index.html beside it\n")
    with pytest.raises(PanelMissing, match="panel's files are missing"):
        PanelFiles(tmp_path)
    with pytest.raises(PanelMissing):
        PanelFiles(tmp_path / "not-there")


def raw_http(port: int, request: bytes) -> bytes:
    """One request on a fresh socket, everything the server sends until it closes."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_head_has_no_body_other_methods_are_refused_and_no_versions_are_named(
        running: RunningServer) -> None:
    port = running.server.port
    _, get_headers, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/")
    assert "Server" not in get_headers, get_headers.get("Server")
    reply = await asyncio.to_thread(raw_http, port, b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head, _, rest = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and rest == b"", rest[:80]
    assert f"Content-Length: {len(body)}".encode() in head  # what a GET would send
    assert b"Server:" not in head and b"websockets" not in reply and b"Python" not in reply
    reply = await asyncio.to_thread(raw_http, port, b"HEAD /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 404") and reply.endswith(b"\r\n\r\n")
    reply = await asyncio.to_thread(raw_http, port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in reply


async def test_websockets_from_another_sites_page_are_refused(
        running: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    port, creds = running.server.port, running.creds
    for origin in ("http://evil.example", f"http://127.0.0.1:{port + 1}", "null", f"ftp://127.0.0.1:{port}"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(running.url, origin=origin, compression=None)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403, origin
        assert "Server" not in refused.value.response.headers
    assert any("Origin http://evil.example is not this server" in r.getMessage() for r in caplog.records)
    # the server's own page, and clients that are not browsers (no Origin), are let in
    ws = await connect(running.url, origin=f"http://127.0.0.1:{port}", compression=None)  # type: ignore[arg-type]
    therapist = Link(ws, binary=False)
    assert (await therapist.request({"type": "login", "username": creds.username,
                                     "password": creds.password}))["type"] == "welcome"
    await therapist.close()
    headset = await Link.station(running.url, "headset", "station-1", creds.headset_token)
    assert (await headset.call({"type": "ping"}))["type"] == "pong"
    await headset.close()
