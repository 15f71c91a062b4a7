"""Clinical modes end to end over real sockets: mirror therapy, neglect cueing, treadmill belt,
assessment reports and plans, with what the database holds checked after each.

A scripted patient watches the state on a headset connection and moves its feet through a device
connection (plain ``foot`` events in the patient frame), the way a calibrated tracker would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from clients.link import Link, ServerError
from games.events import Side
from games.mirror import midline_x
from server.storage.models import DifficultyChangeRow, SessionMetric, Trial
from tests.conftest import RunningServer

pytestmark = pytest.mark.db

HOME = {"L": (-0.10, 0.0), "R": (0.10, 0.0)}
RATE_HZ = 60


class Patient:
    """Feet that a policy moves, sent at 60 Hz; the newest state from the headset drives it.

    ``policy(state, t_s)`` returns where each foot should be, ``{side: (x, y, z)}``; feet it
    leaves out stay where they were. A ``"cop"`` entry ``(x, y)`` is sent as a force plate's
    centre of pressure (after a ``cop`` mat setup).
    """

    def __init__(self, device: Link, headset: Link) -> None:
        self.device, self.headset = device, headset
        self.state: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.feet = {side: (*HOME[side], 0.0) for side in HOME}
        self.seq = 0
        self.finished = False  # the game reached its end (the station then goes idle)
        self.state_at = 0.0  # loop time the state arrived

    async def run(self, policy: Callable[[dict[str, Any], float], dict[str, tuple[float, float, float]]],
                  until: Callable[[], bool], timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        listener = asyncio.create_task(self._listen())
        try:
            while not until():
                assert loop.time() - start < timeout_s, f"timed out; last state {self.state}"
                wanted = policy(self.state, loop.time() - start)
                cop = wanted.pop("cop", None)
                self.feet.update(wanted)
                if cop is not None:
                    self.seq += 1
                    await self.device.send({"type": "cop", "t_s": loop.time(), "seq": self.seq,
                                            "cop": list(cop), "force_n": 700.0})
                for side, (x, y, z) in self.feet.items():
                    self.seq += 1
                    await self.device.send({"type": "foot", "side": side, "pos_m": [x, y, z],
                                            "t_s": loop.time(), "seq": self.seq})
                await asyncio.sleep(1 / RATE_HZ)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        while True:
            message = await self.headset.recv()
            if message["type"] == "state":
                if message["phase"] == "finished":
                    self.finished = True
                if message["phase"] != "idle":
                    self.state = message
                    self.state_at = asyncio.get_running_loop().time()
            elif message["type"] == "game_event":
                self.events.append(message["event"])


async def connect(running: RunningServer) -> tuple[Link, Link, Link]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
    return therapist, device, headset


async def new_patient(therapist: Link, code: str, side: str = "L") -> int:
    reply = await therapist.call({"type": "create_patient", "code": code, "affected_side": side,
                                  "leg_length_m": 0.9, "step_reach_m": 0.5})
    return reply["patient"]["id"]


async def stopped(therapist: Link) -> dict[str, Any]:
    """Wait for the session's end: by then every trial and metric is stored."""
    while (message := await therapist.recv(30))["type"] != "game_stopped":
        pass
    return message


def stepping_to(target: dict[str, Any], foot: str, elapsed_s: float) -> tuple[float, float, float]:
    """A step that lifts, travels and lands on ``target`` over 0.3 s."""
    hx, hy = HOME[foot]
    u = min(1.0, elapsed_s / 0.3)
    return hx + (target["x_m"] - hx) * u, hy + (target["y_m"] - hy) * u, 0.0 if u >= 1.0 else 0.05


FIXED = {"step_distance_frac": {"value": 0.5}, "target_radius_m": {"value": 0.08},
         "time_window_s": {"value": 2.0}}


