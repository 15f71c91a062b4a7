"""The therapist web panel's clinical modes in a real browser (headless Chromium, Playwright)
against the real server (docs/clinical-modes.md, docs/panel.md): a stepping session with mirror
therapy, neglect cueing and reduced vision started from the form; a treadmill session whose belt
speed is moved with the live slider; the assessment report of a patient with two stored
assessments; a suggested plan edited, saved and used to prefill the session form.

Shares its browser fixtures with tests/test_panel.py (tests/panel_helpers.py); every test fails on a
console error, an uncaught exception, a CSP violation or an HTTP error.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from clients.link import Link
from games.assessment.settings import AssessmentSettings
from games.stepping.settings import SteppingSettings
from games.treadmill.settings import TreadmillSettings
from scoring.smallest_change import with_clinic_values
from server.storage.records import NO_PLAN, MetricRecord, PlanRecord
from tests.conftest import RunningServer
from tests.panel_helpers import Panel, stop_game, until, wait_data

pytestmark = pytest.mark.db

HOME = {"L": (-0.10, 0.0), "R": (0.10, 0.0)}


async def _stand(running: RunningServer, stop: asyncio.Event, rate_hz: float = 30) -> None:
    """A device that reports both feet standing still on their home spots until ``stop``."""
    device = await Link.station(running.url, "device", "station-1", running.creds.station_token)
    loop = asyncio.get_running_loop()
    seq = 0
    try:
        while not stop.is_set():
            for side, (x, y) in HOME.items():
                seq += 1
                await device.send({"type": "foot", "side": side, "pos_m": [x, y, 0.0], "t_s": loop.time(),
                                   "seq": seq})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / rate_hz)
    finally:
        await device.close()


async def _stop_and_plot(page: Any, running: RunningServer, family: str, metric: str,
                         chart: str) -> tuple[list[MetricRecord], int]:
    """Stop the session from the panel, wait for its metrics of ``family`` to be stored, and open
    DEMO-001's progress: the stored rows of ``metric`` and how many points ``chart`` plots."""
    await stop_game(page)
    store, _, therapist = running.demo_records()
    patient = next(p for p in store.list_patients(therapist.clinic_id) if p.code == "DEMO-001")
    await until(lambda: any(p.metric.family == family
                            for p in store.patient_progress(therapist.clinic_id, patient.id) or []))
    stored = [p.metric for p in store.patient_progress(therapist.clinic_id, patient.id) or []
              if p.metric.family == family and p.metric.metric == metric]
    await page.click("#nav-progress")
    await page.select_option("#progress-patient", label="DEMO-001")
    await page.click("#progress-load")
    await page.wait_for_selector(f"{chart} svg circle.point")
    return stored, await page.locator(f"{chart} svg circle.point").count()


async def _open_session(panel: Panel, running: RunningServer, patient_label: str, game: str) -> Any:
    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    await page.click("#nav-session")
    await page.select_option("#session-patient", label=patient_label)
    await page.select_option("#session-game", game)
    return page


async def _start(page: Any, game: str) -> None:
    """Start the game from the form; a refusal fails with the server's message."""
    await page.click("#start-game")
    await page.wait_for_selector(f"#session-status:has-text('started: {game}'), #session-error:not([hidden])")
    assert await page.is_hidden("#session-error"), await page.inner_text("#session-error")


