"""A small websocket client for StrideVR: connect, authenticate, send and receive messages."""

from __future__ import annotations

import asyncio
import json
from typing import Any, NamedTuple

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from server.wire import PROTOCOL_VERSION
from server.wire_messages import ErrorMessage, StationWelcome, TherapistWelcome, UnknownMessage, read


class StationTokens(NamedTuple):
    """A station's two credentials: its device's (frames that become trials) and its headset's."""

    device: str
    headset: str


class ServerError(Exception):
    """An ``error`` reply (or, where a welcome was due, whatever came instead)."""

    def __init__(self, reply: dict[str, Any]) -> None:
        try:
            message = read(reply)
        except UnknownMessage as exc:
            message = ErrorMessage("malformed", str(exc))
        if not isinstance(message, ErrorMessage):
            message = ErrorMessage("malformed", f"expected an error, got {message.TYPE}")
        super().__init__(f"{message.code}: {message.message}")
        self.code = message.code
        self.error = message
        self.reply = reply


class Link:
    """One authenticated connection. ``binary=True`` speaks msgpack, otherwise JSON text."""

    def __init__(self, ws: ClientConnection, binary: bool) -> None:
        self.ws = ws
        self.binary = binary
        self._next_id = 0
        self.welcome: dict[str, Any] = {}

    @classmethod
    async def open(cls, url: str, first: dict[str, Any], binary: bool = True) -> Link:
        ws = await connect(url, compression=None, max_size=1 << 20)
        link = cls(ws, binary)
        reply = await link.request(first)
        if not (reply.get("type") == "welcome" and isinstance(read(reply), StationWelcome | TherapistWelcome)):
            await ws.close()
            raise ServerError(reply)
        link.welcome = reply
        return link

    @classmethod
    async def station(cls, url: str, role: str, station: str, token: str, binary: bool = True) -> Link:
        return await cls.open(url, {"type": "hello", "role": role, "station": station, "token": token}, binary)

    @classmethod
    async def therapist(cls, url: str, username: str, password: str, binary: bool = False) -> Link:
        return await cls.open(url, {"type": "login", "username": username, "password": password}, binary)

    async def send(self, message: dict[str, Any]) -> None:
        message = {"v": PROTOCOL_VERSION, **message}
        await self.ws.send(msgpack.packb(message) if self.binary else json.dumps(message))

    async def recv(self, timeout_s: float | None = None) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), timeout_s)
        return msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)

    async def request(self, message: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        """Send with a request id and return the reply carrying it (other messages are skipped)."""
        self._next_id += 1
        request_id = self._next_id
        await self.send({**message, "id": request_id})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            reply = await self.recv(max(0.0, deadline - loop.time()))
            if reply.get("id") == request_id or (reply.get("type") == "error" and "id" not in reply):
                return reply

    async def call(self, message: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        """Like :meth:`request` but raises :class:`ServerError` on an error reply."""
        reply = await self.request(message, timeout_s)
        if reply.get("type") == "error":
            raise ServerError(reply)
        return reply

    async def current_config(self, station: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The running game's ``config`` (its ``revision`` goes with a ``set_difficulty``): a
        ``watch`` brings it, just before or after its reply, or relayed from the server process
        hosting the game (other messages are skipped). Waits ``timeout_s`` when no game runs."""
        self._next_id += 1
        request_id = self._next_id
        await self.send({"type": "watch", "station": station, "id": request_id})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        config, reply = None, None
        while config is None or reply is None:
            message = await self.recv(max(0.0, deadline - loop.time()))
            if message.get("id") == request_id:
                if message.get("type") == "error":
                    raise ServerError(message)
                reply = message
            elif message.get("type") == "config" and message.get("station") == station:
                config = message
        return config

    async def close(self) -> None:
        await self.ws.close()
