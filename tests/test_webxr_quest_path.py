"""The Quest owner's path of docs/webxr.md, end to end: a server started the way ``make run`` starts
it (its own process, ``serve --migrate --demo``), the therapist's panel pairs a headset as the
station's tracker and shows the code, the headset page (``/xr`` on an emulated Quest 3) types it on
its keypad, enters VR and calibrates standing, the therapist starts stepping from the panel, and
the controllers strapped to the feet play trials that the panel shows and the database stores."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from clients.sim_devices import XrRoom
from server.storage.database import normalise_url
from server.storage.models import Trial
from tests.panel_helpers import TABLET, wait_data
from tests.test_process import start_server
from tests.test_webxr_play import HOME_M, Body, calibrated_in_vr, type_code_on_the_html_keypad
from tests.webxr_helpers import WAIT_MS, shots_dir, xr_browser

pytestmark = pytest.mark.db
TRIALS = 3
# Software WebGL on a shared machine draws a few frames a second and each pose goes out with a
# frame: once the game runs, the therapist locks the time window long from the panel, as one would for
# a slow patient.
TIME_WINDOW_S = 15


def stored_trials(database_url: str, session_id: int) -> list[Any]:
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as db:
            return list(db.execute(select(Trial).where(Trial.session_id == session_id).order_by(Trial.trial_index)))
    finally:
        engine.dispose()


async def test_a_quest_owner_pairs_from_the_panel_calibrates_and_plays_stepping(
        browser_available: None, database_url: str, tmp_path: Path) -> None:
    server = await start_server(database_url, "--migrate", "--demo")
    password = server.credential(r"therapist login : demo / (\S+)")
    base = f"http://127.0.0.1:{server.port}"
    room = XrRoom(yaw_deg=-40.0, origin_m=(0.3, 0.6))
    try:
        async with xr_browser(base, shots_dir(tmp_path)) as xr:
            # the therapist's tablet, beside the headset in the same (headless) browser
            tablet = await xr.page.context.browser.new_context(viewport=TABLET)
            tablet.set_default_timeout(WAIT_MS)
            panel = await tablet.new_page()
            panel_problems: list[str] = []
            panel.on("pageerror", lambda e: panel_problems.append(str(e)))
            panel.on("console", lambda m: panel_problems.append(m.text) if m.type == "error" else None)
            await panel.goto(base + "/")
            await panel.fill("#login-username", "demo")
            await panel.fill("#login-password", password)
            await panel.press("#login-password", "Enter")
            await panel.wait_for_selector("#view-stations:not([hidden])")

            # -- Pair headset (also the tracker): the panel shows the code, the headset types it --
            await panel.click("#nav-session")
            await panel.wait_for_selector("#pairings li")
            await panel.check("#pair-tracker")
            await panel.click("#pair-headset")
            await panel.wait_for_selector("#pair-box:not([hidden])")
            code = (await panel.inner_text("#pair-code")).strip()
            assert await xr.page.is_visible("#keypad")
            await type_code_on_the_html_keypad(xr, code)
            await xr.until("() => window.strideXR.paired && window.strideXR.link.connected")
            await panel.wait_for_selector("#pairings li:has-text('headset and tracker')")
            await panel.wait_for_selector("#pair-box", state="hidden")  # the code was used

            # -- in VR, standing on the home spots: the calibration places the game in the room --
            body = Body(xr, room)
            await calibrated_in_vr(xr, body)

            # -- the therapist starts stepping from the panel -------------------------------------
            await panel.select_option("#session-patient", label="DEMO-001 (affected left)")
            await panel.select_option("#session-game", "stepping")
            await panel.fill("#setting-trials", str(TRIALS))
            await panel.fill("#setting-inter-trial", "0.2")
            await panel.fill("#setting-dwell", "0.2")
            await panel.click("#start-game")
            await panel.wait_for_selector("#session-status:has-text('started: stepping')")
            status = await panel.inner_text("#session-status")
            session_id = int(status.split("#", 1)[1].split(" ", 1)[0].rstrip(":"))
            for box in ("#bound-time_window_s-high-num", "#lock-time_window_s-value"):
                if box.startswith("#lock"):
                    await panel.check("#lock-time_window_s")
                await panel.fill(box, str(TIME_WINDOW_S))
                await panel.press(box, "Enter")
                await panel.wait_for_function("() => document.querySelector('#difficulty-status').dataset.state"
                                              " === 'applied' || !document.querySelector('#difficulty-error').hidden")
                assert await panel.is_hidden("#difficulty-error"), await panel.inner_text("#difficulty-error")

            # -- the controllers on the feet step onto each target and back ------------------------
            for trial in range(TRIALS):
                await xr.until("(n) => { const s = window.strideXR.state; return s && s.trial === n"
                               " && s.phase === 'target' && s.target; }", trial, timeout_ms=30_000)
                state = await xr.js("() => window.strideXR.state")
                target = state["target"]
                side = target["foot"]
                await body.move_foot(side, (target["x_m"], target["y_m"]))
                await xr.page.wait_for_timeout(800)  # dwell
                await body.move_foot(side, (-HOME_M if side == "L" else HOME_M, 0.0))

            # -- what the panel shows is what the database stores ----------------------------------
            for _ in range(300):
                rows = stored_trials(database_url, session_id)
                if len(rows) == TRIALS:
                    break
                await asyncio.sleep(0.1)
            outcomes = [row.outcome for row in rows]
            assert len(outcomes) == TRIALS, outcomes
            # the targets shown after the lock had the long window and were hit (the first one, shown
            # with the starting window while the therapist changed it, may have timed out)
            assert outcomes[1:] == ["hit"] * (TRIALS - 1), outcomes
            hits = outcomes.count("hit")
            await panel.wait_for_selector(f"#session-status:has-text('Session #{session_id} ended (completed): "
                                          f"{TRIALS} trials, {hits} hits.')")
            await wait_data(panel, "#live-canvas", "marks", ">=", TRIALS)  # each trial marked on the live map
            await panel.screenshot(path=str(shots_dir(tmp_path) / "panel-quest-path.png"), full_page=True)
            await xr.screenshot("quest-path")
            assert xr.problems == [] and panel_problems == []
            await tablet.close()
    finally:
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.proc.wait(), 15)