async def test_stepping_modes_from_the_form_mirror_neglect_cueing_and_vanishing_target(
    running: RunningServer, panel: Panel,
) -> None:
    page = await _open_session(panel, running, "DEMO-001 (affected left)", "stepping")
    station = running.server.stations["station-1"]

    # The Mode group: neglect numbers and the vanish time only show when they apply.
    assert await page.is_visible("#setting-mode")
    assert await page.is_hidden("#setting-cue-idle") and await page.is_hidden("#setting-vanish-after")
    await page.check("#setting-mirror")
    await page.check("#setting-neglect")
    assert await page.is_visible("#setting-cue-idle")
    await page.fill("#setting-cue-idle", "1")
    await page.fill("#setting-cue-step", "10")
    await page.fill("#setting-share-max", "80")
    await page.select_option("#setting-vision", "target_vanishes")
    assert await page.is_visible("#setting-vanish-after")
    await page.fill("#setting-vanish-after", "0.5")
    await page.fill("#setting-trials", "0")

    # Mirror with neglect cueing: the form warns, and the server refuses it with a clear message.
    assert await page.is_visible("#mode-conflict")
    await page.click("#start-game")
    await page.locator("#session-error").wait_for(state="visible")
    assert "cannot be combined" in await page.inner_text("#session-error")
    assert station.play is None

    # -- mirror therapy with the target vanishing ----------------------------------------------------
    await page.uncheck("#setting-neglect")
    assert await page.is_hidden("#mode-conflict") and await page.is_hidden("#setting-cue-idle")
    await _start(page, "stepping")
    play = station.play
    assert play is not None
    settings = play.game.settings
    assert settings.mirror is True and settings.neglect_cueing is False
    assert settings.vision == "target_vanishes" and settings.vanish_after_s == pytest.approx(0.5)
    assert set(play.modes) == {"mirror", "proprioception"}
    # the live view: the mirror badge at once, and the vision badge
    badge = page.locator("[data-testid='badge-mirror']")
    await badge.wait_for()
    assert "Mirror" in await badge.inner_text() and "right foot drives the left avatar" in await badge.inner_text()
    await page.wait_for_selector("#live-canvas[data-mirror='L']")
    await page.wait_for_selector("[data-testid='badge-vision']:has-text('Target vanishes')")
    assert await page.is_hidden("#live-cueing")
    # a patient standing still: the affected foot's own position shows as a grey outline, and the
    # target vanishes 0.5 s after it appears (hidden from the patient, dashed for the therapist)
    stop = asyncio.Event()
    standing = asyncio.create_task(_stand(running, stop))
    try:
        await wait_data(page, "#live-canvas", "realFeet", ">=", 1)
        await page.wait_for_selector("#live-canvas[data-hidden~='target']", timeout=15_000)
        await page.wait_for_selector("[data-testid='badge-hidden']")
        await panel.shot("modes-mirror-live")
    finally:
        stop.set()
        await standing
    await stop_game(page)

    # -- neglect cueing with the target vanishing ------------------------------------------------------
    await page.uncheck("#setting-mirror")
    await page.check("#setting-neglect")
    assert await page.input_value("#setting-cue-idle") == "1"  # kept from before
    await _start(page, "stepping")
    play = station.play
    assert play is not None
    settings = play.game.settings
    assert settings.mirror is False and settings.neglect_cueing is True
    assert settings.cue_idle_s == pytest.approx(1.0) and settings.cue_share_step == pytest.approx(0.10)
    assert settings.affected_side_share_max == pytest.approx(0.8)
    assert settings.affected_side_share == pytest.approx(0.7) and settings.cue_after_misses == 2
    assert settings.vision == "target_vanishes"
    assert set(play.modes) == {"neglect_cueing", "proprioception"}
    await page.wait_for_selector("[data-testid='badge-neglect']")
    await page.wait_for_selector("#live-cueing:not([hidden])")
    assert await page.locator("[data-testid='badge-mirror']").count() == 0
    # the idle affected foot is cued: the log says so, the foot is highlighted while the cue is
    # unanswered, and the raised share (0.7 + 0.1, at the ceiling) shows in the live form too
    stop = asyncio.Event()
    standing = asyncio.create_task(_stand(running, stop))
    try:
        await page.wait_for_selector("#event-log li[data-kind='cue']", timeout=30_000)
        cue = await page.inner_text("#event-log li[data-kind='cue']")
        assert "left foot" in cue and "idle" in cue and "affected-side share 70 % → 80 %" in cue, cue
        await wait_data(page, "#live-cueing", "cues", ">=", 1)
        await page.wait_for_selector("#live-cueing:has-text('share now 80 %')")
        await page.wait_for_selector("#live-canvas[data-cueing='active']")
        await until(lambda: play.game.settings.affected_side_share == pytest.approx(0.8))
        await page.wait_for_function(
            "() => document.querySelector('#live-affected_side_share-num').value === '80'", timeout=5_000)
        await panel.shot("modes-neglect-live")
    finally:
        stop.set()
        await standing
    # Progress: the neglect family's cues are plotted, one point per stored value.
    stored, points = await _stop_and_plot(page, running, "neglect", "cue_count", "#chart-neglect-cues")
    assert points == len(stored) == 1
    # The sessions table names each session's modes (from its settings, trials or not).
    kinds = await page.locator("#sessions-body td[data-mode]").all_inner_texts()
    assert kinds[-2:] == ["Stepping · mirror, reduced vision", "Stepping · neglect cueing, reduced vision"], kinds
    assert panel.problems == []


