"""The server's websocket connection class (``server/ws_connection.py``) over real sockets: a
device's messages handled as they are read, others read by the connection's task; fragmented
messages whole; invalid text refused by the protocol (refused connections held, then reset: in
``test_login_guard.py``)."""

from __future__ import annotations

import asyncio
import json

import msgpack
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from tests.conftest import RunningServer

pytestmark = pytest.mark.db


async def _hello_device(running: RunningServer) -> ClientConnection:
    ws = await connect(running.url)
    await ws.send(msgpack.packb({"type": "hello", "v": 1, "role": "device", "station": "station-1",
                                 "token": running.creds.station_token}))
    assert msgpack.unpackb(await asyncio.wait_for(ws.recv(decode=False), 5))["type"] == "welcome"
    return ws


async def _reply(ws: ClientConnection, request_id: int) -> dict:
    while True:
        frame = await asyncio.wait_for(ws.recv(), 5)
        message = msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)
        if message.get("id") == request_id:
            return dict(message)


async def test_a_device_s_messages_are_answered_in_order_whole_or_in_fragments(running: RunningServer) -> None:
    device = await _hello_device(running)
    ping = msgpack.packb({"type": "ping", "v": 1, "id": 1})
    await device.send([ping[:3], ping[3:]])  # one message in two fragments
    await device.send(msgpack.packb({"type": "ping", "v": 1, "id": 2}))
    assert (await _reply(device, 1))["type"] == "pong"
    assert (await _reply(device, 2))["type"] == "pong"
    # a bad message is answered on the connection, which stays open
    await device.send(msgpack.packb({"type": "foot", "v": 1, "id": 3, "side": "X"}))
    assert (await _reply(device, 3))["type"] == "error"
    await device.send(json.dumps({"type": "ping", "v": 1, "id": 4}))
    assert (await _reply(device, 4))["type"] == "pong"
    await device.close()


async def test_a_login_in_fragments_and_invalid_utf8_text(running: RunningServer) -> None:
    login = json.dumps({"type": "login", "v": 1, "id": 1, "username": running.creds.username,
                        "password": running.creds.password})
    async with connect(running.url) as therapist:
        await therapist.send([login[:10], login[10:]])  # read by the connection's task, not a handler
        assert (await _reply(therapist, 1))["type"] == "welcome"
    async with connect(running.url) as broken:
        broken.protocol.send_frame(Frame(Opcode.TEXT, b"\xff\xfe not UTF-8"))
        broken.send_data()
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(broken.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    device = await _hello_device(running)  # the server is serving as before
    await device.send(msgpack.packb({"type": "ping", "v": 1, "id": 5}))
    assert (await _reply(device, 5))["type"] == "pong"
    await device.close()
