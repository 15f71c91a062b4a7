"""A small websocket client for StrideVR: connect, authenticate, send and receive messages.

``ws://`` on the server's own machine; ``wss://`` when the server has a certificate, checked against
the system's CAs or, with ``ca_file``, against the clinic's own CA alone (``python -m server
tls-init`` made it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
from typing import Any, NamedTuple

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from server.wire import PROTOCOL_VERSION


class StationTokens(NamedTuple):
    """A station's two credentials: its device's (frames that become trials) and its headset's."""

    device: str
    headset: str


class TLSOptionError(ValueError):
    """A ``--ca-file`` that cannot be used (one line: why)."""


def tls_options(url: str, ca_file: str | None) -> dict[str, Any]:
    """websockets' ``connect`` options to reach ``url``: none for the defaults (the system's CAs
    for ``wss://``), or a context trusting only ``ca_file`` when one is given. A CA file with a
    plain URL is refused (:class:`TLSOptionError`): it would go unused while the user believes the
    server is checked."""
    if ca_file is None:
        return {}
    if not url.lower().startswith("wss://"):
        raise TLSOptionError(f"--ca-file is for a wss:// URL; {url} is not encrypted")
    try:
        return {"ssl": ssl.create_default_context(cafile=ca_file)}
    except (OSError, ssl.SSLError) as exc:
        raise TLSOptionError(f"--ca-file {ca_file}: {getattr(exc, 'strerror', None) or exc}") from None


def add_tls_argument(p: argparse.ArgumentParser) -> None:
    """``--ca-file``, shared by every tool that connects (its ``--url`` may be ``wss://``)."""
    p.add_argument("--ca-file", default=None,
                   help="the clinic CA certificate (PEM) to check a wss:// server against, instead of the "
                        "system's CAs (`python -m server tls-init` prints where it is)")


class ServerError(Exception):
    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(f"{reply.get('code')}: {reply.get('message')}")
        self.code = reply.get("code")
        self.reply = reply


class Link:
    """One authenticated connection. ``binary=True`` speaks msgpack, otherwise JSON text."""

    def __init__(self, ws: ClientConnection, binary: bool) -> None:
        self.ws = ws
        self.binary = binary
        self._next_id = 0
        self.welcome: dict[str, Any] = {}

    @classmethod
    async def open(cls, url: str, first: dict[str, Any], binary: bool = True, *,
                   ca_file: str | None = None) -> Link:
        ws = await connect(url, compression=None, max_size=1 << 20, **tls_options(url, ca_file))
        link = cls(ws, binary)
        reply = await link.request(first)
        if reply.get("type") != "welcome":
            await ws.close()
            raise ServerError(reply)
        link.welcome = reply
        return link

    @classmethod
    async def station(cls, url: str, role: str, station: str, token: str, binary: bool = True, *,
                      ca_file: str | None = None) -> Link:
        return await cls.open(url, {"type": "hello", "role": role, "station": station, "token": token}, binary,
                              ca_file=ca_file)

    @classmethod
    async def therapist(cls, url: str, username: str, password: str, binary: bool = False, *,
                        ca_file: str | None = None) -> Link:
        return await cls.open(url, {"type": "login", "username": username, "password": password}, binary,
                              ca_file=ca_file)

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
