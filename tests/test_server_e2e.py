"""End to end over real sockets: therapist, simulated tracker and headset against the real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from clients.link import Link, ServerError
from clients.sim_patient import Ability
from clients.sim_tracker import run_sim_tracker
from server import auth
from server.storage.models import AuditEntry, DifficultyChangeRow, GameSession, RomSampleRow, Trial
from tests.conftest import RunningServer

pytestmark = pytest.mark.db

FAST = {"dwell_s": 0.2, "inter_trial_s": 0.2}


async def login(running: RunningServer) -> Link:
    return await Link.therapist(running.url, running.creds.username, running.creds.password)


async def demo_patient(therapist: Link) -> int:
    reply = await therapist.call({"type": "create_patient", "code": "E2E-1", "affected_side": "R",
                                  "leg_length_m": 0.9, "step_reach_m": 0.5, "notes": "e2e"})
    return reply["patient"]["id"]


async def collect_until(link: Link, type_: str, timeout_s: float) -> list[dict[str, Any]]:
    seen = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        msg = await link.recv(max(0.01, deadline - loop.time()))
        seen.append(msg)
        if msg["type"] == type_:
            return seen


async def test_a_whole_stepping_session(running: RunningServer) -> None:
    trials = 8
    therapist = await login(running)
    patient_id = await demo_patient(therapist)
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "stepping",
        "settings": {**FAST, "trials": trials, "seed": 4},
        "difficulty": {"target_success": 0.7, "bounds": {"time_window_s": {"low": 2.0, "high": 5.0}}},
    })
    session_id = started["session_id"]
    assert started["settings"]["reach_m"] == 0.5 and started["settings"]["affected_side"] == "R"
    assert started["difficulty"]["target_success"] == 0.7

    tracker = asyncio.create_task(run_sim_tracker(
        running.url, "station-1", running.tokens,
        Ability(step_reach_m=0.6, placement_sd_m=0.03, hold_s=0.4), trials=trials, seed=2, timeout_s=90,
    ))
    messages = await collect_until(therapist, "game_stopped", timeout_s=90)
    report = await tracker

    # the headset saw every target and the outcome of every trial
    assert len(report.targets_seen) == trials
    assert len(report.outcomes) == trials
    assert all(t["radius_m"] > 0 and t["foot"] in "LR" for t in report.targets_seen)

    # the therapist heard of each trial only after it was committed
    trial_msgs = [m for m in messages if m["type"] == "trial"]
    assert [m["trial"]["index"] for m in trial_msgs] == list(range(trials))
    assert [m["trial"]["outcome"] for m in trial_msgs] == report.outcomes
    stopped = messages[-1]
    assert stopped["reason"] == "completed" and stopped["trials"] == trials

    engine = running.store.store.engine
    with engine.connect() as conn:
        rows = conn.execute(select(Trial).where(Trial.session_id == session_id).order_by(Trial.trial_index)).all()
        assert [r.trial_index for r in rows] == list(range(trials))
        assert {m["trial_id"] for m in trial_msgs} == {r.id for r in rows}
        assert [r.outcome for r in rows] == report.outcomes
        hits = [r for r in rows if r.outcome == "hit"]
        assert hits, "an able simulated patient hits some targets"
        for r in hits:
            assert r.placement_error_m <= r.target_radius_m + 0.002
            assert 0.1 < r.reaction_time_s < 1.0 and r.movement_time_s > 0.1
            assert 0.03 < r.foot_lift_m < 0.08  # the simulated swing peaks at 6 cm
            assert set(r.difficulty) == {"step_distance_frac", "target_radius_m", "time_window_s"}
            assert 2.0 <= r.difficulty["time_window_s"] <= 5.0
        changes = conn.execute(select(DifficultyChangeRow).where(DifficultyChangeRow.session_id == session_id)).all()
        assert sum(c.reason.startswith("initial") for c in changes) == 3
        assert sum(c.reason.startswith("staircase") for c in changes) == 3 * trials
        rom = conn.execute(select(RomSampleRow).where(RomSampleRow.session_id == session_id)).all()
        assert {r.metric for r in rom} == {"step_reach_m", "foot_lift_m"}
        assert all(r.patient_id == patient_id for r in rom)
        session = conn.execute(select(GameSession).where(GameSession.id == session_id)).one()
        assert session.end_reason == "completed" and session.ended_at is not None
    await therapist.close()


async def test_live_difficulty_change_reaches_the_game(running: RunningServer) -> None:
    therapist = await login(running)
    patient_id = await demo_patient(therapist)
    headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
    started = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                    "game": "stepping", "settings": FAST})
    reply = await therapist.call({"type": "set_difficulty", "station": "station-1", "target_success": 0.8,
                                  "bounds": {"target_radius_m": {"value": 0.07}},
                                  "revision": started["config"]["revision"]})
    assert reply["values"]["target_radius_m"] == 0.07 and reply["target_success"] == 0.8
    assert reply["bounds"]["target_radius_m"]["locked"] is True
    # the headset's state stream carries the new value at once
    for _ in range(20):
        state = await headset.recv(5)
        if state.get("type") == "state" and state.get("difficulty", {}).get("target_radius_m") == 0.07:
            break
    else:
        pytest.fail("headset never saw the new difficulty")
    with pytest.raises(ServerError) as err:
        await therapist.call({"type": "set_difficulty", "station": "station-1",
                              "bounds": {"target_radius_m": {"low": 0.5}}, "revision": reply["revision"]})
    assert err.value.code == "bad_field"
    await therapist.call({"type": "stop_game", "station": "station-1"})
    with running.store.store.engine.connect() as conn:
        reasons = conn.scalars(select(DifficultyChangeRow.reason)).all()
        assert "therapist demo" in reasons
        actions = conn.scalars(select(AuditEntry.action)).all()
        assert {"login", "create_patient", "start_game", "set_difficulty", "stop_game"} <= set(actions)
    await headset.close()
    await therapist.close()


async def raw(running: RunningServer):
    return await connect(running.url, compression=None)


async def hello(ws, role: str, token: str, station: str = "station-1") -> dict:
    await ws.send(msgpack.packb({"type": "hello", "v": 1, "role": role, "station": station, "token": token}))
    return msgpack.unpackb(await ws.recv())


async def test_bad_input_gets_clear_errors_and_the_server_keeps_running(running: RunningServer) -> None:
    token = running.creds.station_token
    device = await raw(running)
    assert (await hello(device, "device", token))["type"] == "welcome"
    for frame, code in [
        (b"\xc1", "malformed"),
        (msgpack.packb({"type": "foot", "v": 1, "side": "L", "pos_m": [0, float("nan"), 0], "t_s": 1, "seq": 1}),
         "bad_field"),
        (msgpack.packb({"type": "foot", "v": 1, "side": "L", "pos_m": [0, 0, 0], "t_s": 1}), "missing_field"),
        (msgpack.packb({"type": "start_game", "v": 1}), "unknown_type"),
        (json.dumps({"type": "foot", "v": 1, "side": "Q", "pos_m": [0, 0, 0], "t_s": 1, "seq": 1}), "bad_field"),
    ]:
        await device.send(frame)
        reply = await device.recv()
        reply = msgpack.unpackb(reply) if isinstance(reply, bytes) else json.loads(reply)
        assert reply["type"] == "error" and reply["code"] == code, reply
        assert reply["message"]
    await device.send(msgpack.packb({"type": "ping", "v": 1, "id": 9}))
    assert msgpack.unpackb(await device.recv()) == {"type": "pong", "v": 1, "id": 9}

    headset = await raw(running)
    await hello(headset, "headset", running.creds.headset_token)
    await headset.send(msgpack.packb({"type": "foot", "v": 1}))
    replies = [msgpack.unpackb(await headset.recv()) for _ in range(2)]
    assert any(r["type"] == "error" and r["code"] == "unknown_type" for r in replies)

    therapist = await login(running)
    bad_requests: list[tuple[dict[str, Any], str]] = [
        ({"type": "create_patient", "code": "X", "affected_side": "L", "leg_length_m": 9.0}, "bad_field"),
        ({"type": "create_patient", "code": "<script>", "affected_side": "L", "leg_length_m": 0.9}, "bad_field"),
        ({"type": "start_game", "station": "station-1", "patient_id": 999, "game": "stepping"}, "not_found"),
        ({"type": "start_game", "station": "station-1", "patient_id": 1, "game": "stepping", "source": "file"},
         "bad_field"),
        ({"type": "drop_tables"}, "unknown_type"),
        ({"type": "stop_game", "station": "station-1"}, "no_game"),
    ]
    for bad, code in bad_requests:
        reply = await therapist.request(bad)
        assert reply["type"] == "error" and reply["code"] == code, reply
        if bad.get("source"):  # the error names the field and what it takes
            assert "source" in reply["message"] and "live, recording" in reply["message"], reply

    # oversized frame: closed with 1009 by the transport, the rest carries on
    big = await raw(running)
    await hello(big, "device", token)
    await big.send(b"\x00" * (running.server.settings.max_frame_bytes + 1))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await big.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    # repeated abuse: closed with a policy-violation code
    abuser = await raw(running)
    await hello(abuser, "device", token)
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(100):
            await abuser.send(b"\xc1")
            await abuser.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

    # everybody else is fine
    assert (await therapist.call({"type": "ping"}))["type"] == "pong"
    await device.send(msgpack.packb({"type": "ping", "v": 1, "id": 10}))
    assert msgpack.unpackb(await device.recv())["id"] == 10
    for ws in (device, headset):
        await ws.close()
    await therapist.close()


async def test_credentials_are_checked_for_every_role(running: RunningServer) -> None:
    store = running.store.store
    other_clinic = store.ensure_clinic("Other Clinic")
    store.upsert_station(other_clinic, "station-9", auth.hash_token("other-token-123"))
    store.create_therapist(other_clinic, "other", auth.hash_password("other password 1"))

    for first in [
        {"type": "hello", "v": 1, "role": "device", "station": "station-1", "token": "wrong"},
        {"type": "hello", "v": 1, "role": "headset", "station": "station-1", "token": "other-token-123"},
        {"type": "hello", "v": 1, "role": "device", "station": "nowhere", "token": "x"},
        {"type": "login", "v": 1, "username": "demo", "password": "not the password"},
        {"type": "login", "v": 1, "username": "nobody", "password": "whatever"},
        {"type": "foot", "v": 1, "side": "L", "pos_m": [0, 0, 0], "t_s": 0, "seq": 0},
        {"type": "list_patients", "v": 1},
    ]:
        ws = await raw(running)
        await ws.send(json.dumps(first))
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and reply["code"] in ("auth_failed", "auth_required"), reply
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

    # a therapist of another clinic sees neither our patients nor our stations
    mine = await login(running)
    await demo_patient(mine)
    other = await Link.therapist(running.url, "other", "other password 1")
    assert (await other.call({"type": "list_patients"}))["patients"] == []
    stations = (await other.call({"type": "list_stations"}))["stations"]
    assert [s["station"] for s in stations] == ["station-9"]
    reply = await other.request({"type": "watch", "station": "station-1"})
    assert reply["code"] == "not_found"
    reply = await other.request({"type": "start_game", "station": "station-9", "patient_id": 1, "game": "stepping"})
    assert reply["code"] == "not_found"  # patient 1 is the demo clinic's
    await mine.close()
    await other.close()


async def next_state(headset: Link, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    for _ in range(200):
        state = await headset.recv(5)
        if state.get("type") == "state" and predicate(state):
            return state
    raise AssertionError("state never reached")


async def test_tracker_loss_mid_trial_voids_it_pauses_and_resumes(running: RunningServer) -> None:
    therapist = await login(running)
    patient_id = await demo_patient(therapist)
    token = running.creds.station_token
    headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
    device = await Link.station(running.url, "device", "station-1", token)
    await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                          "game": "stepping", "settings": FAST})

    async def feet(z_right: float = 0.0, seq: int = 0) -> None:
        for side, x, z in (("L", -0.1, 0.0), ("R", 0.1, z_right)):
            await device.send({"type": "foot", "side": side, "pos_m": [x, 0.0, z], "t_s": 0.0, "seq": seq})

    await feet()
    target = (await next_state(headset, lambda s: s.get("phase") == "target"))["target"]
    # the patient starts the step... and the tracker drops out mid-trial
    await device.send({"type": "foot", "side": target["foot"], "pos_m": [target["x_m"] / 2, target["y_m"] / 2, 0.05],
                       "t_s": 0.1, "seq": 9})
    await device.close()
    paused = await next_state(headset, lambda s: s.get("phase") == "paused")
    assert paused["paused_by"] == ["device_lost"] and paused["target"] is None
    status = (await therapist.call({"type": "list_stations"}))["stations"][0]
    assert status["state"] == "paused" and status["paused_by"] == ["device_lost"]

    device = await Link.station(running.url, "device", "station-1", token)
    await feet(seq=20)
    resumed = await next_state(headset, lambda s: s.get("phase") == "target")
    assert resumed["trial"] == 0, "the interrupted trial was voided, not counted"
    assert resumed["paused_by"] == []
    with running.store.store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Trial)) == 0  # nothing scored as a miss
    for link in (device, headset, therapist):
        await link.close()
