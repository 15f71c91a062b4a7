"""The instrumented standard measures through the real server and database: a simulated patient of
known timing (clients/sim_measures.py) does the Five Times Sit-to-Stand, the Timed Up and Go, the
Four Square Step Test and the 10-metre walk as the headset's state announces them, as a motion
tracker sees it (foot and pelvis markers in the tracker's own lab axes and units); what is stored
is checked against the patient's scripts, then found in the progress report's measures table
and, by its LOINC code, in the FHIR export."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from clients.link import Link
from clients.sim_devices import BodyPose, LabFrame, marker_message
from clients.sim_measures import ChairAbility, FeetScript, MeasuresPatient, PelvisScript
from games.assessment.settings import FSST_SEQUENCE, STANDARD_STAGES
from tests.conftest import RunningServer
from tests.test_outcomes_e2e import check_fhir

pytestmark = pytest.mark.db

RATE_HZ = 60.0
# The server's times come from the tracker's own clock (each sample's t_s), so a loaded machine
# delays when a test starts, not what it measures; the detection's own resolution is a tenth.
TOLERANCE_S = 0.2
LAB = LabFrame(units="mm", up="y", yaw_deg=90.0, origin_m=(0.5, 0.0, -1.0))


class Tracked:
    """Sends the patient's feet and pelvis as tracker markers at ``RATE_HZ``; the newest state
    from the headset drives it."""

    def __init__(self, device: Link, headset: Link, patient: MeasuresPatient) -> None:
        self.device, self.headset, self.patient = device, headset, patient
        self.state: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.finished = False

    async def run(self, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        start, seq = loop.time(), 0
        listener = asyncio.create_task(self._listen())
        try:
            while not self.finished:
                now = loop.time()
                assert now - start < timeout_s, f"timed out; last state {self.state}"
                self.patient.act(self.state, now)
                message = marker_message(BodyPose(dict(self.patient.feet), (0.0, 0.0)), LAB, now, seq)
                message["pelvis"] = LAB.to_lab(self.patient.pelvis)
                seq += 1
                await self.device.send(message)
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
                elif message["phase"] != "idle":
                    self.state = message
            elif message["type"] == "game_event":
                self.events.append(message["event"])


async def test_standard_measures_of_a_tracked_patient_are_stored_reported_and_exported(
        running: RunningServer) -> None:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    headset = await Link.station(running.url, "headset", "station-1", running.creds.headset_token)
    await device.call(LAB.setup("explicit"))
    patient_id = (await therapist.call({"type": "create_patient", "code": "MEAS-1", "affected_side": "L",
                                        "leg_length_m": 0.9, "step_reach_m": 0.5}))["patient"]["id"]
    await therapist.call({"type": "set_patient_details", "patient_id": patient_id, "birth_year": 1950, "sex": "M"})
    patient = MeasuresPatient(chair=ChairAbility(rise_s=1.0, sit_s=1.2, walk_m_s=1.0, turn_s=1.2),
                              paces_m_s={"comfortable": 0.9, "fast": 1.5}, squares=FeetScript(wrong_at=5))
    tracked = Tracked(device, headset, patient)
    # a tracker gives both feet and the pelvis before the start: every stage's input is there
    await device.send(marker_message(BodyPose(dict(patient.feet), (0.0, 0.0)), LAB, 0.0, 0))
    await device.call({"type": "ping"})
    started = await therapist.call({
        "type": "start_game", "station": "station-1", "patient_id": patient_id, "game": "assessment",
        "settings": {"stages": list(STANDARD_STAGES), "ready_s": 0.5}})
    stopped = asyncio.Event()

    async def therapist_hears() -> None:  # read all along: the panel is sent every trial as it happens
        while (await therapist.recv(200))["type"] != "game_stopped":
            pass
        stopped.set()

    hearing = asyncio.create_task(therapist_hears())
    await tracked.run(timeout_s=150)
    assert [e["stage"] for e in tracked.events if e["kind"] == "stage"] == list(STANDARD_STAGES)
    await asyncio.wait_for(stopped.wait(), 30)
    await hearing

    progress = (await therapist.call({"type": "progress", "patient_id": patient_id}))["metrics"]
    stored = {m["metric"]: m for m in progress if m["session_id"] == started["session_id"]}
    scripts = {p.stage: p.script for p in patient.played}
    sts, tug = scripts["five_times_sit_to_stand"], scripts["timed_up_and_go"]
    assert isinstance(sts, PelvisScript) and isinstance(tug, PelvisScript)
    assert stored["five_sts_s"]["value"] == pytest.approx(sts.duration_s, abs=TOLERANCE_S)
    assert stored["five_sts_stands"]["value"] == 5
    assert stored["tug_s"]["value"] == pytest.approx(tug.duration_s, abs=TOLERANCE_S)
    for phase, first, last in (("sit_to_stand", "rise", None), ("turn", "turn", None),
                               ("turn_to_sit", "turn_to_sit", "sit")):
        assert stored[f"tug_{phase}_s"]["value"] == pytest.approx(tug.span(first, last), abs=TOLERANCE_S), phase
    assert stored["tug_s"]["task"] == "assessment:timed_up_and_go"
    landings = patient.squares.landings()
    first_in_two = next(t for t, _, square in landings if square == 2)
    assert stored["fsst_s"]["value"] == pytest.approx(landings[-1][0] - first_in_two, abs=TOLERANCE_S)
    assert stored["fsst_errors"]["value"] == 1 and stored["fsst_errors"]["n"] == len(FSST_SEQUENCE) - 1
    assert stored["gait_speed_comfortable_m_s"]["value"] == pytest.approx(0.9, rel=0.03)
    assert stored["gait_speed_fast_m_s"]["value"] == pytest.approx(1.5, rel=0.03)

    # the outcome catalogue's rows: the report's measures table and the FHIR bundle show them
    table = await therapist.call({"type": "list_scales", "patient_id": patient_id})
    rows = {r["measure"]: r for r in table["measures"]}
    assert rows["tug"]["latest"] == pytest.approx(stored["tug_s"]["value"])
    assert rows["gait_speed_comfortable"]["norm"] is not None  # a man in his seventies
    assert {"five_sts", "fsst", "gait_speed_fast"} <= set(rows)
    bundle = (await therapist.call({"type": "fhir_export", "patient_id": patient_id}))["bundle"]
    resources = check_fhir(bundle, "MEAS-1")
    by_code = {c["code"]: o for o in resources if o["resourceType"] == "Observation" for c in o["code"]["coding"]}
    assert by_code["89423-8"]["valueQuantity"]["value"] == pytest.approx(stored["tug_s"]["value"])
    assert by_code["89423-8"]["valueQuantity"]["code"] == "s"
    assert by_code["83172-7"]["valueQuantity"]["value"] == pytest.approx(0.9, rel=0.03)
    assert by_code["fsst_errors"]["valueQuantity"]["code"] == "1"
    for link in (therapist, device, headset):
        await link.close()
