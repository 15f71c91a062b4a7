"""The therapist panel shows clinicians' units (docs/panel.md): known stored SI values appear in
cm, cm², cm/s, % and s with the panel's rounding in the progress charts and tables, the assessment
report and the CSV export (which names the patient, writes ISO 8601 times with their UTC offset and
units in its headers); charts are dated and hide when empty; success rates leave assessments out;
the assessment page opens on its summary; Stop asks first; on a tablet the live view and the
difficulty controls share one screen.

Real server, real database, Debian's Chromium through Playwright (tests/panel_helpers.py).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update

from games.base import Outcome, TrialResult
from games.events import Side
from scoring.metric import MetricValue
from server.storage.models import GameSession, Trial
from server.storage.store import TrialWrite
from tests.conftest import RunningServer
from tests.panel_helpers import TABLET, Panel, stop_game

if TYPE_CHECKING:
    from playwright.async_api import ViewportSize

pytestmark = pytest.mark.db

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
# January in Berlin is UTC+01:00 (no daylight saving): a fixed, known offset for the CSV's times
TIMEZONE = "Europe/Berlin"
DAY_A = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY_ASSESS = datetime(2026, 1, 8, 9, 0, tzinfo=UTC)
DAY_B = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def _trial(index: int, outcome: Outcome, foot: Side = Side.RIGHT) -> TrialResult:
    return TrialResult(
        index=index, foot=foot, direction="anterior", direction_deg=0.0, target_x_m=0.1, target_y_m=0.34,
        target_distance_m=0.34567, target_radius_m=0.075, outcome=outcome, shown_at_s=1.0 + index,
        ended_at_s=2.23456 + index, reaction_time_s=0.4567, movement_time_s=0.6, placement_error_m=0.01234,
        landing_x_m=0.1, landing_y_m=0.33, foot_lift_m=0.0612,
        difficulty={"step_distance_frac": 0.5, "target_radius_m": 0.075, "time_window_s": 3.0},
    )


def _session(running: RunningServer, patient_id: int, game: str, started: datetime, outcomes: list[Outcome],
             metrics: list[MetricValue]) -> int:
    """A finished session started at ``started`` with these trials and metrics, as the server stores one."""
    store, station, therapist = running.demo_records()
    sid = store.start_session(patient_id, station.id, therapist.id, therapist.clinic_id, game, {}, [])
    store.record_trials([TrialWrite(sid, patient_id, _trial(i, o), [], []) for i, o in enumerate(outcomes)])
    for family in {m.family for m in metrics}:
        store.record_session_metrics(sid, patient_id, family, [m for m in metrics if m.family == family])
    store.end_session(sid, "completed")
    with store._sessions.begin() as s:  # the session's date: what the charts plot against
        s.execute(update(GameSession).where(GameSession.id == sid)
                  .values(started_at=started, ended_at=started + timedelta(minutes=10)))
        s.execute(update(Trial).where(Trial.session_id == sid).values(recorded_at=started + timedelta(minutes=1)))
    return sid


async def _login(panel: Panel, running: RunningServer, viewport: ViewportSize) -> Any:
    page = panel.page
    await page.set_viewport_size(viewport)
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Emulation.setTimezoneOverride", {"timezoneId": TIMEZONE})
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    return page


async def _download(page: Any, button: str) -> tuple[list[str], list[dict[str, str]]]:
    async with page.expect_download() as info:
        await page.click(button)
    text = Path(await (await info.value).path()).read_text()
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def _ms(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


async def test_progress_charts_tables_and_csv_show_clinical_units(running: RunningServer, panel: Panel) -> None:
    store, _, therapist = running.demo_records()
    patient_id = store.create_patient(therapist.clinic_id, therapist.id, "UNITS-1", "R", 0.9, 0.5, "").id
    a = _session(running, patient_id, "stepping", DAY_A, [Outcome.HIT, Outcome.HIT, Outcome.MISS], [
        MetricValue("gait", "step_length_m", 0.34567)])
    assessment = _session(running, patient_id, "assessment", DAY_ASSESS, [Outcome.MISS, Outcome.MISS], [
        MetricValue("assessment", "sway_area_eo_m2", 0.000234),
        MetricValue("assessment", "sway_velocity_eo_m_s", 0.0195)])
    b = _session(running, patient_id, "stepping", DAY_B, [Outcome.HIT], [MetricValue("gait", "step_length_m", 0.41)])

    page = await _login(panel, running, DESKTOP)
    await page.click("#nav-progress")
    await page.select_option("#progress-patient", label="UNITS-1")
    await page.click("#progress-load")
    await page.wait_for_selector("#sessions-body tr:nth-child(3)")

    # step length in cm, rounded to a millimetre, each point at its session's date
    steps = page.locator("#chart-steps svg circle.point")
    assert await steps.evaluate_all("ps => ps.map(p => [p.dataset.value, p.dataset.t])") == [
        ["34.6", _ms(DAY_A)], ["41", _ms(DAY_B)]]
    assert "step length: 34.6 cm" in (await steps.first.locator("title").text_content() or "")
    assert await page.locator("#chart-steps svg .axis-label").all_text_contents() == ["cm", "date (2026)"]
    assert all("#" not in t for t in await page.locator("#chart-steps svg text.tick").all_text_contents())
    # the quiet stand's sway velocity in cm/s, two decimals
    assert await page.get_attribute("#chart-sway svg circle.point", "data-value") == "1.95"
    # success: the training sessions only (67 % and 100 %), not the assessment's 0 %
    success = await page.locator("#chart-success svg circle.point").evaluate_all(
        "ps => ps.map(p => [p.dataset.value, p.dataset.t])")
    assert success == [["67", _ms(DAY_A)], ["100", _ms(DAY_B)]]
    # the assessment metric over time: sway area in cm²
    await page.select_option("#progress-assessment-metric", "sway_area_eo_m2")
    assert await page.get_attribute("#chart-assessment svg circle.point", "data-value") == "2.3"
    assert "(cm²)" in await page.inner_text("#progress-assessment-metric")
    # charts with no data are hidden (no empty axes); the ones with data are shown
    for empty in ("neglect-cues", "neglect-response", "proprioception", "treadmill-steps", "treadmill-hits", "lift"):
        assert await page.locator(f"#chart-{empty}").evaluate("n => n.closest('figure').hidden"), empty
    for drawn in ("steps", "sway", "success", "assessment"):
        assert await page.is_visible(f"#chart-{drawn}"), drawn
    assert await page.is_hidden("#charts-empty")
    # the sessions table: success in % without decimals, the assessment still listed
    rows = await page.locator("#sessions-body tr").evaluate_all(
        "rs => rs.map(r => [r.dataset.session, r.cells[5].innerText])")
    assert rows == [[str(a), "67"], [str(assessment), "0"], [str(b), "100"]]
    await panel.shot("units-progress-1280")
    await page.set_viewport_size(TABLET)
    await panel.shot("units-progress-768")

    # CSV of trials: the patient's code first, ISO 8601 local times with their offset, units in the
    # headers, values rounded as the panel shows them, sides named from the affected side
    headers, trials = await _download(page, "#export-trials")
    assert headers[0] == "patient_code" and len(trials) == 6
    for name in ("target_distance_cm", "placement_error_cm", "difficulty.target_radius_cm", "reaction_time_s",
                 "foot_lift_cm", "difficulty.step_distance_x_step_reach", "recorded_at", "foot"):
        assert name in headers, name
    assert not [h for h in headers if h.endswith("_m")], headers
    first = trials[0]
    assert first["patient_code"] == "UNITS-1" and first["session_id"] == str(a)
    assert (first["target_distance_cm"], first["placement_error_cm"], first["difficulty.target_radius_cm"]) == (
        "34.6", "1.2", "7.5")
    assert (first["reaction_time_s"], first["ended_at_s"], first["foot_lift_cm"]) == ("0.46", "2.23", "6.1")
    assert first["foot"] == "affected (right)"
    assert first["recorded_at"] == "2026-01-05T10:01:00+01:00"
    assert all(ISO_WITH_OFFSET.match(t["recorded_at"]) for t in trials)

    # CSV of metrics: one metric a row, value and sd in the unit its unit column names
    headers, metrics = await _download(page, "#export-metrics")
    assert headers[:3] == ["patient_code", "session_id", "session_started_at"] and "unit" in headers
    by_metric = {(m["session_id"], m["metric"]): m for m in metrics}
    step = by_metric[(str(a), "step_length_m")]
    assert (step["patient_code"], step["value"], step["unit"]) == ("UNITS-1", "34.6", "cm")
    assert step["session_started_at"] == "2026-01-05T10:00:00+01:00"
    area = by_metric[(str(assessment), "sway_area_eo_m2")]
    assert (area["value"], area["unit"]) == ("2.3", "cm²")
    assert by_metric[(str(assessment), "sway_velocity_eo_m_s")]["value"] == "1.95"
    assert panel.problems == []


async def test_a_patient_with_no_results_shows_no_empty_charts(running: RunningServer, panel: Panel) -> None:
    store, _, therapist = running.demo_records()
    store.create_patient(therapist.clinic_id, therapist.id, "EMPTY-1", "L", 0.9, None, "")
    page = await _login(panel, running, TABLET)
    await page.click("#nav-progress")
    await page.select_option("#progress-patient", label="EMPTY-1")
    await page.click("#progress-load")
    await page.wait_for_selector("#charts-empty:not([hidden])")
    assert await page.locator("#charts figure.chart:not([hidden])").count() == 0
    assert await page.locator("#charts svg").count() == 0
    assert panel.problems == []


async def test_assessment_page_opens_on_the_summary_and_the_plan(running: RunningServer, panel: Panel) -> None:
    store, _, therapist = running.demo_records()
    patient_id = store.create_patient(therapist.clinic_id, therapist.id, "ASSESS-U", "L", 0.9, 0.5, "").id
    baseline = running.seed_assessment(patient_id, {
        ("reach_pct_ll", "L", "anterior"): 40.0, ("reach_pct_ll", "R", "anterior"): 70.0,
        ("step_length_m", "L", ""): 0.30, ("timed_stepping_s", "", ""): 12.0, ("sway_area_eo_m2", "", ""): 0.000234})
    later = running.seed_assessment(patient_id, {
        ("reach_pct_ll", "L", "anterior"): 55.0, ("reach_pct_ll", "R", "anterior"): 70.0,
        ("step_length_m", "L", ""): 0.30, ("timed_stepping_s", "", ""): 15.0, ("sway_area_eo_m2", "", ""): 0.000241})

    page = await _login(panel, running, TABLET)
    await page.click("#nav-patients")
    await page.click("button[aria-label='Assessment and plan of ASSESS-U']")
    await page.wait_for_selector("#assess-highlights-body tr")

    # First the summary (baseline against latest, with verdicts), then the plan; the rest folded.
    summary = await page.inner_text("#assess-summary")
    assert f"#{later}" in summary and f"baseline #{baseline}" in summary and "1 improved, 1 worse" in summary
    highlights = await page.locator("#assess-highlights-body tr").evaluate_all(
        "rs => rs.map(r => [r.dataset.metric, ...[...r.cells].map(c => c.innerText)])")
    assert highlights == [
        ["timed_stepping_s", "Timed stepping, total (s)", "–", "12.0", "15.0", "Worse"],
        ["reach_pct_ll", "Reach (% leg length), anterior", "affected (left)", "40.0", "55.0", "Improved"],
    ]
    tops = [await page.locator(sel).evaluate("n => n.getBoundingClientRect().top")
            for sel in ("#assess-summary-card", "#plan-card", "#assess-trends-fold", "#assess-run")]
    assert tops == sorted(tops)
    assert tops[0] < TABLET["height"]
    for fold in ("#assess-details", "#assess-trends-fold", "#assess-run"):
        assert await page.locator(fold).evaluate("n => n.tagName === 'DETAILS' && !n.open"), fold
    assert await page.is_hidden("#assess-report") and await page.is_visible("#plan-current")
    await panel.shot("units-assessment-768")

    # Unfolded, the full report is in clinicians' units too: cm, cm², sides from the affected side.
    await page.click("#assess-details > summary")
    step = page.locator("#assess-report-body tr[data-metric='step_length_m']")
    cells = await step.locator("td").all_inner_texts()
    assert await step.locator("th").inner_text() == "Step length (cm)"
    assert (cells[0], cells[3], cells[4], cells[5]) == ("affected (left)", "30.0", "30.0", "0.0")
    sway = await page.locator("#assess-report-body tr[data-metric='sway_area_eo_m2'] td").all_inner_texts()
    assert (sway[3], sway[4], sway[5]) == ("2.3", "2.4", "+0.1")
    await page.click("#assess-trends-fold > summary")
    trend = page.locator("#assess-trends .trend[data-metric='sway_area_eo_m2'] circle.point")
    assert await trend.evaluate_all("ps => ps.map(p => p.dataset.value)") == ["2.3", "2.4"]
    await page.set_viewport_size(DESKTOP)
    await panel.shot("units-assessment-1280")
    assert panel.problems == []


async def test_stop_asks_first_and_the_tablet_shows_live_view_with_difficulty(
    running: RunningServer, panel: Panel,
) -> None:
    page = await _login(panel, running, TABLET)
    await page.click("#nav-session")
    await page.select_option("#session-patient", label="DEMO-001 (affected left)")
    await page.select_option("#session-game", "stepping")
    await page.fill("#setting-trials", "0")
    await page.click("#start-game")
    await page.wait_for_selector("#session-status:has-text('started: stepping')")
    await page.wait_for_selector("#view-session[data-running='true']")
    await page.wait_for_selector("#difficulty-params input")

    # 768×1024: the live view and the difficulty controls on one screen, no scrolling between them
    # (a long form scrolls inside its own card; the page stays put)
    async def boxes() -> dict[str, list[float]]:
        return {sel: await page.locator(sel).evaluate(
            "n => { const r = n.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; }")
            for sel in ("#live-canvas", "#difficulty-card", "#target-success", "#bound-step_distance_frac-low",
                        "#stop-game")}
    await page.screenshot(path=str(panel.shots / "panel-units-session-768-screen.png"))
    for sel, (top, bottom, left, right) in (seen := await boxes()).items():
        assert 0 <= top and bottom <= TABLET["height"] and 0 <= left and right <= TABLET["width"], (sel, seen)
    await page.locator("#difficulty-apply").scroll_into_view_if_needed()
    for sel in ("#live-canvas", "#difficulty-apply"):
        top, bottom, _, _ = await page.locator(sel).evaluate(
            "n => { const r = n.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; }")
        assert 0 <= top and bottom <= TABLET["height"], sel
    assert await page.evaluate("window.scrollY") == 0
    # the step distance in cm as well (DEMO-001: no measured reach, 0.6 × leg length)
    await page.wait_for_selector("#live-difficulty tr[data-param='step_distance_frac'] td:has-text(' cm')")
    # ...and the difficulty form is in the same units: cm beside each step-distance bound, radius in cm
    assert re.fullmatch(r"Lowest \(× step reach\) = \d+\.\d cm",
                        await page.inner_text("label[for='bound-step_distance_frac-low']"))
    assert re.search(r"× step reach, \d+\.\d cm$", await page.inner_text("#current-step_distance_frac"))
    assert await page.inner_text("label[for='bound-target_radius_m-high']") == "Highest (cm)"
    assert await page.input_value("#bound-target_radius_m-high-num") == "20"  # the default 0.20 m

    # Stop asks in the page; "Keep playing" leaves the game running
    play = running.server.stations["station-1"].play
    assert play is not None
    await page.click("#stop-game")
    await page.wait_for_selector("#stop-confirm:not([hidden])")
    await panel.shot("units-stop-confirm-768")
    await page.click("#stop-confirm-no")
    assert await page.is_hidden("#stop-confirm")
    assert running.server.stations["station-1"].play is play and play.session_id is not None
    assert not await page.is_disabled("#stop-game")
    await page.set_viewport_size(DESKTOP)
    await panel.shot("units-session-1280")
    await stop_game(page)
    assert running.server.stations["station-1"].play is None
    assert await page.get_attribute("#view-session", "data-running") == "false"
    assert panel.problems == []
