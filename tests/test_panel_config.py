"""The panel's live difficulty form shows the server's configuration and never sends a value it
did not get from it (headless Chromium through Playwright, against the real server and database).

Games here are started over the protocol, as a plan, a CLI or another tab would start them; the
panel only watches. Shares its browser fixtures with tests/test_panel.py (tests/panel_helpers.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from clients.link import Link
from games.registry import GAMES
from server.storage.models import AuditEntry, DifficultyChangeRow
from tests.conftest import RunningServer
from tests.panel_helpers import Panel

pytestmark = pytest.mark.db

# A value other than the default for every live setting of every game, as the form shows it.
LIVE_VALUES: dict[str, dict[str, tuple[float, str]]] = {
    "stepping": {"affected_side_share": (0.65, "65")},
    "reaching": {"touch_max_s": (2.3, "2.3"), "touch_force_share_max": (0.35, "35")},
    "treadmill": {"belt_speed_m_s": (0.85, "0.85")},
}
DIFFICULTY = {"target_success": 0.8, "bounds": {"target_radius_m": {"low": 0.07, "high": 0.12}}}
# Wire (SI) value × scale = what the form shows (units.js); the rest are shown as they are.
SHOWN_SCALE = {"target_radius_m": 100, "step_length_m": 100, "affected_side_share": 100, "touch_force_share_max": 100}


def in_form_unit(name: str, value: float) -> float:
    return value * SHOWN_SCALE.get(name, 1)


async def start_over_protocol(running: RunningServer, code: str, game: str, settings: dict[str, Any],
                              difficulty: dict[str, Any] | None = None) -> tuple[Link, dict[str, Any]]:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient = await therapist.call({"type": "create_patient", "code": code, "affected_side": "R",
                                    "leg_length_m": 0.9, "step_reach_m": 0.5})
    started = await therapist.call({"type": "start_game", "station": "station-1", "game": game,
                                    "patient_id": patient["patient"]["id"], "settings": settings,
                                    "difficulty": difficulty or {}})
    return therapist, started


async def open_session(panel: Panel, running: RunningServer, page: Any = None) -> Any:
    """Log in on a tab of its own and watch station-1 from the session view."""
    page = page or panel.page
    await page.goto(panel.base)
    await page.fill("#login-username", running.creds.username)
    await page.fill("#login-password", running.creds.password)
    await page.press("#login-password", "Enter")
    await page.wait_for_selector("#view-stations:not([hidden])")
    await page.click("#nav-session")
    return page


async def form_ready(page: Any, revision: int) -> None:
    await page.wait_for_selector(f"#difficulty-form[data-ready='true'][data-revision='{revision}']")


def stored_changes(running: RunningServer, session_id: int) -> tuple[list[Any], list[Any]]:
    """The therapist's stored changes of the session, and the set_difficulty audit entries."""
    with running.store.store.engine.connect() as db:
        changes = db.execute(select(DifficultyChangeRow.parameter, DifficultyChangeRow.old_value,
                                    DifficultyChangeRow.new_value).where(
            DifficultyChangeRow.session_id == session_id,
            DifficultyChangeRow.reason.startswith("therapist"))).all()
        audits = db.scalars(select(AuditEntry.detail).where(AuditEntry.action == "set_difficulty")).all()
    return list(changes), list(audits)


