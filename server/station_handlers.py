"""What a station's device and headset may send once authenticated, one handler per message type.

Each connection gets its handler object when it joins (``server/app.py``); the handlers validate
the message and act through :class:`server.live_sessions.LiveSessions`, which owns the station's
game. A type the role may not send is refused with ``unknown_type``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from games.events import FootEvent
from server.codec import Encoding, ProtocolError
from server.connection import Connection
from server.device_input import DeviceInput
from server.device_kinds import FOOT_EVENTS, TREADMILL
from server.device_messages import parse_belt
from server.live_sessions import LiveSessions
from server.messages import Envelope, fast_foot, open_envelope, parse_foot
from server.stations import StationRuntime
from server.wire import DEVICE_FRAME_TYPES, DEVICE_SETUP_TYPES
from server.wire_messages import Ok, Pong

Handler = Callable[[Envelope, Encoding], Awaitable[None]]
DeviceHandler = Callable[[Envelope, Encoding], None]


class DeviceMessages:
    """A tracker's, mat's, force plate's or treadmill's messages (``docs/protocol.md``, Devices)."""

    def __init__(self, live: LiveSessions, station: StationRuntime, conn: Connection, inputs: DeviceInput) -> None:
        self.live, self.station, self.conn, self.inputs = live, station, conn, inputs
        handlers: dict[str, DeviceHandler] = {"foot": self.foot, "belt": self.belt, "ping": self.ping}
        handlers.update(dict.fromkeys(DEVICE_FRAME_TYPES, self.frame))
        handlers.update(dict.fromkeys(DEVICE_SETUP_TYPES, self.setup))
        self._handlers = handlers

    def receive(self, data: dict[str, Any], encoding: Encoding) -> None:
        """Each decoded message, as it is read (no task, no coroutine: at the device's rate). A
        plain foot event takes the fast path; anything else is opened and checked in full."""
        event = fast_foot(data)
        if event is not None:
            self._foot_event(event, data)
            return
        message = open_envelope(data)
        handler = self._handlers.get(message.type)
        if handler is None:
            raise ProtocolError("unknown_type", f"a device cannot send '{message.type}'")
        handler(message, encoding)

    def foot(self, message: Envelope, encoding: Encoding) -> None:
        self._foot_event(parse_foot(message.fields), message.fields.data)

    def _foot_event(self, event: FootEvent, data: dict[str, Any]) -> None:
        if FOOT_EVENTS not in self.inputs.kinds:  # what a device is, from what it sends
            self.live.identified(self.station, self.conn, self.inputs, FOOT_EVENTS)
        self.live.foot(self.station, event, data)

    def frame(self, message: Envelope, encoding: Encoding) -> None:
        """Markers, a pressure grid or a centre of pressure, through the device's adapter."""
        output = self.inputs.frame(message.type, message.fields, self.conn.budget)
        self.live.device_output(self.station, self.conn, output)

    def setup(self, message: Envelope, encoding: Encoding) -> None:
        before = set(self.inputs.kinds)
        self.conn.send(Ok(self.inputs.setup(message.type, message.fields)).wire(message.request_id), encoding)
        if self.inputs.kinds != before:
            self.live.identified(self.station, self.conn, self.inputs, None)

    def belt(self, message: Envelope, encoding: Encoding) -> None:
        speed = parse_belt(message.fields)
        if TREADMILL not in self.inputs.kinds:
            self.live.identified(self.station, self.conn, self.inputs, TREADMILL)
        self.live.belt(self.station, self.conn, speed)

    def ping(self, message: Envelope, encoding: Encoding) -> None:
        self.conn.send(Pong().wire(message.request_id), encoding)


class HeadsetMessages:
    """The patient's headset: ``ready`` (resume) and ``pause`` for the station's game, ``ping``."""

    def __init__(self, live: LiveSessions, station: StationRuntime, conn: Connection) -> None:
        self.live, self.station, self.conn = live, station, conn
        self._handlers: dict[str, Handler] = {"ready": self.pause_or_ready, "pause": self.pause_or_ready,
                                              "ping": self.ping}

    async def handle(self, message: Envelope, encoding: Encoding) -> None:
        handler = self._handlers.get(message.type)
        if handler is None:
            raise ProtocolError("unknown_type", f"a headset cannot send '{message.type}'")
        await handler(message, encoding)

    async def pause_or_ready(self, message: Envelope, encoding: Encoding) -> None:
        await self.live.headset_request(self.station, message.type)
        self.conn.send(Ok().wire(message.request_id), encoding)

    async def ping(self, message: Envelope, encoding: Encoding) -> None:
        self.conn.send(Pong().wire(message.request_id), encoding)
