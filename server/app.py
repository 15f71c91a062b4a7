"""The StrideVR server: accepts websocket clients, authenticates them and routes their messages.

Roles (see ``docs/protocol.md``):

* ``device``   - a station's tracker or pressure mat; sends foot events.
* ``headset``  - a station's VR headset; receives game state, sends ready/pause.
* ``therapist``- logs in with a password; manages patients and controls stations of their clinic.

Everything a client sends is validated before it touches a game or the database. Bad input earns a
clear ``error`` message on that connection only; a client that keeps sending it is disconnected.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from scoring.storage.records import TherapistRecord
from scoring.storage.store import AsyncStore
from server import auth
from server.codec import Encoding, ProtocolError, decode, envelope
from server.config import Settings
from server.connection import Connection
from server.ratelimit import ROLE_RATES_PER_S, TokenBucket
from server.messages import Envelope, open_envelope, parse_foot, parse_hello, parse_login
from server.stations import StationRuntime
from server.therapist import TherapistCommands

log = logging.getLogger(__name__)

DEVICE_LOST = "device_lost"
HEADSET = "headset"


class StrideServer:
    def __init__(self, settings: Settings, store: AsyncStore) -> None:
        self.settings = settings
        self.store = store
        self.stations: dict[str, StationRuntime] = {}
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._station_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        closed = await self.store.call(self.store.store.close_interrupted_sessions)
        if closed:
            log.warning("closed %d session(s) left open by a previous run (end_reason=server_restart)", closed)
        self._server = await serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            max_size=self.settings.max_frame_bytes,
            compression=None,
            ping_interval=20,
            ping_timeout=20,
        )
        self._ticker = asyncio.create_task(self._tick_loop(), name="game-ticker")
        # Everything loaded so far (Panda3D, SQLAlchemy, ...) lives for the whole process: freeze
        # it out of the collector, and collect young objects less often. Full collections over
        # that heap stalled the event loop for 40-50 ms under load (bench/load.py).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 50)
        log.info("StrideVR listening on ws://%s:%d", self.settings.host, self.port)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting clients, end running sessions with every trial stored, then close."""
        if self._ticker is not None:
            self._ticker.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for station in self.stations.values():
            if station.play is not None:
                await station.play.stop("server_shutdown")
                station.play = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.stop()

    # -- stations -------------------------------------------------------------------------------

    async def station(self, name: str) -> StationRuntime | None:
        runtime = self.stations.get(name)
        if runtime is not None:
            return runtime
        record = await self.store.call(self.store.store.find_station, name)
        if record is None:
            return None
        async with self._station_lock:
            return self.stations.setdefault(name, StationRuntime(record))

    async def finish_play(self, station: StationRuntime, reason: str) -> None:
        """Detach the station's game at once (no more events reach it), then end it cleanly."""
        play = station.play
        if play is None:
            return
        station.play = None
        await play.stop(reason)
        station.broadcast_state()

    def _in_background(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self._background.add(task)  # keep a reference until done, or asyncio may drop it
        task.add_done_callback(self._background.discard)

    async def _tick_loop(self) -> None:
        """Fixed-rate timers for every running game, paced by perf_counter, not by sleep counts."""
        period = 1.0 / self.settings.tick_hz
        next_tick = time.perf_counter()
        while True:
            now = time.perf_counter()
            for station in list(self.stations.values()):
                play = station.play
                if play is None:
                    continue
                try:
                    play.tick(now)
                except Exception:  # one broken game must not stop the others' clocks
                    log.exception("game on %s failed; stopping it", station.name)
                    self._in_background(self.finish_play(station, "error"))
                    continue
                if play.finished:
                    self._in_background(self.finish_play(station, "completed"))
            next_tick += period
            delay = next_tick - time.perf_counter()
            if delay < -period:  # fell far behind (machine stalled): don't try to catch up
                next_tick = time.perf_counter()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    # -- connections ----------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection(ws, self.settings.max_errors_per_minute)
        try:
            await self._serve_client(conn)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("unexpected error on %s", conn.peer)
            await ws.close(1011, "internal error")
        finally:
            conn.stop()
            await self._forget(conn)

    async def _serve_client(self, conn: Connection) -> None:
        try:
            frame = await asyncio.wait_for(conn.ws.recv(), self.settings.auth_timeout_s)
        except TimeoutError:
            conn.error(ProtocolError("auth_timeout", "send 'hello' or 'login' first"))
            await conn.close(1008, "authentication timeout")
            return
        role_handler = await self._authenticate(conn, frame)
        if role_handler is None:
            return
        bucket = TokenBucket(ROLE_RATES_PER_S[conn.role or "device"])
        async for frame in conn.ws:
            request_id = None
            encoding: Encoding | None = None
            try:
                if not bucket.allow():
                    raise ProtocolError("rate_limited", f"more than {bucket.rate_per_s:.0f} messages/s; "
                                        "message dropped")
                data, encoding = decode(frame)
                message = open_envelope(data)
                request_id = message.request_id
                await role_handler(message, encoding)
            except ProtocolError as exc:
                if not conn.error(exc, request_id, encoding):
                    await conn.close(1008, "too many invalid messages")
                    return

    async def _authenticate(self, conn: Connection, frame: bytes | str) -> Any:
        """Check the first message; returns the role's message handler, or None after a close."""
        try:
            data, conn.encoding = decode(frame)
            message = open_envelope(data)
            if message.type == "hello":
                hello = parse_hello(message.fields)
                station = await self.station(hello.station)
                fresh = await self.store.call(self.store.store.find_station, hello.station)
                if station is None or fresh is None or not auth.verify_token(hello.token, fresh.token_hash):
                    raise ProtocolError("auth_failed", "unknown station or wrong token")
                reply_id = message.request_id
                return await self._join_station(conn, hello.role, station, reply_id)
            if message.type == "login":
                login = parse_login(message.fields)
                therapist = await self._check_password(login.username, login.password)
                if therapist is None:
                    raise ProtocolError("auth_failed", "wrong username or password")
                conn.role = "therapist"
                await self.store.call(self.store.store.audit, therapist.clinic_id, therapist.id,
                                      "login", f"therapist:{therapist.id}", {})
                commands = TherapistCommands(self, conn, therapist)
                conn.send(envelope("welcome", role="therapist", id=message.request_id,
                                   therapist={"id": therapist.id, "username": therapist.username,
                                              "display_name": therapist.display_name},
                                   clinic_id=therapist.clinic_id))
                return commands.handle
            raise ProtocolError("auth_required", "the first message must be 'hello' or 'login'")
        except ProtocolError as exc:
            conn.error(exc)
            await conn.close(1008, exc.code)
            return None

    async def _check_password(self, username: str, password: str) -> TherapistRecord | None:
        therapist = await self.store.call(self.store.store.find_therapist, username)
        loop = asyncio.get_running_loop()
        if therapist is None or not therapist.active:
            await loop.run_in_executor(None, auth.dummy_verify, password)
            return None
        ok = await loop.run_in_executor(None, auth.verify_password, password, therapist.password_hash)
        return therapist if ok else None

    async def _join_station(
        self, conn: Connection, role: str, station: StationRuntime, request_id: object
    ) -> Any:
        conn.role, conn.station = role, station.name
        now = time.perf_counter()
        if role == "device":
            station.devices.add(conn)
            if station.play is not None:
                station.play.resume(DEVICE_LOST, now)
        else:
            station.headsets.add(conn)
        conn.send(envelope("welcome", role=role, station=station.name, id=request_id,
                           tick_hz=self.settings.tick_hz))
        for watcher in station.watchers:
            watcher.send(envelope("station", **station.status()))
        if role == "headset":
            station.broadcast_state()  # a (re)connecting headset gets the current state at once

        async def device_message(message: Envelope, enc: Encoding) -> None:
            type_, request_id = message.type, message.request_id
            if type_ == "foot":
                event = parse_foot(message.fields)
                if station.play is not None:
                    station.play.on_foot(event, time.perf_counter())
            elif type_ == "ping":
                conn.send(envelope("pong", id=request_id), enc)
            else:
                raise ProtocolError("unknown_type", f"a device cannot send '{type_}'")

        async def headset_message(message: Envelope, enc: Encoding) -> None:
            type_, request_id = message.type, message.request_id
            play = station.play
            if type_ in ("ready", "pause"):
                if play is None:
                    raise ProtocolError("no_game", f"no game is running on {station.name}")
                if type_ == "pause":
                    play.pause(HEADSET, time.perf_counter())
                else:
                    play.resume(HEADSET, time.perf_counter())
                conn.send(envelope("ok", id=request_id), enc)
            elif type_ == "ping":
                conn.send(envelope("pong", id=request_id), enc)
            else:
                raise ProtocolError("unknown_type", f"a headset cannot send '{type_}'")

        return device_message if role == "device" else headset_message

    async def _forget(self, conn: Connection) -> None:
        if conn.station is None:
            for station in self.stations.values():
                station.watchers.discard(conn)
            return
        station = self.stations.get(conn.station)
        if station is None:
            return
        station.devices.discard(conn)
        station.headsets.discard(conn)
        if conn.role == "device" and not station.devices and station.play is not None:
            # No tracking: void the trial in progress rather than score it as a miss.
            station.play.pause(DEVICE_LOST, time.perf_counter())
        for watcher in station.watchers:
            watcher.send(envelope("station", **station.status()))
