"""The running game's configuration over real sockets: the server's revision-numbered ``config``
is the one source, and ``set_difficulty`` changes only what it names, from the revision in force."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from clients.link import Link
from clients.sim_patient import Ability
from clients.sim_tracker import run_sim_tracker
from server.storage.models import AuditEntry, DifficultyChangeRow
from tests.conftest import RunningServer

pytestmark = pytest.mark.db

BOUNDS = {"target_radius_m": {"low": 0.06, "high": 0.14}, "time_window_s": {"value": 4.0}}


async def login(running: RunningServer) -> Link:
    return await Link.therapist(running.url, running.creds.username, running.creds.password)


async def start(therapist: Link, code: str, game: str, settings: dict[str, Any],
                difficulty: dict[str, Any] | None = None) -> dict[str, Any]:
    patient = await therapist.call({"type": "create_patient", "code": code, "affected_side": "L",
                                    "leg_length_m": 0.9, "step_reach_m": 0.5})
    return await therapist.call({"type": "start_game", "station": "station-1", "game": game,
                                 "patient_id": patient["patient"]["id"], "settings": settings,
                                 "difficulty": difficulty or {}})


async def next_config(link: Link, revision: int) -> dict[str, Any]:
    while (message := await link.recv(10))["type"] != "config" or message["revision"] < revision:
        pass
    return message


def therapist_rows(running: RunningServer, session_id: int) -> tuple[list[Any], list[Any]]:
    """The session's stored therapist changes, and the audit entries of set_difficulty."""
    with running.store.store.engine.connect() as db:
        changes = db.execute(select(DifficultyChangeRow.parameter, DifficultyChangeRow.new_value).where(
            DifficultyChangeRow.session_id == session_id,
            DifficultyChangeRow.reason.startswith("therapist"))).all()
        audits = db.scalars(select(AuditEntry.detail).where(AuditEntry.action == "set_difficulty")).all()
    return list(changes), list(audits)


async def test_set_difficulty_changes_only_what_it_names_from_the_revision_in_force(running: RunningServer) -> None:
    therapist = await login(running)
    started = await start(therapist, "CFG-1", "stepping", {"affected_side_share": 0.7, "trials": 0},
                          {"target_success": 0.8, "bounds": BOUNDS})
    session_id, config = started["session_id"], started["config"]
    revision = config["revision"]
    # the starter's reply carries the whole configuration, from the server
    assert (config["type"], config["station"], config["session_id"], config["game"]) == (
        "config", "station-1", session_id, "stepping")
    assert config["patient"]["code"] == "CFG-1" and config["patient"]["affected_side"] == "L"
    assert config["settings"] == {"affected_side_share": 0.7}
    assert config["difficulty"]["target_success"] == 0.8
    assert config["difficulty"]["bounds"]["target_radius_m"] == {"low": 0.06, "high": 0.14, "locked": False,
                                                                "value": None}
    assert config["difficulty"]["bounds"]["time_window_s"]["value"] == 4.0
    assert set(config["difficulty"]["values"]) == {"step_distance_frac", "target_radius_m", "time_window_s"}

    # another therapist watching gets the same configuration on `watch`
    other = await login(running)
    watched = await other.current_config("station-1")
    assert {k: v for k, v in watched.items() if k != "id"} == {k: v for k, v in config.items() if k != "id"}

    # no revision: refused, saying what is missing and why
    missing = await therapist.request({"type": "set_difficulty", "station": "station-1", "target_success": 0.6})
    assert missing["code"] == "missing_field" and "revision" in missing["message"]
    bad = await therapist.request({"type": "set_difficulty", "station": "station-1", "revision": "latest"})
    assert bad["code"] == "bad_field" and "revision" in bad["message"]

    # a request that changes nothing stores nothing and makes no new revision
    for unchanged in ({}, {"settings": {"affected_side_share": 0.7}, "target_success": 0.8,
                           "bounds": {"target_radius_m": {}, "time_window_s": {"value": 4.0}}}):
        reply = await therapist.call({"type": "set_difficulty", "station": "station-1", "revision": revision,
                                      **unchanged})
        assert reply["revision"] == revision and reply["settings"] == {"affected_side_share": 0.7}
    assert therapist_rows(running, session_id) == ([], [])

    # a partial change: the target success rate only; the share and the bounds stay as they were
    reply = await therapist.call({"type": "set_difficulty", "station": "station-1", "revision": revision,
                                  "session_id": session_id, "target_success": 0.6})
    assert reply["revision"] == revision + 1 and reply["target_success"] == 0.6
    assert reply["settings"] == {"affected_side_share": 0.7}
    assert reply["bounds"] == config["difficulty"]["bounds"]
    pushed = await next_config(other, revision + 1)
    assert pushed["changed_by"] == "therapist demo" and pushed["difficulty"]["target_success"] == 0.6
    assert pushed["settings"] == {"affected_side_share": 0.7}
    # one bound of one parameter: the other bound and the other parameters keep theirs
    reply = await therapist.call({"type": "set_difficulty", "station": "station-1", "revision": revision + 1,
                                  "bounds": {"target_radius_m": {"high": 0.1}}})
    assert reply["revision"] == revision + 2
    assert reply["bounds"]["target_radius_m"] == {"low": 0.06, "high": 0.1, "locked": False, "value": None}
    assert reply["bounds"]["time_window_s"] == config["difficulty"]["bounds"]["time_window_s"]
    changes, audits = therapist_rows(running, session_id)
    assert all(parameter != "setting:affected_side_share" for parameter, _ in changes)
    assert len(audits) == 2

    # the other therapist's view is now two revisions old: refused, told by whom, given what is current
    stale = await other.request({"type": "set_difficulty", "station": "station-1", "revision": revision,
                                 "settings": {"affected_side_share": 0.0}})
    assert stale["code"] == "stale_config"
    assert "changed since you loaded it" in stale["message"] and "therapist demo" in stale["message"]
    assert stale["config"]["revision"] == revision + 2
    assert stale["config"]["difficulty"]["bounds"]["target_radius_m"]["high"] == 0.1
    # a view of another session is refused too, even with the current revision
    other_session = await other.request({"type": "set_difficulty", "station": "station-1",
                                         "revision": revision + 2, "session_id": session_id + 1,
                                         "target_success": 0.9})
    assert other_session["code"] == "stale_config" and f"session {session_id + 1}" in other_session["message"]
    now = await other.current_config("station-1")
    assert now["revision"] == revision + 2 and now["settings"] == {"affected_side_share": 0.7}
    assert now["difficulty"]["target_success"] == 0.6
    assert len(therapist_rows(running, session_id)[1]) == 2  # the refused changes stored nothing

    await therapist.call({"type": "stop_game", "station": "station-1"})
    for link in (therapist, other):
        await link.close()


