"""The WebXR page in the clinical modes (docs/webxr.md, docs/clinical-modes.md), played through the
real server: the eyes-closed stand blanks the scene in VR, a neglect cue rings the idle foot and
chimes, and treadmill targets are drawn where the belt has them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from clients.link import Link
from clients.sim_devices import XrRoom
from tests.conftest import RunningServer
from tests.test_webxr import FOOT_L, FOOT_R, FOOT_TOP_M, HEAD_POSE, HOME_M, TARGET, Feet
from tests.test_webxr_play import Body, calibrated_in_vr, paired_page
from tests.webxr_helpers import repeat, shots_dir, xr_browser

CUE = 0xFFF3A0
HOME_MARK = 0xD0D6E0  # COLOUR.home in clients/webxr/scene.js
TINT = {"L": 0x8CC4FF, "R": 0xFFC48C}
CUE_RING_MID_M = 0.179  # inside the ring (0.15-0.185 m, pulsing up to 15 % larger) at every phase, 6 mm from its edges


async def new_patient(therapist: Link, code: str) -> int:
    patient = await therapist.call({"type": "create_patient", "code": code, "affected_side": "L",
                                    "leg_length_m": 0.9, "step_reach_m": 0.5})
    return int(patient["patient"]["id"])


async def test_the_eyes_closed_stand_blanks_everything_but_its_line(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    async with xr_browser(base, shots_dir(tmp_path)) as xr:
        therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
        await paired_page(xr, running, therapist)
        body = Body(xr, XrRoom(yaw_deg=20.0, origin_m=(0.3, 0.2)))
        await calibrated_in_vr(xr, body)  # the headset is the tracker: its head gives the centre for the stand
        await therapist.call({"type": "start_game", "station": running.creds.station,
                              "patient_id": await new_patient(therapist, "XR-EYES"), "game": "assessment",
                              "settings": {"stages": ["quiet_eyes_closed"], "quiet_s": 10, "ready_s": 0}})
        await xr.until("() => { const s = window.strideXR.state; return s && s.game === 'assessment'"
                       " && s.phase === 'stand' && s.stage && s.stage.eyes === 'closed'; }", timeout_ms=30_000)
        await xr.page.wait_for_timeout(300)
        assert (await xr.js("() => window.strideXR.hudText")).split("\n")[0] == "Eyes closed — stand still"
        image = await xr.screenshot("vr-eyes-closed")
        assert image.count(0x000000, tolerance=8) > 0.9 * (image.size[0] // 4) * (image.size[1] // 4)
        state = await xr.js("() => window.strideXR.state")
        for side, colour in (("L", FOOT_L), ("R", FOOT_R)):
            foot = state["feet"][side]
            for xy in await xr.pixel_of((foot["x_m"], foot["y_m"], FOOT_TOP_M)):
                if image.inside(xy):
                    assert not image.near(xy, colour), f"the {side} foot is drawn during the eyes-closed stand"
        await therapist.call({"type": "stop_game", "station": running.creds.station})
        await xr.until("() => window.strideXR.state && window.strideXR.state.phase !== 'stand'")
        await xr.page.wait_for_timeout(300)
        image = await xr.screenshot("vr-eyes-closed-over")
        assert image.count(0x000000, tolerance=8) < 0.1 * (image.size[0] // 4) * (image.size[1] // 4)
        await therapist.close()


async def test_a_neglect_cue_rings_the_idle_foot_and_chimes(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    device = await Link.station(running.url, "device", running.creds.station, running.creds.station_token)
    streaming = asyncio.create_task(repeat(0.02, Feet(device).send))
    try:
        async with xr_browser(base, shots_dir(tmp_path)) as xr:
            await xr.store_credentials(running.creds.station, running.creds.headset_token)
            await xr.js(HEAD_POSE)
            await xr.enter_vr()  # a user gesture: the page may play sound from now on
            await therapist.call({
                "type": "start_game", "station": running.creds.station,
                "patient_id": await new_patient(therapist, "XR-CUE"), "game": "stepping",
                "settings": {"trials": 3, "directions": ["anterior"], "neglect_cueing": True, "cue_idle_s": 1.0,
                             "affected_side_share": 1.0, "affected_side_share_max": 1.0, "seed": 2}})
            await xr.until("() => window.strideXR.chime.played + window.strideXR.chime.skipped > 0", timeout_ms=30_000)
            await xr.page.wait_for_timeout(200)
            image = await xr.screenshot("vr-neglect-cue")
            chime = await xr.js("() => ({played: strideXR.chime.played, skipped: strideXR.chime.skipped})")
            assert chime["played"] >= 1 and chime["skipped"] == 0, chime
            state = await xr.js("() => window.strideXR.state")
            foot = state["feet"]["L"]
            [ring] = await xr.pixel_of((foot["x_m"] - CUE_RING_MID_M, foot["y_m"], 0.006))
            assert image.near(ring, CUE), image.rgb(ring)
            # the other foot has none
            other = state["feet"]["R"]
            [none] = await xr.pixel_of((other["x_m"] + CUE_RING_MID_M, other["y_m"], 0.006))
            assert not image.near(none, CUE), image.rgb(none)
            assert xr.problems == []
    finally:
        streaming.cancel()
        await device.close()
        await therapist.close()


async def test_treadmill_targets_are_drawn_where_the_belt_has_them(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    device = await Link.station(running.url, "device", running.creds.station, running.creds.station_token)
    streaming = asyncio.create_task(repeat(0.02, Feet(device).send))
    try:
        async with xr_browser(base, shots_dir(tmp_path)) as xr:
            await xr.store_credentials(running.creds.station, running.creds.headset_token)
            await xr.js(HEAD_POSE)
            await xr.enter_vr()
            # a stopped belt: the targets stay put, so a screenshot and the state agree
            await therapist.call({
                "type": "start_game", "station": running.creds.station,
                "patient_id": await new_patient(therapist, "XR-BELT"), "game": "treadmill",
                "settings": {"belt_speed_m_s": 0.0, "spawn_distance_m": 0.8, "trials": 4, "seed": 1}})
            await xr.until("() => { const s = window.strideXR.state; return s && s.game === 'treadmill'"
                           " && (s.targets || []).length > 0; }", timeout_ms=30_000)
            await xr.page.wait_for_timeout(300)
            image = await xr.screenshot("vr-treadmill")
            state = await xr.js("() => window.strideXR.state")
            due = state.get("target")
            for target in state["targets"]:
                is_due = due is not None and (due["x_m"], due["y_m"]) == (target["x_m"], target["y_m"])
                colour = TARGET if is_due else TINT[target["foot"]]
                for xy in await xr.pixel_of((target["x_m"], target["y_m"], 0.0)):
                    assert image.near(xy, colour), (target, image.rgb(xy))
            assert "belt 0.00 m/s" in await xr.js("() => window.strideXR.hudText")
    finally:
        streaming.cancel()
        await device.close()
        await therapist.close()


async def test_proprioception_hides_the_lifted_foot_and_mirror_mode_draws_the_mirrored_one(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{running.server.port}"
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    device = await Link.station(running.url, "device", running.creds.station, running.creds.station_token)
    feet = Feet(device)
    streaming = asyncio.create_task(repeat(0.02, feet.send))
    try:
        async with xr_browser(base, shots_dir(tmp_path)) as xr:
            await xr.store_credentials(running.creds.station, running.creds.headset_token)
            await xr.js(HEAD_POSE)
            await xr.enter_vr()
            common = {"trials": 3, "directions": ["anterior"], "affected_side_share": 1.0, "seed": 4}
            await therapist.call({
                "type": "start_game", "station": running.creds.station,
                "patient_id": await new_patient(therapist, "XR-HIDE"), "game": "stepping",
                "settings": {**common, "vision": "foot_hidden"}})
            await xr.until("() => { const s = window.strideXR.state; return s && s.phase === 'target'; }")
            feet.at["L"] = [-0.15, 0.12, 0.08]  # lifted, on its way: from now on the patient must not see it
            await xr.until("() => window.strideXR.state?.feet?.L?.hidden === true")
            await xr.page.wait_for_timeout(300)
            image = await xr.screenshot("vr-foot-hidden")
            state = await xr.js("() => window.strideXR.state")
            [left] = await xr.pixel_of((-0.15, 0.12, 0.08 + FOOT_TOP_M))
            assert not image.near(left, FOOT_L), image.rgb(left)
            right = state["feet"]["R"]
            [seen] = await xr.pixel_of((right["x_m"], right["y_m"], FOOT_TOP_M))
            assert image.near(seen, FOOT_R), image.rgb(seen)
            await therapist.call({"type": "stop_game", "station": running.creds.station})

            # mirror therapy: the sound (right) foot drives the affected (left) avatar; the real left foot
            # (here lifted far to the side) is never drawn
            feet.at["L"] = [-HOME_M, 0.0, 0.0]
            await therapist.call({
                "type": "start_game", "station": running.creds.station,
                "patient_id": await new_patient(therapist, "XR-MIRROR"), "game": "stepping",
                "settings": {**common, "mirror": True}})
            await xr.until("() => { const s = window.strideXR.state; return s && s.mirror && s.phase === 'target'; }")
            feet.at["L"] = [-0.35, -0.05, 0.0]
            feet.at["R"] = [0.2, 0.15, 0.0]
            await xr.until("() => { const f = window.strideXR.state?.feet?.L; return f && f.y_m > 0.1; }")
            await xr.page.wait_for_timeout(300)
            image = await xr.screenshot("vr-mirror")
            state = await xr.js("() => window.strideXR.state")
            shown = state["feet"]["L"]
            sound, real_left = state["feet"]["R"], state["real_feet"]["L"]
            assert (shown["x_m"], shown["y_m"]) == pytest.approx((-sound["x_m"], sound["y_m"]), abs=1e-6)
            assert (real_left["x_m"], real_left["y_m"]) == pytest.approx((-0.35, -0.05), abs=1e-6)
            [mirrored] = await xr.pixel_of((shown["x_m"], shown["y_m"], FOOT_TOP_M))
            assert image.near(mirrored, FOOT_L), image.rgb(mirrored)
            [real] = await xr.pixel_of((-0.35, -0.05, FOOT_TOP_M))
            assert not image.near(real, FOOT_L), image.rgb(real)
            assert "mirror" in await xr.js("() => window.strideXR.hudText")
    finally:
        streaming.cancel()
        await device.close()
        await therapist.close()


async def test_the_four_square_step_test_draws_its_squares_with_the_next_one_lit(
        browser_available: None, running: RunningServer, tmp_path: Path) -> None:
    """The squares the Four Square Step Test is stepped in are on the floor in VR, where the state
    puts them, the one to step into next in the target's colour (docs/clinical-modes.md)."""
    base = f"http://127.0.0.1:{running.server.port}"
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    device = await Link.station(running.url, "device", running.creds.station, running.creds.station_token)
    streaming = asyncio.create_task(repeat(0.02, Feet(device).send))
    try:
        async with xr_browser(base, shots_dir(tmp_path)) as xr:
            await xr.store_credentials(running.creds.station, running.creds.headset_token)
            await xr.js(HEAD_POSE)
            await xr.enter_vr()
            await therapist.call({
                "type": "start_game", "station": running.creds.station,
                "patient_id": await new_patient(therapist, "XR-FSST"), "game": "assessment",
                "settings": {"stages": ["four_square_step"], "ready_s": 0}})
            await xr.until("() => { const s = window.strideXR.state; return s && s.game === 'assessment'"
                           " && s.stage && (s.stage.squares || []).length === 4; }", timeout_ms=30_000)
            await xr.page.wait_for_timeout(300)
            image = await xr.screenshot("vr-four-squares")
            stage = (await xr.js("() => window.strideXR.state"))["stage"]
            for square in stage["squares"]:
                half = square["size_m"] / 2
                colour = TARGET if square["square"] == stage["next_square"] else HOME_MARK
                # the middle of each outer edge: the outer side of each column, the far edge of the front row
                x, y = square["x_m"], square["y_m"]
                edges = [(x - half if x <= 0 else x + half, y)]
                if y > 0:
                    edges.append((x, y + half))
                for ex, ey in edges:
                    for xy in await xr.pixel_of((ex, ey, 0.0)):
                        assert image.near(xy, colour), (square, (ex, ey), image.rgb(xy))
    finally:
        streaming.cancel()
        await device.close()
        await therapist.close()
