"""Transport baseline: a bare websockets + msgpack relay (tracker -> server -> headset).

No game, no database, no validation beyond decoding: each device frame is decoded, its sequence
number put into a minimal state message, encoded and sent to the station's headsets. Whatever the
full StrideVR server adds on top of this is its own cost.

    python bench/relay.py --port 0     # prints "listening on ws://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgpack
from websockets.asyncio.server import ServerConnection, serve

from server.eventloop import loop_factory
from server.wire import PROTOCOL_VERSION

headsets: dict[str, set[ServerConnection]] = defaultdict(set)


async def handle(ws: ServerConnection) -> None:
    hello = msgpack.unpackb(await ws.recv(decode=False))
    station, role = hello["station"], hello["role"]
    await ws.send(msgpack.packb({"type": "welcome", "v": PROTOCOL_VERSION}))
    if role == "headset":
        headsets[station].add(ws)
        try:
            await ws.wait_closed()
        finally:
            headsets[station].discard(ws)
        return
    async for frame in ws:
        event = msgpack.unpackb(cast(bytes, frame))  # the bench sends binary frames
        state = msgpack.packb({"type": "state", "v": PROTOCOL_VERSION, "foot_seq": {event["side"]: event["seq"]}})
        for headset in list(headsets[station]):
            await headset.send(state)


async def main(port: int) -> None:
    async with serve(handle, "127.0.0.1", port, compression=None) as server:
        print(f"listening on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    # the same event loop as the server (uvloop where installed), so the baseline is like for like
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main(parser.parse_args().port))
