"""The panel's Admin view and patient export, driven in headless Chromium against the real server:
accounts, station credentials, the audit log, and what a plain therapist is (not) offered."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from clients.link import Link
from server.demo import DEMO_PATIENT
from tests.conftest import RunningServer
from tests.panel_helpers import WAIT_MS, Panel
from tests.test_roles import REVOKED_WITHIN_S, closed_with, hello

pytestmark = pytest.mark.db

DESKTOP = {"width": 1280, "height": 800}
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d$")


async def open_admin(panel: Panel, running: RunningServer) -> Any:
    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.admin_username, running.creds.admin_password)
    await page.click("#nav-admin")
    await page.wait_for_selector("#accounts-body tr[data-account='demo']")
    await page.wait_for_selector("#credentials-body tr[data-station='station-1']")
    return page


async def second_page(panel: Panel) -> Any:
    """Another tab (its own sessionStorage, so its own login), its script errors collected too."""
    page = await panel.page.context.new_page()
    page.on("console", lambda m: panel.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: panel.problems.append(str(e)))
    await page.goto(panel.base)
    return page


async def login_on(page: Any, username: str, password: str) -> None:
    await page.fill("#login-username", username)
    await page.fill("#login-password", password)
    await page.press("#login-password", "Enter")


async def test_an_admin_creates_a_therapist_who_logs_in_and_deactivating_them_logs_their_page_out(
        running: RunningServer, panel: Panel) -> None:
    page = await open_admin(panel, running)
    await page.fill("#account-username", "new-therapist")
    await page.fill("#account-name", "New Therapist")
    await page.click("#account-create")
    password = (await page.text_content("[data-testid=one-time-password]") or "").strip()
    assert len(password) >= 10
    assert "shown only this once" in (await page.text_content("#account-secret") or "")
    row = page.locator("#accounts-body tr[data-account='new-therapist']")
    assert await row.locator("td").nth(1).text_content() == "Therapist"
    await panel.shot("admin-tablet")
    await page.set_viewport_size(DESKTOP)
    await panel.shot("admin-desktop")

    # The same username again: the server's conflict, shown next to the form.
    await page.fill("#account-username", "new-therapist")
    await page.click("#account-create")
    await page.wait_for_selector("#account-error[data-code='conflict']:has-text('Already exists')")

    # Hidden once done: the password is nowhere on the page any more.
    await page.click("#account-secret button:has-text('Done')")
    assert await page.locator("#account-secret").is_hidden()
    assert password not in (await page.content())

    therapist = await second_page(panel)
    await login_on(therapist, "new-therapist", password)
    await therapist.wait_for_selector("#view-stations:not([hidden])", timeout=WAIT_MS)
    assert await therapist.locator("#nav-admin").is_hidden()

    await row.locator("button:has-text('Deactivate')").click()
    confirm = page.locator("#account-confirm")
    assert "Deactivate new-therapist?" in (await confirm.text_content() or "")
    assert await therapist.locator("#view-login").is_hidden()  # nothing happens before the confirm step
    started = time.perf_counter()
    await page.click("#account-confirm-yes")
    await therapist.wait_for_selector("#view-login:not([hidden]) #login-notice:has-text('deactivated')",
                                      timeout=int(REVOKED_WITHIN_S * 1000))
    assert time.perf_counter() - started <= REVOKED_WITHIN_S
    await page.wait_for_selector("#accounts-body tr[data-account='new-therapist'] td:has-text('Deactivated')")
    found = running.store.store.find_therapist("new-therapist")
    assert found is not None and not found.active

    # Reactivated and given a new one-time password: the old one fails, the new one logs in.
    await row.locator("button:has-text('Reactivate')").click()
    await page.click("#account-confirm-yes")
    await page.wait_for_selector("#accounts-body tr[data-account='new-therapist'] td:has-text('Active')")
    await row.locator("button:has-text('Reset password')").click()
    await page.wait_for_selector("#account-secret:has-text('New one-time password for new-therapist')")
    new_password = (await page.text_content("[data-testid=one-time-password]") or "").strip()
    assert new_password != password
    await login_on(therapist, "new-therapist", password)
    await therapist.wait_for_selector("#login-error[data-code='auth_failed']")
    await login_on(therapist, "new-therapist", new_password)
    await therapist.wait_for_selector("#view-stations:not([hidden])")
    assert panel.problems == []


async def test_the_audit_view_shows_a_failed_login_filters_by_action_and_date_and_pages_older_entries(
        running: RunningServer, panel: Panel) -> None:
    other = await second_page(panel)
    await login_on(other, running.creds.username, "not the password")
    await other.wait_for_selector("#login-error[data-code='auth_failed']")
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    for _ in range(55):  # more than one page (50) of list_patients entries
        await therapist.call({"type": "list_patients"})
        await asyncio.sleep(0.03)  # under a therapist's 50 messages a second, however fast the replies
    await therapist.close()

    page = await open_admin(panel, running)
    await page.fill("#audit-action", "login_failed")
    await page.click("#audit-load")
    await page.wait_for_selector("#audit-status:has-text('1 entry')")
    cells = [await c.text_content() or "" for c in await page.locator("#audit-body tr").first.locator("td").all()]
    at, person, action, subject, detail = cells
    assert LOCAL_TIME.match(at), at
    assert (person, action) == ("demo", "login_failed")
    assert subject and "wrong username or password" in detail and "127.0.0.1" in detail
    assert await page.locator("#audit-body tr.refused").count() == 1

    today = date.today()  # the browser and this test share the machine's time zone
    await page.fill("#audit-from", (today + timedelta(days=1)).isoformat())
    await page.click("#audit-load")
    await page.wait_for_selector("#audit-body:has-text('No entries match')")
    await page.fill("#audit-from", today.isoformat())
    await page.fill("#audit-to", today.isoformat())
    await page.click("#audit-load")
    await page.wait_for_selector("#audit-status:has-text('1 entry')")

    await page.fill("#audit-action", "list_patients")
    await page.select_option("#audit-person", label="demo (Demo Therapist)")  # not the admin's own lists
    await page.click("#audit-load")
    await page.wait_for_selector("#audit-status:has-text('50 entries')")
    await page.click("#audit-older")
    await page.wait_for_selector("#audit-status:has-text('55 entries')")
    assert await page.locator("#audit-older").is_hidden()
    ids = [int(await r.get_attribute("data-entry") or 0) for r in await page.locator("#audit-body tr").all()]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 55
    assert panel.problems == []


async def test_station_tokens_are_shown_once_and_rotating_one_closes_the_old_device_connection(
        running: RunningServer, panel: Panel) -> None:
    device, welcome = await hello(running.url, "device", running.creds.station_token)
    assert welcome["type"] == "welcome"
    page = await open_admin(panel, running)
    await page.click("#credentials-body tr[data-station='station-1'] td[data-role='device'] button:has-text('Rotate')")
    assert "Rotate the device token of station-1?" in (await page.text_content("#station-confirm") or "")
    await page.click("#station-confirm-yes")
    token = (await page.text_content("[data-testid=token-device]") or "").strip()
    last, took_s = await closed_with(device)
    assert last["code"] == "revoked" and last["reason"] == "station_credential" and took_s <= REVOKED_WITHIN_S
    _, refused = await hello(running.url, "device", running.creds.station_token)
    assert refused["code"] == "auth_failed"
    fresh, welcome = await hello(running.url, "device", token)
    assert welcome["type"] == "welcome"
    await fresh.close()

    await page.fill("#station-name", "station-2")
    await page.click("#station-create")
    await page.wait_for_selector("#credentials-body tr[data-station='station-2']")
    tokens = {role: (await page.text_content(f"[data-testid=token-{role}]") or "").strip()
              for role in ("device", "headset")}
    for role, value in tokens.items():
        ws, welcome = await hello(running.url, role, value, station="station-2")
        assert welcome["type"] == "welcome" and welcome["role"] == role
        await ws.close()

    await page.click("#credentials-body tr[data-station='station-2'] td[data-role='headset'] button:has-text('Revoke')")
    await page.click("#station-confirm-yes")
    await page.wait_for_selector(
        "#credentials-body tr[data-station='station-2'] td[data-role='headset']:has-text('no token')")
    assert await page.locator("#station-secret").is_hidden()
    _, refused = await hello(running.url, "headset", tokens["headset"], station="station-2")
    assert refused["code"] == "auth_failed"
    assert panel.problems == []


async def test_an_admin_downloads_everything_stored_about_a_patient_as_json(
        running: RunningServer, panel: Panel) -> None:
    store, _, therapist = running.demo_records()
    patient = store.find_patient_by_code(therapist.clinic_id, DEMO_PATIENT)
    assert patient is not None
    running.seed_assessment(patient.id, {("sway_velocity_eo_m_s", "", "cop"): 0.012})
    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.admin_username, running.creds.admin_password)
    await page.click("#nav-patients")
    async with page.expect_download() as info:
        await page.click(f"#patients-body tr[data-patient='{patient.code}'] button:has-text('Export (JSON)')")
    download = await info.value
    assert re.fullmatch(rf"stridevr_{re.escape(patient.code)}_export_\d{{4}}-\d\d-\d\d\.json",
                        download.suggested_filename)
    data = json.loads(Path(await download.path()).read_text(encoding="utf-8"))
    expected = store.export_patient(patient.clinic_id, patient.id, None)
    assert expected is not None
    assert data["patient_code"] == patient.code
    assert data["tables"] == json.loads(json.dumps(expected.tables))
    assert data["tables"]["patients"][0]["code"] == patient.code
    assert data["tables"]["session_metrics"], "the seeded assessment's metrics are in the export"
    assert any(e["action"] == "export_patient" for e in expected.audit)  # the panel's export was audited
    await page.wait_for_selector("#patients-status:has-text('Exported')")
    assert panel.problems == []


async def test_a_therapist_sees_no_admin_entry_and_a_crafted_admin_request_is_forbidden(
        running: RunningServer, panel: Panel) -> None:
    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    assert await page.locator("#nav-admin").is_hidden()
    await page.click("#nav-patients")
    await page.wait_for_selector("#patients-body tr[data-patient]")
    assert await page.locator("#patients-body button:has-text('Export (JSON)')").count() == 0
    # The view stored for a reload cannot open the Admin view either.
    await page.evaluate("() => sessionStorage.setItem('stridevr.view', 'admin')")
    await page.reload()
    await page.wait_for_selector("#view-stations:not([hidden])")
    assert await page.locator("#view-admin").is_hidden()

    reply = await page.evaluate("""() => new Promise((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/`);
        const token = sessionStorage.getItem('stridevr.session_token');
        ws.onopen = () => ws.send(JSON.stringify({v: 1, id: 0, type: 'login', token}));
        ws.onmessage = (event) => {
          const message = JSON.parse(event.data);
          if (message.type === 'welcome') ws.send(JSON.stringify({v: 1, id: 1, type: 'list_accounts'}));
          else if (message.id === 1) { resolve(message); ws.close(); }
        };
    })""")
    assert reply["type"] == "error" and reply["code"] == "forbidden"
    # The refusal is in the admin's audit view, highlighted.
    boss = await second_page(panel)
    await login_on(boss, running.creds.admin_username, running.creds.admin_password)
    await boss.click("#nav-admin")
    await boss.fill("#audit-action", "forbidden")
    await boss.click("#audit-load")
    await boss.wait_for_selector("#audit-status:has-text('1 entry')")
    row = boss.locator("#audit-body tr.refused[data-action='forbidden']")
    assert await row.locator("td").nth(1).text_content() == "demo"
    assert "request: list_accounts" in (await row.locator("td.detail").text_content() or "")
    assert panel.problems == []
