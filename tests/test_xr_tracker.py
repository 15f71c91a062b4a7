"""A WebXR headset as the station's tracker: its head and foot controllers play and score games.

The player streams ``xr_pose`` frames as a headset would (local-floor metres, the patient standing
somewhere in the room, facing any way), with the credentials a pairing issued; the server's
adapter calibrates from the standing pose, then steps and leans are played, scored and stored.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import msgpack
import pytest
from sqlalchemy import select

from clients.link import Link, StationTokens
from clients.sim_devices import CONTROLLER_HEIGHT_M, EYE_HEIGHT_M, BodyPose, XrRoom, xr_message
from clients.sim_patient import home_of
from clients.sim_player import play
from games.events import BalanceEvent, Side
from server.adapters.frames import XrPose, XrSetup
from server.adapters.xr import COM_SCALE, XrAdapter
from server.ratelimit import DEVICE_POSES_PER_S, InputBudget
from server.storage.models import Trial
from tests.conftest import RunningServer
from tests.test_devices_e2e import DIFFICULTY, SETTINGS
from tests.test_pairing import pair

STANDING = BodyPose({side: (*home_of(side), 0.0) for side in Side}, (0.0, 0.0))


async def paired_tokens(running: RunningServer, therapist: Link) -> StationTokens:
    issued = await therapist.call({"type": "pair_headset", "station": "station-1", "tracker": True})
    paired, _ = await pair(running.url, issued["code"])
    return StationTokens(paired["device_token"], paired["headset_token"])


async def start(running: RunningServer, game: str) -> tuple[Link, int]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient = await therapist.call({"type": "create_patient", "code": f"XR-{game}", "affected_side": "L",
                                    "leg_length_m": 0.9, "step_reach_m": 0.5})
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient["patient"]["id"], "game": game,
        "settings": SETTINGS[game], "difficulty": {"bounds": DIFFICULTY[game]}})
    return therapist, started["session_id"]


def stored(running: RunningServer, session_id: int) -> list[Any]:
    with running.store.store.engine.connect() as db:
        return list(db.execute(select(Trial).where(Trial.session_id == session_id).order_by(Trial.trial_index)))


@pytest.mark.parametrize(("game", "room"), [
    ("stepping", XrRoom(yaw_deg=35.0, origin_m=(0.6, -1.2))),
    ("stepping", XrRoom(yaw_deg=-120.0, origin_m=(-0.3, 0.4), swapped=True)),  # controllers on the wrong feet
    ("reaching", XrRoom(yaw_deg=180.0, origin_m=(0.0, 1.5))),
    ("weight_shift", XrRoom(yaw_deg=80.0, origin_m=(1.0, 0.5))),  # the head's lean steers the cursor
])
async def test_a_headset_s_poses_play_games_that_are_scored_and_stored(
        running: RunningServer, game: str, room: XrRoom) -> None:
    therapist, session_id = await start(running, game)
    tokens = await paired_tokens(running, therapist)
    report = await play(running.url, "station-1", tokens, game, "xr", trials=2, room=room, timeout_s=60)
    assert report.errors == []
    assert report.outcomes == ["hit", "hit"], (report.outcomes, report.faults)
    kinds = [n["kind"] for n in report.notices]
    assert ("controllers_swapped" in kinds) == room.swapped
    calibrated = next(n for n in report.notices if n["kind"] == "calibrated")["detail"]
    xr_frame = calibrated["xr_frame"]  # where the page puts the game's frame in its room
    assert xr_frame["origin_m"] == pytest.approx([room.origin_m[0], 0.0, room.origin_m[1]], abs=1e-3)
    assert xr_frame["forward"] == pytest.approx(list(room.forward()), abs=1e-3)
    assert calibrated["head_height_m"] == pytest.approx(EYE_HEIGHT_M, abs=0.01)
    assert calibrated["controllers_swapped"] is room.swapped

    while (event := await therapist.recv(30))["type"] != "game_stopped":
        pass
    assert event["reason"] == "completed"
    trials = stored(running, session_id)
    assert [t.outcome for t in trials] == ["hit", "hit"]
    if game == "weight_shift":
        assert all(0.0 < t.measures["path_efficiency"] <= 1.0 for t in trials)
    if game == "reaching":
        assert all(t.measures["reach_pct_ll"] == pytest.approx(100 * t.measures["reach_m"] / 0.9) for t in trials)
    await therapist.close()


async def test_the_station_lists_the_headset_tracker_and_refuses_no_game_it_can_feed(running: RunningServer) -> None:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    device = await Link.station(running.url, "device", "station-1", (await paired_tokens(running, therapist)).device)
    ok = await device.call({"type": "xr_setup", "mode": "calibrate", "calibrate_s": 1})
    assert ok["device"] == "headset_tracker"
    stations = (await therapist.call({"type": "list_stations"}))["stations"]
    assert stations[0]["device_kinds"] == ["headset_tracker"]
    await device.close()
    await therapist.close()


async def calibrated(device: Link, room: XrRoom, start_s: float = 0.0) -> tuple[dict[str, Any], float]:
    """Stand still until the device says it is calibrated: that notice and the time reached."""
    t = start_s
    while True:
        await device.send(xr_message(STANDING, room, t, int(t * 60)))
        t += 1 / 60
        try:
            while True:
                message = await device.recv(0.001)
                if message.get("kind") == "calibrated":
                    return message, t
        except TimeoutError:
            pass
        assert t < start_s + 10, "no calibration after 10 s of standing still"


async def test_align_restarts_the_calibration_and_tells_the_headsets(running: RunningServer) -> None:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    tokens = await paired_tokens(running, therapist)
    headset = await Link.station(running.url, "headset", "station-1", tokens.headset)
    device = await Link.station(running.url, "device", "station-1", tokens.device)
    await device.call({"type": "xr_setup", "mode": "calibrate", "calibrate_s": 0.5})
    first, t = await calibrated(device, XrRoom())
    assert first["detail"]["xr_frame"]["origin_m"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-3)

    reply = await therapist.call({"type": "align_station", "station": "station-1"})
    assert reply["type"] == "ok" and reply["devices_recalibrating"] == 1 and reply["headsets"] == 1
    while (await headset.recv(5))["type"] != "align":
        pass
    moved = XrRoom(yaw_deg=90.0, origin_m=(0.5, 0.5))  # the patient now stands elsewhere, facing -x
    again, _ = await calibrated(device, moved, t)
    assert again["detail"]["xr_frame"]["origin_m"] == pytest.approx([0.5, 0.0, 0.5], abs=1e-3)
    assert again["detail"]["xr_frame"]["forward"] == pytest.approx([-1.0, 0.0], abs=1e-3)
    admin = await Link.therapist(running.url, running.creds.admin_username, running.creds.admin_password)
    entries = (await admin.call({"type": "audit_log", "action": "align_station"}))["entries"]
    assert entries[0]["subject"] == "station:station-1" and entries[0]["detail"]["devices"] == 1
    for link in (admin, headset, device, therapist):
        await link.close()


async def test_bad_poses_get_clear_errors_and_the_device_stays(running: RunningServer) -> None:
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    pose = {"type": "xr_pose", "t_s": 0.0, "seq": 0, "head": [0, 1.6, 0], "left": None, "right": None}
    reply = await device.request(pose)
    assert reply["code"] == "no_setup" and "xr_setup" in reply["message"]
    await device.call({"type": "xr_setup", "mode": "calibrate"})
    for bad, field in (({"head": [0, 1.6, math.inf]}, "head"), ({"left": [0, 0.1, math.nan]}, "left"),
                       ({"right": [5.5, 0.1, 0]}, "right"), ({"head": [0, 3.5, 0]}, "head"),
                       ({"left": [0, 0.1]}, "left"), ({"head_forward": [0.0, 0.0]}, "head_forward"),
                       ({"elbow": [0, 1, 0]}, "elbow")):
        reply = await device.request({**pose, **bad})
        assert reply["type"] == "error" and reply["code"] in ("bad_field", "unknown_field"), (bad, reply)
        assert field in reply["message"]
    reply = await device.request({"type": "xr_setup", "mode": "explicit"})
    assert reply["code"] == "bad_field"
    assert (await device.call({"type": "ping"}))["type"] == "pong"  # still connected
    await device.close()


async def test_poses_beyond_the_budget_are_dropped_and_said_so(running: RunningServer) -> None:
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await device.call({"type": "xr_setup", "mode": "calibrate"})
    frames = [msgpack.packb({"v": 1, **xr_message(STANDING, XrRoom(), i / 500, i)})
              for i in range(int(DEVICE_POSES_PER_S))]
    for frame in frames:  # a second's worth at once: four times the burst
        await device.ws.send(frame)
    reply = await device.recv(5)
    while reply.get("type") == "device_status":
        reply = await device.recv(5)
    assert reply["code"] == "over_budget" and "headset poses" in reply["message"]
    await asyncio.sleep(0.3)
    assert (await device.call({"type": "ping"}))["type"] == "pong"
    await device.close()


# -- the adapter alone (unit) ----------------------------------------------------------------------


def test_the_head_is_a_centre_of_mass_proxy_scaled_about_the_ankles() -> None:
    room = XrRoom(yaw_deg=-60.0, origin_m=(2.0, -1.0))
    adapter = XrAdapter(XrSetup(calibrate_s=0.5))
    t = 0.0
    while not adapter.calibrated:
        message = xr_message(STANDING, room, t, int(t * 60))
        adapter.on_pose(XrPose(t, int(t * 60), tuple(message["head"]), tuple(message["left"]),  # type: ignore[arg-type]
                               tuple(message["right"]), None))  # type: ignore[arg-type]
        t += 1 / 60
    assert adapter.head_height_m == pytest.approx(EYE_HEIGHT_M)
    head = room.to_room((0.10, -0.05, EYE_HEIGHT_M))  # leaning right and back
    foot = room.to_room((0.1, 0.0, CONTROLLER_HEIGHT_M))
    out = adapter.on_pose(XrPose(t, 999, tuple(head), tuple(foot), tuple(foot), None))  # type: ignore[arg-type]
    [balance] = [e for e in out.events if isinstance(e, BalanceEvent)]
    assert (balance.x_m, balance.y_m) == pytest.approx((0.10 * COM_SCALE, -0.05 * COM_SCALE), abs=1e-9)
    assert balance.source == "com_proxy"
    out = adapter.on_pose(XrPose(t + 0.02, 1000, None, tuple(foot), tuple(foot), None))  # type: ignore[arg-type]
    assert not [e for e in out.events if isinstance(e, BalanceEvent)]  # no head, no cursor move


def test_the_pose_budget_admits_ninety_hertz_and_drops_a_flood() -> None:
    now = [0.0]
    budget = InputBudget.for_role("device", clock=lambda: now[0])
    for i in range(900):  # ten seconds at 90 Hz
        now[0] = i / 90
        assert budget.admit_pose()
    with pytest.raises(Exception, match="headset poses"):
        for _ in range(100):
            budget.admit_pose()


def stand_until_calibrated(adapter: XrAdapter, room: XrRoom, facing: tuple[float, float] | None) -> list[str]:
    """Stream a standing pose with this head facing until the adapter calibrates: the notices' kinds."""
    kinds: list[str] = []
    t = 0.0
    while not adapter.calibrated:
        m = xr_message(STANDING, room, t, int(t * 60), head_forward=False)
        out = adapter.on_pose(XrPose(t, int(t * 60), tuple(m["head"]), tuple(m["left"]),  # type: ignore[arg-type]
                                     tuple(m["right"]), facing))  # type: ignore[arg-type]
        kinds += [n.kind for n in out.notices]
        t += 1 / 60
        assert t < 20
    return kinds


