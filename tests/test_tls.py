"""TLS end to end: ``tls-init``'s clinic CA and server certificate, a server process serving https
and wss with them on its one port (HSTS, plaintext and untrusted clients refused, only an https
origin its own), the tools over wss with ``--ca-file``, and the rule that a server without a
certificate listens on loopback alone unless told ``--insecure-http``."""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import re
import shlex
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.typing import Origin

from clients.headset.network import HeadsetLink
from clients.link import Link, TLSOptionError, tls_options
from server.app import StrideServer
from server.config import Settings
from server.storage.store import AsyncStore
from server.storage.store import Store as RecordStore
from server.tls import HSTS_MAX_AGE_S, TLSError, check_listener, is_loopback
from server.tls_init import TLSInitError, default_dir, fingerprint, make_certificates
from server.web import add_hsts

ROOT = Path(__file__).resolve().parents[1]


# -- tls-init and the loopback rule (no network) ------------------------------------------------

def _verify(ca_path: Path, cert_path: Path, subject: x509.DNSName | x509.IPAddress) -> None:
    """Path validation as a browser does it (cryptography's WebPKI verifier): raises if refused."""
    chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    verifier = PolicyBuilder().store(Store([ca])).time(datetime.now(UTC)).build_server_verifier(subject)
    verifier.verify(chain[0], chain[1:])


