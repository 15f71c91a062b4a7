"""Therapist logins: session tokens to reconnect, expiry, logout."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from clients.link import Link, ServerError
from scoring.storage.store import AsyncStore, Store
from server.app import StrideServer
from server.config import Settings
from server.demo import seed_demo
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
        assert closed.value.rcvd.code == 1008
        assert messages[-1]["code"] == "session_expired"
        with pytest.raises(ServerError) as err:
            await Link.open(url, {"type": "login", "token": token}, binary=False)
        assert err.value.code == "auth_failed"
    finally:
        await server.stop()
        async_store.close()
