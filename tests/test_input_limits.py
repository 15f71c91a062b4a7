"""Input that costs too much: the byte and cell budgets of a connection, and numbers too large to
convert, over real sockets for every role and both encodings."""

from __future__ import annotations

import asyncio
import json
import logging

import msgpack
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from clients.link import Link
from server.codec import ProtocolError
from server.ratelimit import DEVICE_CELLS_PER_S, InputBudget
from tests.conftest import RunningServer

HUGE = "9" * 400  # a 400-digit JSON integer


class Clock:
    """Simulated time for the budget arithmetic: frames at exact rates, no sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def grid_frame(rows: int, cols: int, seq: int) -> bytes:
    """A pressure frame as a mat sends it: msgpack float64 kPa, two feet on the mat."""
    kpa = np.zeros((rows, cols))
    kpa[10:30, 10:20] = 40.0
    kpa[10:30, 40:50] = 35.0
    return msgpack.packb({"type": "pressure", "v": 1, "t_s": seq / 100.0, "seq": seq, "kpa": kpa.tolist()})


def run_at(budget: InputBudget, clock: Clock, rate_hz: float, seconds: float, size_bytes: int,
           cells: int) -> tuple[int, list[str]]:
    """Offer frames at ``rate_hz`` for ``seconds``; returns how many got through and the errors."""
    admitted = 0
    errors: list[str] = []
    for i in range(int(rate_hz * seconds)):
        clock.now = i / rate_hz
        try:
            if budget.admit_frame(size_bytes) and budget.admit_cells(cells):
                admitted += 1
        except ProtocolError as exc:
            errors.append(exc.code)
    return admitted, errors


def test_well_behaved_devices_pass_untouched_and_a_maxed_out_mat_is_cut_to_its_budget() -> None:
    clock = Clock()
    mat = InputBudget.for_role("device", 64 * 1024, clock)
    size = len(grid_frame(64, 64, 1))
    assert run_at(mat, clock, 100.0, 30.0, size, 64 * 64) == (3000, [])  # 64 x 64 mat at 100 Hz
    clock = Clock()
    tracker = InputBudget.for_role("device", 64 * 1024, clock)
    markers = len(msgpack.packb({"type": "markers", "v": 1, "t_s": 1.0, "seq": 1, "L": {
        n: [1.0, 2.0, 3.0] for n in ("heel", "toe", "ankle")}, "R": {n: [1.0, 2.0, 3.0] for n in
                                                                   ("heel", "toe", "ankle")}}))
    assert run_at(tracker, clock, 240.0, 30.0, markers, 0) == (7200, [])  # a tracker at 240 Hz

    clock = Clock()
    flood = InputBudget.for_role("device", 64 * 1024, clock)
    admitted, errors = run_at(flood, clock, 700.0, 10.0, len(grid_frame(80, 80, 1)), 80 * 80)
    # the work let through: the cell budget for 10 s plus one burst, nothing more
    assert admitted * 6400 <= DEVICE_CELLS_PER_S * 10.25
    assert admitted >= 0.9 * DEVICE_CELLS_PER_S * 10 / 6400
    assert flood.dropped == 7000 - admitted
    assert errors == ["over_budget"] * 10, "one error a second, not one per dropped frame"


def test_the_message_rate_limit_still_refuses_each_message() -> None:
    clock = Clock()
    budget = InputBudget.for_role("headset", 64 * 1024, clock)
    codes = []
    for _ in range(60):  # 60 at once: the burst is 50
        try:
            budget.admit_frame(20)
        except ProtocolError as exc:
            codes.append(exc.code)
    assert codes == ["rate_limited"] * 10


@pytest.mark.db
async def test_an_over_budget_mat_gets_an_error_and_the_server_keeps_serving(running: RunningServer) -> None:
    token = running.creds.station_token
    mat = await Link.station(running.url, "device", "station-1", token)
    await mat.call({"type": "mat_setup", "kind": "grid", "rows": 80, "cols": 80, "cell_m": [0.01, 0.01],
                    "forward": "+y", "mode": "explicit", "origin_m": [0.4, 0.4]})
    other = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
    frames = [grid_frame(80, 80, seq) for seq in range(4)]
    for seq in range(600):  # far beyond the cell budget: sent as fast as the socket takes them
        await mat.ws.send(frames[seq % 4])
    reply = await mat.recv(10)
    while reply["type"] != "error":
        reply = await mat.recv(10)
    assert reply["code"] == "over_budget" and "frame(s) dropped" in reply["message"], reply
    await asyncio.sleep(0.3)  # the budget refills: the same connection is served again
    assert (await mat.call({"type": "ping"}))["type"] == "pong"
    assert running.server.stations["station-1"].devices, "dropping frames did not disconnect it"
    assert (await other.call({"type": "ping"}))["type"] == "pong"
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    assert (await therapist.call({"type": "list_patients"}))["type"] == "patients"
    for link in (mat, other, therapist):
        await link.close()


@pytest.mark.db
async def test_a_64x64_mat_at_100_hz_passes_untouched(running: RunningServer) -> None:
    mat = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await mat.call({"type": "mat_setup", "kind": "grid", "rows": 64, "cols": 64, "cell_m": [0.01, 0.01],
                    "forward": "+y", "mode": "explicit", "origin_m": [0.3, 0.3]})
    loop = asyncio.get_running_loop()
    start = loop.time()
    for seq in range(150):  # 1.5 s at 100 Hz, paced to the clock
        await mat.ws.send(grid_frame(64, 64, seq))
        await asyncio.sleep(max(0.0, start + (seq + 1) / 100.0 - loop.time()))
    reply = await mat.call({"type": "ping"})  # everything before it has been handled
    assert reply["type"] == "pong"
    errors = []
    while True:
        try:
            message = await mat.recv(0.2)
        except TimeoutError:
            break
        if message.get("type") == "error":
            errors.append(message)
    assert errors == []
    budget = next(iter(running.server.stations["station-1"].devices)).budget
    assert budget is not None and budget.dropped == 0
    await mat.close()


# -- numbers too large -----------------------------------------------------------------------------


async def _expect_bad_field(ws, frame: bytes | str) -> dict:
    await ws.send(frame)
    reply: dict = {}
    while reply.get("type") in (None, "state"):  # a headset is sent the station's state too
        raw = await asyncio.wait_for(ws.recv(), 10)
        reply = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
    assert reply["type"] == "error" and reply["code"] == "bad_field", reply
    return reply


@pytest.mark.db
async def test_a_huge_json_integer_is_bad_field_for_every_role_counted_and_logged_once(
        running: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    token = running.creds.station_token
    device = await Link.station(running.url, "device", "station-1", token, binary=False)
    headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token, binary=False)
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    foot = f'{{"type":"foot","v":1,"side":"L","pos_m":[{HUGE},0,0],"t_s":1,"seq":1}}'
    reply = await _expect_bad_field(device.ws, foot)
    assert "64 bits" in reply["message"]
    await _expect_bad_field(headset.ws, f'{{"type":"ready","v":1,"id":{HUGE}}}')
    await _expect_bad_field(therapist.ws, f'{{"type":"patient","v":1,"patient_id":{HUGE}}}')
    await _expect_bad_field(therapist.ws, f'{{"type":"ping","v":1,"x":-{HUGE}}}')
    for link in (device, headset, therapist):  # each is still served
        assert (await link.call({"type": "ping"}))["type"] == "pong"

    # counted like any bad input: the cut-off closes a connection that keeps sending it
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(40):
            await _expect_bad_field(device.ws, foot)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    await asyncio.sleep(0.1)
    assert not any(r.exc_info for r in caplog.records), "no traceback"
    assert not any("internal" in r.getMessage() or "failed" in r.getMessage() for r in caplog.records)
    bad_input = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bad input")]
    assert len(bad_input) == 3, bad_input  # once per connection, though the device sent 30 more
    for link in (headset, therapist):
        await link.close()


@pytest.mark.db
async def test_a_huge_integer_as_the_first_message_is_bad_field(running: RunningServer) -> None:
    ws = await connect(running.url, compression=None)
    await _expect_bad_field(ws, f'{{"type":"hello","v":1,"role":"device","station":"x","token":{HUGE}}}')
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 1008


@pytest.mark.db
async def test_msgpack_extremes_reach_numpy_as_bad_field_not_overflow(running: RunningServer) -> None:
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await device.call({"type": "mat_setup", "kind": "grid", "rows": 4, "cols": 4, "cell_m": [0.02, 0.02],
                       "forward": "+y", "mode": "calibrate"})
    for extreme in (2**64 - 1, -(2**63), 1.7976931348623157e308, -1.7976931348623157e308):
        kpa = [[0.0] * 4 for _ in range(4)]
        kpa[2][1] = extreme
        reply = await device.request({"type": "pressure", "t_s": 0.0, "seq": 0, "kpa": kpa})
        assert reply["code"] == "bad_field" and "kPa" in reply["message"], reply
        flat = [0.0] * 15 + [extreme]
        reply = await device.request({"type": "pressure", "t_s": 0.0, "seq": 0, "kpa": flat})
        assert reply["code"] == "bad_field", reply
        reply = await device.request({"type": "foot", "side": "L", "pos_m": [extreme, 0.0, 0.0],
                                      "t_s": 1.0, "seq": 1})
        assert reply["code"] == "bad_field", reply
    reply = await device.request({"type": "foot", "side": "L", "pos_m": [0.0, 0.0, 0.0],
                                  "t_s": 1.0, "seq": 2**64 - 1})
    assert reply["code"] == "bad_field", reply
    assert (await device.call({"type": "ping"}))["type"] == "pong"
    await device.close()
