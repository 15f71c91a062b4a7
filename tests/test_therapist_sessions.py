"""Therapist logins (session tokens to reconnect, expiry, logout) and the patient-record commands."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from clients.link import Link, ServerError
from server.app import StrideServer
from server.config import Settings
from server.demo import seed_demo
from server.storage.models import AuditEntry, DifficultyChangeRow
from server.storage.store import AsyncStore, Store
from tests.conftest import RunningServer

pytestmark = pytest.mark.db


async def test_a_panel_reconnects_with_its_token_until_logout(running: RunningServer) -> None:
    ws = await connect(running.url)
    await ws.send(json.dumps({"type": "login", "v": 1, "username": running.creds.username,
                              "password": running.creds.password}))
    hello = json.loads(await ws.recv())
    assert hello["type"] == "welcome" and hello["expires_in_s"] > 7 * 3600
    token = hello["session_token"]
    await ws.close()
    # the welcome carried a token: reconnect without the password
    again = await Link.open(running.url, {"type": "login", "token": token}, binary=False)
    assert (await again.call({"type": "list_patients"}))["patients"]
    assert (await again.call({"type": "logout"}))["type"] == "logged_out"
    with pytest.raises(ServerError) as err:
        await Link.open(running.url, {"type": "login", "token": token}, binary=False)
    assert err.value.code == "auth_failed"


async def test_an_expired_session_is_closed_and_its_token_refused(database_url: str) -> None:
    store = Store(database_url)
    creds = seed_demo(store)
    async_store = AsyncStore(store)
    server = StrideServer(Settings(port=0, database_url=database_url, session_ttl_s=1.0), async_store)
    await server.start()
    url = f"ws://127.0.0.1:{server.port}"
    try:
        ws = await connect(url)
        await ws.send(json.dumps({"type": "login", "v": 1, "username": creds.username, "password": creds.password}))
        token = json.loads(await ws.recv())["session_token"]
        messages = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                messages.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert messages[-1]["code"] == "session_expired"
        with pytest.raises(ServerError) as err:
            await Link.open(url, {"type": "login", "token": token}, binary=False)
        assert err.value.code == "auth_failed"
    finally:
        await server.stop()
        async_store.close()


async def test_patient_records_sessions_and_export_for_the_panel(running: RunningServer) -> None:
    """What the web panel's patient and progress pages ask for, clinic-scoped and audited."""
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    created = (await therapist.call({"type": "create_patient", "code": "PANEL-1", "affected_side": "L",
                                     "leg_length_m": 0.9, "step_reach_m": 0.5}))["patient"]
    pid = created["id"]
    updated = (await therapist.call({"type": "update_patient", "patient_id": pid, "leg_length_m": 0.88,
                                     "step_reach_m": None, "notes": "re-measured"}))["patient"]
    assert updated["leg_length_m"] == 0.88 and updated["step_reach_m"] is None and updated["code"] == "PANEL-1"
    cleared = (await therapist.call({"type": "update_patient", "patient_id": pid, "notes": ""}))["patient"]
    assert cleared["notes"] == "" and cleared["leg_length_m"] == 0.88
    with pytest.raises(ServerError) as err:
        await therapist.call({"type": "update_patient", "patient_id": pid, "code": "X"})
    assert err.value.code == "unknown_field"  # the pseudonymous code never changes
    started = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": pid,
                                    "game": "stepping", "settings": {"trials": 5}})
    [station] = [s for s in (await therapist.call({"type": "list_stations"}))["stations"]
                 if s["station"] == "station-1"]
    assert (station["game"], station["patient_code"]) == ("stepping", "PANEL-1")
    reply = await therapist.call({"type": "set_difficulty", "station": "station-1",
                                  "settings": {"affected_side_share": 0.9}, "revision": started["config"]["revision"]})
    assert reply["settings"] == {"affected_side_share": 0.9}
    with pytest.raises(ServerError) as err:  # not a live setting
        await therapist.call({"type": "set_difficulty", "station": "station-1", "settings": {"trials": 3},
                              "revision": reply["revision"]})
    assert err.value.code == "unknown_field"
    await therapist.call({"type": "stop_game", "station": "station-1"})
    sessions = (await therapist.call({"type": "list_sessions", "patient_id": pid}))["sessions"]
    assert [(s["game"], s["trials"], s["end_reason"]) for s in sessions] == [("stepping", 0, "stopped_by_therapist")]
    exported = await therapist.call({"type": "export", "patient_id": pid})
    assert exported["trials"] == [] and isinstance(exported["metrics"], list)
    # the export names its patient (the CSV's patient-code column) and the affected side
    assert (exported["patient_code"], exported["affected_side"]) == ("PANEL-1", "L")
    for kind in ("list_sessions", "export", "progress"):
        with pytest.raises(ServerError) as err:
            await therapist.call({"type": kind, "patient_id": pid + 1000})
        assert err.value.code == "not_found"
    with running.store.store.engine.connect() as db:
        actions = set(db.scalars(select(AuditEntry.action)))
        settings_change = db.execute(select(DifficultyChangeRow.old_value, DifficultyChangeRow.new_value).where(
            DifficultyChangeRow.parameter == "setting:affected_side_share")).one()
    assert {"update_patient", "list_sessions", "export"} <= actions
    assert tuple(settings_change) == (0.7, 0.9)
    await therapist.close()