async def test_mirror_session_plays_the_affected_foot_from_the_sound_foot_and_stores_mirror_trials(
    running: RunningServer,
) -> None:
    therapist, device, headset = await connect(running)
    patient_id = await new_patient(therapist, "MIRROR-1")
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "stepping",
        "settings": {"mirror": True, "affected_side_share": 1.0, "trials": 2, "inter_trial_s": 0.3,
                     "dwell_s": 0.2, "directions": ["anterior", "lateral"], "seed": 5},
        "difficulty": {"bounds": FIXED}})
    assert started["settings"]["mirror"] is True
    patient = Patient(device, headset)
    midline = midline_x({side: HOME[side.value] for side in Side})
    seen_target: dict[str, Any] = {}

    def policy(state: dict[str, Any], t: float) -> dict[str, tuple[float, float, float]]:
        target = state.get("target")
        if state.get("phase") not in ("target", "dwell") or target is None:
            seen_target.clear()
            return {"R": (*HOME["R"], 0.0)}  # the affected (left) foot never moves
        assert target["foot"] == "L"
        seen_target.setdefault("at", t)
        image = {"x_m": 2 * midline - target["x_m"], "y_m": target["y_m"]}
        return {"R": stepping_to(image, "R", t - seen_target["at"])}

    await patient.run(policy, lambda: patient.finished, timeout_s=30)
    assert patient.state["mirror"] == {"source": "R", "shown": "L"}
    assert patient.state["real_feet"]["L"]["x_m"] == pytest.approx(HOME["L"][0])
    await stopped(therapist)
    with running.store.store.engine.connect() as db:
        trials = db.execute(select(Trial).where(Trial.session_id == started["session_id"])).all()
    assert [(t.outcome, t.foot, t.mode) for t in trials] == [("hit", "L", "mirror")] * 2
    [listed] = (await therapist.call({"type": "list_sessions", "patient_id": patient_id}))["sessions"]
    assert listed["mode"] == "mirror" and listed["hits"] == 2
    for link in (therapist, device, headset):
        await link.close()


async def test_a_stepping_session_on_a_force_plate_stores_no_sway_and_names_its_task(running: RunningServer) -> None:
    """Stepping loads one foot, then the other: its centre of pressure moves on purpose, so the
    session (well over the 5 s a sway analysis needs, the plate reporting throughout) stores no
    sway; what it stores (range of motion) names its task, and the session is a live one."""
    import math

    therapist, device, headset = await connect(running)
    await device.call({"type": "mat_setup", "kind": "cop", "forward": "+y", "mode": "explicit",
                       "origin_m": [0.0, 0.0], "units": "m"})
    # the plate also gives the feet (a foot event before the start shows it: a plate that only gave a
    # centre of pressure could not play stepping)
    await device.send({"type": "foot", "side": "L", "pos_m": [*HOME["L"], 0.0], "t_s": 0.0, "seq": 0})
    patient_id = await new_patient(therapist, "STEP-COP")
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "stepping",
        "settings": {"affected_side_share": 1.0, "trials": 3, "inter_trial_s": 1.5, "dwell_s": 0.2,
                     "directions": ["anterior"], "seed": 3},
        "difficulty": {"bounds": FIXED}})
    assert started["source"] == "live"
    patient = Patient(device, headset)
    seen: dict[str, float] = {}

    def policy(state: dict[str, Any], t: float) -> dict[str, Any]:
        cop = (0.01 * math.sin(1.7 * t), 0.02 * math.cos(0.9 * t))
        target = state.get("target")
        if state.get("phase") not in ("target", "dwell") or target is None:
            seen.clear()
            return {"cop": cop, "L": (*HOME["L"], 0.0)}
        seen.setdefault("at", t)
        return {"cop": cop, "L": stepping_to(target, "L", t - seen["at"])}

    loop = asyncio.get_running_loop()
    began = loop.time()
    await patient.run(policy, lambda: patient.finished, timeout_s=30)
    assert loop.time() - began > 6.0  # more centre of pressure than a sway analysis needs
    await stopped(therapist)
    with running.store.store.engine.connect() as db:
        stored = db.execute(select(SessionMetric.family, SessionMetric.task)
                            .where(SessionMetric.session_id == started["session_id"])).all()
    assert stored and {(family, task) for family, task in stored} == {("rom", "stepping")}
    progress = await therapist.call({"type": "progress", "patient_id": patient_id})
    assert progress["metrics"] and {(m["task"], m["source"]) for m in progress["metrics"]} == {("stepping", "live")}
    [listed] = (await therapist.call({"type": "list_sessions", "patient_id": patient_id}))["sessions"]
    assert listed["source"] == "live"
    for link in (therapist, device, headset):
        await link.close()


