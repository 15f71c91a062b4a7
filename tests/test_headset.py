"""The Panda3D headset client: its pure parts, its offscreen rendering, and a live server.

The pixel tests render with Panda3D's software renderer into an offscreen buffer (no X, no GPU)
and check, on the saved PNG, that the target, the feet and the cursor are drawn where the state
says, through the documented metres-to-pixels mappings: the top-down map's (``scene.Projection``)
and the first-person eye's (``first_person.EyeProjection``, itself checked against Panda3D's
lens). Set ``STRIDEVR_SCREENSHOTS=DIR`` to keep the images.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from clients.headset.audio import CueSound, chime_wav
from clients.headset.first_person import (
    EYE_HEIGHT_M,
    FOOT_HEIGHT_M,
    SIDE_SHADE,
    Eye,
    EyeProjection,
    aim_eye,
    eye_for,
)
from clients.headset.hud import EYES_CLOSED, OUTCOME_COLOUR, hud_model
from clients.headset.network import (
    Backoff,
    EventQueue,
    FixedSource,
    HeadsetLink,
    LatestSlot,
    LinkStatus,
    Received,
    ReceivedEvent,
)
from clients.headset.scene import (
    BACKGROUND,
    BELT_HIT,
    BELT_MISSED,
    BLANK,
    CUE_RING,
    CUE_RING_M,
    CURSOR,
    CURSOR_RADIUS_M,
    FOOT,
    LOS,
    TARGET,
    TARGET_EDGE_M,
    TARGET_RING,
    Projection,
    foot_outline,
    view_for,
)
from clients.headset.state import (
    CUE_HOLD_S,
    BeltTarget,
    Cueing,
    CueTracker,
    Foot,
    FootSmoother,
    Mirror,
    Stage,
    StateView,
    TrackingWatch,
    countdown_s,
    home_spots,
    parse_event,
    parse_state,
)
from games.events import BalanceEvent, FootEvent, Side
from games.registry import GAMES
from games.setting_fields import PatientInfo

SIZE_PX = (400, 400)
SCREENSHOT_ENV = "STRIDEVR_SCREENSHOTS"

STEPPING_STATE: dict[str, Any] = {
    "type": "state", "v": 1, "station": "station-1", "session_id": 12, "paused_by": [],
    "game": "stepping", "phase": "target", "t_s": 41.27, "trial": 5, "trials_planned": 20, "hits": 4,
    "time_left_s": 2.31,
    "target": {"foot": "L", "direction": "anterolateral", "x_m": -0.31, "y_m": 0.45, "radius_m": 0.09},
    "feet": {"L": {"x_m": -0.1, "y_m": 0.0, "z_m": 0.0, "planted": True},
             "R": {"x_m": 0.14, "y_m": -0.25, "z_m": 0.0, "planted": True}},
    "foot_seq": {"L": 8812, "R": 8813},
    "last": {"trial": 4, "outcome": "hit", "placement_error_m": 0.031},
    "difficulty": {"step_distance_frac": 0.52, "target_radius_m": 0.09, "time_window_s": 3.1},
}

WEIGHT_SHIFT_STATE: dict[str, Any] = {
    "type": "state", "v": 1, "station": "station-1", "session_id": 13, "paused_by": [],
    "game": "weight_shift", "phase": "target", "t_s": 3.0, "trial": 2, "trials_planned": 8, "hits": 1,
    "time_left_s": 6.0,
    "target": {"direction": "right", "direction_deg": 90.0, "x_m": 0.098, "y_m": 0.0,  # over the R foot
               "radius_m": 0.03, "distance_m": 0.098, "share_los": 0.7, "hold_s": 1.0},
    "los": {"forward_m": 0.12, "backward_m": 0.06, "side_m": 0.14, "by_direction": {}},
    "centre": {"x_m": 0.0, "y_m": 0.0, "radius_m": 0.03},
    "cursor": {"x_m": -0.05, "y_m": -0.03, "source": "cop"},
    "feet": {"L": {"x_m": -0.1, "y_m": 0.0, "z_m": 0.0, "planted": True},
             "R": {"x_m": 0.1, "y_m": 0.0, "z_m": 0.0, "planted": True}},
    "foot_seq": {"L": 1, "R": 2}, "last": None,
}


# -- the state view -------------------------------------------------------------------------------


def test_parse_the_protocol_example_state() -> None:
    view = parse_state(msgpack.unpackb(msgpack.packb(STEPPING_STATE)))
    assert (view.game, view.phase, view.session_id, view.trial, view.trials_planned, view.hits) == (
        "stepping", "target", 12, 5, 20, 4)
    assert view.running and view.time_left_s == 2.31 and view.paused_by == ()
    assert view.target is not None and (view.target.x_m, view.target.y_m, view.target.radius_m) == (-0.31, 0.45, 0.09)
    assert view.target.foot == "L" and view.target.anchor is None
    assert view.feet["R"] == Foot(0.14, -0.25, 0.0, True) and view.foot_seq == {"L": 8812, "R": 8813}
    assert view.last is not None and (view.last.outcome, view.last.placement_error_m) == ("hit", 0.031)
    assert home_spots(view) == {"L": (-0.1, 0.0), "R": (0.1, 0.0)}


def test_parse_tolerates_missing_and_malformed_parts() -> None:
    idle = parse_state({"type": "state", "v": 1, "station": "station-1", "phase": "idle"})
    assert not idle.running and idle.target is None and idle.feet == {} and idle.game is None
    odd = parse_state({"type": "state", "phase": "target", "game": "stepping", "hits": True,
                       "target": {"x_m": "far", "y_m": 0.1, "radius_m": 0.1},
                       "feet": {"L": {"x_m": 0.0, "y_m": float("nan")}, "R": {"x_m": 0.1, "y_m": 0.2}},
                       "foot_seq": {"L": 1.5, "R": 7}, "paused_by": ["therapist", 3], "last": {"trial": 2}})
    assert odd.hits == 0 and odd.target is None and set(odd.feet) == {"R"} and odd.feet["R"].z_m == 0.0
    assert odd.foot_seq == {"R": 7} and odd.paused_by == ("therapist",) and odd.last is None
    with pytest.raises(ValueError):
        parse_state({"type": "welcome"})


def _envelope(snapshot: dict[str, Any]) -> dict[str, Any]:
    """As the server sends it (``StationRuntime.state_message``), through msgpack."""
    message = {"type": "state", "v": 1, "station": "station-1", "session_id": 1, "paused_by": [], **snapshot}
    return msgpack.unpackb(msgpack.packb(message))


def test_parse_real_reaching_and_weight_shift_snapshots() -> None:
    """Against the games' own snapshots, so a renamed key shows up here, not on a headset."""
    entry = GAMES["reaching"]
    settings = entry.settings_from({"stance": "unaffected", "directions": ["anterior"], "inter_trial_s": 0.0},
                                   PatientInfo(affected_side=Side.LEFT, leg_length_m=0.9))
    game = entry.make(settings, {"reach_frac_ll": 0.5, "target_radius_m": 0.05, "time_window_s": 4.0}, 100.0)
    game.on_foot(FootEvent(Side.RIGHT, 0.06, 0.0, 0.0, None, None, 0.0, 1), 100.1)
    game.on_foot(FootEvent(Side.LEFT, -0.06, 0.0, 0.0, None, None, 0.0, 2), 100.1)
    game.tick(100.2)
    game.on_foot(FootEvent(Side.LEFT, -0.06, 0.1, 0.05, None, None, 0.0, 3), 100.4)  # lift
    game.on_foot(FootEvent(Side.LEFT, 0.07, 0.44, 0.0, None, None, 0.0, 4), 100.8)  # touch
    view = parse_state(_envelope(game.snapshot()))
    game.close()
    assert view.game == "reaching" and view.target is not None and view.target.foot == "L"
    assert view.target.anchor == (0.06, 0.0) and (view.target.x_m, view.target.y_m) == (0.06, 0.45)
    assert view.touch is not None and view.touch.inside is True and view.foot_seq == {"R": 1, "L": 4}
    assert home_spots(view) == {"L": (-0.06, 0.0), "R": (0.06, 0.0)}

    entry = GAMES["weight_shift"]
    settings = entry.settings_from({"directions": ["forward"], "inter_trial_s": 0.0, "los_forward_m": 0.10},
                                   PatientInfo(affected_side=Side.LEFT, leg_length_m=0.9))
    game = entry.make(settings, {"target_share_los": 0.5, "target_radius_m": 0.02, "hold_s": 1.0,
                                 "time_window_s": 5.0}, 50.0)
    game.on_balance(BalanceEvent(0.0, 0.0, 700.0, 0.5, "cop", 0.0, 0), 50.1)
    game.tick(50.2)
    game.on_balance(BalanceEvent(0.005, 0.04, 700.0, 0.45, "cop", 0.0, 1), 50.5)
    view = parse_state(_envelope(game.snapshot()))
    game.close()
    assert view.game == "weight_shift" and view.target is not None and view.target.foot is None
    assert (view.target.x_m, view.target.y_m, view.target.radius_m, view.target.hold_s) == (0.0, 0.05, 0.02, 1.0)
    assert view.los is not None and view.los.forward_m == 0.10 and view.los.at(270.0) == pytest.approx(0.14)
    assert view.centre is not None and view.centre.radius_m == 0.03
    assert view.cursor is not None and (view.cursor.x_m, view.cursor.y_m) == (0.005, 0.04)
    assert view.hold_progress_s == pytest.approx(0.0)


