"""Roles, per-role station credentials and revocation, over real sockets against a real server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import pytest
from alembic import command
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from clients.link import Link, ServerError
from server import auth
from server.app import StrideServer
from server.config import Settings
from server.demo import seed_demo
from server.storage.database import alembic_config, migrate
from server.storage.store import AsyncStore, Store
from tests.conftest import RunningServer

pytestmark = pytest.mark.db

REVOKED_WITHIN_S = 2.0
ADMIN_COMMANDS: dict[str, dict[str, Any]] = {
    "list_accounts": {}, "create_account": {"username": "x-user"}, "deactivate_account": {"account_id": 1},
    "reactivate_account": {"account_id": 1}, "reset_password": {"account_id": 1},
    "list_station_credentials": {}, "create_station": {"station": "station-x"},
    "rotate_station_token": {"station": "station-1", "role": "device"},
    "revoke_station_token": {"station": "station-1", "role": "headset"}, "audit_log": {},
}


async def hello(url: str, role: str, token: str, station: str = "station-1") -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(url, compression=None)
    await ws.send(msgpack.packb({"type": "hello", "v": 1, "role": role, "station": station, "token": token}))
    return ws, msgpack.unpackb(await ws.recv(decode=False))


async def login(url: str, **first: str) -> Link:
    return await Link.open(url, {"type": "login", **first}, binary=False)


async def admin(running: RunningServer) -> Link:
    return await login(running.url, username=running.creds.admin_username, password=running.creds.admin_password)


async def closed_with(ws: ClientConnection, within_s: float = REVOKED_WITHIN_S) -> tuple[dict[str, Any], float]:
    """The last message before the server closed ``ws`` (within ``within_s``), and how long it took."""
    start = time.perf_counter()
    last: dict[str, Any] = {}
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frame = await asyncio.wait_for(ws.recv(), within_s - (time.perf_counter() - start))
            last = msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    return last, time.perf_counter() - start


async def account_id(link: Link, username: str) -> int:
    accounts = (await link.call({"type": "list_accounts"}))["accounts"]
    return next(a["id"] for a in accounts if a["username"] == username)


# -- one token per role at a station ---------------------------------------------------------------


async def test_a_headset_token_opens_only_the_headset_role_and_cannot_send_device_frames(
        running: RunningServer) -> None:
    creds = running.creds
    for role, token in (("device", creds.headset_token), ("headset", creds.station_token)):
        ws, reply = await hello(running.url, role, token)
        assert reply["type"] == "error" and reply["code"] == "auth_failed", reply
        assert f"for the {role} role" in reply["message"]
        await ws.close()
    headset, welcome = await hello(running.url, "headset", creds.headset_token)
    assert welcome["type"] == "welcome" and welcome["role"] == "headset"
    markers = {"type": "markers", "v": 1, "t_s": 0.0, "seq": 0, "units": "m", "up": "z",
               "markers": {"L.heel": [0, 0, 0]}}
    for frame in ({"type": "foot", "v": 1, "side": "L", "pos_m": [0, 0, 0], "t_s": 0, "seq": 0}, markers,
                  {"type": "setup", "v": 1, "id": 1}, {"type": "belt", "v": 1, "speed_m_s": 1.0}):
        await headset.send(msgpack.packb(frame))
        while (reply := msgpack.unpackb(await asyncio.wait_for(headset.recv(decode=False), 5)))["type"] != "error":
            pass  # the station's state, sent on connecting
        assert reply["code"] == "unknown_type" and f"cannot send '{frame['type']}'" in reply["message"]
    assert not running.server.stations["station-1"].devices  # no device joined through the headset token
    await headset.close()


def test_the_migration_keeps_a_stations_token_for_its_device_and_makes_accounts_therapists(
        database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0006")
    store = Store(database_url)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO clinics (name, created_at) VALUES ('Old', :t)"), {"t": datetime.now(UTC)})
        conn.execute(text("INSERT INTO therapists (clinic_id, username, password_hash, display_name, active, "
                          "created_at) VALUES (1, 'old', :h, '', :a, :t)"),
                     {"h": auth.hash_password("old password 1"), "a": True, "t": datetime.now(UTC)})
        conn.execute(text("INSERT INTO stations (clinic_id, name, token_hash, created_at) "
                          "VALUES (1, 'old-st', :h, :t)"),
                     {"h": auth.hash_token("old-token"), "t": datetime.now(UTC)})
    store.close()
    migrate(database_url)
    store = Store(database_url)
    try:
        found = store.station_credential("old-st", "device")
        assert found is not None and auth.verify_token("old-token", found[1])
        assert store.station_credential("old-st", "headset") is None
        old = store.find_therapist("old")
        assert old is not None and old.role == "therapist"
    finally:
        store.close()


# -- revocation cuts live access -------------------------------------------------------------------


async def test_logout_closes_every_connection_of_that_session_and_refuses_its_token(running: RunningServer) -> None:
    first = await login(running.url, username=running.creds.username, password=running.creds.password)
    token = first.welcome["session_token"]
    second = await login(running.url, token=token)  # the panel in another window, reconnected
    other = await login(running.url, username=running.creds.username, password=running.creds.password)
    assert (await first.call({"type": "logout"}))["type"] == "logged_out"
    last, took = await closed_with(second.ws)
    assert last["code"] == "revoked" and last["reason"] == "logout" and took < REVOKED_WITHIN_S
    with pytest.raises(ServerError) as refused:
        await login(running.url, token=token)
    assert refused.value.code == "auth_failed"
    assert (await other.call({"type": "ping"}))["type"] == "pong"  # another session of the account lives on
    await other.close()


async def test_a_password_reset_closes_the_accounts_connections_and_refuses_its_old_tokens(
        running: RunningServer) -> None:
    boss = await admin(running)
    therapist = await login(running.url, username=running.creds.username, password=running.creds.password)
    token = therapist.welcome["session_token"]
    reset = await boss.call({"type": "reset_password", "account_id": await account_id(boss, running.creds.username)})
    new_password = reset["one_time_password"]
    last, _ = await closed_with(therapist.ws)
    assert last["code"] == "revoked" and last["reason"] == "password_reset"
    for first in ({"token": token}, {"username": running.creds.username, "password": running.creds.password}):
        with pytest.raises(ServerError) as refused:
            await login(running.url, **first)
        assert refused.value.code == "auth_failed"
    again = await login(running.url, username=running.creds.username, password=new_password)
    assert (await again.call({"type": "ping"}))["type"] == "pong"
    entries = (await boss.call({"type": "audit_log", "action": "reset_password"}))["entries"]
    assert entries[0]["username"] == running.creds.admin_username and entries[0]["detail"]["sessions_revoked"] >= 1
    await again.close()
    await boss.close()


async def test_deactivation_closes_the_accounts_connections_and_reactivation_lets_it_back(
        running: RunningServer) -> None:
    boss = await admin(running)
    therapist = await login(running.url, username=running.creds.username, password=running.creds.password)
    token = therapist.welcome["session_token"]
    target = await account_id(boss, running.creds.username)
    gone = await boss.call({"type": "deactivate_account", "account_id": target})
    assert gone["account"]["active"] is False
    last, _ = await closed_with(therapist.ws)
    assert last["code"] == "revoked" and last["reason"] == "deactivated"
    with pytest.raises(ServerError):
        await login(running.url, username=running.creds.username, password=running.creds.password)
    with pytest.raises(ServerError):
        await login(running.url, token=token)
    with pytest.raises(ServerError) as own:
        await boss.call({"type": "deactivate_account", "account_id": boss.welcome["therapist"]["id"]})
    assert own.value.code == "bad_field"
    await boss.call({"type": "reactivate_account", "account_id": target})
    back = await login(running.url, username=running.creds.username, password=running.creds.password)
    with pytest.raises(ServerError):  # the old session token stays revoked
        await login(running.url, token=token)
    await back.close()
    await boss.close()


async def test_rotating_or_revoking_a_station_token_closes_its_connections_and_refuses_it(
        running: RunningServer) -> None:
    creds = running.creds
    boss = await admin(running)
    device, _ = await hello(running.url, "device", creds.station_token)
    headset, _ = await hello(running.url, "headset", creds.headset_token)
    rotated = await boss.call({"type": "rotate_station_token", "station": "station-1", "role": "device"})
    last, _ = await closed_with(device)
    assert last["code"] == "revoked" and last["reason"] == "station_credential"
    ws, refused = await hello(running.url, "device", creds.station_token)
    assert refused["code"] == "auth_failed"
    ws, welcome = await hello(running.url, "device", rotated["token"])
    assert welcome["type"] == "welcome"
    await headset.send(msgpack.packb({"type": "ping", "v": 1, "id": 1}))  # the headset's token still stands
    revoked = await boss.call({"type": "revoke_station_token", "station": "station-1", "role": "headset"})
    assert revoked["had_token"] is True
    last, _ = await closed_with(headset)
    assert last["code"] == "revoked"
    _, refused = await hello(running.url, "headset", creds.headset_token)
    assert refused["code"] == "auth_failed"
    listed = (await boss.call({"type": "list_station_credentials"}))["stations"]
    assert [(s["station"], sorted(s["credentials"])) for s in listed] == [("station-1", ["device"])]
    await ws.close()
    await boss.close()


@pytest.fixture
async def two_servers(database_url: str) -> AsyncIterator[tuple[StrideServer, StrideServer, Any]]:
    """Two server processes' worth of servers on one database (no Redis: revocation goes through
    the database, which also carries the command line's)."""
    store = Store(database_url)
    creds = seed_demo(store)
    store.close()
    servers, stores = [], []
    for node in ("node-a", "node-b"):
        stores.append(AsyncStore(Store(database_url)))
        servers.append(StrideServer(Settings(port=0, database_url=database_url, node_id=node), stores[-1]))
        await servers[-1].start()
    try:
        yield servers[0], servers[1], creds
    finally:
        for server, async_store in zip(servers, stores, strict=True):
            await server.stop()
            async_store.close()