async def test_neglected_left_foot_is_cued_and_its_target_share_rises_to_the_ceiling(
    running: RunningServer,
) -> None:
    therapist, device, headset = await connect(running)
    patient_id = await new_patient(therapist, "NEGLECT-1")
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "stepping",
        "settings": {"neglect_cueing": True, "affected_side_share": 0.5, "affected_side_share_max": 0.7,
                     "cue_share_step": 0.1, "cue_idle_s": 1.0, "cue_after_misses": 2, "trials": 0,
                     "inter_trial_s": 0.2, "dwell_s": 0.1, "directions": ["anterior"], "seed": 2},
        "difficulty": {"bounds": FIXED}})
    session_id = started["session_id"]
    patient = Patient(device, headset)
    shown: dict[str, float] = {}

    def policy(state: dict[str, Any], t: float) -> dict[str, tuple[float, float, float]]:
        target = state.get("target")
        if state.get("phase") not in ("target", "dwell") or target is None:
            shown.clear()
            return {"R": (*HOME["R"], 0.0)}
        if target["foot"] == "R":  # the sound foot answers; the neglected left never moves
            shown.setdefault("at", t)
            return {"R": stepping_to(target, "R", t - shown["at"])}
        return {}

    cues = lambda: [e for e in patient.events if e["kind"] == "cue"]  # noqa: E731
    await patient.run(policy, lambda: len(cues()) >= 3, timeout_s=60)
    shares = [e["affected_side_share"] for e in cues()]
    assert shares[:2] == pytest.approx([0.6, 0.7])
    assert all(s <= 0.7 + 1e-9 for s in shares)  # never above the therapist's ceiling
    assert {e["reason"] for e in cues()} <= {"idle", "missed"} and all(e["side"] == "L" for e in cues())
    # The therapist hears the same cues, and each raised share as a new configuration revision.
    heard: list[dict[str, Any]] = []
    configs: list[dict[str, Any]] = []
    with contextlib.suppress(asyncio.TimeoutError):
        while len(heard) < 3:
            message = await therapist.recv(5)
            if message["type"] == "game_event" and message["event"]["kind"] == "cue":
                heard.append(message["event"])
            elif message["type"] == "config":
                configs.append(message)
    assert heard == cues()[:3]
    assert [c["revision"] for c in configs[:2]] == [started["config"]["revision"] + 1,
                                                    started["config"]["revision"] + 2]
    assert [c["settings"]["affected_side_share"] for c in configs[:2]] == pytest.approx([0.6, 0.7])
    assert all(c["changed_by"].startswith("neglect cue") for c in configs)
    await therapist.call({"type": "stop_game", "station": "station-1"})
    with running.store.store.engine.connect() as db:
        changes = db.execute(select(DifficultyChangeRow).where(
            DifficultyChangeRow.session_id == session_id,
            DifficultyChangeRow.parameter == "setting:affected_side_share")).all()
        metrics = dict(db.execute(select(SessionMetric.metric, SessionMetric.value).where(
            SessionMetric.session_id == session_id, SessionMetric.family == "neglect")).all())
        modes = set(db.execute(select(Trial.mode).where(Trial.session_id == session_id)).scalars())
    assert [(c.old_value, c.new_value) for c in changes][:2] == [(0.5, pytest.approx(0.6)), (pytest.approx(0.6),
                                                                                          pytest.approx(0.7))]
    assert all(c.reason.startswith("neglect cue") for c in changes)
    assert metrics["cue_count"] >= 3
    assert modes == {"neglect_cueing"}
    for link in (therapist, device, headset):
        await link.close()