# -- smoothing, tracking, countdown, HUD ---------------------------------------------------------


def test_smoothing_snaps_first_then_follows_with_a_50_ms_time_constant() -> None:
    smoother = FootSmoother(tau_s=0.05)
    assert smoother.step({"L": Foot(0.0, 0.0)}, 0.016) == {"L": (0.0, 0.0, 0.0)}  # first sight: snap
    goal = {"L": Foot(0.1, 0.0, 0.02)}
    x, _, z = smoother.step(goal, 0.05)["L"]
    assert x == pytest.approx(0.1 * (1 - math.exp(-1))) and z == pytest.approx(0.02 * (1 - math.exp(-1)))
    # frame-rate independent: five 10 ms frames land where one 50 ms frame does
    a, b = FootSmoother(0.05), FootSmoother(0.05)
    a.step({"L": Foot(0.0, 0.0)}, 0.0)
    b.step({"L": Foot(0.0, 0.0)}, 0.0)
    for _ in range(5):
        xa = a.step({"L": Foot(0.3, 0.0)}, 0.01)["L"][0]
    assert xa == pytest.approx(b.step({"L": Foot(0.3, 0.0)}, 0.05)["L"][0])
    assert smoother.step(goal, 0.5)["L"][0] == pytest.approx(0.1, abs=1e-5)  # a long frame arrives
    assert smoother.step({}, 0.01) == {}  # a foot no longer reported is dropped (and snaps back later)


def _view(**changes: Any) -> StateView:
    return parse_state({**STEPPING_STATE, **changes})


def test_tracking_is_lost_after_half_a_second_without_a_new_foot_sample() -> None:
    watch = TrackingWatch(timeout_s=0.5)
    assert not watch.lost(0.0)  # nothing seen yet
    watch.observe(_view(), 10.0)
    assert not watch.lost(10.4) and watch.lost(10.51)
    watch.observe(_view(hits=5), 10.6)  # a new state, same foot_seq: still lost
    assert watch.lost(10.6)
    watch.observe(_view(foot_seq={"L": 8814, "R": 8813}), 10.7)  # a new sample
    assert not watch.lost(10.7) and not watch.lost(11.19) and watch.lost(11.21)
    watch.observe(_view(phase="idle", foot_seq={}), 20.0)
    assert not watch.lost(30.0)  # no game: nothing to track
    watch.observe(_view(session_id=13, foot_seq={}), 31.0)  # a new game starts the clock afresh
    assert not watch.lost(31.4) and watch.lost(31.6)
    watch.observe(_view(session_id=13, phase="paused", paused_by=["device_lost"], foot_seq={"L": 1}), 32.0)
    assert watch.lost(32.0)  # the server says so: at once
    watch.observe(_view(session_id=13, phase="finished", foot_seq={"L": 1}), 33.0)
    assert not watch.lost(40.0)


def test_a_moving_cursor_counts_as_tracking_for_a_force_plate() -> None:
    """A COP stream moves the weight-shift cursor and never changes foot_seq."""
    watch = TrackingWatch(timeout_s=0.5)
    for i in range(10):
        watch.observe(parse_state({**WEIGHT_SHIFT_STATE, "cursor": {"x_m": 0.001 * i, "y_m": 0.0}}), 0.2 * i)
        assert not watch.lost(0.2 * i + 0.1)
    assert watch.lost(1.8 + 0.51)


def test_countdown_runs_down_between_states_and_freezes_when_paused() -> None:
    assert countdown_s(_view(), 5.0, 5.5) == pytest.approx(1.81)
    assert countdown_s(_view(), 5.0, 9.0) == 0.0
    assert countdown_s(_view(phase="paused", paused_by=["therapist"]), 5.0, 9.0) == 2.31
    assert countdown_s(_view(time_left_s=None), 5.0, 5.5) is None


def test_hud_says_score_feedback_pause_tracking_and_connection() -> None:
    ok = LinkStatus(connected=True, connections=1)
    hud = hud_model(_view(), ok, countdown_s=1.84)
    assert hud.score == "Hits 4   Trial 6 / 20" and hud.countdown == "1.8 s" and hud.banners == ()
    assert hud.title == "Stepping: step with the LEFT foot"
    assert hud.feedback is not None and hud.feedback.text == "Trial 5: HIT, 3.1 cm off"
    assert hud.feedback.colour == OUTCOME_COLOUR["hit"]
    fault = hud_model(_view(last={"trial": 6, "outcome": "fault", "fault": "stance_lifted"}), ok)
    assert fault.feedback is not None and fault.feedback.text == "Trial 7: FAULT (stance lifted)"
    assert fault.feedback.colour == OUTCOME_COLOUR["fault"]
    paused = hud_model(_view(phase="paused", paused_by=["device_lost", "therapist"]), ok, tracking_lost=True)
    assert [b.text for b in paused.banners] == ["TRACKING LOST \u2014 device lost",
                                                "PAUSED \u2014 by device lost, the therapist"]
    silent = hud_model(_view(), ok, tracking_lost=True, silent_s=0.8)
    assert silent.banners[0].text == "TRACKING LOST \u2014 no foot data for 0.8 s"
    down = hud_model(_view(), LinkStatus(error="ConnectionRefusedError", retry_at_s=12.0), now_s=10.0,
                     tracking_lost=True)
    assert [b.text for b in down.banners] == ["connecting\u2026", "ConnectionRefusedError (retry in 2 s)"]
    refused = hud_model(None, LinkStatus(refused=True, error="auth_failed: unknown station or wrong token"))
    assert refused.banners[0].text == "Station refused: auth_failed: unknown station or wrong token"
    idle = hud_model(parse_state({"type": "state", "phase": "idle"}), ok)
    assert idle.score == "" and idle.banners[0].text == "Waiting for the therapist to start a game"


# -- clinical modes (docs/clinical-modes.md): parsing, events, cue highlight, HUD -----------------

MIRROR_STATE: dict[str, Any] = {  # the sound R foot drives the affected L foot's (mirrored) avatar
    **STEPPING_STATE,
    "feet": {"L": {"x_m": -0.2, "y_m": 0.3, "z_m": 0.0, "planted": True},
             "R": {"x_m": 0.2, "y_m": 0.3, "z_m": 0.0, "planted": True}},
    "mirror": {"source": "R", "shown": "L"},
    "real_feet": {"L": {"x_m": -0.15, "y_m": -0.3, "z_m": 0.0, "planted": True}},  # the therapist's
}

TREADMILL_STATE: dict[str, Any] = {
    "type": "state", "v": 1, "station": "station-1", "session_id": 20, "paused_by": [],
    "game": "treadmill", "phase": "target", "t_s": 12.0, "trial": 3, "trials_planned": 40, "hits": 2,
    "time_left_s": None, "belt_speed_m_s": 0.6,
    "targets": [
        {"index": 2, "foot": "R", "x_m": 0.1, "y_m": 0.2, "radius_m": 0.08, "state": "hit"},
        {"index": 3, "foot": "L", "x_m": -0.1, "y_m": 0.65, "radius_m": 0.08, "state": "coming"},
        {"index": 4, "foot": "R", "x_m": 0.1, "y_m": 1.1, "radius_m": 0.08, "state": "coming"},
    ],
    "target": {"index": 3, "foot": "L", "x_m": -0.1, "y_m": 0.65, "radius_m": 0.08, "state": "coming"},
    "feet": {"L": {"x_m": -0.1, "y_m": -0.1, "z_m": 0.0, "planted": True},
             "R": {"x_m": 0.1, "y_m": -0.35, "z_m": 0.0, "planted": True}},
    "foot_seq": {"L": 10, "R": 11}, "last": {"trial": 2, "outcome": "hit", "placement_error_m": 0.02},
}

ASSESSMENT_STATE: dict[str, Any] = {
    "type": "state", "v": 1, "station": "station-1", "session_id": 30, "paused_by": [],
    "game": "assessment", "phase": "target", "t_s": 80.0, "trial": 2, "trials_planned": 16, "hits": 2,
    "time_left_s": 3.5,
    "stage": {"name": "reach", "index": 2, "count": 5, "instruction": "Reach as far as you can, then come back",
              "time_left_s": 7.25, "progress": "3/16"},
    "target": {"foot": "L", "direction": "anterior", "x_m": 0.06, "y_m": 0.7, "radius_m": 0.05,
               "centre_x_m": 0.06, "centre_y_m": 0.0},
    "feet": {"L": {"x_m": -0.06, "y_m": 0.0, "z_m": 0.0, "planted": True},
             "R": {"x_m": 0.06, "y_m": 0.0, "z_m": 0.0, "planted": True}},
    "foot_seq": {"L": 5, "R": 6},
}