async def test_a_revocation_on_one_process_closes_connections_on_another(two_servers: Any) -> None:
    a, b, creds = two_servers
    url_a, url_b = (f"ws://127.0.0.1:{s.port}" for s in (a, b))
    therapist = await login(url_b, username=creds.username, password=creds.password)
    device, _ = await hello(url_b, "device", creds.station_token)
    boss = await login(url_a, username=creds.admin_username, password=creds.admin_password)
    await boss.call({"type": "reset_password", "account_id": therapist.welcome["therapist"]["id"]})
    last, took = await closed_with(therapist.ws)
    assert last["reason"] == "password_reset" and took < REVOKED_WITHIN_S
    await boss.call({"type": "rotate_station_token", "station": "station-1", "role": "device"})
    last, took = await closed_with(device)
    assert last["reason"] == "station_credential" and took < REVOKED_WITHIN_S
    await boss.close()


# -- admins and therapists -------------------------------------------------------------------------


async def test_a_therapist_is_forbidden_every_admin_command_and_each_refusal_is_audited(
        running: RunningServer) -> None:
    therapist = await login(running.url, username=running.creds.username, password=running.creds.password)
    for type_, fields in ADMIN_COMMANDS.items():
        with pytest.raises(ServerError) as refused:
            await therapist.call({"type": type_, **fields})
        assert refused.value.code == "forbidden" and type_ in refused.value.reply["message"]
    boss = await admin(running)
    forbidden = (await boss.call({"type": "audit_log", "action": "forbidden"}))["entries"]
    assert sorted(e["detail"]["request"] for e in forbidden) == sorted(ADMIN_COMMANDS)
    assert {e["username"] for e in forbidden} == {running.creds.username}
    await therapist.close()
    await boss.close()


