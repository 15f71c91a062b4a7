"""The therapist web panel in a real browser (headless Chromium driven by Playwright) against the
real server, with a simulated patient playing through a simulated motion tracker.

Needs the ``playwright`` package and Debian's Chromium at /usr/bin/chromium (Playwright never
downloads a browser here). Without them the tests are skipped locally and fail in CI (``CI`` set).
Screenshots go to ``$STRIDEVR_SCREENSHOTS`` when set, else to the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest

from clients.headset.network import HeadsetLink, Received
from clients.sim_player import play
from games.stepping.settings import SteppingSettings
from tests.conftest import RunningServer
from tests.panel_helpers import Panel, stop_game, until, wait_data

pytestmark = pytest.mark.db

PATIENT = "WEB-017"


async def test_login_errors_reload_logout_and_expiry(
    running: RunningServer, panel: Panel, monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = panel.page
    await page.goto(panel.base)
    await page.wait_for_selector("#view-login:not([hidden])")

    # A wrong password: a clear error next to the form, and still on the login screen.
    await page.fill("#login-username", running.creds.username)
    await page.fill("#login-password", "not-the-password")
    await page.press("#login-password", "Enter")
    error = page.locator("#login-error")
    await error.wait_for(state="visible")
    assert "wrong username or password" in (await error.inner_text()).lower()
    await panel.shot("login-error")

    # Keyboard only: Tab from the username to the password, Enter submits.
    await page.focus("#login-username")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "login-password"
    await page.keyboard.type(running.creds.password)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#view-stations:not([hidden])")
    await page.wait_for_selector("#stations-body tr[data-station='station-1']")
    assert await page.inner_text("[data-testid='station-state-station-1']") == "Idle"
    assert await page.evaluate("document.activeElement.id") == "stations-title"  # focus moved to the view

    # A reload keeps the login (session token in sessionStorage) and the view.
    await page.click("#nav-patients")
    await page.reload()
    await page.wait_for_selector("#view-patients:not([hidden])")
    assert await page.is_hidden("#view-login")
    await page.wait_for_selector("#patients-body tr[data-patient='DEMO-001']")
    assert await page.get_attribute("#conn-status", "data-state") == "online"

    # Logging out forgets the token: a reload shows the login screen again.
    await page.click("#logout")
    await page.wait_for_selector("#view-login:not([hidden])")
    await page.reload()
    await page.wait_for_selector("#view-login:not([hidden])")
    assert await page.evaluate("sessionStorage.getItem('stridevr.session_token')") is None

    # An expired login closes the connection: back to the login screen, saying why.
    monkeypatch.setattr(running.server, "settings", replace(running.server.settings, session_ttl_s=1.5))
    await panel.login(running.creds.username, running.creds.password)
    await page.wait_for_selector("#view-login:not([hidden]) #login-notice:has-text('expired')", timeout=10_000)
    assert await page.evaluate("sessionStorage.getItem('stridevr.session_token')") is None
    assert panel.problems == []


async def test_a_therapist_runs_sessions_adjusts_difficulty_and_reviews_progress(
    running: RunningServer, panel: Panel,
) -> None:
    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)

    # -- a new patient (and a clear error for a duplicate code) --------------------------------
    await page.click("#nav-patients")
    await page.fill("#patient-code", PATIENT)
    await page.select_option("#patient-side", "R")
    await page.fill("#patient-leg", "0.9")
    await page.fill("#patient-reach", "0.5")
    await page.fill("#patient-notes", "right hemiparesis; web panel test")
    await page.click("#patient-save")
    await page.wait_for_selector(f"#patients-body tr[data-patient='{PATIENT}']")
    assert "created" in await page.inner_text("#patient-status")
    await page.fill("#patient-code", PATIENT)
    await page.fill("#patient-leg", "0.9")
    await page.click("#patient-save")
    await page.locator("#patient-error").wait_for(state="visible")
    assert "already exists" in await page.inner_text("#patient-error")
    await page.click(f"button[aria-label='Edit {PATIENT}']")
    await page.fill("#patient-notes", "right hemiparesis; edited")
    await page.click("#patient-save")
    await page.wait_for_selector(f"#patients-body tr[data-patient='{PATIENT}'] td.notes:has-text('edited')")

    # -- start stepping on station-1 for that patient; the simulated patient plays -------------
    await page.click(f"button[aria-label='Start a session for {PATIENT}']")
    await page.wait_for_selector("#view-session:not([hidden])")
    assert await page.input_value("#session-station") == "station-1"
    await page.select_option("#session-game", "stepping")
    await page.fill("#setting-trials", "0")
    await page.fill("#setting-inter-trial", "0.2")
    await page.fill("#setting-dwell", "0.2")
    # the patient's headset client follows the station while the therapist runs it from the browser
    seen: list[Received] = []
    headset = HeadsetLink(running.url, "station-1", running.creds.headset_token, on_state=seen.append).start()
    await page.click("#start-game")
    await page.wait_for_selector("#session-status:has-text('started')")
    player = asyncio.create_task(play(running.url, "station-1", running.tokens, "stepping", "tracker",
                                      trials=6, timeout_s=60))

    # live view: the tracker's notices, the canvas redrawing, trials counted and hits marked
    await page.wait_for_selector("#device-notices li[data-kind='calibrated']")
    await wait_data(page, "#live-trials", "count", ">=", 1)
    await wait_data(page, "#live-canvas", "marks", ">=", 1)
    draws = int(await page.get_attribute("#live-canvas", "data-draws") or 0)
    await wait_data(page, "#live-canvas", "draws", ">=", draws + 5)
    assert (await page.inner_text("#live-success")).endswith("%")

    # -- difficulty, live: move the target radius's upper bound down with the keyboard (in cm) ---
    slider = page.locator("#bound-target_radius_m-high")
    assert await slider.input_value() == "20"
    await slider.focus()
    for _ in range(20):  # 20 cm -> 10 cm in steps of 0.5 cm
        await page.keyboard.press("ArrowLeft")
    assert await page.input_value("#bound-target_radius_m-high-num") == "10"
    play_now = running.server.stations["station-1"].play
    assert play_now is not None
    # (a slow key repeat may send an intermediate value first: wait for the last one)
    await until(lambda: play_now.difficulty.bounds["target_radius_m"].high == pytest.approx(0.10))
    await page.wait_for_selector("#difficulty-status[data-state='applied']")
    await page.wait_for_selector("#difficulty-confirm[data-state='reached']")
    assert play_now.game.snapshot()["difficulty"]["target_radius_m"] <= 0.10 + 1e-9
    await wait_data(page, "#live-difficulty tr[data-param='target_radius_m']", "value", "<=", 0.10)
    await panel.shot("session-live")

    # lock the time window where it is, and give the affected side half of the targets
    await page.check("#lock-time_window_s")
    await page.fill("#live-affected_side_share-num", "50")
    await page.press("#live-affected_side_share-num", "Enter")
    await page.wait_for_selector("#difficulty-status:has-text('share 50 %')")
    assert play_now.difficulty.bounds["time_window_s"].locked
    assert isinstance(play_now.game.settings, SteppingSettings)
    assert play_now.game.settings.affected_side_share == pytest.approx(0.5)

    # a bad value (1000 s) gets the server's error next to the difficulty controls
    await page.fill("#lock-time_window_s-value", "1000")
    await page.press("#lock-time_window_s-value", "Enter")
    await page.locator("#difficulty-error").wait_for(state="visible")
    assert "time_window_s" in await page.inner_text("#difficulty-error")

    trials_before_stop = len((await player).outcomes)
    assert trials_before_stop >= 6
    # the headset client saw the session the panel started, its hits, and the new radius bound
    session_id = play_now.session_id
    views = [r.view for r in seen if r.view.session_id == session_id]
    assert views and max(v.hits for v in views) >= 1
    assert any(v.target is not None and v.target.radius_m <= 0.10 + 1e-9 for v in views)
    await asyncio.to_thread(headset.stop)
    await stop_game(page)

    # -- a short reaching session so the radar chart has reach per direction -------------------
    await page.select_option("#session-game", "reaching")
    await page.fill("#setting-trials", "2")
    await page.click("#start-game")
    await page.wait_for_selector("#session-status:has-text('started: reaching')")
    report = await play(running.url, "station-1", running.tokens, "reaching", "tracker", trials=2,
                        timeout_s=60)
    assert len(report.outcomes) == 2
    await page.wait_for_selector("#session-status:has-text('ended (completed)')")

    # -- progress: plots across both sessions ---------------------------------------------------
    await page.click("#nav-progress")
    await page.select_option("#progress-patient", label=PATIENT)
    await page.click("#progress-load")
    await page.wait_for_selector("#sessions-body tr:nth-child(2)")
    points = {name: await page.locator(f"#chart-{name} svg circle.point").count()
              for name in ("reach", "step-reach", "success", "steps", "lift")}
    assert points["success"] == 2, points  # one per session
    assert points["reach"] >= 1 and points["step-reach"] >= 1 and points["lift"] >= 1, points
    assert await page.locator("#chart-reach svg polygon, #chart-reach svg polyline").count() >= 1
    await panel.shot("progress")

    # -- CSV exports, built in the browser --------------------------------------------------------
    async with page.expect_download() as info:
        await page.click("#export-trials")
    download = await info.value
    assert download.suggested_filename.startswith(f"stridevr_{PATIENT}_trials_")
    rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text())))
    assert {"patient_code", "session_id", "game", "trial_index", "outcome",
            "difficulty.target_radius_cm"} <= set(rows[0])
    stepping = [r for r in rows if r["game"] == "stepping"]
    assert len(stepping) >= trials_before_stop and len(rows) == len(stepping) + 2
    # the trials played after the change carry the new bound (in cm, as the panel shows it)
    assert float(stepping[-1]["difficulty.target_radius_cm"]) <= 10.0

    async with page.expect_download() as info:
        await page.click("#export-metrics")
    metrics = list(csv.DictReader(io.StringIO(Path(await (await info.value).path()).read_text())))
    assert metrics and {"session_id", "family", "metric", "value"} <= set(metrics[0])
    assert any(m["metric"] == "max_reach_pct_ll" for m in metrics)
    assert panel.problems == []


async def test_weight_shift_live_view_shows_cursor_target_and_limits(running: RunningServer, panel: Panel) -> None:
    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    await page.click("#nav-session")
    await page.select_option("#session-patient", label="DEMO-001 (affected left)")
    await page.select_option("#session-game", "weight_shift")
    assert await page.is_visible("#setting-los-forward") and await page.is_hidden("#setting-dwell")
    await page.fill("#setting-trials", "1")
    await page.fill("#setting-inter-trial", "0.2")
    await page.click("#start-game")
    await page.wait_for_selector("#session-status:has-text('started: weight_shift')")

    # Pause and resume from the panel before the simulated patient's device connects (the game waits
    # for it, paused as `device_lost`): once it plays, its one trial can end the game, and disable
    # Pause, before the panel gets to press it.
    station = running.server.stations["station-1"]
    await page.click("#pause-game")
    await page.wait_for_selector("#pause-game:has-text('Resume')")
    assert station.play is not None and "therapist" in station.play.paused_by
    await page.wait_for_selector("#live-phase:has-text('paused (device lost, therapist)')")
    await page.click("#pause-game")
    await page.wait_for_selector("#pause-game:has-text('Pause')")
    assert "therapist" not in station.play.paused_by
    await page.wait_for_selector("#live-phase:text-is('paused (device lost)')")

    player = asyncio.create_task(play(running.url, "station-1", running.tokens, "weight_shift", "cop",
                                      trials=1, timeout_s=30))
    await page.wait_for_selector("#live-canvas[data-los='drawn']:not([data-target=''])")
    await page.wait_for_selector("#live-canvas:not([data-cursor=''])")
    assert await page.locator("#difficulty-params fieldset[data-param='target_share_los']").count() == 1
    await panel.shot("weight-shift-live")

    # a dropped connection: the panel reconnects with its session token and watches again
    dropped = set(station.watchers)
    assert len(dropped) == 1
    for watcher in dropped:
        await watcher.ws.close(1001, "going away")
    await until(lambda: bool(station.watchers) and not station.watchers & dropped)
    await page.wait_for_selector("#conn-status[data-state='online']")
    assert len((await player).outcomes) == 1
    await page.wait_for_selector("#session-status:has-text('ended (completed)')")
    assert panel.problems == []


async def test_progress_shows_sway_from_quiet_stands_only_and_marks_recordings(
    running: RunningServer, panel: Panel,
) -> None:
    """A replayed assessment (stored as a recording) and a stepping session from before sway was
    restricted to quiet standing (its whole-session ``balance`` row): the sway chart has the
    assessment's eyes-open and eyes-closed points only; the session list marks the recording; the
    metrics CSV says each value's task and source."""
    from scoring.metric import MetricValue

    store, station, therapist = running.demo_records()
    patient_id = store.create_patient(therapist.clinic_id, therapist.id, "SWAY-3", "L", 0.9, 0.5, "").id
    stepping = store.start_session(patient_id, station.id, therapist.id, therapist.clinic_id, "stepping", {}, [])
    store.record_session_metrics(stepping, patient_id, "balance",
                                 [MetricValue("balance", "mean_velocity_m_s", 0.09, task="stepping")])
    store.end_session(stepping, "completed")
    replayed = store.start_session(patient_id, station.id, therapist.id, therapist.clinic_id, "assessment", {}, [],
                                   source="recording")
    store.record_session_metrics(replayed, patient_id, "assessment", [
        MetricValue("assessment", "sway_velocity_eo_m_s", 0.012, direction="cop", task="assessment:quiet_eyes_open"),
        MetricValue("assessment", "sway_velocity_ec_m_s", 0.025, direction="cop",
                    task="assessment:quiet_eyes_closed")])
    store.end_session(replayed, "completed")

    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    await page.click("#nav-progress")
    await page.select_option("#progress-patient", label="SWAY-3")
    await page.click("#progress-load")
    await page.wait_for_selector("#sessions-body tr:nth-child(2)")
    assert await page.locator("#chart-sway svg circle.point").count() == 2
    legend = await page.inner_text("#chart-sway")
    assert "eyes open" in legend and "eyes closed" in legend
    recorded = page.locator(f"#sessions-body tr:has(th:text-is('#{replayed}')) td[data-source='recording']")
    assert await recorded.locator(".badge-recording").inner_text() == "recording"
    live = page.locator(f"#sessions-body tr:has(th:text-is('#{stepping}')) td[data-source='live']")
    assert await live.locator(".badge-recording").count() == 0
    await panel.shot("progress-sway-recording")

    async with page.expect_download() as info:
        await page.click("#export-metrics")
    rows = list(csv.DictReader(io.StringIO(Path(await (await info.value).path()).read_text())))
    assert {(r["metric"], r["task"], r["source"]) for r in rows} == {
        ("mean_velocity_m_s", "stepping", "live"),
        ("sway_velocity_eo_m_s", "assessment:quiet_eyes_open", "recording"),
        ("sway_velocity_ec_m_s", "assessment:quiet_eyes_closed", "recording")}
    assert panel.problems == []