async def test_assessment_report_plan_suggestion_and_saved_plan(running: RunningServer) -> None:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient_id = await new_patient(therapist, "ASSESS-1")
    empty = await therapist.call({"type": "assessment_report", "patient_id": patient_id})
    assert empty["rows"] == [] and empty["baseline_session_id"] is None
    baseline = running.seed_assessment(patient_id, {
        ("sway_velocity_eo_m_s", "", ""): 0.020, ("reach_pct_ll", "L", "anterior"): 40.0,
        ("reach_pct_ll", "R", "anterior"): 70.0, ("step_length_m", "L", ""): 0.30,
        ("step_length_m", "R", ""): 0.45})
    later = running.seed_assessment(patient_id, {
        ("sway_velocity_eo_m_s", "", ""): 0.019, ("reach_pct_ll", "L", "anterior"): 55.0,
        ("reach_pct_ll", "R", "anterior"): 70.0, ("step_length_m", "L", ""): 0.30,
        ("step_length_m", "R", ""): 0.45})
    report = await therapist.call({"type": "assessment_report", "patient_id": patient_id})
    assert (report["baseline_session_id"], report["session_id"]) == (baseline, later)
    rows = {(r["metric"], r["side"], r["direction"]): r for r in report["rows"]}
    reach = rows[("reach_pct_ll", "L", "anterior")]
    assert (reach["baseline"], reach["value"], reach["change"]) == (40.0, 55.0, 15.0)
    assert reach["verdict"] == "improved" and reach["smallest_change"] > 0
    assert rows[("reach_pct_ll", "R", "anterior")]["verdict"] == "no notable change"
    assert [h["session_id"] for h in report["history"]] == [baseline, later]
    with pytest.raises(ServerError, match="not an assessment"):
        await therapist.call({"type": "assessment_report", "patient_id": patient_id, "session_id": 999})

    suggestion = await therapist.call({"type": "suggest_plan", "patient_id": patient_id})
    assert suggestion["from_session_id"] == later and suggestion["basis"]
    plan = suggestion["plan"]
    assert {"stepping", "reaching", "weight_shift"} <= set(plan)
    # The therapist edits one value and accepts the plan.
    plan["stepping"]["settings"]["affected_side_share"] = 0.8
    saved = await therapist.call({"type": "save_plan", "patient_id": patient_id, "plan": plan,
                                  "source_session_id": later, "note": "edited share"})
    current = await therapist.call({"type": "get_plan", "patient_id": patient_id})
    assert current["plan"] == saved["plan"]
    assert current["plan"]["games"]["stepping"]["settings"]["affected_side_share"] == 0.8
    assert current["plan"]["source_session_id"] == later
    # Every entry is a valid start_game: the stored plan starts a game as it stands.
    started = await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                                    "game": "stepping", **current["plan"]["games"]["stepping"]})
    assert started["settings"]["affected_side_share"] == 0.8
    await therapist.call({"type": "stop_game", "station": "station-1"})

    # Bad plans are refused with a clear message and nothing is stored.
    for bad, code, words in [
        ({"stepping": {"settings": {"affected_side_share": 1.5}}}, "bad_field", "affected_side_share"),
        ({"jumping": {}}, "unknown_field", "jumping"),
        ({}, "bad_field", "at least one game"),
        ({"stepping": {"settings": {"neglect_cueing": True, "affected_side_share": 0.95,
                                    "affected_side_share_max": 0.9}}}, "bad_field", "affected_side_share_max"),
        ({"stepping": {"settings": {"neglect_cueing": True, "mirror": True}}}, "bad_field", "cannot be combined"),
    ]:
        reply = await therapist.request({"type": "save_plan", "patient_id": patient_id, "plan": bad})
        assert reply["type"] == "error" and reply["code"] == code and words in reply["message"], reply
    assert (await therapist.call({"type": "get_plan", "patient_id": patient_id}))["plan"] == current["plan"]

    # Another clinic's therapist cannot read any of it.
    other = running.store.store.ensure_clinic("Other clinic")
    other_therapist = running.store.store.create_therapist(other, "other", "scrypt$invalid", "Other")
    foreign = running.store.store.create_patient(other, other_therapist, "FOREIGN-1", "R", 0.9, None, "")
    for command in ("assessment_report", "suggest_plan", "get_plan"):
        reply = await therapist.request({"type": command, "patient_id": foreign.id})
        assert reply["code"] == "not_found"
    await therapist.close()


