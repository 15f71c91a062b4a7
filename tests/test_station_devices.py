"""Stations never jam: a game no device feeds ends after the device timeout with its trials stored,
a device back in time resumes it, a silent device counts as gone, and a game the station's device
cannot play is refused (or, for a device that joins later, announced) instead of hanging.

Every test runs the real server, configured through its command-line options, over real sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import func, select

from clients.link import Link
from clients.sim_player import play
from server.config import Settings, add_arguments, from_arguments
from server.storage.models import GameSession, SessionMetric, Trial
from tests.conftest import RunningServer, serving
from tests.panel_helpers import Panel, stop_game

pytestmark = pytest.mark.db

STEPPING = {"trials": 20, "dwell_s": 0.2, "inter_trial_s": 0.2, "directions": ["anterior"], "seed": 1}
EASY_STEPPING = {"bounds": {"step_distance_frac": {"value": 0.5}, "target_radius_m": {"value": 0.1},
                            "time_window_s": {"value": 6.0}}}
COP_SETUP = {"type": "mat_setup", "kind": "cop", "forward": "+y", "mode": "explicit", "units": "m"}


def settings_from(*argv: str) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_arguments(parser.parse_args(list(argv)))


def server_with(database_url: str, *argv: str) -> contextlib.AbstractAsyncContextManager[RunningServer]:
    """The full server on a free port, configured by these command-line options."""
    return serving(settings_from("--port", "0", "--database-url", database_url, *argv))


async def therapist_and_patient(running: RunningServer) -> tuple[Link, int]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    reply = await therapist.call({"type": "create_patient", "code": "JAM-1", "affected_side": "L",
                                  "leg_length_m": 0.9, "step_reach_m": 0.5})
    return therapist, reply["patient"]["id"]


async def until(link: Link, predicate: Any, timeout_s: float) -> dict[str, Any]:
    """The first message from ``link`` that satisfies ``predicate`` within ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        message = await link.recv(max(0.01, deadline - loop.time()))
        if predicate(message):
            return message


