"""The standard measures from the therapist web panel in a real browser against the real server: the
assessment's form offers them as stages, not chosen to begin with; one chosen alone (the Timed Up
and Go) starts on a station whose tracker sees the pelvis, and the live view shows its stage and
the patient's instruction as the headset gets it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from clients.link import Link
from clients.sim_devices import BodyPose, LabFrame, marker_message
from clients.sim_measures import MeasuresPatient
from games.assessment.settings import DEFAULT_STAGES, STANDARD_STAGES, AssessmentSettings
from tests.conftest import RunningServer
from tests.panel_helpers import Panel, stop_game

pytestmark = pytest.mark.db

LAB = LabFrame(units="m", up="z")


async def _seated(running: RunningServer, stop: asyncio.Event, ready: asyncio.Event) -> None:
    """A tracker that sees a patient sitting still on the chair until ``stop``."""
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    await device.call(LAB.setup("explicit"))
    patient = MeasuresPatient()
    patient.pelvis = (0.0, 0.0, patient.chair.seated_m)
    loop = asyncio.get_running_loop()
    seq = 0
    try:
        while not stop.is_set():
            message = marker_message(BodyPose(dict(patient.feet), (0.0, 0.0)), LAB, loop.time(), seq)
            message["pelvis"] = LAB.to_lab(patient.pelvis)
            await device.send(message)
            seq += 1
            if seq == 10:
                ready.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / 30)
    finally:
        await device.close()


async def test_a_standard_measure_chosen_alone_starts_and_shows_its_instruction(
        running: RunningServer, panel: Panel) -> None:
    store, _, therapist = running.demo_records()
    store.create_patient(therapist.clinic_id, therapist.id, "TUG-1", "L", 0.9, 0.5, "")
    stop, ready = asyncio.Event(), asyncio.Event()
    tracker = asyncio.create_task(_seated(running, stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        page = panel.page
        await page.goto(panel.base)
        await panel.login(running.creds.username, running.creds.password)
        await page.click("#nav-patients")
        await page.click("button[aria-label='Assessment and plan of TUG-1']")
        await page.wait_for_selector("#view-assessment:not([hidden])")
        await page.wait_for_selector("#assess-run[open]")  # no assessment yet: the start form opens by itself
        for stage in STANDARD_STAGES:  # offered, not chosen: they need a chair, a walkway, squares
            assert not await page.is_checked(f"#assess-stage-{stage}")
        for stage in DEFAULT_STAGES:
            assert await page.is_checked(f"#assess-stage-{stage}")
            await page.uncheck(f"#assess-stage-{stage}")
        assert "Timed Up and Go" in await page.inner_text("label:has(#assess-stage-timed_up_and_go)")
        await page.check("#assess-stage-timed_up_and_go")
        await page.click("#assess-start")
        await page.wait_for_selector("#assess-start-status:has-text('started on station-1')")
        play = running.server.stations["station-1"].play
        assert play is not None and isinstance(play.game.settings, AssessmentSettings)
        assert play.game.settings.stages == ("timed_up_and_go",)
        await page.click("#assess-watch")
        await page.wait_for_selector("#live-stage:not([hidden])[data-stage='timed_up_and_go']")
        assert "stage 1 of 1" in await page.inner_text("#live-stage")
        # seated and still: the test is on, and the panel shows what the headset tells the patient
        await page.wait_for_selector("#live-stage-instruction:has-text('walk to the line 3 metres ahead')")
        await panel.shot("measures-tug-live")
        await stop_game(page)
    finally:
        stop.set()
        await tracker