def test_tls_init_makes_a_clinic_ca_and_a_server_certificate_a_browser_accepts(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    made = make_certificates(folder, "StrideVR.Clinic.lan", ["192.168.1.20"])
    assert made.ca_created
    for name in ("stridevr.clinic.lan", "localhost"):
        _verify(made.ca_cert, made.server_cert, x509.DNSName(name))
    for address in ("192.168.1.20", "127.0.0.1", "::1"):
        _verify(made.ca_cert, made.server_cert, x509.IPAddress(ipaddress.ip_address(address)))
    with pytest.raises(x509.verification.VerificationError):  # a name it was not made for
        _verify(made.ca_cert, made.server_cert, x509.DNSName("elsewhere.lan"))
    # private keys (and their folder) are the owner's alone; certificates are public
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(made.ca_key.stat().st_mode) == stat.S_IMODE(made.server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.ca_cert.stat().st_mode) == 0o644
    assert made.ca_fingerprint == fingerprint(x509.load_pem_x509_certificate(made.ca_cert.read_bytes()))

    ca_pem = made.ca_cert.read_bytes()
    again = make_certificates(folder, "stridevr-2.clinic.lan", [])  # a new name: the CA is kept
    assert not again.ca_created and again.ca_fingerprint == made.ca_fingerprint
    assert made.ca_cert.read_bytes() == ca_pem and again.server_fingerprint != made.server_fingerprint
    _verify(again.ca_cert, again.server_cert, x509.DNSName("stridevr-2.clinic.lan"))
    with pytest.raises(x509.verification.VerificationError):
        _verify(again.ca_cert, again.server_cert, x509.DNSName("stridevr.clinic.lan"))


def test_tls_init_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(TLSInitError, match="not an IP address"):
        make_certificates(tmp_path / "a", "host.lan", ["192.168.1.300"])
    with pytest.raises(TLSInitError, match="not a host name"):
        make_certificates(tmp_path / "a", "two words", [])
    made = make_certificates(tmp_path / "b", "host.lan", [])
    other = make_certificates(tmp_path / "c", "host.lan", [])
    other.ca_key.replace(made.ca_key)  # another CA's key beside this CA's certificate
    with pytest.raises(TLSInitError, match="is not the key of"):
        make_certificates(tmp_path / "b", "host.lan", [])


def test_the_certificates_live_beside_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIDEVR_TLS_DIR", raising=False)
    assert default_dir("sqlite:///data/stridevr.sqlite3") == Path("data/tls")
    assert default_dir("sqlite:////var/lib/stridevr/db.sqlite3") == Path("/var/lib/stridevr/tls")
    assert default_dir("postgresql://stridevr@db/stridevr") == Path("data/tls")
    monkeypatch.setenv("STRIDEVR_TLS_DIR", "/etc/stridevr/tls")
    assert default_dir("sqlite:///data/stridevr.sqlite3") == Path("/etc/stridevr/tls")


def test_without_a_certificate_only_loopback_listens_unless_told_insecure() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert is_loopback(host), host
        assert check_listener(host, tls=False, insecure_http=False) is None
    for host in ("0.0.0.0", "", "::", "192.168.1.20"):
        assert not is_loopback(host), host
        with pytest.raises(TLSError, match="--insecure-http"):
            check_listener(host, tls=False, insecure_http=False)
        warning = check_listener(host, tls=False, insecure_http=True)
        assert warning is not None and "--insecure-http" in warning
        assert check_listener(host, tls=True, insecure_http=False) is None


def test_the_serve_options_and_their_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from server.config import add_arguments, from_arguments

    def settings(*argv: str) -> Settings:
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        return from_arguments(parser.parse_args(argv))

    plain = settings()
    assert (plain.tls_cert, plain.tls_key, plain.insecure_http, plain.scheme, plain.web_scheme) == (
        None, None, False, "ws", "http")
    tls = settings("--tls-cert", "s.crt", "--tls-key", "s.key")
    assert (tls.tls_cert, tls.tls_key, tls.scheme, tls.web_scheme) == ("s.crt", "s.key", "wss", "https")
    with pytest.raises(SystemExit, match="go together"):
        settings("--tls-cert", "s.crt")
    monkeypatch.setenv("STRIDEVR_TLS_CERT", "/etc/stridevr/server.crt")
    monkeypatch.setenv("STRIDEVR_TLS_KEY", "/etc/stridevr/server.key")
    monkeypatch.setenv("STRIDEVR_INSECURE_HTTP", "1")
    from_env = settings()
    assert (from_env.tls_cert, from_env.tls_key, from_env.insecure_http) == (
        "/etc/stridevr/server.crt", "/etc/stridevr/server.key", True)


def test_hsts_only_for_host_names() -> None:
    """Not for localhost (it would pin https on every localhost port of the browser) nor addresses."""
    from websockets.datastructures import Headers
    from websockets.http11 import Request, Response

    for host, pinned in (("stridevr.clinic.lan:8765", True), ("StrideVR.Clinic.LAN", True),
                         ("localhost:8765", False), ("app.localhost", False), ("127.0.0.1:8765", False),
                         ("[::1]:8765", False), ("192.168.1.20", False), ("", False)):
        response = Response(200, "OK", Headers())
        add_hsts(None, Request("/", Headers({"Host": host} if host else {})), response)  # type: ignore[arg-type]
        assert ("Strict-Transport-Security" in response.headers) == pinned, host


def test_a_ca_file_with_a_plain_url_is_refused_not_ignored(tmp_path: Path) -> None:
    made = make_certificates(tmp_path, "host.lan", [])
    assert tls_options("ws://127.0.0.1:8765", None) == {}
    assert isinstance(tls_options("wss://host.lan:8765", str(made.ca_cert))["ssl"], ssl.SSLContext)
    with pytest.raises(TLSOptionError, match="not encrypted"):
        tls_options("ws://127.0.0.1:8765", str(made.ca_cert))
    with pytest.raises(TLSOptionError, match="--ca-file"):
        tls_options("wss://host.lan:8765", str(tmp_path / "missing.crt"))


# -- a real server process with the certificate -------------------------------------------------

@dataclass
class TLSServer:
    proc: asyncio.subprocess.Process
    output: list[str]
    port: int
    ca: Path
    folder: Path

    def credential(self, pattern: str) -> str:
        for line in self.output:
            if m := re.search(pattern, line):
                return m.group(1)
        raise AssertionError(f"{pattern!r} not printed:\n" + "".join(self.output))


def _tool(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s, check=False)


async def _start(database_url: str, *options: str, scheme: str = "wss") -> tuple[asyncio.subprocess.Process,
                                                                               list[str], int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "--port", "0", "--database-url", database_url, "--log-level", "WARNING",
        *options, "serve", "--migrate", "--demo",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    output: list[str] = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            raise AssertionError("server exited:\n" + "".join(output))
        output.append(line)
        if m := re.search(rf"listening on {scheme}://[\d.:]+:(\d+)", line):
            return proc, output, int(m.group(1))


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[TLSServer]:
    folder = tmp_path / "tls"  # the default: tls/ beside the SQLite database
    database_url = f"sqlite:///{tmp_path}/tls.sqlite3"
    made = await asyncio.to_thread(_tool, "server", "--database-url", database_url, "tls-init", "--host",
                                   "stridevr.test", "--ip", "127.0.0.1")
    assert made.returncode == 0, made.stderr
    ca = folder / "ca.crt"
    # it says where the files are, their fingerprints, how to serve and trust, and the Quest's USB route
    ca_print = fingerprint(x509.load_pem_x509_certificate(ca.read_bytes()))
    assert f"CA SHA-256       : {ca_print}" in made.stdout
    assert str(folder / "server.key") in made.stdout and "--ca-file" in made.stdout
    assert "adb reverse tcp:8765 tcp:8765" in made.stdout and "iPad" in made.stdout
    # the server starts with the options tls-init printed (here on loopback and a free port)
    printed = next(line for line in made.stdout.splitlines() if line.strip().startswith("python -m server "))
    words = shlex.split(printed)[3:]
    assert words[-1] == "serve" and words[words.index("--tls-key") + 1] == str(folder / "server.key")
    options = words[:-1]
    options[options.index("--host") + 1], options[options.index("--port") + 1] = "127.0.0.1", "0"
    proc, output, port = await _start(database_url, *options)
    try:
        yield TLSServer(proc, output, port, ca, folder)
    finally:
        await _stop(proc)


def _https_get(port: int, context: ssl.SSLContext, path: str = "/", host: str = "127.0.0.1",
               host_header: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host_header} if host_header else {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _plaintext_answer(port: int, request: bytes) -> bytes:
    """What a TLS port sends back to a plaintext request, until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return received


@pytest.mark.integration
async def test_https_and_wss_on_one_port_with_the_clinic_ca(tls_server: TLSServer) -> None:
    port, ca = tls_server.port, str(tls_server.ca)
    trusted = ssl.create_default_context(cafile=ca)
    named = f"stridevr.test:{port}"  # the name devices use (here it reaches 127.0.0.1)
    status, headers, body = await asyncio.to_thread(_https_get, port, trusted, "/", "127.0.0.1", named)
    assert status == 200 and b"<html" in body.lower()
    assert headers["strict-transport-security"] == f"max-age={HSTS_MAX_AGE_S}"
    status, headers, _ = await asyncio.to_thread(_https_get, port, trusted, "/not-there", "127.0.0.1", named)
    assert status == 404 and "strict-transport-security" in headers  # every https response
    # not for localhost (it would force https on every localhost port of that browser) nor an address
    for host in ("localhost", "127.0.0.1"):
        status, headers, _ = await asyncio.to_thread(_https_get, port, trusted, "/", host)
        assert status == 200 and "strict-transport-security" not in headers, host

    password = tls_server.credential(r"therapist login : demo / (\S+)")
    for host in ("127.0.0.1", "localhost"):  # the names tls-init always puts in
        therapist = await Link.therapist(f"wss://{host}:{port}", "demo", password, ca_file=ca)
        try:
            patients = (await therapist.call({"type": "list_patients"}))["patients"]
            assert [p["code"] for p in patients] == ["DEMO-001"]
        finally:
            await therapist.close()

    # a page of this server is https://HOST:PORT; a plain-http origin is another site
    async with connect(f"wss://127.0.0.1:{port}", origin=Origin(f"https://127.0.0.1:{port}"), ssl=trusted) as ws:
        assert ws.response is not None and ws.response.status_code == 101
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"wss://127.0.0.1:{port}", origin=Origin(f"http://127.0.0.1:{port}"), ssl=trusted)
    assert refused.value.response.status_code == 403


@pytest.mark.integration
async def test_plaintext_and_untrusted_clients_are_refused(tls_server: TLSServer) -> None:
    port = tls_server.port
    for request in (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"):
        answer = await asyncio.to_thread(_plaintext_answer, port, request)
        assert not answer.startswith(b"HTTP/"), answer[:80]  # no page, no handshake: TLS or nothing
    with pytest.raises((OSError, WebSocketException)):
        await connect(f"ws://127.0.0.1:{port}", open_timeout=10)

    # a client that does not trust the clinic CA (the system's CAs alone) refuses the server
    with pytest.raises(ssl.SSLCertVerificationError):
        await Link.therapist(f"wss://127.0.0.1:{port}", "demo", "whatever")
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.to_thread(_https_get, port, ssl.create_default_context())
    # and a name the certificate does not carry is refused even with the CA
    trusted = ssl.create_default_context(cafile=str(tls_server.ca))
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        await connect(f"wss://127.0.0.1:{port}", ssl=trusted, server_hostname="elsewhere.test")
    assert tls_server.proc.returncode is None  # the server is unmoved by all of it


@pytest.mark.integration
async def test_the_tools_play_over_wss_with_the_ca_file(tls_server: TLSServer) -> None:
    port, ca = tls_server.port, str(tls_server.ca)
    url = f"wss://localhost:{port}"
    password = tls_server.credential(r"therapist login : demo / (\S+)")
    device = tls_server.credential(r"device token  : (\S+)")
    headset_token = tls_server.credential(r"headset token : (\S+)")
    station = ["--station", "station-1", "--token", device, "--headset-token", headset_token]

    # the headset client: states over wss with the CA; without it, the certificate's refusal on screen
    states: list[object] = []
    trusted = HeadsetLink(url, "station-1", headset_token, ca_file=ca, on_state=states.append).start()
    untrusted = HeadsetLink(url, "station-1", headset_token).start()
    try:
        played = await asyncio.to_thread(
            _tool, "clients.sim_tracker", "--url", url, "--ca-file", ca, *station,
            "--therapist", "demo", "--password", password, "--patient", "DEMO-001", "--trials", "2",
            timeout_s=120)
        assert played.returncode == 0, played.stdout + played.stderr
        assert re.search(r"trials: 2 ", played.stdout), played.stdout
        assert states and trusted.status().connections >= 1
        assert not untrusted.status().connected and "certificate" in (untrusted.status().error or "").lower()
    finally:
        await asyncio.gather(asyncio.to_thread(trusted.stop), asyncio.to_thread(untrusted.stop))

    # the simulator and the replays share the option; a CA file with a plain ws:// URL is refused
    plain = await asyncio.to_thread(
        _tool, "clients.sim_player", "--url", f"ws://127.0.0.1:{port}", "--ca-file", ca, *station, "--join")
    assert plain.returncode == 2 and "not encrypted" in plain.stderr, plain.stderr
    for module in ("clients.replay_c3d", "clients.replay_force_plate", "clients.replay_balance_board",
                   "clients.lsl_bridge", "clients.headset"):
        helped = await asyncio.to_thread(_tool, module, "--help")
        assert "--ca-file" in helped.stdout, module


# -- without a certificate ----------------------------------------------------------------------

@pytest.mark.integration
async def test_without_a_certificate_a_network_host_needs_insecure_http(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/plain.sqlite3"
    refused = await asyncio.to_thread(_tool, "server", "--host", "0.0.0.0", "--port", "0", "--database-url",
                                      database_url, "serve", "--migrate")
    assert refused.returncode == 2
    assert "--tls-cert" in refused.stderr and "--insecure-http" in refused.stderr
    assert not Path(tmp_path / "plain.sqlite3").exists()  # refused before anything was done

    proc, output, port = await _start(database_url, "--host", "0.0.0.0", "--insecure-http", scheme="ws")
    try:
        assert any("WARNING" in line and "--insecure-http" in line for line in output), output
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Strict-Transport-Security") is None
        conn.close()
        # behind a TLS proxy of the clinic's own the pages are https: a plaintext listener takes that
        # origin as its own too, and still refuses another site's
        for origin, admitted in ((f"https://127.0.0.1:{port}", True), (f"http://127.0.0.1:{port}", True),
                                 ("https://evil.example", False)):
            try:
                async with connect(f"ws://127.0.0.1:{port}", origin=Origin(origin)):
                    pass
                assert admitted, origin
            except InvalidStatus as exc:
                assert not admitted and exc.response.status_code == 403, origin
    finally:
        await _stop(proc)


@pytest.mark.integration
async def test_the_server_object_refuses_a_network_host_or_a_mismatched_key(tmp_path: Path) -> None:
    made = make_certificates(tmp_path / "tls", "host.lan", [])
    url = f"sqlite:///{tmp_path}/obj.sqlite3"
    async_store = AsyncStore(RecordStore(url))
    try:
        for settings, message in (
            (Settings(host="0.0.0.0", port=0, database_url=url), "--insecure-http"),
            (Settings(port=0, database_url=url, tls_cert=str(made.server_cert), tls_key=str(made.ca_key)),
             "cannot be used together"),
            (Settings(port=0, database_url=url, tls_cert=str(tmp_path / "none.crt"),
                      tls_key=str(made.server_key)), "no such file"),
        ):
            server = StrideServer(settings, async_store)
            with pytest.raises(TLSError, match=message):
                await server.start()
            await server.stop()
    finally:
        async_store.close()


async def test_the_panel_over_https_logs_in_over_wss(browser_available: None, tls_server: TLSServer,
                                                     tmp_path: Path) -> None:
    """Chromium trusting the server's key (as a device trusting the clinic CA would) loads the panel
    over https, as a secure context, with HSTS, and the panel logs in over wss on the same port."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    from tests.panel_helpers import CHROMIUM, CHROMIUM_ARGS, TABLET, WAIT_MS, Panel

    leaf = x509.load_pem_x509_certificates((tls_server.folder / "server.crt").read_bytes())[0]
    spki = leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    password = tls_server.credential(r"therapist login : demo / (\S+)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pin}",
                                                 "--host-resolver-rules=MAP stridevr.test 127.0.0.1"])
        try:
            context = await browser.new_context(viewport=TABLET)
            context.set_default_timeout(WAIT_MS)
            page = await context.new_page()
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            site = f"https://stridevr.test:{tls_server.port}/"  # the clinic's name for the server
            response = await page.goto(site)
            assert response is not None and response.status == 200
            assert response.headers["strict-transport-security"] == f"max-age={HSTS_MAX_AGE_S}"
            assert await page.evaluate("window.isSecureContext") is True
            panel = Panel(page, site, tmp_path)
            await panel.login("demo", password)
            assert sockets and all(url.startswith(f"wss://stridevr.test:{tls_server.port}") for url in sockets)
        finally:
            await browser.close()
        untrusting = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:  # a browser that trusts neither the CA nor the key gets no page
            page = await untrusting.new_page()
            with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
                await page.goto(f"https://localhost:{tls_server.port}/")
        finally:
            await untrusting.close()
