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

from clients.link import Link
from tests.conftest import RunningServer
from tests.test_station_devices import is_state, therapist_and_patient, until

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


async def test_the_events_of_one_read_make_one_state_sent_as_the_read_ends(running: RunningServer) -> None:
    """A device's frames that arrive together are applied together: its station's headset gets one
    state with the newest of both feet, not one state per event."""
    therapist, patient_id = await therapist_and_patient(running)
    headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                          "game": "stepping"})
    await until(headset, is_state(paused_by=[]), timeout_s=5)  # the device's first events are in

    def foot(seq: int) -> bytes:
        side, x = ("L", -0.1) if seq % 2 else ("R", 0.1)
        event = msgpack.packb({"type": "foot", "v": 1, "side": side, "pos_m": [x, 0.0, 0.0], "t_s": seq / 120,
                               "seq": seq})
        return Frame(Opcode.BINARY, event).serialize(mask=True, extensions=[])

    await asyncio.sleep(0.3)
    while True:  # the states so far are read
        try:
            await headset.recv(0.2)
        except TimeoutError:
            break
    device.ws.transport.write(b"".join(foot(seq) for seq in range(100, 110)))  # one write: one read
    seen = [(await until(headset, is_state(), timeout_s=5))["foot_seq"]]
    while True:  # later states (a target shown by the game's timer) carry the same feet
        try:
            seen.append((await until(headset, is_state(), timeout_s=0.3))["foot_seq"])
        except TimeoutError:
            break
    assert seen[0] == {"R": 108, "L": 109} and all(s == seen[0] for s in seen)  # none of the events between
    await therapist.call({"type": "stop_game", "station": "station-1"})
    for link in (device, headset, therapist):
        await link.close()
