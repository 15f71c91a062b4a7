"""The web panel's files come from the server's own port; nothing else does."""

from __future__ import annotations

import asyncio
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
    assert set(panel.files) == on_disk | {"/"}
    assert "/views/session.js" in panel.files and panel.files["/"] == panel.files["/index.html"]


def test_a_missing_panel_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    from server.web import PanelFiles, PanelMissing

    (tmp_path / "app.js").write_text("// no index.html beside it\n")
    with pytest.raises(PanelMissing, match="panel's files are missing"):
        PanelFiles(tmp_path)
    with pytest.raises(PanelMissing):
        PanelFiles(tmp_path / "not-there")