async def test_an_admin_creates_accounts_and_stations_whose_credentials_work(running: RunningServer) -> None:
    boss = await admin(running)
    made = await boss.call({"type": "create_account", "username": "new-therapist", "display_name": "New"})
    assert made["account"]["role"] == "therapist" and len(made["one_time_password"]) >= auth.MIN_PASSWORD_LENGTH
    given = await boss.call({"type": "create_account", "username": "second-admin", "role": "admin",
                             "password": "a chosen password"})
    assert given["one_time_password"] is None and given["account"]["role"] == "admin"
    with pytest.raises(ServerError) as taken:
        await boss.call({"type": "create_account", "username": "new-therapist"})
    assert taken.value.code == "conflict"
    with pytest.raises(ServerError) as short:
        await boss.call({"type": "create_account", "username": "short-pw", "password": "short"})
    assert short.value.code == "bad_field"
    newcomer = await login(running.url, username="new-therapist", password=made["one_time_password"])
    assert newcomer.welcome["therapist"]["username"] == "new-therapist"
    second = await login(running.url, username="second-admin", password="a chosen password")
    assert (await second.call({"type": "list_accounts"}))["type"] == "accounts"
    accounts = {a["username"]: a for a in (await boss.call({"type": "list_accounts"}))["accounts"]}
    assert set(accounts) == {"demo", "demo-admin", "new-therapist", "second-admin"}
    assert all("password_hash" not in a for a in accounts.values())

    station = await boss.call({"type": "create_station", "station": "station-2"})
    for role in ("device", "headset"):
        ws, welcome = await hello(running.url, role, station["tokens"][role], "station-2")
        assert welcome["type"] == "welcome" and welcome["role"] == role
        await ws.close()
    with pytest.raises(ServerError) as exists:
        await boss.call({"type": "create_station", "station": "station-2"})
    assert exists.value.code == "conflict"
    stations = {s["station"]: s["credentials"]
                for s in (await boss.call({"type": "list_station_credentials"}))["stations"]}
    assert sorted(stations["station-2"]) == ["device", "headset"]
    listed = (await newcomer.call({"type": "list_stations"}))["stations"]  # the clinic's therapists see it
    assert "station-2" in {s["station"] for s in listed}
    for link in (newcomer, second, boss):
        await link.close()


