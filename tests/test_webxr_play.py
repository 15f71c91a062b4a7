"""The WebXR page paired and played in VR (docs/webxr.md): the keypad trades a pairing code for
the station's credentials (HTML keys, and a controller ray in VR), an un-pairing sends it back to
the keypad, and — the headset as the station's tracker — controller poses scripted on the
emulated Quest 3's feet play stepping trials, and its head pose plays weight shift, which the
server scores and stores."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clients.link import Link
from clients.sim_devices import CONTROLLER_HEIGHT_M, EYE_HEIGHT_M, XrRoom
from server.adapters.xr import COM_SCALE
from tests.conftest import RunningServer
from tests.test_devices_e2e import DIFFICULTY, SETTINGS
from tests.test_pairing import pair
from tests.test_xr_tracker import stored
from tests.webxr_helpers import CREDENTIALS_KEY, XrPage, shots_dir, xr_browser

HOME_M = 0.10
LIFT_M = 0.08
# Where the emulated Touch Plus controller's grip (what the page streams) sits from its own pose,
# unrotated (iwer's gripOffsetMatrix translation): the test puts the grips on the feet.
GRIP_OFFSET_M = {"L": (-0.00398, -0.01586, 0.04964), "R": (0.00398, -0.01586, 0.04964)}


def look_rotation(direction: list[float]) -> list[float]:
    """The quaternion [x, y, z, w] turning -z (where a controller's ray points) toward ``direction``."""
    a, b = np.array([0.0, 0.0, -1.0]), np.array(direction) / np.linalg.norm(direction)
    axis, w = np.cross(a, b), 1.0 + float(np.dot(a, b))
    q = np.array([*axis, w])
    return list(q / np.linalg.norm(q))


async def type_code_on_the_html_keypad(xr: XrPage, code: str) -> None:
    for digit in code:
        await xr.page.click(f"#keypad-keys button[data-key='{digit}']")


async def stored_credentials(xr: XrPage) -> dict[str, Any] | None:
    raw = await xr.js("(k) => localStorage.getItem(k)", CREDENTIALS_KEY)
    return None if raw is None else json.loads(raw)


async def test_the_keypad_pairs_the_headset_and_an_unpairing_sends_it_back_to_the_keypad(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    async with xr_browser(base, shots_dir(tmp_path)) as xr:
        assert await xr.page.is_visible("#keypad") and await stored_credentials(xr) is None
        issued = await therapist.call({"type": "pair_headset", "station": running.creds.station})
        wrong = "000000" if issued["code"] != "000000" else "111111"
        await type_code_on_the_html_keypad(xr, wrong)
        await xr.page.wait_for_selector("#keypad-message:has-text('wrong or expired')")
        await type_code_on_the_html_keypad(xr, issued["code"])
        await xr.until("() => window.strideXR.link.connected"
                       " && window.strideXR.hudText.includes('Waiting for the therapist')")
        assert not await xr.page.is_visible("#keypad")
        creds = await stored_credentials(xr)
        assert creds is not None and creds["station"] == running.creds.station and creds["headset_token"]
        assert creds["device_token"] is None and creds["pairing_id"] == issued["pairing_id"]
        # kept across a reload: the page reconnects with them, no keypad
        await xr.page.reload()
        await xr.until("() => window.strideXR && window.strideXR.link.connected")
        assert not await xr.page.is_visible("#keypad")
        # the therapist un-pairs it: the page forgets the credentials and asks for a code again
        await therapist.call({"type": "unpair_headset", "station": running.creds.station,
                              "pairing_id": issued["pairing_id"]})
        await xr.page.wait_for_selector("#keypad-message:has-text('un-paired')", timeout=5000)
        assert await stored_credentials(xr) is None and not await xr.js("() => window.strideXR.paired")
        await xr.screenshot("unpaired")
        assert xr.problems == []
    await therapist.close()


async def test_in_vr_a_controller_ray_types_the_code_on_the_keypad(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    async with xr_browser(base, shots_dir(tmp_path)) as xr:
        await xr.enter_vr()
        issued = await therapist.call({"type": "pair_headset", "station": running.creds.station})
        await xr.page.wait_for_timeout(300)
        keys = {k["key"]: k["world"] for k in await xr.js("() => window.strideXR.keypadKeys()")}
        hand = [0.2, 1.1, -0.2]
        await xr.screenshot("vr-keypad")
        for digit in issued["code"]:
            direction = [k - h for k, h in zip(keys[digit], hand, strict=True)]
            await xr.js("([p, q]) => { const c = iwerDevice.controllers.right; c.position.set(...p);"
                        " c.quaternion.set(...q); }", [hand, look_rotation(direction)])
            await xr.page.wait_for_timeout(250)
            await xr.js("() => iwerDevice.controllers.right.updateButtonValue('trigger', 1)")
            await xr.page.wait_for_timeout(250)
            await xr.js("() => iwerDevice.controllers.right.updateButtonValue('trigger', 0)")
            await xr.page.wait_for_timeout(250)
        await xr.until("() => window.strideXR.paired && window.strideXR.link.connected")
        assert (await stored_credentials(xr) or {}).get("pairing_id") == issued["pairing_id"]
    await therapist.close()


class Body:
    """The emulated Quest 3 worn by a patient standing in ``room``: the viewer at eye height over
    the centre of mass, looking down at the floor ahead, a controller strapped on each foot."""

    def __init__(self, xr: XrPage, room: XrRoom) -> None:
        self.xr, self.room = xr, room
        self.feet = {"L": [-HOME_M, 0.0, 0.0], "R": [HOME_M, 0.0, 0.0]}
        self.lean = [0.0, 0.0]

    async def place(self) -> None:
        head = self.room.to_room((self.lean[0], self.lean[1], EYE_HEIGHT_M))
        yaw = math.radians(self.room.yaw_deg)
        pitch = math.radians(-45)  # yaw about +y, then pitch down about the turned x axis
        q = [math.cos(yaw / 2) * math.sin(pitch / 2), math.sin(yaw / 2) * math.cos(pitch / 2),
             -math.sin(yaw / 2) * math.sin(pitch / 2), math.cos(yaw / 2) * math.cos(pitch / 2)]
        feet = {side: [c - o for c, o in zip(self.room.to_room((x, y, z + CONTROLLER_HEIGHT_M)), GRIP_OFFSET_M[side],
                                             strict=True)]
                for side, (x, y, z) in self.feet.items()}
        await self.xr.js("([head, q, l, r]) => { iwerDevice.position.set(...head); iwerDevice.quaternion.set(...q);"
                         " iwerDevice.controllers.left.position.set(...l);"
                         " iwerDevice.controllers.right.position.set(...r); }", [head, q, feet["L"], feet["R"]])

    async def move_foot(self, side: str, to: tuple[float, float], steps: int = 4) -> None:
        """Lift, carry and put down a foot, a few frames per leg of the way."""
        x0, y0, _ = self.feet[side]
        path = [(x0, y0, LIFT_M)] + [(x0 + (to[0] - x0) * k / steps, y0 + (to[1] - y0) * k / steps, LIFT_M)
                                     for k in range(1, steps + 1)] + [(to[0], to[1], 0.0)]
        for point in path:
            self.feet[side] = list(point)
            await self.place()
            await self.xr.page.wait_for_timeout(120)


async def paired_page(xr: XrPage, running: RunningServer, therapist: Link) -> None:
    issued = await therapist.call({"type": "pair_headset", "station": running.creds.station, "tracker": True})
    paired, _ = await pair(running.url, issued["code"])
    await xr.store_credentials(paired["station"], paired["headset_token"], paired["device_token"])


async def calibrated_in_vr(xr: XrPage, body: Body) -> None:
    """Stand still in VR until the server's calibration places the game's frame in the room."""
    await body.place()
    # outside VR there are no poses to send: the page says so
    await xr.until("() => window.strideXR.hudText.includes(\"Enter VR: this headset is the station's tracker\")")
    await xr.enter_vr()
    await xr.until("() => window.strideXR.aligned && window.strideXR.aligned.by === 'tracker calibration'",
                   timeout_ms=30_000)
    aligned = await xr.js("() => window.strideXR.aligned")
    assert aligned["origin_m"] == pytest.approx([body.room.origin_m[0], 0.0, body.room.origin_m[1]], abs=0.02)
    assert aligned["forward"] == pytest.approx(list(body.room.forward()), abs=0.02)


async def start(running: RunningServer, game: str) -> tuple[Link, int]:
    """A game with the device tests' easy fixed difficulty, but a long time window: software WebGL
    on a shared machine draws a few frames a second, and each pose goes out with a frame."""
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient = await therapist.call({"type": "create_patient", "code": f"XR-{game}", "affected_side": "L",
                                    "leg_length_m": 0.9, "step_reach_m": 0.5})
    window = {"time_window_s": {"low": 10.0, "high": 15.0, "value": 15.0}}
    started = await therapist.call({
        "type": "start_game", "station": running.creds.station, "patient_id": patient["patient"]["id"], "game": game,
        "settings": SETTINGS[game], "difficulty": {"bounds": {**DIFFICULTY[game], **window}}})
    return therapist, started["session_id"]


async def game_over(therapist: Link) -> dict[str, Any]:
    while (event := await therapist.recv(60))["type"] != "game_stopped":
        pass
    return event


async def test_controllers_on_the_feet_play_stepping_trials_that_are_scored_and_stored(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    room = XrRoom(yaw_deg=30.0, origin_m=(0.4, -0.3))
    async with xr_browser(base, shots_dir(tmp_path)) as xr:
        setup = await Link.therapist(running.url, running.creds.username, running.creds.password)
        await paired_page(xr, running, setup)
        await setup.close()
        body = Body(xr, room)
        await calibrated_in_vr(xr, body)
        therapist, session_id = await start(running, "stepping")
        for trial in range(2):
            await xr.until("(n) => { const s = window.strideXR.state; return s && s.trial === n"
                           " && s.phase === 'target' && s.target; }", trial, timeout_ms=30_000)
            target = (await xr.js("() => window.strideXR.state"))["target"]
            side = target["foot"]
            # the page draws the target where the room puts it: its world point is the patient frame's
            world = await xr.js("([x, y]) => window.strideXR.toWorld(x, y, 0)", [target["x_m"], target["y_m"]])
            assert world == pytest.approx(room.to_room((target["x_m"], target["y_m"], 0.0)), abs=0.02)
            if trial == 0:
                image = await xr.screenshot("vr-tracker-target")
                [xy] = await xr.pixel_of((target["x_m"], target["y_m"], 0.0))
                assert image.near(xy, 0xFFD400), image.rgb(xy)
            await body.move_foot(side, (target["x_m"], target["y_m"]))
            await xr.page.wait_for_timeout(800)  # dwell
            await body.move_foot(side, (-HOME_M if side == "L" else HOME_M, 0.0))
        assert (await game_over(therapist))["reason"] == "completed"
        assert [t.outcome for t in stored(running, session_id)] == ["hit", "hit"]
        sent = await xr.js("() => window.strideXR.tracker.sent")
        assert sent > 20
        await therapist.close()


async def test_the_head_pose_plays_weight_shift(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    room = XrRoom(yaw_deg=-70.0, origin_m=(-0.2, 0.5))
    async with xr_browser(base, shots_dir(tmp_path)) as xr:
        setup = await Link.therapist(running.url, running.creds.username, running.creds.password)
        await paired_page(xr, running, setup)
        await setup.close()
        body = Body(xr, room)
        await calibrated_in_vr(xr, body)
        therapist, session_id = await start(running, "weight_shift")
        await xr.until("(id) => window.strideXR.state?.session_id === id", session_id)
        for trial in range(2):
            # the next target, unless returning to the centre already hit it (a backward one may lie
            # there) and the game is over
            await xr.until("(n) => { const s = window.strideXR.state; return s && ((s.trial === n"
                           " && s.phase === 'target' && s.target) || (s.last && s.last.trial >= n)"
                           " || s.phase === 'finished' || s.phase === 'idle'); }", trial, timeout_ms=30_000)
            state = await xr.js("() => window.strideXR.state")
            if state.get("trial") != trial or state.get("phase") != "target":
                continue
            target = state["target"]
            # lean so the centre of mass (the head scaled about the ankles) sits on the target, and hold
            for k in (0.33, 0.66, 1.0):
                body.lean = [k * target["x_m"] / COM_SCALE, k * target["y_m"] / COM_SCALE]
                await body.place()
                await xr.page.wait_for_timeout(150)
            # scored: the state shows the result, or (the last trial) the game ended at once and a page
            # drawing a few frames a second may see only the idle state that followed
            await xr.until("(n) => { const s = window.strideXR.state; return s && ((s.last && s.last.trial >= n)"
                           " || s.phase === 'finished' || s.phase === 'idle'); }", trial, timeout_ms=30_000)
            body.lean = [0.0, 0.0]
            await body.place()
        assert (await game_over(therapist))["reason"] == "completed"
        assert [t.outcome for t in stored(running, session_id)] == ["hit", "hit"]
        await therapist.close()


async def test_align_places_the_game_below_and_ahead_of_a_headset_that_is_not_the_tracker(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    room = XrRoom(yaw_deg=90.0, origin_m=(0.7, -0.4))  # the patient faces -x, away from where the session began
    async with xr_browser(base, shots_dir(tmp_path)) as xr:
        await xr.store_credentials(running.creds.station, running.creds.headset_token)
        await Body(xr, room).place()
        await xr.enter_vr()
        await xr.until("() => window.strideXR.link.connected")
        assert await xr.js("() => window.strideXR.aligned") is None  # the frame is where the session began
        therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
        await therapist.call({"type": "align_station", "station": running.creds.station})
        await xr.until("() => window.strideXR.aligned && window.strideXR.aligned.by === 'head (align)'")
        aligned = await xr.js("() => window.strideXR.aligned")
        assert aligned["origin_m"] == pytest.approx([room.origin_m[0], 0.0, room.origin_m[1]], abs=1e-3)
        assert aligned["forward"] == pytest.approx(list(room.forward()), abs=1e-3)
        # a point 1 m ahead of the patient is 1 m along the facing in the room
        ahead = await xr.js("() => window.strideXR.toWorld(0, 1, 0)")
        assert ahead == pytest.approx(room.to_room((0.0, 1.0, 0.0)), abs=1e-3)
        await therapist.close()


async def test_a_recentre_restarts_the_calibration_and_places_the_game_in_the_new_floor_space(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    async with xr_browser(base, shots_dir(tmp_path)) as xr:
        setup = await Link.therapist(running.url, running.creds.username, running.creds.password)
        await paired_page(xr, running, setup)
        await setup.close()
        body = Body(xr, XrRoom(yaw_deg=30.0, origin_m=(0.4, -0.3)))
        await calibrated_in_vr(xr, body)
        # the patient holds the headset's button to recentre: the emulator moves the local-floor space
        # (and fires its `reset`); in the new space the patient stands somewhere else, facing elsewhere
        await xr.js("() => { iwerDevice.recenter(); for (const c of Object.values(iwerDevice.controllers))"
                    " c.quaternion.set(0, 0, 0, 1); }")  # the grips' offsets are for unturned controllers
        body.room = XrRoom(yaw_deg=-60.0, origin_m=(-0.5, 0.2))
        await body.place()
        await xr.until("() => window.strideXR.recentres === 1")
        await xr.until("([x, z]) => { const a = window.strideXR.aligned;"
                       " return Math.hypot(a.origin_m[0] - x, a.origin_m[2] - z) < 0.02; }",
                       list(body.room.origin_m), timeout_ms=30_000)
        aligned = await xr.js("() => window.strideXR.aligned")  # only a new xr_setup recalibrates
        assert aligned["by"] == "tracker calibration"
        assert aligned["forward"] == pytest.approx(list(body.room.forward()), abs=0.02)
        assert xr.problems == []
