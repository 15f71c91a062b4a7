"""What the WebXR page's browser tests share (tests/test_webxr*.py): headless Chromium with WebGL
(SwiftShader), Meta's WebXR emulator (npm ``iwer``, a devDependency of ``clients/webxr``) injected
by the test as a Quest 3 — never shipped to the page — and the projection of a world point into a
screenshot through the view and projection matrices the page exposes (``window.strideXR.views``).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.panel_helpers import CHROMIUM

ROOT = Path(__file__).resolve().parent.parent
IWER = ROOT / "clients" / "webxr" / "node_modules" / "iwer" / "build" / "iwer.min.js"
# WebGL in headless Chromium without a GPU: ANGLE on SwiftShader (the panel's tests turn the GPU off).
XR_CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
VIEWPORT = {"width": 800, "height": 600}
WAIT_MS = 20_000
CREDENTIALS_KEY = "stridevr.xr.credentials"


def iwer_script() -> str:
    """Install the emulated Quest 3 before the page's own scripts run (Chromium on Linux already
    has ``navigator.xr``, so the runtime must be forced over it)."""
    return (IWER.read_text() + "\n;window.iwerDevice = new IWER.XRDevice(IWER.metaQuest3);"
            "window.iwerDevice.installRuntime({forceInstall: true});")


@dataclass
class XrPage:
    page: Any
    base: str
    shots: Path
    problems: list[str] = field(default_factory=list)

    async def js(self, expression: str, arg: Any = None) -> Any:
        return await self.page.evaluate(expression, arg)

    async def until(self, expression: str, arg: Any = None, timeout_ms: int = WAIT_MS) -> None:
        await self.page.wait_for_function(expression, arg=arg, timeout=timeout_ms)

    async def store_credentials(self, station: str, headset_token: str, device_token: str | None = None) -> None:
        creds = {"station": station, "headset_token": headset_token, "device_token": device_token}
        await self.js("([k, v]) => localStorage.setItem(k, v)", [CREDENTIALS_KEY, json.dumps(creds)])
        await self.page.reload()

    async def enter_vr(self) -> None:
        await self.page.click("#enter-vr")
        await self.until("() => window.strideXR.mode === 'xr' && window.strideXR.views.length > 0")

    async def screenshot(self, name: str) -> Image:
        """The page as it is now; kept as ``xr-NAME.png``."""
        path = self.shots / f"xr-{name}.png"
        await self.page.screenshot(path=str(path))
        return Image(path)

    async def pixel_of(self, patient_xyz: tuple[float, float, float]) -> list[tuple[float, float]]:
        """Where a patient-frame point (metres) lands on the page, in CSS pixels, in each view drawn."""
        world = await self.js("([x, y, z]) => window.strideXR.toWorld(x, y, z)", list(patient_xyz))
        info = await self.js("() => ({views: window.strideXR.views, canvas: window.strideXR.canvas})")
        return project(world, info["views"], info["canvas"])


def project(world: list[float], views: list[dict[str, Any]], canvas: dict[str, Any]) -> list[tuple[float, float]]:
    """A world point through each view's (column-major) view and projection matrices and its
    viewport (GL pixels, origin bottom left) to CSS pixels of the page (origin top left)."""
    left, top, width, height = canvas["rect"]
    sx, sy = width / canvas["width"], height / canvas["height"]
    out = []
    for view in views:
        vx, vy, vw, vh = view["viewport"]
        if vw <= 0 or vh <= 0:
            continue  # a mono display draws one eye only
        projection = np.array(view["projection"]).reshape(4, 4).T
        view_matrix = np.array(view["view"]).reshape(4, 4).T
        clip = projection @ view_matrix @ np.array([*world, 1.0])
        ndc = clip[:3] / clip[3]
        gx, gy = vx + (ndc[0] + 1) / 2 * vw, vy + (ndc[1] + 1) / 2 * vh
        out.append((left + gx * sx, top + (canvas["height"] - gy) * sy))
    return out


class Image:
    """A screenshot, read with Panda3D's PNMImage (a dependency already): pixels as 0-255 RGB."""

    def __init__(self, path: Path) -> None:
        from panda3d.core import Filename, PNMImage

        self.path = path
        self.image = PNMImage(Filename.from_os_specific(str(path)))
        self.size = (self.image.get_x_size(), self.image.get_y_size())

    def inside(self, xy: tuple[float, float]) -> bool:
        return 0 <= round(xy[0]) < self.size[0] and 0 <= round(xy[1]) < self.size[1]

    def rgb(self, xy: tuple[float, float]) -> tuple[int, int, int]:
        x, y = round(xy[0]), round(xy[1])
        assert 0 <= x < self.size[0] and 0 <= y < self.size[1], f"{xy} is outside the {self.size} screenshot"
        r, g, b = (round(255 * c) for c in self.image.get_xel(x, y))
        return r, g, b

    def near(self, xy: tuple[float, float], colour: int, tolerance: int = 40) -> bool:
        """The pixel at ``xy`` (CSS px) is within ``tolerance`` of ``colour`` in every channel."""
        want = ((colour >> 16) & 255, (colour >> 8) & 255, colour & 255)
        return all(abs(a - b) <= tolerance for a, b in zip(self.rgb(xy), want, strict=True))

    def count(self, colour: int, tolerance: int = 40, step: int = 4) -> int:
        """How many pixels of a grid every ``step`` px are near ``colour``."""
        return sum(self.near((x, y), colour, tolerance) for y in range(0, self.size[1], step)
                   for x in range(0, self.size[0], step))


@asynccontextmanager
async def xr_browser(base: str, shots: Path, emulator: bool = True,
                     extra_args: list[str] | None = None) -> AsyncIterator[XrPage]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=XR_CHROMIUM_ARGS + (extra_args or []),
                                           headless=True)
        context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(WAIT_MS)
        if emulator:
            await context.add_init_script(iwer_script())
        page = await context.new_page()
        result = XrPage(page, base, shots)
        page.on("console", lambda m: result.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: result.problems.append(str(e)))
        page.on("response", lambda r: result.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        try:
            await page.goto(base + "/xr")
            await page.wait_for_function("() => window.strideXR && window.strideXR.frames > 2")
            yield result
        finally:
            await context.close()
            await browser.close()


def shots_dir(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("STRIDEVR_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


async def repeat(every_s: float, action: Callable[[], Any]) -> None:
    """Run ``action`` every ``every_s`` until cancelled (a device streaming its frames)."""
    while True:
        await action()
        await asyncio.sleep(every_s)