async def test_apply_untouched_on_a_game_started_elsewhere_changes_nothing(
    running: RunningServer, panel: Panel,
) -> None:
    link, started = await start_over_protocol(
        running, "ELSEWHERE-1", "stepping", {"affected_side_share": 0.7, "trials": 0}, DIFFICULTY)
    config = started["config"]
    page = await open_session(panel, running)
    await form_ready(page, config["revision"])
    # the form and the live view show what the server holds, not the panel's defaults
    assert await page.input_value("#live-affected_side_share-num") == "70"
    assert await page.input_value("#target-success-num") == "80"
    assert await page.input_value("#bound-target_radius_m-low-num") == "7"
    assert await page.input_value("#bound-target_radius_m-high-num") == "12"
    who = page.locator("#live-who")
    assert await who.get_attribute("data-patient") == "ELSEWHERE-1"
    text = await who.inner_text()
    assert "Stepping" in text and "ELSEWHERE-1" in text and "affected side right" in text
    assert f"session #{started['session_id']}" in text
    await panel.shot("config-elsewhere")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await panel.shot("config-elsewhere-desktop")

    await page.click("#difficulty-apply")
    await page.wait_for_selector("#difficulty-status:has-text('Nothing changed')")
    assert stored_changes(running, started["session_id"]) == ([], [])
    now = await link.current_config("station-1")
    assert now["revision"] == config["revision"] and now["settings"] == {"affected_side_share": 0.7}
    assert now["difficulty"]["bounds"] == config["difficulty"]["bounds"]
    assert now["difficulty"]["target_success"] == 0.8
    await link.call({"type": "stop_game", "station": "station-1"})
    await page.wait_for_selector("#live-who", state="hidden")
    assert await page.get_attribute("#difficulty-form", "data-ready") == "false"
    await link.close()
    assert panel.problems == []


async def test_two_tabs_edit_at_once_and_the_stale_one_is_refused_and_reloaded(
    running: RunningServer, panel: Panel,
) -> None:
    link, started = await start_over_protocol(
        running, "TWOTABS-1", "stepping", {"affected_side_share": 0.7, "trials": 0}, DIFFICULTY)
    revision = started["config"]["revision"]
    first = await open_session(panel, running)
    second = await open_session(panel, running, await first.context.new_page())
    for tab in (first, second):
        await form_ready(tab, revision)
    # the second tab starts an edit it has not sent yet
    await second.fill("#target-success-num", "60")
    # the first tab applies its change
    await first.fill("#live-affected_side_share-num", "50")
    await first.press("#live-affected_side_share-num", "Enter")
    await first.wait_for_selector("#difficulty-status:has-text('share 50 %')")
    await form_ready(first, revision + 1)
    # the second tab is told its view is out of date while the edit is open...
    await second.wait_for_selector("#difficulty-pending:not([hidden])")
    assert "therapist demo" in await second.inner_text("#difficulty-pending")
    # ...and when it applies, it is refused, told why, and shown the first tab's values
    await second.press("#target-success-num", "Enter")
    error = second.locator("#difficulty-error")
    await error.wait_for(state="visible")
    message = await error.inner_text()
    assert "changed since you loaded it" in message and "therapist demo" in message, message
    assert await error.get_attribute("data-code") == "stale_config"
    await form_ready(second, revision + 1)
    assert await second.input_value("#live-affected_side_share-num") == "50"
    assert await second.input_value("#target-success-num") == "80"
    assert await second.is_hidden("#difficulty-pending")
    await second.screenshot(path=str(panel.shots / "panel-config-stale.png"), full_page=True)
    now = await link.current_config("station-1")
    assert now["revision"] == revision + 1 and now["settings"] == {"affected_side_share": 0.5}
    assert now["difficulty"]["target_success"] == 0.8
    changes, audits = stored_changes(running, started["session_id"])
    assert changes == [("setting:affected_side_share", 0.7, 0.5)] and len(audits) == 1

    # the reloaded tab can change it now, from the current revision; the first tab follows
    await second.fill("#target-success-num", "65")
    await second.press("#target-success-num", "Enter")
    await second.wait_for_selector("#difficulty-status:has-text('target success 65 %')")
    await form_ready(first, revision + 2)
    assert await first.input_value("#target-success-num") == "65"
    assert await first.input_value("#live-affected_side_share-num") == "50"
    await link.call({"type": "stop_game", "station": "station-1"})
    await link.close()
    assert panel.problems == []