async def test_the_audit_query_filters_by_person_patient_action_and_time_and_pages(running: RunningServer) -> None:
    therapist = await login(running.url, username=running.creds.username, password=running.creds.password)
    patient = (await therapist.call({"type": "create_patient", "code": "AUD-1", "affected_side": "R",
                                     "leg_length_m": 0.9}))["patient"]
    await therapist.call({"type": "update_patient", "patient_id": patient["id"], "notes": "seen"})
    await therapist.call({"type": "list_sessions", "patient_id": patient["id"]})
    with pytest.raises(ServerError):
        await login(running.url, username=running.creds.username, password="not the password")
    boss = await admin(running)
    me = therapist.welcome["therapist"]["id"]

    about = (await boss.call({"type": "audit_log", "patient_id": patient["id"]}))["entries"]
    assert [e["action"] for e in about] == ["list_sessions", "update_patient", "create_patient"]
    assert all(e["subject"] == f"patient:{patient['id']}" and e["therapist_id"] == me for e in about)
    failed = (await boss.call({"type": "audit_log", "action": "login_failed"}))["entries"]
    assert failed and failed[0]["detail"]["reason"] == "wrong username or password"
    by_person = (await boss.call({"type": "audit_log", "therapist_id": me}))["entries"]
    assert by_person and all(e["therapist_id"] == me for e in by_person)
    assert "login_failed" in {e["action"] for e in by_person}

    now = datetime.now(UTC)
    later = (await boss.call({"type": "audit_log", "since": (now + timedelta(hours=1)).isoformat()}))["entries"]
    assert later == []
    earlier = (await boss.call({"type": "audit_log", "until": (now - timedelta(hours=1)).isoformat()}))["entries"]
    assert earlier == []
    everything = (await boss.call({"type": "audit_log", "limit": 500}))["entries"]
    page = await boss.call({"type": "audit_log", "limit": 2})
    pages = page["entries"]
    while page["next_before_id"] is not None:
        page = await boss.call({"type": "audit_log", "limit": 2, "before_id": page["next_before_id"]})
        pages += page["entries"]
    ids = [e["id"] for e in pages]
    assert ids == sorted(set(ids), reverse=True)  # newest first, each entry once
    # every entry seen in one long page, and beyond those only the audit queries made since
    assert {e["id"] for e in everything} <= set(ids)
    assert {e["action"] for e in pages if e["id"] > everything[0]["id"]} == {"audit_log"}
    with pytest.raises(ServerError) as bad:
        await boss.call({"type": "audit_log", "since": "yesterday"})
    assert bad.value.code == "bad_field"
    # another clinic's admin sees none of it
    store = running.store.store
    other = store.ensure_clinic("Other Clinic")
    store.create_therapist(other, "other-admin", auth.hash_password("other password 1"), role="admin")
    outsider = await login(running.url, username="other-admin", password="other password 1")
    seen = (await outsider.call({"type": "audit_log", "limit": 500}))["entries"]
    assert {e["action"] for e in seen} <= {"create_account", "login", "audit_log"}
    assert all(e["subject"] != f"patient:{patient['id']}" for e in seen)
    for link in (therapist, boss, outsider):
        await link.close()


# -- the command line ------------------------------------------------------------------------------


