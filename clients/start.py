"""Start or join a game from the command-line tools (simulators, replays).

A tool either starts a game for the patient it is told (``--therapist``, ``--password`` and
``--patient``) or joins the game already running on its station (``--join``: one started from the
panel, say). It never picks a patient itself: without either it refuses. A refusal is one line on
stderr and exit status 2; a server that is down or refuses a request, exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from websockets.exceptions import WebSocketException

from clients.link import Link, ServerError, TLSOptionError, add_tls_argument

T = TypeVar("T")

REFUSED = 2  # exit status of a tool that will not go on (no patient named, nothing to join)


class Refused(Exception):
    """The tool will not go on; the message (one line) says why and what to do."""


@dataclass(frozen=True, slots=True)
class GameOnStation:
    """The game a tool plays: one it started (``started``, for ``patient_code``) or one it joined."""

    station: str
    game: str
    session_id: int
    started: bool
    patient_code: str | None = None
    patient_id: int | None = None


def refuse(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(REFUSED)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` for a command-line tool: a refusal is one line on stderr and exit status 2;
    a server that is down or refuses us, one line and exit status 1, not a traceback."""
    try:
        return asyncio.run(coro)
    except (Refused, TLSOptionError) as exc:
        refuse(str(exc))
    except (OSError, TimeoutError, WebSocketException) as exc:
        print(f"error: cannot talk to the server: {exc or type(exc).__name__}", file=sys.stderr)
    except ServerError as exc:
        print(f"error: the server refused: {exc}", file=sys.stderr)
    raise SystemExit(1)


def find_patient(patients: list[dict[str, Any]], named: str) -> dict[str, Any] | None:
    """The patient whose code is ``named``, else (for digits) whose id is."""
    for patient in patients:
        if patient["code"] == named:
            return patient
    if named.isdigit():
        return next((p for p in patients if p["id"] == int(named)), None)
    return None


async def start_game(url: str, station: str, username: str, password: str, patient: str,
                     game: str, settings: dict[str, Any], source: str = "live", *,
                     ca_file: str | None = None) -> GameOnStation:
    """Log in, start ``game`` for the patient named (code or id) and say what was started.
    ``source``: ``recording`` when the tool streams a file, so the session is stored as one."""
    therapist = await Link.therapist(url, username, password, ca_file=ca_file)
    try:
        patients = (await therapist.call({"type": "list_patients"}))["patients"]
        chosen = find_patient(patients, patient)
        if chosen is None:
            raise Refused(f"no patient {patient!r} in {username}'s clinic: name one by its code or id")
        started = await therapist.call({"type": "start_game", "station": station,
                                        "patient_id": chosen["id"], "game": game, "settings": settings,
                                        "source": source})
        print(f"started {game} session {started['session_id']} on {station} for patient {chosen['code']}")
        return GameOnStation(station, game, int(started["session_id"]), True, chosen["code"], chosen["id"])
    finally:
        await therapist.close()


async def running_game(url: str, station: str, headset_token: str, timeout_s: float = 10.0, *,
                       ca_file: str | None = None) -> GameOnStation:
    """The game running on ``station``, as its headsets are told (the state sent on connecting);
    :class:`Refused` when nothing runs there."""
    headset = await Link.station(url, "headset", station, headset_token, ca_file=ca_file)
    try:
        while (state := await headset.recv(timeout_s)).get("type") != "state":
            pass
    finally:
        await headset.close()
    if state.get("phase") in ("idle", "finished") or not state.get("game"):
        raise Refused(f"nothing is running on {station} to join: start a game there first (from the panel), "
                      "or start one with --therapist, --password and --patient")
    print(f"joined {state['game']} session {state['session_id']} on {station}")
    return GameOnStation(station, str(state["game"]), int(state["session_id"]), False)


async def stop_started(url: str, username: str, password: str, started: GameOnStation, *,
                       ca_file: str | None = None) -> str:
    """Stop the session a tool started, if it still runs; what happened, in one line."""
    therapist = await Link.therapist(url, username, password, ca_file=ca_file)
    try:
        stations = (await therapist.call({"type": "list_stations"}))["stations"]
        running = next((s.get("session_id") for s in stations if s["station"] == started.station), None)
        if running == started.session_id:
            try:
                stopped = await therapist.call({"type": "stop_game", "station": started.station})
                return f"stopped session {started.session_id}: {stopped['trials']} trials stored"
            except ServerError as exc:
                if exc.code != "no_game":
                    raise
        sessions = (await therapist.call({"type": "list_sessions", "patient_id": started.patient_id}))["sessions"]
        row = next((s for s in sessions if s["session_id"] == started.session_id), None)
        if row is None:
            return f"session {started.session_id} had already ended"
        return (f"session {started.session_id} had already ended ({row['end_reason']}): "
                f"{row['trials']} trials stored")
    finally:
        await therapist.close()


def add_station_arguments(p: argparse.ArgumentParser, watches: bool = True) -> None:
    """The options every device-like tool shares: where to connect, and what to play: a game it
    starts for a named patient, or the game running on the station. A tool that ``watches`` the
    game's state (as the station's headset) needs the headset token too; others only to --join."""
    p.add_argument("--url", default="ws://127.0.0.1:8765",
                   help="the server: ws://127.0.0.1:8765 on its own machine, wss://NAME:PORT with a certificate")
    add_tls_argument(p)
    p.add_argument("--station", default="station-1")
    p.add_argument("--token", required=True, help="the station's device token printed by the server")
    p.add_argument("--headset-token", required=watches,
                   help="the station's headset token printed by the server (to watch the game's state"
                        f"{'' if watches else '; needed with --join'})")
    p.add_argument("--therapist", help="log in as this therapist and start a game for --patient")
    p.add_argument("--password", help="the therapist's password")
    p.add_argument("--patient", help="the patient to start the game for: code (or id); required with --therapist")
    p.add_argument("--join", action="store_true",
                   help="play the game already running on the station (started from the panel) instead")


def check_choice(args: argparse.Namespace) -> None:
    """Refuse (exit status 2) unless the tool is told exactly one of: start for a named patient, or join."""
    if args.join:
        if not args.headset_token:
            refuse("--join finds the game running on the station as its headset does: pass --headset-token")
        if args.therapist or args.patient:
            refuse("--join plays the game already running on the station; it takes no --therapist or --patient")
        return
    if not args.therapist:
        refuse("name the patient: --therapist USER --password PW --patient CODE starts a game for them, "
               "or --join plays the game already running on the station")
    if not args.patient:
        refuse("name the patient to start the game for with --patient CODE (or id): no patient is picked for you")
    if not args.password:
        refuse("--therapist needs --password")


def start_or_join(args: argparse.Namespace, game: str, settings: dict[str, Any],
                  source: str = "live") -> GameOnStation:
    """Start ``game`` for the named patient, or (``--join``) find the game running on the station
    (``source``: as :func:`start_game`)."""
    check_choice(args)
    if args.join:
        return run(running_game(args.url, args.station, args.headset_token, ca_file=args.ca_file))
    return run(start_game(args.url, args.station, args.therapist, args.password, args.patient, game, settings,
                          source, ca_file=args.ca_file))


def speed_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--speed", type=_speed, default=1.0,
                   help="1 = the file's own rate; 2 = twice as fast; 0 = as fast as the server allows")


def _speed(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value