async def test_every_live_setting_of_every_game_round_trips_unchanged(running: RunningServer, panel: Panel) -> None:
    games = [name for name, entry in GAMES.items() if entry.live_settings]
    assert {name: set(LIVE_VALUES.get(name, {})) for name in games} == {
        name: set(GAMES[name].live_settings) for name in games}, "a live setting without a test value"
    page = await open_session(panel, running)
    for number, game in enumerate(games):
        values = LIVE_VALUES[game]
        link, started = await start_over_protocol(
            running, f"LIVE-{number}", game, {name: value for name, (value, _) in values.items()})
        config = started["config"]
        assert config["settings"] == {name: value for name, (value, _) in values.items()}
        await form_ready(page, config["revision"])
        assert await page.get_attribute("#live-who", "data-game") == game
        for name, (_, shown) in values.items():
            assert float(await page.input_value(f"#live-{name}-num")) == pytest.approx(float(shown)), name
        for name, bounds in config["difficulty"]["bounds"].items():
            for which in ("low", "high"):  # shown rounded (cm to 0.1, × step reach to 0.01)
                value = float(await page.input_value(f"#bound-{name}-{which}-num"))
                assert value == pytest.approx(in_form_unit(name, bounds[which]), abs=0.05), (name, which)
        await page.click("#difficulty-apply")
        await page.wait_for_selector("#difficulty-status:has-text('Nothing changed')")
        now = await link.current_config("station-1")
        assert now["revision"] == config["revision"] and now["settings"] == config["settings"]
        assert now["difficulty"]["bounds"] == config["difficulty"]["bounds"]
        assert stored_changes(running, started["session_id"]) == ([], [])
        await link.call({"type": "stop_game", "station": "station-1"})
        await page.wait_for_selector("#difficulty-form[data-ready='false']")
        await link.close()
    assert panel.problems == []


async def test_a_config_lost_on_the_way_is_asked_for_again(running: RunningServer, panel: Panel) -> None:
    """A state names a newer configuration than the form holds: the panel asks for it (`watch`)."""
    dropped: list[dict[str, Any]] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            data = json.loads(message) if isinstance(message, str) else {}
            if data.get("type") == "config" and data.get("changed_by") == "therapist demo" and not dropped:
                dropped.append(data)  # this push never reaches the page
                return
            ws.send(message)

        server.on_message(from_server)

    await panel.page.route_web_socket(re.compile(".*"), route)
    link, started = await start_over_protocol(
        running, "LOST-1", "stepping", {"affected_side_share": 0.7, "trials": 0})
    revision = started["config"]["revision"]
    page = await open_session(panel, running)
    await form_ready(page, revision)
    await link.call({"type": "set_difficulty", "station": "station-1", "revision": revision,
                     "settings": {"affected_side_share": 0.4}})
    await form_ready(page, revision + 1)  # from the config the panel asked for again
    assert [d["revision"] for d in dropped] == [revision + 1]
    assert await page.input_value("#live-affected_side_share-num") == "40"
    await link.call({"type": "stop_game", "station": "station-1"})
    await link.close()
    assert panel.problems == []


