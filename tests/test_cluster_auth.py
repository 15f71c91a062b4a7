"""The cluster's messages over Redis are authenticated: two real server processes with a shared
secret work together; forged, replayed or foreign-secret messages published straight to Redis
change nothing and are logged; a process without a secret refuses to start; Redis AUTH URLs work."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from clients.link import Link
from server.cluster_seal import MAC_BYTES
from tests.test_cluster import REDIS_URL, SECRET, TwoNodes, redis_up, two_nodes
from tests.test_process import ServerProcess

NO_RETRY = Retry(NoBackoff(), 0)
pytestmark = [pytest.mark.db, pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")]


async def log_line(node: ServerProcess, text: str, timeout_s: float = 10.0) -> str:
    """The next line of the process's output containing ``text`` (earlier ones included)."""
    for line in node.output:
        if text in line:
            return line
    assert node.proc.stdout is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        line = (await asyncio.wait_for(node.proc.stdout.readline(), deadline - loop.time())).decode()
        node.output.append(line)
        if text in line:
            return line
    raise AssertionError(f"{text!r} not logged:\n" + "".join(node.output))


async def status_on(therapist: Link, station: str = "station-1") -> dict[str, Any]:
    stations = (await therapist.call({"type": "list_stations"}))["stations"]
    return next(s for s in stations if s["station"] == station)


async def wait_paused(therapist: Link, paused_by: list[str]) -> None:
    for _ in range(100):
        if (await status_on(therapist))["paused_by"] == paused_by:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"paused_by never became {paused_by}: {await status_on(therapist)}")


async def game_on_a(nodes: TwoNodes) -> tuple[Link, Link, int]:
    """A game on station-1 hosted by node A, with a tracker on A (so nothing pauses it)."""
    creds = nodes.creds
    on_a = await Link.therapist(nodes.a.url, creds.username, creds.password)
    started = await on_a.call({"type": "start_game", "station": "station-1", "patient_id": nodes.patient_id,
                               "game": "stepping"})
    device = await Link.station(nodes.a.url, "device", "station-1", creds.station_token)
    await wait_paused(on_a, [])
    return on_a, device, started["session_id"]


async def test_forged_and_replayed_cluster_messages_change_nothing_and_are_logged(database_url: str) -> None:
    async with two_nodes(database_url) as nodes:
        on_a, device, session_id = await game_on_a(nodes)
        inbound = f"{nodes.prefix}:in:station-1"
        bus = aioredis.from_url(REDIS_URL)
        listener = bus.pubsub(ignore_subscribe_messages=True)
        await listener.subscribe(inbound)

        # a genuine pause from a headset on B, captured on its way to A; then resumed
        headset = await Link.station(nodes.b.url, "headset", "station-1", nodes.creds.headset_token)
        await headset.call({"type": "pause"})
        captured = None
        for _ in range(50):  # None also stands for a subscription's confirmation
            message = await listener.get_message(timeout=0.2)
            if message is not None and msgpack.unpackb(message["data"][MAC_BYTES:])["kind"] == "headset":
                captured = message["data"]
                break
        assert captured is not None, "B relayed no pause"
        await wait_paused(on_a, ["headset"])
        await headset.call({"type": "ready"})
        await wait_paused(on_a, [])

        forged_stop = msgpack.packb({"node": "node-b", "kind": "request", "rid": 1, "msg": {
            "therapist": {"id": 1, "clinic_id": 1, "username": nodes.creds.username, "display_name": "forger"},
            "request": {"type": "stop_game", "v": 1, "station": "station-1"}}})
        forged_pause = msgpack.packb({"node": "node-b", "kind": "headset", "msg": {"type": "pause"}})
        await bus.publish(inbound, captured)  # replayed
        await bus.publish(f"{nodes.prefix}:rpc:node-a", forged_stop)  # no HMAC at all
        await bus.publish(f"{nodes.prefix}:rpc:node-a", os.urandom(MAC_BYTES) + forged_stop)  # a wrong one
        await bus.publish(inbound, forged_pause)
        await bus.publish(inbound, b"\x00not msgpack")
        await asyncio.sleep(1.0)

        status = await status_on(on_a)
        assert status["state"] == "playing" and status["paused_by"] == [] and status["session_id"] == session_id
        line = await log_line(nodes.a, "refused cluster message")
        assert "replayed" in line and "in:station-1" in line
        # the genuine path still works after all that
        await headset.call({"type": "pause"})
        await wait_paused(on_a, ["headset"])
        for link in (on_a, device, headset):
            await link.close()
        await listener.aclose()
        await bus.aclose()