def test_swapped_controllers_are_found_from_the_head_s_facing_and_a_glance_aside_decides_nothing() -> None:
    swapped, aside = XrRoom(yaw_deg=20.0, swapped=True), XrRoom(yaw_deg=20.0)
    fx, fz = swapped.forward()
    adapter = XrAdapter(XrSetup(calibrate_s=0.5))
    assert "controllers_swapped" in stand_until_calibrated(adapter, swapped, (fx, fz))
    assert adapter.swapped and adapter.tracker.frame is not None
    forward = adapter.tracker.frame.forward
    assert (forward[0], forward[2]) == pytest.approx((fx, fz))
    # looking 100 degrees to the side while the controllers are right: kept as they are
    glance = math.radians(100.0)
    side = (fx * math.cos(glance) - fz * math.sin(glance), fx * math.sin(glance) + fz * math.cos(glance))
    adapter = XrAdapter(XrSetup(calibrate_s=0.5))
    assert "controllers_swapped" not in stand_until_calibrated(adapter, aside, side)
    assert not adapter.swapped
    # with the controllers swapped and no facing sent, the frame simply faces backwards
    adapter = XrAdapter(XrSetup(calibrate_s=0.5))
    stand_until_calibrated(adapter, swapped, None)
    assert adapter.tracker.frame is not None and adapter.tracker.frame.forward[0] == pytest.approx(-fx)