async def test_the_form_is_in_clinicians_units_and_sends_si_once(running: RunningServer, panel: Panel) -> None:
    """cm, %, s and × step reach (with cm for the config's patient) in the form; 12 cm typed is
    stored as 0.12 m; a field shown rounded (7.3 cm for 0.0734 m) but never touched is not sent, so
    the server keeps its exact value; a lock left at its prefilled, rounded value locks the exact one."""
    difficulty: dict[str, Any] = {"target_success": 0.8, "level": 0.0, "bounds": {
        "target_radius_m": {"low": 0.0734, "high": 0.1666},
        "step_distance_frac": {"low": 0.3, "high": 0.8},
        "time_window_s": {"low": 2.346, "high": 5.556}}}
    link, started = await start_over_protocol(
        running, "UNITS-1", "stepping", {"affected_side_share": 0.7, "trials": 0}, difficulty)
    config = started["config"]
    revision, session_id = config["revision"], started["session_id"]
    assert config["patient"]["step_reach_m"] == 0.5 and config["patient"]["leg_length_m"] == 0.9
    page = await open_session(panel, running)
    await form_ready(page, revision)

    boxes = ["target-success-num", "live-affected_side_share-num", "bound-target_radius_m-low-num",
             "bound-target_radius_m-high-num", "bound-step_distance_frac-low-num", "bound-step_distance_frac-high-num",
             "bound-time_window_s-low-num", "bound-time_window_s-high-num"]
    assert [await page.input_value(f"#{b}") for b in boxes] == ["80", "70", "7.3", "16.7", "0.3", "0.8", "2.35", "5.56"]
    assert await page.input_value("#bound-target_radius_m-high") == "16.5"  # the slider, in cm steps of 0.5
    assert await page.get_attribute("#bound-target_radius_m-high", "max") == "25"
    assert await page.inner_text("label[for='bound-target_radius_m-low']") == "Lowest (cm)"
    assert await page.inner_text("label[for='bound-time_window_s-high']") == "Highest (s)"
    assert await page.inner_text("label[for='live-affected_side_share']") == "Affected-side share (%)"
    assert await page.inner_text("label[for='bound-step_distance_frac-low']") == "Lowest (× step reach) = 15.0 cm"
    assert await page.inner_text("label[for='bound-step_distance_frac-high']") == "Highest (× step reach) = 40.0 cm"
    assert "(cm)" in (await page.get_attribute("#lock-target_radius_m-value", "aria-label") or "")
    radius_now = config["difficulty"]["values"]["target_radius_m"]
    assert await page.inner_text("#current-target_radius_m") == f"{100 * radius_now:.1f} cm"
    step_now = config["difficulty"]["values"]["step_distance_frac"]
    assert await page.inner_text("#current-step_distance_frac") == (
        f"{step_now:.2f} × step reach, {100 * 0.5 * step_now:.1f} cm")
    form_text = await page.inner_text("#difficulty-form")
    assert not re.search(r"\(m\)|\d m\b", form_text), form_text  # nothing left in metres
    await panel.shot("config-units")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await panel.shot("config-units-desktop")

    # 12 cm typed into the radius's upper bound: 0.12 m on the server, and nothing else sent
    await page.fill("#bound-target_radius_m-high-num", "12")
    await page.press("#bound-target_radius_m-high-num", "Enter")
    await form_ready(page, revision + 1)
    now = await link.current_config("station-1")
    bounds = now["difficulty"]["bounds"]
    assert bounds["target_radius_m"] == {"low": 0.0734, "high": 0.12, "locked": False, "value": None}
    for name in ("step_distance_frac", "time_window_s"):
        assert {k: bounds[name][k] for k in ("low", "high")} == difficulty["bounds"][name], name
    assert now["difficulty"]["target_success"] == 0.8 and now["settings"] == {"affected_side_share": 0.7}
    _, audits = stored_changes(running, session_id)
    assert len(audits) == 1
    request = audits[0]["request"]
    assert request["bounds"] == {"target_radius_m": {"high": 0.12}}, request
    assert set(request) - {"type", "station", "revision", "session_id", "id", "v"} == {"bounds"}, request
    assert await page.input_value("#bound-target_radius_m-low-num") == "7.3"
    assert await page.input_value("#bound-target_radius_m-high-num") == "12"

    # a step distance typed in × step reach shows its cm at once; a share typed in %; the time
    # window (at level 0 its easy end, 5.556 s, shown 5.56 s: above the bound) locked where it is
    await page.fill("#bound-step_distance_frac-low-num", "0.5")
    assert await page.inner_text("label[for='bound-step_distance_frac-low']") == "Lowest (× step reach) = 25.0 cm"
    await page.fill("#live-affected_side_share-num", "45")
    await page.check("#lock-time_window_s")
    assert await page.input_value("#lock-time_window_s-value") == "5.56"
    await page.press("#lock-time_window_s-value", "Enter")
    await form_ready(page, revision + 2)
    now = await link.current_config("station-1")
    bounds = now["difficulty"]["bounds"]
    assert bounds["step_distance_frac"] == {"low": 0.5, "high": 0.8, "locked": False, "value": None}
    assert bounds["time_window_s"] == {"low": 2.346, "high": 5.556, "locked": True, "value": 5.556}
    assert bounds["target_radius_m"]["low"] == 0.0734 and now["settings"] == {"affected_side_share": 0.45}
    changes, audits = stored_changes(running, session_id)
    assert ("setting:affected_side_share", 0.7, 0.45) in changes and len(audits) == 2
    await link.call({"type": "stop_game", "station": "station-1"})
    await link.close()
    assert panel.problems == []