async def test_treadmill_session_and_belt_speed_slider(running: RunningServer, panel: Panel) -> None:
    page = await _open_session(panel, running, "DEMO-001 (affected left)", "treadmill")
    assert await page.is_visible("#setting-belt-speed") and await page.is_hidden("#setting-mode")
    assert await page.is_hidden("#setting-directions") and await page.is_hidden("#setting-dwell")
    await page.fill("#setting-belt-speed", "0.4")
    await page.fill("#setting-step-width", "0.18")
    await page.fill("#setting-trials", "0")
    await _start(page, "treadmill")
    play = running.server.stations["station-1"].play
    assert play is not None and play.game.name == "treadmill"
    assert isinstance(play.game.settings, TreadmillSettings)
    assert play.game.settings.step_width_m == pytest.approx(0.18)
    assert play.game.snapshot()["belt_speed_m_s"] == pytest.approx(0.4)
    await page.wait_for_selector("[data-testid='badge-belt']:has-text('0.40 m/s')")

    # The treadmill's difficulty rows and its live belt-speed slider (m/s).
    assert await page.locator("#difficulty-params fieldset[data-param='step_length_m']").count() == 1
    slider = page.locator("#live-belt_speed_m_s")
    await slider.wait_for()
    assert float(await slider.input_value()) == pytest.approx(0.4)
    await slider.focus()
    for _ in range(4):  # 0.40 -> 0.60 m/s in steps of 0.05
        await page.keyboard.press("ArrowRight")
    assert float(await page.input_value("#live-belt_speed_m_s-num")) == pytest.approx(0.6)
    await until(lambda: play.game.snapshot()["belt_speed_m_s"] == pytest.approx(0.6))
    await page.wait_for_selector("#difficulty-status:has-text('belt speed 0.60 m/s')")
    await page.wait_for_selector("[data-testid='badge-belt']:has-text('0.60 m/s')")

    # With feet on the belt the targets scroll in and are drawn with their states.
    stop = asyncio.Event()
    standing = asyncio.create_task(_stand(running, stop))
    try:
        await wait_data(page, "#live-canvas", "targets", ">=", 2)
        await panel.shot("modes-treadmill-live")
        # feet that never step: the first target scrolls past unhit and is scored
        await wait_data(page, "#live-trials", "count", ">=", 1)
    finally:
        stop.set()
        await standing
    # Progress: the treadmill family's hit rate is plotted (per side and overall).
    rates, points = await _stop_and_plot(page, running, "treadmill", "hit_rate", "#chart-treadmill-hits")
    assert points == len(rates) >= 2
    assert panel.problems == []


