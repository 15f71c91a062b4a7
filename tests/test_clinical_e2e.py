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
from scoring.metric import MetricValue
from scoring.storage.models import DifficultyChangeRow, SessionMetric, Trial
from tests.conftest import RunningServer

pytestmark = pytest.mark.db

HOME = {"L": (-0.10, 0.0), "R": (0.10, 0.0)}
RATE_HZ = 60


class Patient:
    """Feet that a policy moves, sent at 60 Hz; the newest state from the headset drives it.

    ``policy(state, t_s)`` returns where each foot should be, ``{side: (x, y, z)}``; feet it
    leaves out stay where they were.
    """

    def __init__(self, device: Link, headset: Link) -> None:
        self.device, self.headset = device, headset
        self.state: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.feet = {side: (*HOME[side], 0.0) for side in HOME}
        self.seq = 0
        self.finished = False  # the game reached its end (the station then goes idle)

    async def run(self, policy: Callable[[dict[str, Any], float], dict[str, tuple[float, float, float]]],
                  until: Callable[[], bool], timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        listener = asyncio.create_task(self._listen())
        try:
            while not until():
                assert loop.time() - start < timeout_s, f"timed out; last state {self.state}"
                self.feet.update(policy(self.state, loop.time() - start))
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
            elif message["type"] == "game_event":
                self.events.append(message["event"])


async def connect(running: RunningServer) -> tuple[Link, Link, Link]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    headset = await Link.station(running.url, "headset", "station-1", running.creds.station_token)
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
    # The therapist hears the same cues.
    heard = []
    with contextlib.suppress(asyncio.TimeoutError):
        while len(heard) < 3:
            message = await therapist.recv(5)
            if message["type"] == "game_event" and message["event"]["kind"] == "cue":
                heard.append(message["event"])
    assert heard == cues()[:3]
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


def _seed_assessment(running: RunningServer, patient_id: int, values: dict[tuple[str, str, str], float]) -> int:
    store = running.store.store
    station = store.find_station("station-1")
    therapist = store.find_therapist(running.creds.username)
    assert station is not None and therapist is not None
    session_id = store.start_session(patient_id, station.id, therapist.id, therapist.clinic_id, "assessment",
                                     {}, [])
    store.record_session_metrics(session_id, patient_id, "assessment", [
        MetricValue("assessment", metric, value, side, direction)
        for (metric, side, direction), value in values.items()])
    store.end_session(session_id, "completed")
    return session_id


async def test_assessment_report_plan_suggestion_and_saved_plan(running: RunningServer) -> None:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient_id = await new_patient(therapist, "ASSESS-1")
    empty = await therapist.call({"type": "assessment_report", "patient_id": patient_id})
    assert empty["rows"] == [] and empty["baseline_session_id"] is None
    baseline = _seed_assessment(running, patient_id, {
        ("sway_velocity_eo_m_s", "", ""): 0.020, ("reach_pct_ll", "L", "anterior"): 40.0,
        ("reach_pct_ll", "R", "anterior"): 70.0, ("step_length_m", "L", ""): 0.30,
        ("step_length_m", "R", ""): 0.45})
    later = _seed_assessment(running, patient_id, {
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
    running.store.store.create_therapist(other, "other", "scrypt$invalid", "Other")
    foreign = running.store.store.create_patient(other, None, "FOREIGN-1", "R", 0.9, None, "")
    for command in ("assessment_report", "suggest_plan", "get_plan"):
        reply = await therapist.request({"type": command, "patient_id": foreign.id})
        assert reply["code"] == "not_found"
    await therapist.close()