# The eyes-closed quiet stand being timed, after the eyes-open one ended (its result still "last").
QUIET_EC_STATE: dict[str, Any] = {
    **ASSESSMENT_STATE, "phase": "stand", "trial": 1, "trials_planned": 2, "hits": 1, "time_left_s": 21.0,
    "stage": {"name": "quiet_eyes_closed", "index": 1, "count": 2, "eyes": "closed", "time_left_s": 21.0,
              "instruction": "Stand still, feet on the marks, eyes closed, for 30 seconds", "progress": "9/30 s"},
    "target": None, "cursor": {"x_m": 0.004, "y_m": -0.01, "source": "cop"},
    "last": {"trial": 0, "outcome": "hit", "direction": "quiet_eyes_open", "stage": "quiet_eyes_open",
             "eyes": "open", "balance_source": "cop"},
}


def _game_event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": "game_event", "v": 1, "station": "station-1", "session_id": 12,
            "event": {"kind": kind, **fields}}


CUE = _game_event("cue", side="L", reason="idle", cues=["highlight", "sound"], at_s=41.2,
                  affected_side_share=0.8, share_before=0.7)
CUE_RESPONSE = _game_event("cue_response", side="L", response_time_s=1.4, at_s=42.6)


def test_parse_clinical_mode_parts() -> None:
    hidden = _view(target={**STEPPING_STATE["target"], "hidden": True},
                   feet={"L": {"x_m": -0.1, "y_m": 0.0, "hidden": True}, "R": {"x_m": 0.1, "y_m": 0.0}})
    assert hidden.target is not None and hidden.target.hidden and not _view().target.hidden  # type: ignore[union-attr]
    assert hidden.feet["L"].hidden and not hidden.feet["R"].hidden
    mirror = parse_state(MIRROR_STATE)
    assert mirror.mirror == Mirror("R", "L") and mirror.real_feet == {"L": Foot(-0.15, -0.3)}
    assert mirror.feet["L"] == Foot(-0.2, 0.3)
    cueing = _view(cueing={"side": "L", "active": True, "affected_side_share": 0.75, "cues": 3})
    assert cueing.cueing == Cueing("L", True, 0.75, 3) and _view().cueing is None
    belt = parse_state(TREADMILL_STATE)
    assert belt.targets[0] == BeltTarget(0.1, 0.2, 0.08, "R", "hit", 2) and len(belt.targets) == 3
    assert belt.belt_speed_m_s == 0.6 and belt.target is not None and belt.target.y_m == 0.65
    odd_belt = parse_state({**TREADMILL_STATE, "targets": [{"x_m": 0.0, "y_m": 1.0, "radius_m": 0.1, "state": "?"},
                                                           {"x_m": "x"}, 7]})
    assert odd_belt.targets == (BeltTarget(0.0, 1.0, 0.1),)  # unknown state: drawn as coming
    stage = parse_state(ASSESSMENT_STATE).stage
    assert stage == Stage("reach", 2, 5, "Reach as far as you can, then come back", 7.25, "3/16")
    assert countdown_s(parse_state(ASSESSMENT_STATE), 5.0, 6.0) == pytest.approx(6.25)  # the stage's own clock
    assert parse_state({**ASSESSMENT_STATE, "stage": "walk"}).stage is None

    cue = parse_event(msgpack.unpackb(msgpack.packb(CUE)))
    assert cue is not None and (cue.kind, cue.side, cue.station, cue.session_id) == ("cue", "L", "station-1", 12)
    assert cue.fields["cues"] == ["highlight", "sound"] and cue.fields["reason"] == "idle"
    assert parse_event({"type": "game_event", "event": {"side": "L"}}) is None  # no kind: nothing to do
    assert parse_event({"type": "game_event", "event": "cue"}) is None
    with pytest.raises(ValueError):
        parse_event(STEPPING_STATE)


def test_parse_real_clinical_mode_snapshots_and_events() -> None:
    """Against the games' own snapshots and events (mirror, and neglect cueing, in stepping; the
    assessment), so a renamed key shows up here, not on a headset."""
    entry = GAMES["stepping"]
    patient = PatientInfo(affected_side=Side.LEFT, leg_length_m=0.9)
    difficulty = {"step_distance_frac": 0.5, "target_radius_m": 0.1, "time_window_s": 6.0}
    views, events = {}, []
    for mode in ("mirror", "neglect_cueing"):
        settings = entry.settings_from({mode: True, "directions": ["anterior"], "affected_side_share": 0.9,
                                        "inter_trial_s": 0.0, "seed": 1}, patient)
        game = entry.make(settings, difficulty, 100.0)
        game.on_foot(FootEvent(Side.RIGHT, 0.1, 0.0, 0.0, None, None, 0.0, 1), 100.1)
        game.on_foot(FootEvent(Side.LEFT, -0.12, 0.02, 0.0, None, None, 0.0, 2), 100.1)  # the affected foot
        for t in (100.2, 102.0, 104.0, 106.0):  # the affected foot stays still: an idle cue
            game.tick(t)
        views[mode] = parse_state(_envelope(game.snapshot()))
        events += [parse_event({"type": "game_event", "v": 1, "station": "station-1", "session_id": 1,
                                "event": e}) for e in game.take_events()]
        game.close()
    view = views["mirror"]
    assert view.mirror == Mirror("R", "L") and view.real_feet["L"] == Foot(-0.12, 0.02)
    assert view.feet["L"] == Foot(-0.1, 0.0) and not view.feet["L"].hidden  # the mirrored avatar
    view = views["neglect_cueing"]
    assert view.cueing is not None and view.cueing.side == "L" and view.cueing.active and view.cueing.cues >= 1
    cues = [e for e in events if e is not None and e.kind == "cue"]
    assert cues and cues[0].side == "L" and "highlight" in cues[0].fields["cues"]
    tracker = CueTracker()
    tracker.on_event(cues[0], 1.0)
    assert tracker.highlighted(view, 1.0, 1.1) == {"L"}

    entry = GAMES["assessment"]
    settings = entry.settings_from({}, PatientInfo(affected_side=Side.LEFT, leg_length_m=0.9))
    game = entry.make(settings, {}, 50.0)  # the assessment adapts nothing: no difficulty
    game.on_foot(FootEvent(Side.RIGHT, 0.1, 0.0, 0.0, None, None, 0.0, 1), 50.1)
    game.on_foot(FootEvent(Side.LEFT, -0.1, 0.0, 0.0, None, None, 0.0, 2), 50.1)
    game.tick(50.2)
    view = parse_state(_envelope(game.snapshot()))
    [stage_event] = game.take_events()
    game.close()
    assert view.game == "assessment" and view.stage is not None and view.stage.index == 0 and view.stage.count
    assert view.stage.name == "quiet_eyes_open" and view.stage.instruction and set(view.feet) == {"L", "R"}
    event = parse_event({"type": "game_event", "v": 1, "event": stage_event})
    assert event is not None and event.kind == "stage" and event.fields["instruction"] == view.stage.instruction
    hud = hud_model(view, LinkStatus(connected=True, connections=1))
    assert hud.instruction.startswith(view.stage.instruction) and hud.score == f"Stage 1 / {view.stage.count}"


def test_a_cue_highlights_until_its_response_or_five_seconds() -> None:
    view, cue, response = _view(), parse_event(CUE), parse_event(CUE_RESPONSE)
    assert cue is not None and response is not None
    cues = CueTracker()
    assert cues.on_event(cue, 10.0) and cues.cues == 1
    assert cues.highlighted(view, 9.0, 10.0) == {"L"} and cues.highlighted(view, 9.0, 10.0 + CUE_HOLD_S - 0.01)
    assert cues.highlighted(view, 9.0, 10.0 + CUE_HOLD_S) == frozenset()  # unanswered: gone after 5 s
    assert not cues.highlighted(_view(phase="idle"), 9.0, 10.5)  # no game, no ring
    cues.on_event(cue, 20.0)
    assert not cues.on_event(response, 21.0) and cues.responses == 1
    assert cues.highlighted(view, 9.0, 21.0) == frozenset()
    # the snapshot's cueing.active (a headset that joins mid-cue) highlights while active...
    active = _view(cueing={"side": "L", "active": True})
    assert CueTracker().highlighted(active, 30.0, 100.0) == {"L"}  # no event seen, no timeout
    # ...but not a state that arrived before the side's last cue_response
    assert cues.highlighted(active, 20.5, 21.5) == frozenset() and cues.highlighted(active, 21.2, 21.5) == {"L"}
    sound_only = parse_event(_game_event("cue", side="R", cues=["sound"]))
    assert sound_only is not None and cues.on_event(sound_only, 30.0) and not cues.highlighted(view, 0.0, 30.1)


def test_event_queue_keeps_order_and_bounds_itself() -> None:
    queue: EventQueue[int] = EventQueue(maxlen=3)
    assert queue.drain() == []
    for i in range(5):
        queue.put(i)
    assert queue.drain() == [2, 3, 4] and queue.dropped == 2 and queue.put_count == 5
    assert queue.drain() == []
    source = FixedSource()
    source.event(CUE, at_s=1.0)
    source.event({"type": "game_event", "event": {}})  # no kind: not queued
    [queued] = source.take_events()
    assert isinstance(queued, ReceivedEvent) and queued.event.kind == "cue" and queued.at_s == 1.0
    assert source.take_events() == []