async def test_a_treadmill_belt_makes_a_new_revision_and_the_staircase_does_not(running: RunningServer) -> None:
    therapist = await login(running)
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    started = await start(therapist, "CFG-2", "treadmill", {"belt_speed_m_s": 0.4, "trials": 0})
    revision = started["config"]["revision"]
    await device.send({"type": "belt", "speed_m_s": 0.6})
    pushed = await next_config(therapist, revision + 1)
    assert pushed["changed_by"] == "treadmill belt" and pushed["settings"] == {"belt_speed_m_s": 0.6}
    # a change made from the view before the belt moved is refused, naming the belt
    stale = await therapist.request({"type": "set_difficulty", "station": "station-1", "revision": revision,
                                     "settings": {"belt_speed_m_s": 0.4}})
    assert stale["code"] == "stale_config" and "treadmill belt" in stale["message"]
    # every state names the revision in force, so a client can tell it missed a config
    await therapist.send({"type": "watch", "station": "station-1"})  # the current state, at once
    while (state := await therapist.recv(10))["type"] != "state":
        pass
    assert state["config_revision"] == revision + 1 and state["belt_speed_m_s"] == 0.6
    await therapist.call({"type": "stop_game", "station": "station-1"})
    await device.close()

    # stepping: trials move the staircase; the configuration's revision stays, its values follow
    started = await start(therapist, "CFG-3", "stepping", {"dwell_s": 0.2, "inter_trial_s": 0.2, "trials": 0})
    config = started["config"]
    report = await run_sim_tracker(running.url, "station-1", running.tokens, Ability(hold_s=0.4),
                                   trials=3, seed=4, timeout_s=60)
    assert len(report.outcomes) == 3
    now = await therapist.current_config("station-1")
    assert now["revision"] == config["revision"]
    assert now["difficulty"]["level"] != config["difficulty"]["level"]
    assert now["difficulty"]["bounds"] == config["difficulty"]["bounds"]
    reply = await therapist.call({"type": "set_difficulty", "station": "station-1", "revision": now["revision"],
                                  "bounds": {"target_radius_m": {"value": 0.1}}})
    assert reply["revision"] == now["revision"] + 1 and reply["values"]["target_radius_m"] == 0.1
    await therapist.call({"type": "stop_game", "station": "station-1"})
    await therapist.close()