async def test_assessment_through_the_server_stores_a_baseline_that_reports_and_plans(
    running: RunningServer,
) -> None:
    """Quiet standing eyes open then closed on a force plate (more sway with eyes closed), then
    stepping in place with a higher unaffected foot: stored as the patient's baseline."""
    import math

    therapist, device, headset = await connect(running)
    await device.call({"type": "mat_setup", "kind": "cop", "forward": "+y", "mode": "explicit",
                       "origin_m": [0.0, 0.0], "units": "m"})
    # the device gives foot positions too (the walk needs them): it shows that before the start,
    # or start_game would refuse the walk to a centre-of-pressure-only plate
    await device.send({"type": "foot", "side": "L", "pos_m": [*HOME["L"], 0.0], "t_s": 0.0, "seq": 0})
    await device.call({"type": "ping"})
    patient_id = await new_patient(therapist, "ASSESS-LIVE")
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "assessment",
        "settings": {"stages": ["quiet_eyes_open", "quiet_eyes_closed", "walk"], "quiet_s": 10,
                     "walk_steps": 6, "ready_s": 0.5}})
    patient = Patient(device, headset)
    walk_start: dict[str, float] = {}
    lift = {"L": 0.03, "R": 0.07}  # the affected left foot lifts less

    def policy(state: dict[str, Any], t: float) -> dict[str, Any]:
        stage = (state.get("stage") or {}).get("name")
        amplitude = 0.004 if stage == "quiet_eyes_open" else 0.010
        cop = (amplitude * math.sin(2.1 * t), amplitude * math.cos(1.3 * t))
        feet: dict[str, Any] = {"cop": cop}
        if stage == "walk":  # stand ready for 1 s, then step in place: each foot up 0.3 s of every 1.2 s
            since = t - walk_start.setdefault("at", t) - 1.0
            phase = since % 1.2 if since >= 0 else 1.0
            for side, begins in (("L", 0.0), ("R", 0.6)):
                up = begins <= phase < begins + 0.3
                feet[side] = (*HOME[side], lift[side] if up else 0.0)
        return feet

    await patient.run(policy, lambda: patient.finished, timeout_s=90)
    stages = [e["stage"] for e in patient.events if e["kind"] == "stage"]
    assert stages == ["quiet_eyes_open", "quiet_eyes_closed", "walk"]
    await stopped(therapist)

    report = await therapist.call({"type": "assessment_report", "patient_id": patient_id})
    assert report["baseline_session_id"] == report["session_id"] == started["session_id"]
    values = {(r["metric"], r["side"]): r["value"] for r in report["rows"]}
    assert values[("sway_velocity_ec_m_s", "")] > 2 * values[("sway_velocity_eo_m_s", "")]
    assert values[("romberg_ratio", "")] > 2
    assert values[("foot_lift_m", "L")] < values[("foot_lift_m", "R")]
    assert values[("symmetry_foot_lift", "")] == pytest.approx(0.03 / 0.07, abs=0.1)
    assert all(r["verdict"] == "no notable change" for r in report["rows"])  # the baseline itself
    tasks = {r["metric"]: r["task"] for r in report["rows"]}
    assert tasks["sway_velocity_eo_m_s"] == tasks["sway_area_eo_m2"] == "assessment:quiet_eyes_open"
    assert tasks["sway_velocity_ec_m_s"] == tasks["sway_area_ec_m2"] == "assessment:quiet_eyes_closed"
    assert tasks["romberg_ratio"] == "assessment:quiet_eyes_open+quiet_eyes_closed"
    assert tasks["foot_lift_m"] == tasks["symmetry_foot_lift"] == "assessment:walk"
    assert report["history"][0]["source"] == "live"
    progress = (await therapist.call({"type": "progress", "patient_id": patient_id}))["metrics"]
    assert "balance" not in {m["family"] for m in progress}  # sway only per quiet stand, never the session's
    assert {m["task"] for m in progress if m["family"] == "assessment"} == {
        "assessment:quiet_eyes_open", "assessment:quiet_eyes_closed",
        "assessment:quiet_eyes_open+quiet_eyes_closed", "assessment:walk"}
    suggestion = await therapist.call({"type": "suggest_plan", "patient_id": patient_id})
    assert suggestion["from_session_id"] == started["session_id"]
    for link in (therapist, device, headset):
        await link.close()


