"""What the browser tests of the therapist web panel share (tests/test_panel.py,
tests/test_panel_modes.py): headless Chromium driven by Playwright against the real server.

Its fixtures (``panel``, which first checks ``browser_available``) are registered for every test
module by ``tests/conftest.py``; a test module imports only the helpers it needs.

Needs the ``playwright`` package and Debian's Chromium at /usr/bin/chromium (Playwright never
downloads a browser here). Without them the tests are skipped locally and fail in CI (``CI`` set).
Screenshots go to ``$STRIDEVR_SCREENSHOTS`` when set, else to the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import RunningServer

if TYPE_CHECKING:
    from playwright.async_api import ViewportSize

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TABLET: ViewportSize = {"width": 768, "height": 1024}
WAIT_MS = 20_000


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


@pytest.fixture
def browser_available() -> None:
    """Skip (fail in CI) before a browser is launched when it cannot run."""
    why = _missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {why}", pytrace=False)
        pytest.skip(why)


@pytest.fixture
async def panel(browser_available: None, running: RunningServer, tmp_path: Path) -> AsyncIterator[Panel]:
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


async def until(condition: Any, timeout_s: float = WAIT_MS / 1000) -> None:
    """Poll a condition on the in-process server."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def wait_data(page: Any, selector: str, key: str, op: str, number: float) -> None:
    """Wait until the element's data-KEY, as a number, compares with ``number`` (">=" or "<=").
    (A function, not an expression string: the panel's CSP forbids eval.)"""
    await page.wait_for_function(
        """([sel, key, op, n]) => {
             const v = Number(document.querySelector(sel)?.dataset[key]);
             return op === ">=" ? v >= n : v <= n;
           }""", arg=[selector, key, op, number], timeout=WAIT_MS)


async def stop_game(page: Any) -> None:
    """Stop the watched game from the session view: Stop, then the page's confirm step."""
    await page.click("#stop-game")
    await page.click("#stop-confirm-yes")
    await page.wait_for_selector("#session-status:has-text('Stopped session')")