async def test_a_process_with_another_secret_cannot_command_the_other(database_url: str) -> None:
    async with two_nodes(database_url, secrets=(SECRET, "another-secret-of-another-cluster")) as nodes:
        on_a, device, session_id = await game_on_a(nodes)
        headset = await Link.station(nodes.b.url, "headset", "station-1", nodes.creds.headset_token)
        await headset.call({"type": "pause"})  # B relays it, sealed with its own secret
        await asyncio.sleep(1.0)
        status = await status_on(on_a)
        assert status["paused_by"] == [] and status["session_id"] == session_id
        line = await log_line(nodes.a, "refused cluster message")
        assert "bad or missing HMAC" in line
        for link in (on_a, device, headset):
            await link.close()


async def test_a_cluster_process_without_a_secret_refuses_to_start(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIDEVR_CLUSTER_SECRET")}
    proc = subprocess.run(
        [*_server_command(database_url), "--redis-url", REDIS_URL, "serve"],
        capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode != 0
    assert "--redis-url needs a cluster secret" in proc.stderr
    proc = subprocess.run(
        [*_server_command(database_url), "--redis-url", REDIS_URL, "serve"],
        capture_output=True, text=True, timeout=60, env={**env, "STRIDEVR_CLUSTER_SECRET": "short"})
    assert proc.returncode != 0 and "at least 16 bytes" in proc.stderr


def _server_command(database_url: str) -> list[str]:
    return [sys.executable, "-m", "server", "--port", "0", "--database-url", database_url]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def private_redis(password: str, tls_folder: Path | None = None) -> Iterator[int]:
    """A Redis of this test's own, requiring a password, on a free port; never the shared one.
    With ``tls_folder``, it speaks TLS only, with a certificate for 127.0.0.1 from a CA of its own
    (``ca.pem`` there)."""
    port = _free_port()
    listen = ["--port", str(port)]
    client: dict[str, Any] = {}
    if tls_folder is not None:
        _make_certificates(tls_folder)
        listen = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(tls_folder / "server.pem"),
                  "--tls-key-file", str(tls_folder / "server.key"), "--tls-ca-cert-file",
                  str(tls_folder / "ca.pem"), "--tls-auth-clients", "no"]
        client = {"ssl": True, "ssl_ca_certs": str(tls_folder / "ca.pem")}
    proc = subprocess.Popen(["/usr/bin/redis-server", *listen, "--bind", "127.0.0.1",
                             "--requirepass", password, "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                redis.Redis(host="127.0.0.1", port=port, password=password, retry=NO_RETRY, **client).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            raise AssertionError("the private redis-server did not come up")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.skipif(not os.path.exists("/usr/bin/redis-server"), reason="needs /usr/bin/redis-server")
async def test_a_cluster_on_a_redis_with_a_password(database_url: str) -> None:
    password = "redis-auth-test-password"
    with private_redis(password) as port:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port, retry=NO_RETRY).set("x", 1)  # a password is required
        url = f"redis://default:{password}@127.0.0.1:{port}/0"
        async with two_nodes(database_url, redis_url=url) as nodes:
            creds = nodes.creds
            on_b = await Link.therapist(nodes.b.url, creds.username, creds.password)
            on_a = await Link.therapist(nodes.a.url, creds.username, creds.password)
            await on_a.call({"type": "start_game", "station": "station-1", "patient_id": nodes.patient_id,
                             "game": "stepping"})
            lease = redis.Redis(host="127.0.0.1", port=port, password=password).get(f"{nodes.prefix}:lease:station-1")
            assert lease == b"node-a"
            stopped = await on_b.call({"type": "stop_game", "station": "station-1"})  # through Redis to A
            assert stopped["type"] == "game_stopped"
            assert not any(password in line for node in (nodes.a, nodes.b) for line in node.output)
            await on_a.close()
            await on_b.close()


def _make_certificates(folder: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=StrideVR test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "san.cnf")


@pytest.mark.skipif(not os.path.exists("/usr/bin/openssl"), reason="needs openssl")
async def test_a_cluster_on_a_redis_over_tls_with_a_password(database_url: str, tmp_path: Path) -> None:
    password = "redis-tls-test-password"
    with private_redis(password, tmp_path) as port:
        with pytest.raises(redis.ConnectionError):
            redis.Redis(host="127.0.0.1", port=port, password=password, retry=NO_RETRY).ping()  # plain TCP
        url = f"rediss://default:{password}@127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.pem'}"
        async with two_nodes(database_url, redis_url=url) as nodes:
            creds = nodes.creds
            on_a = await Link.therapist(nodes.a.url, creds.username, creds.password)
            on_b = await Link.therapist(nodes.b.url, creds.username, creds.password)
            await on_a.call({"type": "start_game", "station": "station-1", "patient_id": nodes.patient_id,
                             "game": "stepping"})
            stopped = await on_b.call({"type": "stop_game", "station": "station-1"})  # through Redis to A
            assert stopped["type"] == "game_stopped"
            await on_a.close()
            await on_b.close()