async def test_treadmill_targets_follow_the_belt_device_and_a_walker_hits_them(running: RunningServer) -> None:
    """A treadmill reports its belt speed; targets scroll at it; a simulated walker steps onto them
    through the live server, and the session's step lengths are stored."""
    from clients.sim_treadmill_walker import TreadmillWalker, WalkerAbility

    therapist, device, headset = await connect(running)
    patient_id = await new_patient(therapist, "TREAD-1")
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "treadmill",
        "settings": {"belt_speed_m_s": 0.4, "trials": 8},
        "difficulty": {"bounds": {"step_length_m": {"value": 0.35}, "target_radius_m": {"value": 0.12}}}})
    session_id = started["session_id"]
    await device.send({"type": "belt", "speed_m_s": 0.6})
    bad = await device.request({"type": "belt", "speed_m_s": 7.0})
    assert bad["code"] == "bad_field" and "speed_m_s" in bad["message"]
    walker = TreadmillWalker(WalkerAbility(max_step_length_m=0.6, placement_sd_m=0.01), seed=4)
    patient = Patient(device, headset)
    loop = asyncio.get_running_loop()

    def policy(state: dict[str, Any], t: float) -> dict[str, Any]:
        if not state:
            return {}
        game_now = state["t_s"] + (loop.time() - patient.state_at)
        return {e.side.value: (e.x_m, e.y_m, e.z_m) for e in walker.step(game_now, state)}

    await patient.run(policy, lambda: patient.finished, timeout_s=60)
    await stopped(therapist)
    assert patient.state["belt_speed_m_s"] == 0.6
    with running.store.store.engine.connect() as db:
        trials = db.execute(select(Trial.outcome, Trial.measures).where(Trial.session_id == session_id)).all()
        changes = db.execute(select(DifficultyChangeRow.parameter, DifficultyChangeRow.old_value,
                                    DifficultyChangeRow.new_value, DifficultyChangeRow.reason).where(
            DifficultyChangeRow.session_id == session_id,
            DifficultyChangeRow.parameter == "setting:belt_speed_m_s")).all()
        metrics = {(m.metric, m.side): m.value for m in db.execute(select(
            SessionMetric.metric, SessionMetric.side, SessionMetric.value).where(
            SessionMetric.session_id == session_id, SessionMetric.family == "treadmill"))}
    assert changes == [("setting:belt_speed_m_s", 0.4, 0.6, "treadmill belt")]
    assert len(trials) == 8 and all(m["belt_speed_m_s"] == 0.6 for _, m in trials)
    hits = [m for outcome, m in trials if outcome == "hit"]
    assert len(hits) >= 6, [outcome for outcome, _ in trials]
    # Steps land on targets spaced 0.35 m along the belt: the stored step lengths say so.
    assert metrics[("step_length_m", "L")] == pytest.approx(0.35, abs=0.05)
    assert metrics[("step_length_m", "R")] == pytest.approx(0.35, abs=0.05)
    for link in (therapist, device, headset):
        await link.close()


async def test_a_belt_already_running_sets_the_start_speed_until_the_treadmill_disconnects(
    running: RunningServer,
) -> None:
    """The treadmill reports its speed before the session starts: the targets must move with the
    real belt from the first one, and the record says the therapist's value gave way to it."""
    therapist, device, headset = await connect(running)
    patient_id = await new_patient(therapist, "TREAD-2")
    await device.send({"type": "belt", "speed_m_s": 0.5})
    await device.call({"type": "ping"})  # the belt message (no reply) has been handled
    start = {"type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "treadmill",
             "settings": {"belt_speed_m_s": 0.3, "trials": 4}}
    first = await therapist.call(start)
    play = running.server.stations["station-1"].play
    assert play is not None and play.game.snapshot()["belt_speed_m_s"] == 0.5
    await therapist.call({"type": "stop_game", "station": "station-1"})

    # The treadmill goes away: its last speed is no longer the belt's, the therapist's value holds.
    await device.close()
    await asyncio.sleep(0.2)
    second = await therapist.call(start)
    play = running.server.stations["station-1"].play
    assert play is not None and play.game.snapshot()["belt_speed_m_s"] == 0.3
    await therapist.call({"type": "stop_game", "station": "station-1"})
    with running.store.store.engine.connect() as db:
        changes = db.execute(select(DifficultyChangeRow.session_id, DifficultyChangeRow.old_value,
                                    DifficultyChangeRow.new_value, DifficultyChangeRow.reason).where(
            DifficultyChangeRow.session_id.in_([first["session_id"], second["session_id"]]),
            DifficultyChangeRow.parameter == "setting:belt_speed_m_s")).all()
    assert changes == [(first["session_id"], 0.3, 0.5, "treadmill belt")]
    for link in (therapist, headset):
        await link.close()