async def test_assessment_report_and_a_plan_suggested_edited_saved_and_used(
    running: RunningServer, panel: Panel,
) -> None:
    store, _, therapist = running.demo_records()
    patient_id = store.create_patient(therapist.clinic_id, therapist.id, "ASSESS-7", "L", 0.9, 0.5, "").id
    baseline = running.seed_assessment(patient_id, {
        ("sway_velocity_eo_m_s", "", ""): 0.020, ("reach_pct_ll", "L", "anterior"): 40.0,
        ("reach_pct_ll", "R", "anterior"): 70.0, ("step_length_m", "L", ""): 0.30,
        ("step_length_m", "R", ""): 0.45, ("timed_stepping_s", "", ""): 12.0})
    later = running.seed_assessment(patient_id, {
        ("sway_velocity_eo_m_s", "", ""): 0.019, ("reach_pct_ll", "L", "anterior"): 55.0,
        ("reach_pct_ll", "R", "anterior"): 70.0, ("step_length_m", "L", ""): 0.30,
        ("step_length_m", "R", ""): 0.45, ("timed_stepping_s", "", ""): 15.0})
    # the clinic's own threshold for step length (as `--smallest-change` loads it: test_process.py)
    running.server.smallest_change = with_clinic_values(
        {"step_length_m": {"absolute": 0.03, "source": "our test-retest"}})

    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    await page.click("#nav-patients")
    await page.click("button[aria-label='Assessment and plan of ASSESS-7']")
    await page.wait_for_selector("#view-assessment:not([hidden])")

    # The report (folded under the summary): the latest assessment against the baseline, a verdict
    # per metric in colour and words, in the units shown (% leg length, cm, s).
    await page.wait_for_selector("#assess-highlights-body tr")
    await page.click("#assess-details > summary")
    await page.wait_for_selector("#assess-report-body tr[data-metric='reach_pct_ll'][data-side='L']")
    reach = page.locator("#assess-report-body tr[data-metric='reach_pct_ll'][data-side='L'][data-direction='anterior']")
    assert await reach.get_attribute("data-verdict") == "improved"
    cells = await reach.locator("td").all_inner_texts()
    assert cells[0] == "affected (left)" and cells[2] == "higher" and "40.0" in cells[3] and "55.0" in cells[4]
    assert cells[5].startswith("+15.0") and "8.0" in cells[6] and cells[7] == "Improved"
    assert await reach.locator(".verdict-improved").count() == 1
    timed = page.locator("#assess-report-body tr[data-metric='timed_stepping_s']")
    assert await timed.get_attribute("data-verdict") == "worse"
    assert await timed.locator(".verdict-worse").inner_text() == "Worse"
    same = page.locator("#assess-report-body tr[data-metric='reach_pct_ll'][data-side='R']")
    assert await same.locator(".verdict-none").inner_text() == "No notable change"
    # where each smallest change comes from: the clinic's marked and named, the rest defaults
    step = page.locator("#assess-report-body tr[data-metric='step_length_m'][data-side='L'] td.clinic-set")
    assert (await step.inner_text()) == "3.0 *"  # 0.03 m, shown in cm
    assert await step.get_attribute("title") == "set by the clinic: our test-retest"
    assert (await reach.locator("td").nth(6).get_attribute("title") or "").startswith("conservative default")
    basis = await page.inner_text("#assess-basis")
    assert "set by the clinic" in basis and "our test-retest" in basis and "conservative defaults" in basis
    summary = await page.inner_text("#assess-summary")
    assert f"#{later}" in summary and f"baseline #{baseline}" in summary and "1 improved, 1 worse" in summary
    # a trend chart per metric, one point per assessment
    await page.click("#assess-trends-fold > summary")
    trend = page.locator("#assess-trends .trend[data-metric='reach_pct_ll'][data-side='L']")
    assert await trend.locator("circle.point").count() == 2
    assert await page.locator("#assess-trends .trend").count() == 6
    # the baseline itself can be chosen: it is compared with nothing
    await page.select_option("#assess-session", str(baseline))
    await page.wait_for_selector("#assess-summary:has-text('is the baseline')")
    await page.select_option("#assess-session", str(later))
    await page.wait_for_selector("#assess-summary:has-text('1 improved')")
    await page.wait_for_selector("[data-testid='no-plan']")
    await panel.shot("modes-assessment")

    # A new assessment on station-1 (quiet standing and two sideways leans); watched live, its stage
    # shows as a banner. The lean settings show only while their stage is chosen.
    await page.click("#assess-run > summary")
    for stage in ("quiet_eyes_closed", "reach", "walk", "timed_stepping"):
        await page.uncheck(f"#assess-stage-{stage}")
    await page.uncheck("#assess-stage-limits_of_stability")
    assert await page.is_hidden("#assess-lean-settings")
    await page.check("#assess-stage-limits_of_stability")
    for lean in ("forward", "backward"):
        await page.uncheck(f"#assess-lean-{lean}")
    await page.fill("#assess-quiet", "10")
    await page.fill("#assess-lean", "6")
    await page.click("#assess-start")
    await page.wait_for_selector("#assess-start-status:has-text('started on station-1')")
    play = running.server.stations["station-1"].play
    assert play is not None and play.game.name == "assessment" and play.patient.id == patient_id
    settings = play.game.settings
    assert isinstance(settings, AssessmentSettings)
    assert list(settings.stages) == ["quiet_eyes_open", "limits_of_stability"] and settings.quiet_s == 10
    assert list(settings.lean_directions) == ["left", "right"] and settings.lean_s == 6
    await page.click("#assess-watch")
    await page.wait_for_selector("#view-session:not([hidden])")
    await page.wait_for_selector("#live-stage:not([hidden])[data-stage='quiet_eyes_open']")
    assert "stage 1 of 2" in await page.inner_text("#live-stage")
    assert await page.inner_text("#live-stage-instruction") != ""
    await page.wait_for_selector("[data-testid='no-adaptation']")
    await stop_game(page)
    await page.click("#nav-assessment")
    await page.wait_for_selector("#assess-summary:has-text('1 improved')")

    # Suggest a plan, edit it; a bad value gets the server's error; fix it and accept.
    await page.click("#plan-suggest")
    await page.wait_for_selector("#plan-form:not([hidden])")
    assert await page.locator("#plan-games fieldset.plan-game[data-game='stepping']").count() == 1
    assert await page.locator("#plan-form .basis li").count() >= 1
    await panel.shot("modes-plan-editor")
    share = page.locator("#plan-stepping-settings-affected_side_share")
    await share.fill("500")  # %: a share of 5.0
    await page.click("#plan-save")
    await page.locator("#plan-error").wait_for(state="visible")
    assert "affected_side_share" in await page.inner_text("#plan-error")
    assert store.current_plan(therapist.clinic_id, patient_id) is NO_PLAN
    await share.fill("80")
    # Settings the suggestion left out are added (switched on), and taken out again; a combination
    # the game refuses gets the server's reason.
    await page.select_option("#plan-add-stepping", "neglect_cueing")
    assert await page.is_checked("#plan-stepping-settings-neglect_cueing")
    await page.select_option("#plan-add-stepping", "mirror")
    assert await page.locator("#plan-add-stepping option[value='mirror']").count() == 0  # in the plan now
    await page.click("#plan-save")
    await page.wait_for_selector("#plan-error:has-text('cannot be combined')")
    await page.click("button[aria-label='Remove Mirror therapy from the plan']")
    assert await page.locator("#plan-stepping-settings-mirror").count() == 0
    await page.select_option("#plan-add-stepping", "trials")
    assert await page.input_value("#plan-stepping-settings-trials") == "20"  # the set-up form's default
    await page.fill("#plan-stepping-settings-trials", "12")
    await page.click("button[aria-label='Remove Standing leg from the plan']")
    await page.click("#plan-save")
    await page.wait_for_selector("#plan-status:has-text('saved')")
    assert await page.is_hidden("#plan-error") and await page.is_hidden("#plan-form")
    stored = store.current_plan(therapist.clinic_id, patient_id)
    assert isinstance(stored, PlanRecord) and stored.games["stepping"]["settings"] == {
        "affected_side_share": pytest.approx(0.8), "neglect_cueing": True, "trials": 12}
    assert stored.games["reaching"]["settings"] == {}
    assert stored.source_session_id == later
    row = page.locator("[data-testid='plan-table'] tr[data-game='stepping']")
    assert "Affected-side share (%): 80" in await row.inner_text()
    await panel.shot("modes-plan")

    # The session view starts from the plan: the form is prefilled, with a note saying so.
    await page.click("#plan-current button:has-text('Start a session from the plan')")
    await page.wait_for_selector("#view-session:not([hidden])")
    await page.select_option("#session-game", "stepping")
    await page.wait_for_selector(f"#plan-note:not([hidden])[data-plan='{stored.id}']")
    assert "From plan" in await page.inner_text("#plan-note")
    assert await page.input_value("#setting-affected-share") == "80"
    assert await page.is_visible("#use-plan-difficulty")  # the plan's starting difficulty goes along
    await _start(page, "stepping")
    play = running.server.stations["station-1"].play
    assert play is not None and play.patient.id == patient_id
    settings = play.game.settings
    assert isinstance(settings, SteppingSettings)
    assert settings.affected_side_share == pytest.approx(0.8)
    assert settings.neglect_cueing is True and settings.trials == 12
    planned = stored.games["stepping"]["difficulty"]
    if "target_success" in planned:
        assert play.difficulty.describe()["target_success"] == pytest.approx(planned["target_success"])
    await stop_game(page)
    # ... and the progress view plots the assessment metrics over time.
    await page.click("#nav-progress")
    await page.select_option("#progress-patient", label="ASSESS-7")
    await page.click("#progress-load")
    await page.select_option("#progress-assessment-metric", "timed_stepping_s")
    await page.wait_for_selector("#chart-assessment svg circle.point")
    assert await page.locator("#chart-assessment svg circle.point").count() == 2
    assert panel.problems == []