@pytest.mark.integration  # a websocket server on a local port
async def test_the_network_thread_queues_game_events_beside_the_latest_state() -> None:
    """A stand-in server: welcome, a state, two game events, another state. The states land in the
    latest-state slot (the newest wins), the events in the queue, in order, each once."""
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        hello = msgpack.unpackb(await ws.recv())
        assert hello["role"] == "headset"
        await ws.send(msgpack.packb({"type": "welcome", "v": 1, "role": "headset", "station": "station-1"}))
        for message in (STEPPING_STATE, CUE, CUE_RESPONSE, {**STEPPING_STATE, "hits": 5}):
            await ws.send(msgpack.packb(message))
        await ws.wait_closed()

    seen: list[ReceivedEvent] = []
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        link = HeadsetLink(f"ws://127.0.0.1:{port}", "station-1", "token", on_event=seen.append).start()
        try:
            deadline = time.monotonic() + 10
            while link.latest()[1] is None or link.latest()[1].view.hits != 5:  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "timed out"
                await asyncio.sleep(0.01)
            events = link.take_events()
            assert [(e.event.kind, e.event.side, e.connection) for e in events] == [("cue", "L", 1),
                                                                                    ("cue_response", "L", 1)]
            assert events[0].at_s <= events[1].at_s <= link.latest()[1].at_s  # type: ignore[union-attr]
            assert link.take_events() == [] and [e.event.kind for e in seen] == ["cue", "cue_response"]
            assert link.latest()[0] == 2  # two states put; the slot holds the newest
        finally:
            await asyncio.to_thread(link.stop)


def test_hud_shows_the_assessment_instruction_and_mode_notes() -> None:
    ok = LinkStatus(connected=True, connections=1)
    hud = hud_model(parse_state(ASSESSMENT_STATE), ok, countdown_s=7.2)
    assert hud.instruction == "Reach as far as you can, then come back\n3/16"
    assert hud.title == "Assessment: reach" and hud.score == "Stage 3 / 5" and hud.countdown == "7.2 s"
    done = hud_model(parse_state({**ASSESSMENT_STATE, "phase": "finished"}), ok)
    assert done.banners[0].text == "Assessment finished \u2014 thank you"
    assert hud_model(_view(), ok).instruction == "" and hud_model(_view(), ok).note == ""
    assert hud_model(parse_state(MIRROR_STATE), ok).note == "mirror"
    belt = hud_model(parse_state(TREADMILL_STATE), ok)
    assert belt.note == "belt 0.60 m/s" and belt.title == "Treadmill: step with the LEFT foot"


def test_hud_last_trial_line_belongs_to_the_stage_and_quiet_stands_have_none() -> None:
    ok = LinkStatus(connected=True, connections=1)
    # a quiet stand: its instruction and time, never "Trial N: HIT" (not even its own last stand)
    quiet_open = {**QUIET_EC_STATE, "stage": {**QUIET_EC_STATE["stage"], "name": "quiet_eyes_open", "index": 0,
                                              "eyes": "open", "instruction": "Stand still, eyes open"}}
    hud = hud_model(parse_state(quiet_open), ok, countdown_s=21.0)
    assert hud.feedback is None and hud.instruction == "Stand still, eyes open\n9/30 s" and hud.countdown == "21.0 s"
    # the reach stage after the stands: the stand's result is not the reach's last trial ...
    reach = {**ASSESSMENT_STATE, "last": QUIET_EC_STATE["last"]}
    assert hud_model(parse_state(reach), ok).feedback is None
    # ... its own is
    own = {**ASSESSMENT_STATE, "last": {"trial": 2, "outcome": "miss", "stage": "reach", "reach_m": 0.4}}
    feedback = hud_model(parse_state(own), ok).feedback
    assert feedback is not None and feedback.text == "Trial 3: MISS"
    # the assessment over: the banner, no trial line
    done = hud_model(parse_state({**own, "phase": "finished", "stage": None}), ok)
    assert done.feedback is None and done.banners[0].text.startswith("Assessment finished")
    # a training game keeps its line
    assert hud_model(parse_state(STEPPING_STATE), ok).feedback is not None


def test_hud_of_an_eyes_closed_stand_is_one_line() -> None:
    ok = LinkStatus(connected=True, connections=1)
    view = parse_state(QUIET_EC_STATE)
    assert view.eyes_closed
    hud = hud_model(view, ok, countdown_s=21.0)
    assert (hud.title, hud.score, hud.countdown, hud.note, hud.feedback) == ("", "", "", "", None)
    assert hud.instruction == EYES_CLOSED and hud.banners == ()
    paused = parse_state({**QUIET_EC_STATE, "phase": "paused", "paused_by": ["therapist"]})
    assert not paused.eyes_closed  # a paused stand starts again: the patient may look
    assert hud_model(paused, ok).banners[0].text.startswith("PAUSED")
    waiting = parse_state({**QUIET_EC_STATE, "phase": "home"})  # placing the feet: the marks are seen
    assert not waiting.eyes_closed and hud_model(waiting, ok).instruction.startswith("Stand still, feet on the marks")


def test_real_quiet_stands_show_their_instruction_and_the_eyes_closed_one_blanks() -> None:
    """The assessment game's own snapshots: eyes open, then closed; a stand on a plate alone."""
    entry = GAMES["assessment"]
    settings = entry.settings_from({"stages": ["quiet_eyes_open", "quiet_eyes_closed", "reach"], "quiet_s": 10,
                                    "ready_s": 0.5}, PatientInfo(affected_side=Side.LEFT, leg_length_m=0.9))
    game = entry.make(settings, {}, 0.0)
    ok = LinkStatus(connected=True, connections=1)
    seen: dict[tuple[str, str], list[Any]] = {}
    t, seq = 0.0, 0
    while t < 25.0:
        seq += 1
        game.on_balance(BalanceEvent(0.001 * math.sin(t), 0.0, 700.0, None, "cop", t, seq), t)
        game.tick(t)
        view = parse_state(_envelope(game.snapshot()))
        assert view.stage is not None
        seen.setdefault((view.stage.name or "", view.phase), []).append((view, hud_model(view, ok)))
        t += 0.1
    game.close()
    assert {("quiet_eyes_open", "stand"), ("quiet_eyes_closed", "home"), ("quiet_eyes_closed", "stand")} <= set(seen)
    for (stage, phase), shown in seen.items():
        for view, hud in shown:
            if stage.startswith("quiet"):
                assert hud.feedback is None and "Trial" not in hud.instruction
                assert view.eyes_closed == (stage == "quiet_eyes_closed" and phase == "stand")
            if view.eyes_closed:
                assert hud.instruction == EYES_CLOSED and hud.title == ""
            elif stage.startswith("quiet"):
                assert hud.instruction.startswith(f"Stand still, feet on the marks, eyes {view.stage.eyes}")
    # the stand after the eyes-open one: its result is "last", but not on screen
    ec_view = seen[("quiet_eyes_closed", "home")][0][0]
    assert ec_view.last is not None and ec_view.last.stage == "quiet_eyes_open"


def test_cue_sound_plays_where_audio_works_and_is_skipped_silently_where_not() -> None:
    silent = CueSound(None)
    assert not silent.available and not silent.play() and (silent.played, silent.skipped) == (0, 1)

    class Sound:
        plays = 0

        def length(self) -> float:
            return 0.3

        def stop(self) -> None:
            pass

        def play(self) -> None:
            Sound.plays += 1

    class Manager:
        def __init__(self, valid: bool) -> None:
            self.valid, self.loaded = valid, list[str]()

        def is_valid(self) -> bool:
            return self.valid

        def get_sound(self, name: Any) -> Sound:
            self.loaded.append(str(name))
            return Sound()

    assert not CueSound(Manager(False)).available  # Panda3D's NullAudioManager
    manager = Manager(True)
    sound = CueSound(manager)
    assert sound.available and sound.play() and sound.play() and (sound.played, sound.skipped, Sound.plays) == (2, 0, 2)
    assert manager.loaded == ["/stridevr-headset-ram/cue.wav"]
    assert chime_wav()[:4] == b"RIFF"


