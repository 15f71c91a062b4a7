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
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from clients.headset.network import HeadsetLink, Received
from clients.sim_player import play
from tests.conftest import RunningServer

pytestmark = pytest.mark.db

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TABLET = {"width": 768, "height": 1024}
WAIT_MS = 20_000
PATIENT = "WEB-017"


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@dataclass
class Panel:
    page: Any
    base: str
    shots: Path
    problems: list[str] = field(default_factory=list)

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(self.shots / f"panel-{name}.png"), full_page=True)

    async def login(self, username: str, password: str) -> None:
        page = self.page
        await page.fill("#login-username", username)
        await page.fill("#login-password", password)
        await page.press("#login-password", "Enter")
        await page.wait_for_selector("#view-stations:not([hidden])", timeout=WAIT_MS)


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    """Skip (fail in CI) before the server starts when the browser cannot run."""
    why = _missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {why}", pytrace=False)
        pytest.skip(why)


@pytest.fixture
async def panel(running: RunningServer, tmp_path: Path) -> AsyncIterator[Panel]:
    from playwright.async_api import async_playwright

    shots = Path(os.environ.get("STRIDEVR_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport=TABLET, accept_downloads=True)
        context.set_default_timeout(WAIT_MS)
        page = await context.new_page()
        result = Panel(page, f"http://127.0.0.1:{running.server.port}/", shots)
        # Any script error or Content-Security-Policy violation shows up here.
        page.on("console", lambda m: result.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: result.problems.append(str(e)))
        page.on("response", lambda r: result.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        try:
            yield result
        finally:
            await context.close()
            await browser.close()


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


async def _until(condition: Any, timeout_s: float = WAIT_MS / 1000) -> None:
    """Poll a condition on the in-process server."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _wait_data(page: Any, selector: str, key: str, op: str, number: float) -> None:
    """Wait until the element's data-KEY, as a number, compares with ``number`` (">=" or "<=").
    (A function, not an expression string: the panel's CSP forbids eval.)"""
    await page.wait_for_function(
        """([sel, key, op, n]) => {
             const v = Number(document.querySelector(sel)?.dataset[key]);
             return op === ">=" ? v >= n : v <= n;
           }""", arg=[selector, key, op, number], timeout=WAIT_MS)


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
    headset = HeadsetLink(running.url, "station-1", running.creds.station_token, on_state=seen.append).start()
    await page.click("#start-game")
    await page.wait_for_selector("#session-status:has-text('started')")
    player = asyncio.create_task(play(running.url, "station-1", running.creds.station_token, "stepping", "tracker",
                                      trials=6, timeout_s=60))

    # live view: the tracker's notices, the canvas redrawing, trials counted and hits marked
    await page.wait_for_selector("#device-notices li[data-kind='calibrated']")
    await _wait_data(page, "#live-trials", "count", ">=", 1)
    await _wait_data(page, "#live-canvas", "marks", ">=", 1)
    draws = int(await page.get_attribute("#live-canvas", "data-draws") or 0)
    await _wait_data(page, "#live-canvas", "draws", ">=", draws + 5)
    assert (await page.inner_text("#live-success")).endswith("%")

    # -- difficulty, live: move the target radius's upper bound down with the keyboard -----------
    slider = page.locator("#bound-target_radius_m-high")
    assert float(await slider.input_value()) == pytest.approx(0.20)
    await slider.focus()
    for _ in range(20):  # 0.20 m -> 0.10 m in steps of 0.005 m
        await page.keyboard.press("ArrowLeft")
    assert float(await page.input_value("#bound-target_radius_m-high-num")) == pytest.approx(0.10)
    play_now = running.server.stations["station-1"].play
    assert play_now is not None
    # (a slow key repeat may send an intermediate value first: wait for the last one)
    await _until(lambda: play_now.difficulty.bounds["target_radius_m"].high == pytest.approx(0.10))
    await page.wait_for_selector("#difficulty-status[data-state='applied']")
    await page.wait_for_selector("#difficulty-confirm[data-state='reached']")
    assert play_now.game.snapshot()["difficulty"]["target_radius_m"] <= 0.10 + 1e-9
    await _wait_data(page, "#live-difficulty tr[data-param='target_radius_m']", "value", "<=", 0.10)
    await panel.shot("session-live")

    # lock the time window where it is, and give the affected side half of the targets
    await page.check("#lock-time_window_s")
    await page.fill("#live-affected_side_share-num", "50")
    await page.press("#live-affected_side_share-num", "Enter")
    await page.wait_for_selector("#difficulty-status:has-text('share 50 %')")
    assert play_now.difficulty.bounds["time_window_s"].locked
    assert play_now.game.settings.affected_side_share == pytest.approx(0.5)

    # a bad value gets the server's error next to the difficulty controls
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
    await page.click("#stop-game")
    await page.wait_for_selector("#session-status:has-text('Stopped session')")

    # -- a short reaching session so the radar chart has reach per direction -------------------
    await page.select_option("#session-game", "reaching")
    await page.fill("#setting-trials", "2")
    await page.click("#start-game")
    await page.wait_for_selector("#session-status:has-text('started: reaching')")
    report = await play(running.url, "station-1", running.creds.station_token, "reaching", "tracker", trials=2,
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
    assert {"session_id", "game", "trial_index", "outcome", "difficulty.target_radius_m"} <= set(rows[0])
    stepping = [r for r in rows if r["game"] == "stepping"]
    assert len(stepping) >= trials_before_stop and len(rows) == len(stepping) + 2
    # the trials played after the change carry the new bound
    assert float(stepping[-1]["difficulty.target_radius_m"]) <= 0.10 + 1e-9

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
    player = asyncio.create_task(play(running.url, "station-1", running.creds.station_token, "weight_shift", "cop",
                                      trials=1, timeout_s=30))
    await page.wait_for_selector("#live-canvas[data-los='drawn']:not([data-target=''])")
    await page.wait_for_selector("#live-canvas:not([data-cursor=''])")
    assert await page.locator("#difficulty-params fieldset[data-param='target_share_los']").count() == 1
    await panel.shot("weight-shift-live")

    # pause and resume from the panel
    station = running.server.stations["station-1"]
    await page.click("#pause-game")
    await page.wait_for_selector("#pause-game:has-text('Resume')")
    assert station.play is not None and "therapist" in station.play.paused_by
    await page.wait_for_selector("#live-phase:has-text('paused (therapist)')")
    await page.click("#pause-game")
    await page.wait_for_selector("#pause-game:has-text('Pause')")
    assert "therapist" not in station.play.paused_by

    # a dropped connection: the panel reconnects with its session token and watches again
    dropped = set(station.watchers)
    assert len(dropped) == 1
    for watcher in dropped:
        await watcher.ws.close(1001, "going away")
    await _until(lambda: bool(station.watchers) and not station.watchers & dropped)
    await page.wait_for_selector("#conn-status[data-state='online']")
    assert len((await player).outcomes) == 1
    await page.wait_for_selector("#session-status:has-text('ended (completed)')")
    assert panel.problems == []
