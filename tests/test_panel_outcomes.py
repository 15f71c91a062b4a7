"""The panel's standard measures in Chromium against the real server: a Berg Balance Scale and a
Modified Ashworth entered item by item in the assessment view (forms built from the server's
catalogue, totals computed by the server), a scale the server refuses with the item named, the
measures table with its verdict, and the PDF progress report and FHIR export downloaded."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle

from tests.conftest import RunningServer
from tests.panel_helpers import Panel
from tests.test_outcomes_e2e import check_fhir, seed_training, tool

CODE = "SCALE-5"


async def test_scales_entered_in_the_panel_and_documents_downloaded(running: RunningServer, panel: Panel) -> None:
    store, _, therapist = running.demo_records()
    patient = store.create_patient(therapist.clinic_id, therapist.id, CODE, "L", 0.9, None, "")
    seed_training(store, running, patient.id)  # two assessments with a TUG and gait speed; a stepping session
    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    await page.click("#nav-patients")
    await page.click(f"button[aria-label='Assessment and plan of {CODE}']")
    await page.wait_for_selector("#view-assessment:not([hidden])")
    # the instrumented measures from the assessments, and the week's training dose
    tug = page.locator("#outcome-measures-body tr[data-measure='tug']")
    await tug.wait_for()
    assert "24.0" in await tug.inner_text() and "19.8" in await tug.inner_text()
    assert await tug.get_attribute("data-verdict") == "improved_mdc"
    week = "{}-W{:02d}".format(*datetime.now(UTC).isocalendar()[:2])
    dose = await page.inner_text(f"#outcome-dose-body tr[data-week='{week}']")
    assert dose.split() == [week, "1", "0.8", "12", "9", "75", "%"]

    await page.fill("#outcome-birth-year", "1950")
    await page.select_option("#outcome-sex", "M")
    await page.click("#outcome-details-save")
    await page.wait_for_selector("#outcome-status:has-text('Details saved')")

    # A Berg Balance Scale four weeks ago, all items 2; today's with item 2 at 4 and item 3 left to the rule.
    await page.click("#scale-entry > summary")
    await page.select_option("#scale-choice", "bbs")
    assert await page.locator("#scale-items select").count() == 14
    four_weeks_ago = (datetime.now(UTC).date() - timedelta(days=28)).isoformat()
    for day, values in ((four_weeks_ago, dict.fromkeys(range(1, 15), "2")),
                        (datetime.now(UTC).date().isoformat(), dict.fromkeys(range(1, 15), "3") | {2: "4", 3: ""})):
        await page.fill("#scale-date", day)
        for n, value in values.items():
            await page.select_option(f"#scale-item-b{n}", value)
        await page.click("#scale-save")
        await page.wait_for_selector(f"#scale-status:has-text('{'28' if values[1] == '2' else '44'} points')")
    row = page.locator("#outcome-measures-body tr[data-measure='bbs'][data-verdict='improved_mdc']")
    await row.wait_for()
    text = await row.inner_text()
    assert "28" in text and "44" in text and "+16" in text and "improved: beyond the MDC (6 points)" in text
    assert "54" in text and "70-79 y, men" in text  # Steffen 2002

    # A Modified Ashworth grade of 1+ for the left plantar flexors.
    await page.select_option("#scale-choice", "mas")
    await page.select_option("#scale-item-L-ankle_plantarflexors", "1+")
    await page.click("#scale-save")
    await page.wait_for_selector("#scale-status:has-text('1.5 grade')")
    # An incomplete Fugl-Meyer: refused, the missing items named, nothing stored.
    await page.select_option("#scale-choice", "fma_le")
    await page.select_option("#scale-item-f_time", "2")
    await page.click("#scale-save")
    await page.wait_for_selector("#scale-error:not([hidden])")
    assert "every item must be scored" in await page.inner_text("#scale-error")
    await page.click("#scale-history-fold > summary")
    assert await page.locator("#scale-history-body tr").count() == 3
    assert "L.ankle_plantarflexors: 1+" in await page.inner_text("#scale-history-body")
    await panel.shot("outcomes-scales")

    # The documents.
    async with page.expect_download() as info:
        await page.click("#report-pdf")
    download = await info.value
    assert download.suggested_filename.startswith(f"stridevr_{CODE}_") and download.suggested_filename.endswith(".pdf")
    pdf = Path(await download.path())
    assert pdf.read_bytes().startswith(b"%PDF")
    flat = " ".join(subprocess.run([tool("pdftotext"), "-layout", str(pdf), "-"], check=True, capture_output=True,
                                   text=True).stdout.split())
    assert f"Patient code {CODE}" in flat and "Berg Balance Scale" in flat and "male" in flat
    async with page.expect_download() as info:
        await page.click("#report-fhir")
    download = await info.value
    assert download.suggested_filename.endswith("_fhir.json")
    bundle = json.loads(Path(await download.path()).read_text())
    Bundle.model_validate(bundle)
    resources = check_fhir(bundle, CODE)
    assert sorted(r["valueQuantity"]["value"] for r in resources
                  if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "bbs") == [28, 44]
    # one session's bundle: the stepping session's metrics and dose, no scale
    option = page.locator("#report-session option", has_text="stepping")
    await page.select_option("#report-session", await option.get_attribute("value"))
    async with page.expect_download() as info:
        await page.click("#report-fhir")
    download = await info.value
    assert "_session" in download.suggested_filename
    one = json.loads(Path(await download.path()).read_text())
    codes = {r["code"]["coding"][0]["code"] for r in check_fhir(one, CODE) if r["resourceType"] == "Observation"}
    assert codes == {"step_length_m", "cadence_steps_per_min", "session_dose"}
    assert panel.problems == []