def test_cue_sound_through_openal_on_its_null_device() -> None:
    """The real path: Panda3D's OpenAL manager loads the chime from the ramdisk and plays it
    (OpenAL Soft's null backend stands in for a sound card). In a child process: audio is off in
    this one."""
    import subprocess

    code = ("from panda3d.core import AudioManager, AudioSound, loadPrcFileData\n"
            "loadPrcFileData('', 'audio-library-name p3openal_audio')\n"
            "from clients.headset.audio import CueSound\n"
            "m = AudioManager.create_AudioManager()\n"
            "if not m.is_valid(): print('NO-OPENAL'); raise SystemExit\n"
            "s = CueSound(m)\n"
            "print(s.available, s.play(), round(s._sound.length(), 2), s._sound.status() == AudioSound.PLAYING)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "ALSOFT_DRIVERS": "null"}, cwd=Path(__file__).resolve().parents[1])
    if "NO-OPENAL" in done.stdout:
        pytest.skip("no OpenAL in this Panda3D build")
    assert done.stdout.split() == ["True", "True", "0.3", "True"], done.stdout + done.stderr


# -- the network plumbing -------------------------------------------------------------------------


def test_backoff_doubles_from_half_a_second_to_five_and_resets() -> None:
    backoff = Backoff(0.5, 5.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 0.5
    jittered = Backoff(0.5, 5.0, jitter=0.1)
    first, second = jittered.next(), jittered.next()
    assert 0.45 <= first <= 0.55 and 0.9 <= second <= 1.1


def test_latest_slot_gives_the_reader_the_newest_value_without_waiting() -> None:
    slot: LatestSlot[int] = LatestSlot(-1)
    done = threading.Event()

    def writer() -> None:
        for i in range(20000):
            slot.put(i)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen, worst = [], 0.0
    while not done.is_set():
        t = time.perf_counter()
        version, value = slot.get()
        worst = max(worst, time.perf_counter() - t)
        seen.append((version, value))
    thread.join()
    assert all(a <= b for a, b in itertools.pairwise(seen))  # never goes back in time
    assert slot.get() == (20000, 19999) and worst < 0.05


# -- offscreen rendering --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    """One offscreen ShowBase for the module (Panda3D wants one per process)."""
    from clients.headset.app import AppConfig, HeadsetApp

    headset = HeadsetApp(FixedSource(), AppConfig(offscreen=True, size_px=SIZE_PX, first_person=False))
    yield headset
    headset.destroy()


def _save(app: Any, tmp_path: Path, name: str) -> np.ndarray:
    """Screenshot to a PNG (kept in $STRIDEVR_SCREENSHOTS if set), read back as rows x cols x RGB."""
    from panda3d.core import Filename, PNMImage, Texture

    path = app.screenshot(tmp_path / name)
    if os.environ.get(SCREENSHOT_ENV):
        Path(os.environ[SCREENSHOT_ENV]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ[SCREENSHOT_ENV]) / name)
    image = PNMImage()
    assert image.read(Filename.from_os_specific(str(path)))
    texture = Texture()
    texture.load(image)
    rgb = np.frombuffer(bytes(texture.get_ram_image_as("RGB")), np.uint8)
    return rgb.reshape(image.get_y_size(), image.get_x_size(), 3)[::-1]  # textures store bottom row first


def _blob(pixels: np.ndarray, colour: tuple[float, ...], tolerance: int = 6) -> tuple[float, float, int]:
    """Centroid (column, row, at pixel centres) and size of the pixels of ``colour``."""
    want = np.array([round(c * 255) for c in colour[:3]])
    rows, cols = np.nonzero(np.all(np.abs(pixels.astype(int) - want) <= tolerance, axis=2))
    assert len(rows), f"no pixel of colour {want}"
    return float(cols.mean() + 0.5), float(rows.mean() + 0.5), len(rows)


def _offset(blob: tuple[float, float, int], expected: tuple[float, float]) -> float:
    return math.hypot(blob[0] - expected[0], blob[1] - expected[1])


def test_offscreen_render_draws_the_target_and_feet_where_the_state_says(app: Any, tmp_path: Path) -> None:
    view = parse_state(STEPPING_STATE)
    app.use(FixedSource(view))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-stepping.png")
    assert pixels.shape == (SIZE_PX[1], SIZE_PX[0], 3)
    projection = Projection.of(SIZE_PX, view_for("stepping"))
    assert app.projection == projection and projection.px_per_m == pytest.approx(400 / 2.4)
    assert projection.to_pixel(0.0, 0.2) == (200.0, 200.0)  # the view's centre

    target = _blob(pixels, TARGET)
    expected = projection.to_pixel(-0.31, 0.45)
    assert _offset(target, expected) < 1.5, (target, expected)
    fill_radius_px = (0.09 - TARGET_EDGE_M) * projection.px_per_m
    assert math.sqrt(target[2] / math.pi) == pytest.approx(fill_radius_px, abs=1.0)
    rim = _blob(pixels, TARGET_RING["L"])  # the rim says which foot: the left one's tint
    assert _offset(rim, expected) < 1.5
    for side in ("L", "R"):
        foot = view.feet[side]
        blob = _blob(pixels, FOOT[side])
        assert _offset(blob, projection.to_pixel(foot.x_m, foot.y_m)) < 1.5, (side, blob)
        area_m2 = _polygon_area(foot_outline(side))
        assert blob[2] == pytest.approx(area_m2 * projection.px_per_m**2, rel=0.15)
    left, right = _blob(pixels, FOOT["L"]), _blob(pixels, FOOT["R"])
    assert left[0] < right[0] and right[1] > left[1]  # +x right on screen, +y up on screen
    assert app.hud_shown.score == "Hits 4   Trial 6 / 20" and app.hud_shown.banners == ()


def test_offscreen_render_of_weight_shift_draws_cursor_and_limits_of_stability(app: Any, tmp_path: Path) -> None:
    view = parse_state(WEIGHT_SHIFT_STATE)
    app.use(FixedSource(view))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-weight-shift.png")
    projection = app.projection
    assert projection == Projection.of(SIZE_PX, view_for("weight_shift")) and projection.px_per_m == 500.0
    cursor = _blob(pixels, CURSOR)
    assert _offset(cursor, projection.to_pixel(-0.05, -0.03)) < 1.5
    assert math.sqrt(cursor[2] / math.pi) == pytest.approx(CURSOR_RADIUS_M * 500, abs=1.0)
    target = _blob(pixels, TARGET)  # drawn over the right foot, whole
    assert _offset(target, projection.to_pixel(0.098, 0.0)) < 1.5
    assert math.sqrt(target[2] / math.pi) == pytest.approx((0.03 - TARGET_EDGE_M) * 500, abs=1.0)
    want = np.array([round(c * 255) for c in LOS[:3]])
    rows, cols = np.nonzero(np.all(np.abs(pixels.astype(int) - want) <= 6, axis=2))
    (left, top), (right, bottom) = projection.to_pixel(-0.14, 0.12), projection.to_pixel(0.14, -0.06)
    assert rows.min() + 0.5 == pytest.approx(top, abs=1.5) and rows.max() + 0.5 == pytest.approx(bottom, abs=1.5)
    assert cols.min() + 0.5 == pytest.approx(left, abs=1.5) and cols.max() + 0.5 == pytest.approx(right, abs=1.5)
    assert _blob(pixels, FOOT["L"])[2] > 0 and _blob(pixels, FOOT["R"])[2] > 0


def _is(pixels: np.ndarray, projection: Projection, x_m: float, y_m: float, colour: tuple[float, ...],
        tolerance: int = 6) -> bool:
    """Whether the pixel at a floor point (metres) has ``colour``."""
    col, row = projection.to_pixel(x_m, y_m)
    return _pixel_is(pixels, col, row, colour, tolerance)


def _pixel_is(pixels: np.ndarray, col: float, row: float, colour: tuple[float, ...], tolerance: int = 6) -> bool:
    got = pixels[int(row), int(col)].astype(int)
    return bool(np.all(np.abs(got - np.array(_rgb(colour))) <= tolerance))


def _rgb(colour: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(round(c * 255) for c in colour[:3])


def _count(pixels: np.ndarray, colour: tuple[float, ...], tolerance: int = 6) -> int:
    want = np.array(_rgb(colour))
    return int(np.all(np.abs(pixels.astype(int) - want) <= tolerance, axis=2).sum())


def test_offscreen_hidden_target_and_foot_are_not_drawn(app: Any, tmp_path: Path) -> None:
    """Proprioception training: ``hidden: true`` on the target or a foot draws nothing there,
    while the visible ones are drawn as usual."""
    projection = Projection.of(SIZE_PX, view_for("stepping"))
    app.use(FixedSource(parse_state(STEPPING_STATE)))
    app.step(3)
    shown = _save(app, tmp_path, "headset-target-visible.png")
    assert _is(shown, projection, -0.31, 0.45, TARGET)

    hidden = {**STEPPING_STATE, "target": {**STEPPING_STATE["target"], "hidden": True},
              "feet": {"L": {**STEPPING_STATE["feet"]["L"], "hidden": True}, "R": STEPPING_STATE["feet"]["R"]}}
    app.use(FixedSource(parse_state(hidden)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-target-hidden.png")
    assert not _is(pixels, projection, -0.31, 0.45, TARGET)
    assert _count(pixels, TARGET) == 0 and _count(pixels, TARGET_RING["L"]) == 0  # neither fill nor rim
    assert _count(pixels, FOOT["L"]) == 0 and app.floor.shown_target is None
    right = _blob(pixels, FOOT["R"])  # the other foot is still there
    assert _offset(right, projection.to_pixel(0.14, -0.25)) < 1.5
    assert app.hud_shown.title == "Stepping: step with the LEFT foot"  # the patient still knows which foot


def test_offscreen_mirror_draws_the_mirrored_feet_never_the_real_ones(app: Any, tmp_path: Path) -> None:
    app.use(FixedSource(parse_state(MIRROR_STATE)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-mirror.png")
    projection = app.projection
    left = _blob(pixels, FOOT["L"])
    assert _offset(left, projection.to_pixel(-0.2, 0.3)) < 1.5  # the avatar the server mirrored
    assert left[2] == pytest.approx(_polygon_area(foot_outline("L")) * projection.px_per_m**2, rel=0.15)  # one foot
    assert not _is(pixels, projection, -0.15, -0.3, FOOT["L"])  # real_feet: the therapist's only
    assert _offset(_blob(pixels, FOOT["R"]), projection.to_pixel(0.2, 0.3)) < 1.5
    assert app.hud_shown.note == "mirror"


def test_offscreen_treadmill_draws_every_target_and_moves_them(app: Any, tmp_path: Path) -> None:
    view = parse_state(TREADMILL_STATE)
    source = FixedSource(view)
    app.use(source)
    app.step(3)
    pixels = _save(app, tmp_path, "headset-treadmill.png")
    projection = app.projection
    assert projection == Projection.of(SIZE_PX, view_for("treadmill")) != Projection.of(SIZE_PX, view_for("stepping"))
    r_px = 0.08 * projection.px_per_m
    # the one due next: the target (yellow, left foot's rim); a coming one in its foot's tint;
    # a hit one faded to dim green
    due, coming, hit = _blob(pixels, TARGET), _blob(pixels, TARGET_RING["R"]), _blob(pixels, BELT_HIT)
    assert _offset(due, projection.to_pixel(-0.1, 0.65)) < 1.5, due
    assert _offset(coming, projection.to_pixel(0.1, 1.1)) < 1.5, coming
    assert _offset(hit, projection.to_pixel(0.1, 0.2)) < 1.5, hit
    assert math.sqrt(coming[2] / math.pi) == pytest.approx(r_px, abs=1.0)
    assert math.sqrt(hit[2] / math.pi) == pytest.approx(r_px, abs=1.0)
    for x, y, colour in ((-0.1, 0.65, TARGET), (0.1, 1.1, TARGET_RING["R"]), (0.1, 0.2, BELT_HIT)):
        assert _is(pixels, projection, x, y, colour)
    for side in ("L", "R"):
        assert _offset(_blob(pixels, FOOT[side]), projection.to_pixel(view.feet[side].x_m, view.feet[side].y_m)) < 1.5
    nodes = app.floor.belt_shown
    assert set(nodes) == {2, 3, 4}

    # the belt moves them 0.15 m toward the patient; #2 is now missed (an outline), #5 comes in
    moved = {**TREADMILL_STATE, "targets": [
        {**t, "y_m": t["y_m"] - 0.15, "state": "missed" if t["index"] == 2 else t["state"]}
        for t in TREADMILL_STATE["targets"]] + [
        {"index": 5, "foot": "L", "x_m": -0.1, "y_m": 1.4, "radius_m": 0.08, "state": "coming"}],
        "target": {**TREADMILL_STATE["target"], "y_m": 0.5}}
    source.show(parse_state(moved))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-treadmill-moved.png")
    assert _offset(_blob(pixels, TARGET), projection.to_pixel(-0.1, 0.5)) < 1.5
    assert _offset(_blob(pixels, TARGET_RING["R"]), projection.to_pixel(0.1, 0.95)) < 1.5
    assert _count(pixels, BELT_HIT) == 0
    missed = _blob(pixels, BELT_MISSED["R"])
    assert _offset(missed, projection.to_pixel(0.1, 0.05)) < 1.5 and missed[2] < 0.5 * math.pi * r_px**2  # a rim only
    new = projection.to_pixel(-0.1, 1.4)
    assert _is(pixels, projection, -0.1, 1.4, TARGET_RING["L"]), new
    assert app.floor.belt_shown[3] is nodes[3] and app.floor.belt_shown[2] is not nodes[2]  # moved; redrawn
    source.show(parse_state({**TREADMILL_STATE, "phase": "finished"}))
    app.step(2)
    assert app.floor.belt_shown == {}


def test_offscreen_cue_rings_the_foot_until_its_response(app: Any, tmp_path: Path) -> None:
    source = FixedSource(parse_state(STEPPING_STATE))
    app.use(source)
    app.step(3)
    projection = app.projection
    before = _save(app, tmp_path, "headset-cue-before.png")
    assert _count(before, CUE_RING) == 0 and app.floor.cued == frozenset()
    ring_col, ring_row = projection.to_pixel(-0.1 - 0.5 * sum(CUE_RING_M) * 1.07, 0.0)  # on the ring at any pulse
    assert not _pixel_is(before, ring_col, ring_row, CUE_RING)

    source.event(CUE)
    app.step(3)
    pixels = _save(app, tmp_path, "headset-cue.png")
    ring = _blob(pixels, CUE_RING)
    assert _offset(ring, projection.to_pixel(-0.1, 0.0)) < 1.5, ring  # round the left (affected) foot
    assert _pixel_is(pixels, ring_col, ring_row, CUE_RING)  # that pixel's colour changed
    assert app.floor.cued == {"L"} and app.cues.cues == 1
    assert app.cue_sound.played + app.cue_sound.skipped == 1 and app.cue_sound.skipped == 1  # offscreen: no audio
    assert _offset(_blob(pixels, FOOT["L"]), projection.to_pixel(-0.1, 0.0)) < 1.5  # the foot itself stays

    source.event(CUE_RESPONSE)
    app.step(3)
    cleared = _save(app, tmp_path, "headset-cue-answered.png")
    assert _count(cleared, CUE_RING) == 0 and app.floor.cued == frozenset() and app.cues.responses == 1

    source.event(CUE, at_s=time.monotonic() - CUE_HOLD_S - 0.1)  # unanswered for more than 5 s
    app.step(2)
    assert app.floor.cued == frozenset() and app.cues.cues == 2

    # a headset joining mid-cue: the snapshot's cueing.active alone rings the foot
    app.use(FixedSource(parse_state({**STEPPING_STATE, "cueing": {"side": "L", "active": True, "cues": 1}})))
    app.step(3)
    ring = _blob(_save(app, tmp_path, "headset-cue-snapshot.png"), CUE_RING)
    assert _offset(ring, projection.to_pixel(-0.1, 0.0)) < 1.5
    app.use(FixedSource())


def test_offscreen_assessment_shows_the_stage_instruction_and_its_target(app: Any, tmp_path: Path) -> None:
    app.use(FixedSource(parse_state(ASSESSMENT_STATE)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-assessment.png")
    assert app.hud.instruction.text == "Reach as far as you can, then come back\n3/16"
    assert app.hud.title.text == "Assessment: reach" and app.hud.score.text == "Stage 3 / 5"
    assert app.hud.countdown.text.endswith(" s") and 6.0 < float(app.hud.countdown.text[:-2]) <= 7.25
    projection = app.projection
    assert projection == Projection.of(SIZE_PX, view_for("reaching"))  # the reach stage, seen as reaching
    target = _blob(pixels, TARGET)
    assert _offset(target, projection.to_pixel(0.06, 0.7)) < 1.5
    for side in ("L", "R"):
        x = -0.06 if side == "L" else 0.06
        assert _offset(_blob(pixels, FOOT[side]), projection.to_pixel(x, 0.0)) < 1.5
    # the next stage: quiet standing, no target, the instruction changes; the stepping view
    quiet = {**ASSESSMENT_STATE, "target": None, "time_left_s": 30.0,
             "stage": {"name": "quiet_eyes_closed", "index": 1, "count": 5,
                       "instruction": "Close your eyes and stand still", "time_left_s": 30.0, "progress": None}}
    app.use(FixedSource(parse_state(quiet)))
    app.step(2)
    assert app.hud.instruction.text == "Close your eyes and stand still" and app.floor.shown_target is None
    assert app.projection == Projection.of(SIZE_PX, view_for("assessment", "quiet_eyes_closed"))
    app.use(FixedSource())


def test_offscreen_eyes_closed_stand_blanks_the_view(app: Any, tmp_path: Path) -> None:
    """Nothing of the floor while an eyes-closed stand is timed: no grid, feet or cursor, a black
    screen with one line of text; the floor is back once the stand is paused."""
    app.use(FixedSource(parse_state(QUIET_EC_STATE)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-eyes-closed.png")
    assert app.hud.instruction.text == EYES_CLOSED
    assert (app.hud.title.text, app.hud.score.text, app.hud.feedback.text, app.hud.countdown.text) == ("", "", "", "")
    black = np.all(pixels == np.array([round(c * 255) for c in BLANK[:3]]), axis=2)
    rows = np.nonzero(~black)[0]
    assert black.mean() > 0.95  # all black but the instruction's line, near the top
    assert rows.size and rows.max() < SIZE_PX[1] * 0.35
    for colour in (FOOT["L"], FOOT["R"], CURSOR):  # (the floor's background: the 95 % black above)
        want = np.array([round(c * 255) for c in colour[:3]])
        assert not np.all(np.abs(pixels.astype(int) - want) <= 6, axis=2).any(), colour

    app.use(FixedSource(parse_state({**QUIET_EC_STATE, "phase": "paused", "paused_by": ["therapist"]})))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-eyes-closed-paused.png")
    assert _blob(pixels, FOOT["L"])[2] > 50 and _blob(pixels, BACKGROUND, tolerance=2)[2] > 0.3 * pixels[..., 0].size
    app.use(FixedSource())


def _polygon_area(points: list[tuple[float, float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=False))) / 2


# -- against the real server ----------------------------------------------------------------------


@pytest.mark.db
async def test_live_game_reconnect_and_resync(running: Any, app: Any, tmp_path: Path) -> None:
    from clients.link import Link
    from clients.sim_player import play

    received: list[Received] = []
    link = HeadsetLink(running.url, "station-1", running.creds.headset_token, on_state=received.append)
    app.use(link.start())
    frames: list[tuple[Any, Any, bool]] = []

    async def pump() -> None:  # the render loop, in the test's loop: a few ms per frame
        while True:
            app.step()
            frames.append((app.hud_shown, app.floor.shown_target, link.status().connected))
            await asyncio.sleep(0.01)

    async def until(check: Any, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.01)

    renderer = asyncio.create_task(pump())
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    try:
        await until(lambda: received and app.received is not None)
        assert received[0].view.phase == "idle" and received[0].connection == 1
        await until(lambda: "Waiting for the therapist" in app.hud_shown.banner_text())

        patient = await therapist.call({"type": "create_patient", "code": "HEADSET-1", "affected_side": "L",
                                        "leg_length_m": 0.9, "step_reach_m": 0.5})
        started = await therapist.call({
            "type": "start_game", "station": "station-1", "patient_id": patient["patient"]["id"],
            "game": "stepping", "settings": {"trials": 5, "dwell_s": 0.2, "inter_trial_s": 0.2,
                                             "directions": ["anterior"], "seed": 1},
            "difficulty": {"bounds": {"step_distance_frac": {"value": 0.5}, "target_radius_m": {"value": 0.1},
                                      "time_window_s": {"value": 6.0}}}})
        report = await play(running.url, "station-1", running.tokens, "stepping", "grid",
                            trials=2, timeout_s=30)
        assert report.outcomes == ["hit", "hit"] and report.errors == []

        # what came over the wire: targets, the outcomes, feet moving (the player's own headset
        # link may see the last outcome a moment before this client's thread does)
        def outcomes() -> set[tuple[int, str]]:
            return {(r.view.last.trial, r.view.last.outcome) for r in list(received)
                    if r.view.session_id == started["session_id"] and r.view.last}

        await until(lambda: outcomes() >= {(0, "hit"), (1, "hit")})
        game_states = [r.view for r in received if r.view.session_id == started["session_id"]]
        targets = {(v.target.x_m, v.target.y_m, v.target.radius_m) for v in game_states if v.target}
        assert targets and all(r == 0.1 for _, _, r in targets)
        assert len({v.foot_seq.get("R") for v in game_states}) > 10
        # what was drawn: the targets and the feedback, with no frame waiting on the network
        drawn = {(t.x_m, t.y_m, t.radius_m) for _, t, _ in frames if t is not None}
        assert drawn and drawn <= targets
        assert any(h.feedback and h.feedback.text.startswith("Trial 1: HIT") for h, _, _ in frames)

        # the player's tracker is gone: the server pauses (device_lost) and the headset warns
        await until(lambda: "TRACKING LOST" in app.hud_shown.banner_text())
        assert "PAUSED \u2014 by device lost" in app.hud_shown.banner_text()
        _save(app, tmp_path, "headset-live-tracking-lost.png")
        before = received[-1].view

        # drop the connection under the client (no close handshake, as a network failure would)
        station = running.server.stations["station-1"]
        assert link.local_address is not None
        [ours] = [c for c in station.headsets if c.ws.remote_address[:2] == link.local_address[:2]]
        ours.ws.transport.abort()
        await until(lambda: link.status().connections == 2 and received[-1].connection == 2)
        assert any(not up and h.banners[0].text == "connecting\u2026" for h, _, up in frames)
        resync = received[-1].view  # pushed by the server on connect, no new event needed
        server_view = parse_state(station.state_message())
        for key in ("session_id", "phase", "paused_by", "trial", "hits", "target", "feet", "last"):
            assert getattr(resync, key) == getattr(server_view, key) == getattr(before, key), key
        await until(lambda: "TRACKING LOST" in app.hud_shown.banner_text())

        await therapist.call({"type": "stop_game", "station": "station-1"})
        await until(lambda: received[-1].view.phase == "idle")
        await until(lambda: app.floor.shown_target is None and "Waiting" in app.hud_shown.banner_text())
    finally:
        renderer.cancel()
        await asyncio.to_thread(link.stop)  # its close handshake needs this loop (the server) running
        await therapist.close()
        app.use(FixedSource())


@pytest.mark.db
async def test_wrong_token_is_shown_and_retried_slowly(running: Any) -> None:
    link = HeadsetLink(running.url, "station-1", "not-the-token", refused_retry_s=0.3).start()
    try:
        deadline = time.monotonic() + 10
        while link.status().attempts < 2 or link.status().error is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        status = link.status()
        assert status.refused and not status.connected and status.connections == 0
        assert status.error == "auth_failed: unknown station or wrong token for the headset role"
        assert link.latest() == (0, None)
    finally:
        await asyncio.to_thread(link.stop)


@pytest.mark.db
async def test_command_line_screenshot_and_refusal(running: Any, tmp_path: Path) -> None:
    """``python -m clients.headset --offscreen --screenshot``: 0 with an image of the first state;
    2 and a clear message when the token is wrong. Both at once, while this loop serves them."""
    async def run(token: str, png: Path) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "clients.headset", "--url", running.url, "--token", token, "--offscreen",
            "--screenshot", str(png), "--size", "200x150", "--wait-s", "10",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 30)
        return process.returncode or 0, (out + err).decode()

    good, bad = await asyncio.gather(run(running.creds.headset_token, tmp_path / "cli.png"),
                                     run("wrong", tmp_path / "refused.png"))
    assert good[0] == 0, good[1]
    from panda3d.core import Filename, PNMImage

    image = PNMImage()
    assert image.read(Filename.from_os_specific(str(tmp_path / "cli.png")))
    assert (image.get_x_size(), image.get_y_size()) == (200, 150)
    assert bad[0] == 2 and "refused station 'station-1': auth_failed" in bad[1], bad[1]
    assert not (tmp_path / "refused.png").exists()


@pytest.mark.db
async def test_windowed_client_renders_with_opengl_on_a_virtual_display(running: Any, tmp_path: Path) -> None:
    """The desktop path: a real window with OpenGL (Mesa's GLX under Xvfb), not the software
    offscreen buffer. Skipped where Xvfb is missing, except in CI, which installs it."""
    if shutil.which("xvfb-run") is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Xvfb (xvfb-run) for the windowed headset test; .ci/run installs it")
        pytest.skip("xvfb-run not installed")
    png = tmp_path / "windowed.png"
    process = await asyncio.create_subprocess_exec(
        "xvfb-run", "-a", "-s", "-screen 0 800x600x24", sys.executable, "-m", "clients.headset",
        "--url", running.url, "--token", running.creds.headset_token, "--screenshot", str(png),
        "--size", "320x240", "--wait-s", "10",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    log = (out + err).decode()
    assert process.returncode == 0, log
    assert "glxGraphicsPipe" in log or "GLX" in log, log  # a real GL window, not tinydisplay
    from panda3d.core import Filename, PNMImage

    image = PNMImage()
    assert image.read(Filename.from_os_specific(str(png)))
    assert (image.get_x_size(), image.get_y_size()) == (320, 240)
    pixels = {tuple(round(c, 2) for c in image.get_xel(x, y)) for x in range(0, 320, 8) for y in range(0, 240, 8)}
    assert len(pixels) > 2  # the floor grid and the waiting banner, not a blank window


def test_limits_of_stability_are_drawn_around_the_games_centre() -> None:
    """A patient's own quiet-standing centre (weight-shift ``centre_x_m``/``centre_y_m``) moves the
    outline with it: its extremes are the limits measured from that centre."""
    view = parse_state({"type": "state", "v": 1, "station": "s", "game": "weight_shift", "phase": "home",
                        "los": {"forward_m": 0.12, "backward_m": 0.06, "side_m": 0.14, "x_m": 0.05, "y_m": 0.01}})
    assert view.los is not None
    xs, ys = zip(*view.los.outline(), strict=True)
    assert (min(xs), max(xs)) == pytest.approx((0.05 - 0.14, 0.05 + 0.14))
    assert (min(ys), max(ys)) == pytest.approx((0.01 - 0.06, 0.01 + 0.12))


# -- the first-person view ------------------------------------------------------------------------


def test_the_eye_projection_is_panda3ds_lens() -> None:
    """``EyeProjection.to_pixel`` (what the tests and docs use) lands where Panda3D's perspective
    lens, aimed by ``aim_eye``, projects the same point."""
    from panda3d.core import Camera, NodePath, PerspectiveLens, Point2, Point3

    for size, eye in (((400, 400), eye_for("stepping")), ((640, 360), eye_for("treadmill", height_m=1.2)),
                      ((300, 500), Eye(1.75, -80.0, 40.0))):
        projection = EyeProjection.of(size, eye)
        lens = PerspectiveLens()
        world = NodePath("world")
        camera = world.attach_new_node(Camera("eye", lens))
        aim_eye(camera, lens, projection)
        for point in ((0.0, 0.0, 0.0), (-0.31, 0.45, 0.0), (0.1, 1.1, 0.0), (0.2, -0.1, 0.06), (-0.5, 2.0, 0.3)):
            film = Point2()
            seen = lens.project(camera.get_relative_point(world, Point3(*point)), film)
            mine = projection.to_pixel(*point)
            if not seen:
                continue  # outside the image: nothing to compare
            assert mine is not None
            panda = ((film.x + 1) / 2 * size[0], (1 - film.y) / 2 * size[1])
            assert math.dist(mine, panda) < 1e-3, (size, eye, point, mine, panda)
        assert projection.to_pixel(0.0, 0.0, eye.height_m + 0.5) is None  # above the eye, looking down
    # the feet (the origin) are on screen in every game's view, near the bottom
    for game in ("stepping", "reaching", "weight_shift", "treadmill", None):
        col, row = EyeProjection.of((400, 400), eye_for(game)).to_pixel(0.0, 0.0) or (-1.0, -1.0)
        assert col == 200.0 and 200 < row < 400, game


@pytest.fixture
def first_person(app: Any) -> Iterator[Any]:
    """The module's app, seen from the patient's eyes for one test (then top-down again)."""
    app.look(True, EYE_HEIGHT_M)
    try:
        yield app
    finally:
        app.look(False, EYE_HEIGHT_M)


def _eye_pixel(app: Any, x_m: float, y_m: float, z_m: float = 0.0) -> tuple[float, float]:
    pixel = app.projection.to_pixel(x_m, y_m, z_m)
    assert pixel is not None
    return pixel


def test_first_person_draws_the_target_and_feet_where_the_state_says(first_person: Any, tmp_path: Path) -> None:
    app = first_person
    view = parse_state(STEPPING_STATE)
    app.use(FixedSource(view))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-stepping.png")
    assert app.projection == EyeProjection.of(SIZE_PX, eye_for("stepping"))
    assert app.camera.get_pos() == (0.0, 0.0, EYE_HEIGHT_M)  # standing eye height, above the origin

    target = _blob(pixels, TARGET)
    assert _offset(target, _eye_pixel(app, -0.31, 0.45)) < 1.5, target
    rim = _blob(pixels, TARGET_RING["L"])
    assert _offset(rim, _eye_pixel(app, -0.31, 0.45)) < 1.5
    for side in ("L", "R"):  # the avatar's top, in the foot's colour, at its height above the floor
        foot = view.feet[side]
        blob = _blob(pixels, FOOT[side])
        assert _offset(blob, _eye_pixel(app, foot.x_m, foot.y_m, FOOT_HEIGHT_M)) < 2.0, (side, blob)
        sides = _count(pixels, tuple(c * SIDE_SHADE for c in FOOT[side][:3]), tolerance=8)
        assert sides > 0  # a solid avatar: its sides show, shaded
    left, right = _blob(pixels, FOOT["L"]), _blob(pixels, FOOT["R"])
    assert left[0] < right[0] and right[1] > left[1]  # the right foot is further back: lower on screen
    assert target[1] < left[1]  # the target lies ahead: higher on screen

    # a lifted foot rises on screen as perspective says (no zoom), over its shadow on the floor
    lifted = {**STEPPING_STATE, "feet": {**STEPPING_STATE["feet"],
                                         "L": {"x_m": -0.25, "y_m": 0.3, "z_m": 0.12, "planted": False}}}
    app.use(FixedSource(parse_state(lifted)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-lifted.png")
    blob = _blob(pixels, FOOT["L"])
    assert _offset(blob, _eye_pixel(app, -0.25, 0.3, 0.12 + FOOT_HEIGHT_M)) < 2.0, blob
    assert app.floor.shadows["L"].get_pos() == (-0.25, 0.3, 0.0) and not app.floor.shadows["L"].is_hidden()


def test_first_person_treadmill_targets_come_toward_the_viewer(first_person: Any, tmp_path: Path) -> None:
    app = first_person
    source = FixedSource(parse_state(TREADMILL_STATE))
    app.use(source)
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-treadmill.png")
    assert app.projection == EyeProjection.of(SIZE_PX, eye_for("treadmill"))
    due, coming, hit = _blob(pixels, TARGET), _blob(pixels, TARGET_RING["R"]), _blob(pixels, BELT_HIT)
    assert _offset(due, _eye_pixel(app, -0.1, 0.65)) < 1.5, due
    assert _offset(coming, _eye_pixel(app, 0.1, 1.1)) < 1.5, coming
    assert _offset(hit, _eye_pixel(app, 0.1, 0.2)) < 1.5, hit
    assert coming[2] < hit[2]  # further away, smaller

    moved = {**TREADMILL_STATE, "targets": [{**t, "y_m": t["y_m"] - 0.5} for t in TREADMILL_STATE["targets"]
                                            if t["index"] != 2],
             "target": {**TREADMILL_STATE["target"], "y_m": 0.15}}
    source.show(parse_state(moved))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-treadmill-moved.png")
    nearer = _blob(pixels, TARGET_RING["R"])
    assert _offset(nearer, _eye_pixel(app, 0.1, 0.6)) < 1.5, nearer
    assert nearer[1] > coming[1] and nearer[2] > coming[2]  # lower on screen and larger: toward the viewer
    assert _offset(_blob(pixels, TARGET), _eye_pixel(app, -0.1, 0.15)) < 1.5


def test_first_person_weight_shift_cursor_on_the_floor_and_eye_height(first_person: Any, tmp_path: Path) -> None:
    app = first_person
    app.use(FixedSource(parse_state(WEIGHT_SHIFT_STATE)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-weight-shift.png")
    assert app.projection == EyeProjection.of(SIZE_PX, eye_for("weight_shift"))
    assert _offset(_blob(pixels, CURSOR), _eye_pixel(app, -0.05, -0.03)) < 1.5
    assert _offset(_blob(pixels, TARGET), _eye_pixel(app, 0.098, 0.0)) < 1.5  # over the right foot
    assert _count(pixels, LOS) > 0

    # a seated or shorter patient: the eye lower, the same floor point lower in the image and larger
    app.look(True, 1.2)
    app.use(FixedSource(parse_state(STEPPING_STATE)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-eye-1.2.png")
    assert app.camera.get_z() == pytest.approx(1.2) and app.projection.eye.height_m == 1.2
    low = _blob(pixels, TARGET)
    assert _offset(low, _eye_pixel(app, -0.31, 0.45)) < 1.5
    standing = EyeProjection.of(SIZE_PX, eye_for("stepping")).to_pixel(-0.31, 0.45)
    assert standing is not None and math.dist(low[:2], standing) > 10  # the height is honoured


def test_first_person_cue_ring_on_the_floor_and_mirror_feet(first_person: Any, tmp_path: Path) -> None:
    app = first_person
    source = FixedSource(parse_state(STEPPING_STATE))
    app.use(source)
    source.event(CUE)
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-cue.png")
    ring = _blob(pixels, CUE_RING)  # on the floor round the left foot, as the map draws it: its
    assert _offset(ring, _eye_pixel(app, -0.1, 0.0)) < 4.0, ring  # nearer half is larger in perspective
    radius_m = 0.5 * sum(CUE_RING_M) * 1.07  # on the ring at any pulse
    for angle in (0.0, 90.0, 180.0):  # beside the foot and ahead of it, where it hides nothing
        a = math.radians(angle)
        col, row = _eye_pixel(app, -0.1 + radius_m * math.cos(a), radius_m * math.sin(a))
        assert _pixel_is(pixels, col, row, CUE_RING), angle
    assert app.floor.cued == {"L"}

    app.use(FixedSource(parse_state(MIRROR_STATE)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-mirror.png")
    assert _offset(_blob(pixels, FOOT["L"]), _eye_pixel(app, -0.2, 0.3, FOOT_HEIGHT_M)) < 2.0  # the mirrored avatar
    real = _eye_pixel(app, -0.15, -0.3, FOOT_HEIGHT_M)  # real_feet: the therapist's only
    assert not _pixel_is(pixels, real[0], real[1], FOOT["L"])
    assert app.hud_shown.note == "mirror"


def test_first_person_hidden_things_and_the_eyes_closed_stand(first_person: Any, tmp_path: Path) -> None:
    app = first_person
    hidden = {**STEPPING_STATE, "target": {**STEPPING_STATE["target"], "hidden": True},
              "feet": {"L": {**STEPPING_STATE["feet"]["L"], "hidden": True}, "R": STEPPING_STATE["feet"]["R"]}}
    app.use(FixedSource(parse_state(hidden)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-hidden.png")
    assert _count(pixels, TARGET) == 0 and _count(pixels, FOOT["L"]) == 0
    assert _offset(_blob(pixels, FOOT["R"]), _eye_pixel(app, 0.14, -0.25, FOOT_HEIGHT_M)) < 2.0
    # an eyes-closed stand blanks the first-person view as it does the map: nothing to steady on
    app.use(FixedSource(parse_state(QUIET_EC_STATE)))
    app.step(3)
    pixels = _save(app, tmp_path, "headset-first-person-eyes-closed.png")
    black = np.all(pixels == np.array([round(c * 255) for c in BLANK[:3]]), axis=2)
    assert black.mean() > 0.95 and _count(pixels, FOOT["L"]) == 0 and _count(pixels, FOOT["R"]) == 0
    app.use(FixedSource())