async def kinds_become(therapist: Link, kinds: list[str], timeout_s: float = 10.0) -> None:
    """Wait until station-1's status lists these device kinds."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (status := (await therapist.call({"type": "list_stations"}))["stations"][0])["device_kinds"] != kinds:
        assert asyncio.get_running_loop().time() < deadline, f"device kinds stayed {status['device_kinds']}"
        await asyncio.sleep(0.05)


def is_state(phase: str | None = None, paused_by: list[str] | None = None) -> Any:
    return lambda m: (m.get("type") == "state" and (phase is None or m.get("phase") == phase)
                      and (paused_by is None or m.get("paused_by") == paused_by))


def test_the_device_options_read_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().device_timeout_s, Settings().device_silence_s) == (300.0, 5.0)
    assert settings_from("--device-timeout-s", "2.5").device_timeout_s == 2.5
    monkeypatch.setenv("STRIDEVR_DEVICE_TIMEOUT_S", "42")
    monkeypatch.setenv("STRIDEVR_DEVICE_SILENCE_S", "1.5")
    from_env = settings_from()
    assert (from_env.device_timeout_s, from_env.device_silence_s) == (42.0, 1.5)
    with pytest.raises(SystemExit, match="device-timeout-s"):
        settings_from("--device-timeout-s", "0")


async def test_a_station_left_without_a_device_ends_the_session_as_device_timeout(database_url: str) -> None:
    async with server_with(database_url, "--device-timeout-s", "1") as running:
        therapist, patient_id = await therapist_and_patient(running)
        # two trials played through a pressure grid, then the device goes (the player disconnects);
        # the grid joins first, so the one-second timeout runs only once it has gone
        player = asyncio.create_task(play(running.url, "station-1", running.tokens, "stepping",
                                          "grid", trials=2, timeout_s=60))
        await kinds_become(therapist, ["pressure_mat"])
        started = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                        "game": "stepping", "settings": STEPPING, "difficulty": EASY_STEPPING})
        session_id = started["session_id"]
        report = await player
        assert report.outcomes[:2] == ["hit", "hit"] and report.errors == []
        notice = await until(therapist, lambda m: m.get("type") == "device_status"
                             and m.get("kind") == "device_timeout", timeout_s=10)
        assert f"session #{session_id} ended" in notice["message"] and "1 s" in notice["message"]
        stopped = await until(therapist, lambda m: m.get("type") == "game_stopped", timeout_s=10)
        assert stopped["reason"] == "device_timeout" and stopped["session_id"] == session_id
        with running.store.store.engine.connect() as db:
            end_reason, ended_at = db.execute(select(GameSession.end_reason, GameSession.ended_at)
                                              .where(GameSession.id == session_id)).one()
            stored = db.scalar(select(func.count()).select_from(Trial).where(Trial.session_id == session_id))
            metrics = set(db.scalars(select(SessionMetric.metric).where(SessionMetric.session_id == session_id)))
        assert end_reason == "device_timeout" and ended_at is not None
        assert stored == stopped["trials"] >= 2  # every completed trial stored, none lost
        assert "max_step_reach_m" in metrics  # the session's metrics, as for any ending
        # the station is free: its status says so and a new game starts on it
        status = (await therapist.call({"type": "list_stations"}))["stations"][0]
        assert status["state"] == "idle" and status["session_id"] is None
        again = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                      "game": "stepping", "settings": STEPPING})
        assert again["session_id"] != session_id
        await therapist.call({"type": "stop_game", "station": "station-1"})
        await therapist.close()


async def test_a_device_back_before_the_timeout_resumes_the_game(database_url: str) -> None:
    async with server_with(database_url, "--device-timeout-s", "2") as running:
        therapist, patient_id = await therapist_and_patient(running)
        token = running.creds.station_token
        headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
        device = await Link.station(running.url, "device", "station-1", token)
        await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                              "game": "stepping", "settings": STEPPING})
        await device.close()
        await until(headset, is_state("paused", ["device_lost"]), timeout_s=5)
        await asyncio.sleep(1.2)  # away for most of the timeout
        device = await Link.station(running.url, "device", "station-1", token)
        await until(headset, is_state(paused_by=[]), timeout_s=5)
        feed = asyncio.create_task(keep_sending(device))  # a live device, past the timeout
        try:
            with pytest.raises(TimeoutError):
                await until(therapist, lambda m: m.get("type") == "game_stopped", timeout_s=2.5)
        finally:
            feed.cancel()
        status = (await therapist.call({"type": "list_stations"}))["stations"][0]
        assert status["state"] == "playing" and status["device_kinds"] == ["foot_events"]
        for link in (device, headset, therapist):
            await link.close()


async def keep_sending(device: Link) -> None:
    """Both feet standing still at home, at 20 Hz."""
    seq = 0
    while True:
        for side, x in (("L", -0.1), ("R", 0.1)):
            await device.send({"type": "foot", "side": side, "pos_m": [x, 0.0, 0.0], "t_s": seq * 0.05, "seq": seq})
        seq += 1
        await asyncio.sleep(0.05)


async def test_a_treadmill_that_also_sends_feet_is_both_kinds_and_feeds_the_treadmill_game(
    running: RunningServer,
) -> None:
    therapist, patient_id = await therapist_and_patient(running)
    headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await device.send({"type": "belt", "speed_m_s": 0.4})  # the belt first, then the feet
    sending = asyncio.create_task(keep_sending(device))
    await kinds_become(therapist, ["foot_events", "treadmill"])
    await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                          "game": "treadmill", "settings": {"trials": 5}})
    state = await until(headset, lambda m: m.get("type") == "state" and m.get("game") == "treadmill", timeout_s=5)
    assert state["paused_by"] == [] and state["belt_speed_m_s"] == 0.4
    sending.cancel()
    await therapist.call({"type": "stop_game", "station": "station-1"})
    for link in (device, headset, therapist):
        await link.close()


async def test_a_connected_but_silent_device_pauses_the_game_like_a_lost_one(database_url: str) -> None:
    async with server_with(database_url, "--device-silence-s", "0.6", "--device-timeout-s", "30") as running:
        therapist, patient_id = await therapist_and_patient(running)
        token = running.creds.station_token
        headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
        device = await Link.station(running.url, "device", "station-1", token)
        await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                              "game": "stepping", "settings": STEPPING})
        feed = asyncio.create_task(keep_sending(device))
        await asyncio.sleep(1.5)  # sending: never paused for the device
        status = (await therapist.call({"type": "list_stations"}))["stations"][0]
        assert status["state"] == "playing" and status["paused_by"] == []
        feed.cancel()  # still connected, but sends nothing now
        await until(headset, is_state("paused", ["device_lost"]), timeout_s=3)
        feed = asyncio.create_task(keep_sending(device))
        await until(headset, is_state(paused_by=[]), timeout_s=3)
        feed.cancel()
        for link in (device, headset, therapist):
            await link.close()


async def test_start_game_refuses_a_game_a_force_plate_cannot_play_and_names_what_it_can(
    running: RunningServer,
) -> None:
    therapist, patient_id = await therapist_and_patient(running)
    plate = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await plate.call(COP_SETUP)
    status = (await therapist.call({"type": "list_stations"}))["stations"][0]
    assert status["device_kinds"] == ["force_plate"] and status["devices"] == 1
    start = {"type": "start_game", "station": "station-1", "patient_id": patient_id}
    for game, settings in (("stepping", {}), ("reaching", {}), ("treadmill", {}),
                           ("assessment", {"stages": ["quiet_eyes_open", "walk"]})):
        refused = await therapist.request({**start, "game": game, "settings": settings})
        assert refused["type"] == "error" and refused["code"] == "device_mismatch", refused
        assert "force plate (centre of pressure only)" in refused["message"]
        assert "foot positions" in refused["message"] and "weight_shift" in refused["message"]
    assert "assessment (stages: quiet_eyes_open, quiet_eyes_closed, limits_of_stability)" in refused["message"]
    with running.store.store.engine.connect() as db:
        assert db.scalar(select(func.count()).select_from(GameSession)) == 0  # nothing started
    started = await therapist.call({**start, "game": "weight_shift"})
    assert started["game"] == "weight_shift"
    await therapist.call({"type": "stop_game", "station": "station-1"})
    quiet = await therapist.call({**start, "game": "assessment", "settings": {"stages": ["quiet_eyes_open"]}})
    assert quiet["game"] == "assessment"  # balance stages only: the plate can run it
    await therapist.call({"type": "stop_game", "station": "station-1"})
    await plate.close()
    await therapist.close()


async def test_a_game_with_no_device_or_only_a_treadmill_may_start_and_waits_paused(running: RunningServer) -> None:
    therapist, patient_id = await therapist_and_patient(running)
    started = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                    "game": "stepping", "settings": STEPPING})
    status = (await therapist.call({"type": "list_stations"}))["stations"][0]
    assert started["game"] == "stepping" and status["paused_by"] == ["device_lost"]
    assert status["device_kinds"] == []
    await therapist.call({"type": "stop_game", "station": "station-1"})
    # a treadmill gives no game input of its own: the treadmill game starts and waits for the feet
    belt = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await belt.send({"type": "belt", "speed_m_s": 0.5})
    await kinds_become(therapist, ["treadmill"])
    started = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                    "game": "treadmill"})
    status = (await therapist.call({"type": "list_stations"}))["stations"][0]
    assert started["game"] == "treadmill" and status["paused_by"] == ["device_lost"]
    await therapist.call({"type": "stop_game", "station": "station-1"})
    await belt.close()
    await therapist.close()


async def test_a_wrong_kind_device_joining_a_running_game_is_announced_to_the_therapist_and_itself(
    running: RunningServer,
) -> None:
    therapist, patient_id = await therapist_and_patient(running)
    headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
    await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                          "game": "stepping", "settings": STEPPING})
    plate = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await plate.send({**COP_SETUP, "id": 1})
    told = await until(plate, lambda m: m.get("type") == "device_status", timeout_s=5)
    notice = await until(therapist, lambda m: m.get("type") == "device_status", timeout_s=5)
    assert told == notice and notice["kind"] == "device_mismatch" and notice["station"] == "station-1"
    assert "force plate (centre of pressure only)" in notice["message"]
    assert "cannot feed stepping, which needs foot positions" in notice["message"]
    assert "stays paused" in notice["message"]
    assert notice["detail"]["missing"] == ["feet"]
    # the plate does not count as the device the game waits for: it stays paused, not silently hung
    await until(headset, is_state("paused", ["device_lost"]), timeout_s=5)
    status = (await therapist.call({"type": "list_stations"}))["stations"][0]
    assert status["paused_by"] == ["device_lost"] and status["device_kinds"] == ["force_plate"]
    # a device that can feed it resumes it
    feet = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    sending = asyncio.create_task(keep_sending(feet))
    await until(headset, is_state(paused_by=[]), timeout_s=5)
    sending.cancel()
    await therapist.call({"type": "stop_game", "station": "station-1"})
    for link in (feet, plate, headset, therapist):
        await link.close()


async def test_the_panel_shows_the_device_kind_the_refusal_and_the_wrong_kind_notice(
    running: RunningServer, panel: Panel,
) -> None:
    page = panel.page
    plate = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await plate.call(COP_SETUP)
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    await page.wait_for_selector("[data-testid='station-devices-station-1']:has-text('1 connected: force plate')")
    await panel.shot("stations-device-kind-tablet")
    await page.click("#nav-session")
    await page.wait_for_selector("#session-devices:has-text('Devices: 1 connected: force plate (COP only)')")
    await page.select_option("#session-patient", label="DEMO-001 (affected left)")
    await page.select_option("#session-game", "stepping")
    await page.click("#start-game")
    await page.wait_for_selector("#session-error:not([hidden])")
    refused = await page.inner_text("#session-error")
    assert "force plate (centre of pressure only)" in refused and "weight_shift" in refused, refused
    assert running.server.stations["station-1"].play is None
    await panel.shot("device-refused-tablet")

    # without the plate the game starts and waits; the plate joining it is announced in the session view
    await plate.close()
    await page.wait_for_selector("#session-devices:has-text('Devices: none')")
    await page.click("#start-game")
    await page.wait_for_selector("#session-status:has-text('started: stepping')")
    plate = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await plate.call(COP_SETUP)
    notice = page.locator("#device-notices li[data-kind='device_mismatch']")
    await notice.wait_for()
    text = await notice.inner_text()
    assert "device mismatch" in text and "cannot feed stepping, which needs foot positions" in text, text
    await page.wait_for_selector("#live-phase:has-text('paused (device lost)')")
    await panel.shot("device-mismatch-tablet")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await panel.shot("device-mismatch-desktop")
    await stop_game(page)
    await plate.close()
    assert panel.problems == []


async def test_a_sweep_for_sessions_of_dead_processes_leaves_the_games_this_process_runs(
        running: RunningServer) -> None:
    """With several processes each sweeps now and then for sessions whose host died; those open
    under its own node id are the games it runs (only at its start are they a crash's leftovers)."""
    therapist, patient_id = await therapist_and_patient(running)
    started = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                    "game": "stepping"})
    session_id = started["session_id"]
    await running.server._close_orphaned_sessions()  # what the ticker runs every ORPHAN_SWEEP_S
    assert session_id in await running.store.open_sessions()
    await therapist.call({"type": "stop_game", "station": "station-1"})
    with running.store.store.engine.connect() as db:  # ended by the therapist, not by the sweep
        reason = db.scalar(select(GameSession.end_reason).where(GameSession.id == session_id))
    assert reason == "stopped_by_therapist"
    await therapist.close()
