"""``python -m clients.headset``: the headset client, windowed or offscreen.

With ``--screenshot`` it renders until the first state from the server is drawn, saves the image
and exits: 0 when saved with a state, 1 when no state came in ``--wait-s`` (the image then shows
"connecting…"), 2 when the server refused the station name or token. Without it, the client runs
until closed (Esc) and, if refused, keeps the server's error on screen and retries every 5 s.
"""

from __future__ import annotations

import argparse
import sys
import time

from clients.headset.app import DEFAULT_SIZE_PX, AppConfig, HeadsetApp
from clients.headset.first_person import EYE_HEIGHT_M
from clients.headset.network import HeadsetLink
from clients.headset.scene import DEFAULT_VIEW, View
from clients.link import TLSOptionError, add_tls_argument

FRAME_S = 1.0 / 60.0


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected WIDTHxHEIGHT, e.g. 800x800") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError("width and height must be 16-8192 pixels")
    return w, h


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m clients.headset",
                                description="StrideVR headset: draws a station's game from the server's state stream.")
    p.add_argument("--url", default="ws://127.0.0.1:8765",
                   help="the server: ws://127.0.0.1:8765 on its own machine, wss://NAME:PORT with a certificate")
    add_tls_argument(p)
    p.add_argument("--station", default="station-1")
    p.add_argument("--token", required=True, help="the station's headset token printed by the server")
    p.add_argument("--offscreen", action="store_true", help="software rendering, no window (no X, no GPU)")
    p.add_argument("--screenshot", metavar="PNG", help="save the first frame with a state to PNG and exit")
    p.add_argument("--wait-s", type=float, default=10.0, help="with --screenshot: how long to wait for a state")
    p.add_argument("--size", type=_size, default=DEFAULT_SIZE_PX, metavar="WxH", help="window/image size in pixels")
    p.add_argument("--mute", action="store_true", help="no sound for neglect cues (offscreen is always silent)")
    p.add_argument("--camera", choices=("first-person", "top-down"), default="first-person",
                   help="the patient's own view of the floor, from standing eye height (default), or the "
                        "top-down map; the v key switches")
    p.add_argument("--eye-height-m", type=_eye_height, default=EYE_HEIGHT_M,
                   help=f"first-person eye height above the floor, metres (default {EYE_HEIGHT_M:g}: standing)")
    p.add_argument("--view-height-m", type=float,
                   help="top-down: show this much floor (metres, top to bottom) around the patient; "
                        "default: per game")
    return p.parse_args(argv)


def _eye_height(text: str) -> float:
    value = float(text)
    if not 0.5 <= value <= 2.5:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be between 0.5 and 2.5 metres")
    return value


def take_screenshot(app: HeadsetApp, link: HeadsetLink, path: str, wait_s: float) -> int:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        status = link.status()
        if status.refused:
            print(f"error: the server refused station {link.station!r}: {status.error}", file=sys.stderr)
            return 2
        app.step()
        if app.received is not None:
            app.screenshot(path)
            print(f"saved {path}")
            return 0
        time.sleep(FRAME_S)
    app.screenshot(path)
    print(f"error: no state from {link.url} within {wait_s:g} s ({link.status().error or 'no reply'}); "
          f"saved {path} anyway", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        link = HeadsetLink(args.url, args.station, args.token, ca_file=args.ca_file).start()
    except TLSOptionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    view = None if args.view_height_m is None else View(DEFAULT_VIEW.centre_m, args.view_height_m)
    config = AppConfig(offscreen=args.offscreen, size_px=args.size, view=view, audio=False if args.mute else None,
                       title=f"StrideVR headset \u2014 {args.station}", first_person=args.camera == "first-person",
                       eye_height_m=args.eye_height_m)
    try:
        app = HeadsetApp(link, config)
        if args.screenshot:
            return take_screenshot(app, link, args.screenshot, args.wait_s)
        app.run()
        return 0
    finally:
        link.stop()


if __name__ == "__main__":
    raise SystemExit(main())