def cli(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", "--database-url", url, "--log-level", "WARNING", *args],
                          capture_output=True, text=True, timeout=60, input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None)


async def test_the_first_admin_is_made_on_the_command_line_and_can_administer(database_url: str) -> None:
    made = await asyncio.to_thread(cli, database_url, "create-therapist", "boss", "--clinic", "Fresh Clinic",
                                   "--admin", stdin="the boss password\n")
    assert made.returncode == 0, made.stderr
    assert "admin boss created in clinic Fresh Clinic" in made.stdout
    again = await asyncio.to_thread(cli, database_url, "create-therapist", "boss", "--clinic", "Fresh Clinic",
                                    stdin="the boss password\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    short = await asyncio.to_thread(cli, database_url, "create-therapist", "tiny", "--clinic", "Fresh Clinic",
                                    stdin="short\n")
    assert short.returncode == 2 and "at least" in short.stderr
    plain = await asyncio.to_thread(cli, database_url, "create-therapist", "plain", "--clinic", "Fresh Clinic",
                                    stdin="the plain password\n")
    assert plain.returncode == 0 and "therapist plain created" in plain.stdout
    store = Store(database_url)
    async_store = AsyncStore(store)
    server = StrideServer(Settings(port=0, database_url=database_url), async_store)
    await server.start()
    url = f"ws://127.0.0.1:{server.port}"
    try:
        boss = await login(url, username="boss", password="the boss password")
        accounts = (await boss.call({"type": "list_accounts"}))["accounts"]
        assert {(a["username"], a["role"]) for a in accounts} == {("boss", "admin"), ("plain", "therapist")}
        station = await boss.call({"type": "create_station", "station": "fresh-1"})
        plain_link = await login(url, username="plain", password="the plain password")
        with pytest.raises(ServerError) as refused:
            await plain_link.call({"type": "list_accounts"})
        assert refused.value.code == "forbidden"

        # the command line revokes too: a live connection closes within 2 s, its token refused
        device, _ = await hello(url, "device", station["tokens"]["device"], "fresh-1")
        headset, _ = await hello(url, "headset", station["tokens"]["headset"], "fresh-1")
        issued = await asyncio.to_thread(cli, database_url, "station-token", "fresh-1", "--role", "headset")
        assert issued.returncode == 0 and "station fresh-1 headset token: " in issued.stdout
        new_headset_token = issued.stdout.rsplit(" ", 1)[1].strip()
        last, _ = await closed_with(headset)
        assert last["reason"] == "station_credential"
        await device.send(msgpack.packb({"type": "ping", "v": 1, "id": 3}))
        assert msgpack.unpackb(await device.recv(decode=False))["type"] == "pong"  # the device's token was not touched
        _, refused_hello = await hello(url, "headset", station["tokens"]["headset"], "fresh-1")
        assert refused_hello["code"] == "auth_failed"
        _, welcome = await hello(url, "headset", new_headset_token, "fresh-1")
        assert welcome["type"] == "welcome"

        changed = await asyncio.to_thread(cli, database_url, "set-password", "plain", stdin="a newer password\n")
        assert changed.returncode == 0, changed.stderr
        last, _ = await closed_with(plain_link.ws)
        assert last["reason"] == "password_changed"
        off = await asyncio.to_thread(cli, database_url, "set-active", "boss", "off")
        assert off.returncode == 0
        last, _ = await closed_with(boss.ws)
        assert last["reason"] == "deactivated"
        missing = await asyncio.to_thread(cli, database_url, "station-token", "nowhere", "--role", "headset")
        assert missing.returncode == 1 and "--clinic" in missing.stderr
        nobody = await asyncio.to_thread(cli, database_url, "set-active", "nobody", "on")
        assert nobody.returncode == 1
    finally:
        await server.stop()
        async_store.close()


async def test_the_panel_goes_back_to_its_login_screen_saying_why_when_its_login_is_revoked(
        running: RunningServer, panel: Any) -> None:
    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    await page.wait_for_selector("#view-login", state="hidden")
    boss = await admin(running)
    await boss.call({"type": "reset_password", "account_id": await account_id(boss, running.creds.username)})
    await page.wait_for_selector("#view-login:not([hidden]) #login-notice:has-text('reset by an admin')",
                                 timeout=int(REVOKED_WITHIN_S * 1000) + 1000)
    await panel.shot("revoked")
    assert panel.problems == []
    await boss.close()
