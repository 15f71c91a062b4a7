"""Stream recorded frames to a server as a live device would: paced, in order, with progress.

Shared by the C3D (tracker) and force-plate CSV (mat) replay tools. Frames go out at the file's
own rate times ``speed`` (``speed=0``: as fast as the server's device rate limit allows, 1500 frames
a second, under its 2000 messages a second); pacing follows a
``perf_counter`` schedule, so a late frame is sent at once and the replay catches up instead of
drifting. Each frame's ``t_s`` is its time in the file, so what the server records lines up with
what offline analysis of the same file reports.

A replay that started its session stops it when the recording ends (the session's metrics are then
computed and stored), unless told ``--leave-running``; one that joined a running game leaves it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from clients.link import Link, ServerError
from clients.start import GameOnStation, run, stop_started

FASTEST_FRAMES_PER_S = 1500.0


@dataclass
class ReplayReport:
    frames_sent: int = 0
    seconds: float = 0.0
    errors: int = 0
    notices: list[dict[str, Any]] | None = None


async def replay(
    link: Link,
    setup: dict[str, Any],
    frames: Iterator[dict[str, Any]],
    count: int,
    rate_hz: float,
    *,
    speed: float = 1.0,
    progress: bool = False,
    on_message: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayReport:
    """Send ``setup`` (answered with ``ok`` or an error), then ``count`` frames from ``frames``;
    with ``progress``, a bar on stderr when it is a terminal (none in logs and pipes)."""
    await link.call(setup)
    frames_per_s = rate_hz * speed if speed > 0 else FASTEST_FRAMES_PER_S
    report = ReplayReport(notices=[])
    reader = asyncio.create_task(_read(link, report, on_message))
    started = time.perf_counter()
    bar = tqdm(total=count, desc="replay", unit="frame", disable=None if progress else True)
    try:
        for i, frame in enumerate(frames):
            delay = started + i / frames_per_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif i % 64 == 0:
                await asyncio.sleep(0)  # behind schedule: still let replies in
            await link.send(frame)
            report.frames_sent += 1
            bar.update()
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        bar.close()
    # every frame has been handled once the pong is back
    await link.send({"type": "ping", "id": "replay-end"})
    while (message := await link.recv(30.0)).get("id") != "replay-end":
        _count(report, message, on_message)
    report.seconds = time.perf_counter() - started
    return report


async def _read(link: Link, report: ReplayReport, on_message: Callable[[dict[str, Any]], None] | None) -> None:
    """Count the server's complaints while streaming; a device connection gets no state pushes."""
    while True:
        _count(report, await link.recv(), on_message)


def _count(report: ReplayReport, message: dict[str, Any],
           on_message: Callable[[dict[str, Any]], None] | None) -> None:
    if message.get("type") == "error":
        report.errors += 1
    elif message.get("type") == "device_status" and report.notices is not None:
        report.notices.append(message)
    if on_message is not None:
        on_message(message)


def leave_running_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--leave-running", action="store_true",
                   help="leave the session this replay started running when the recording ends")


def end_replay(args: argparse.Namespace, game: GameOnStation) -> None:
    """The recording has ended: stop the session the replay started (unless ``--leave-running``)
    and say what happened to it."""
    if not game.started:
        print(f"session {game.session_id} (joined) left running on {game.station}")
    elif args.leave_running:
        print(f"session {game.session_id} left running on {game.station} (--leave-running): stop it from the panel")
    else:
        print(run(stop_started(args.url, args.therapist, args.password, game, ca_file=args.ca_file)))


__all__ = ["ReplayReport", "ServerError", "end_replay", "leave_running_argument", "replay"]
