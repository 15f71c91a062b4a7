"""Start a game as a therapist from the command line tools (simulated tracker, replays)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from websockets.exceptions import WebSocketException

from clients.link import Link, ServerError

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` for a command-line tool: a server that is down or refuses us is one line on
    stderr and exit status 1, not a traceback."""
    try:
        return asyncio.run(coro)
    except (OSError, TimeoutError, WebSocketException) as exc:
        print(f"error: cannot talk to the server: {exc or type(exc).__name__}", file=sys.stderr)
    except ServerError as exc:
        print(f"error: the server refused: {exc}", file=sys.stderr)
    raise SystemExit(1)


async def start_game(url: str, station: str, username: str, password: str, patient_code: str | None,
                     game: str, settings: dict[str, Any], source: str = "live") -> int:
    """Log in, start ``game`` for the patient (default: the clinic's first) and return the session id.
    ``source``: ``recording`` when the tool streams a file, so the session is stored as one."""
    therapist = await Link.therapist(url, username, password)
    try:
        patients = (await therapist.call({"type": "list_patients"}))["patients"]
        chosen = [p for p in patients if patient_code in (None, p["code"])]
        if not chosen:
            raise SystemExit(f"no patient {patient_code!r} in this therapist's clinic")
        started = await therapist.call({"type": "start_game", "station": station,
                                        "patient_id": chosen[0]["id"], "game": game, "settings": settings,
                                        "source": source})
        print(f"started {game} session {started['session_id']} for patient {chosen[0]['code']}")
        return int(started["session_id"])
    finally:
        await therapist.close()


def add_station_arguments(p: argparse.ArgumentParser) -> None:
    """The options every device-like tool shares: where to connect and, optionally, what to start."""
    p.add_argument("--url", default="ws://127.0.0.1:8765")
    p.add_argument("--station", default="station-1")
    p.add_argument("--token", required=True, help="the station token printed by the server")
    p.add_argument("--therapist", help="log in as this therapist and start a game first")
    p.add_argument("--password", help="the therapist's password")
    p.add_argument("--patient", help="patient code for --therapist (default: first patient)")


def start_if_asked(p: argparse.ArgumentParser, args: argparse.Namespace, game: str,
                   settings: dict[str, Any], source: str = "live") -> None:
    """With ``--therapist``, start ``game`` before the tool begins streaming (``source``: as
    :func:`start_game`)."""
    if not args.therapist:
        return
    if not args.password:
        p.error("--therapist needs --password")
    run(start_game(args.url, args.station, args.therapist, args.password, args.patient, game, settings, source))


def speed_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--speed", type=_speed, default=1.0,
                   help="1 = the file's own rate; 2 = twice as fast; 0 = as fast as the server allows")


def _speed(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value
