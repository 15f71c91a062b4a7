"""The StrideVR server: accepts websocket clients, authenticates them and routes their messages.

Roles (see ``docs/protocol.md``):

* ``device``   - a station's tracker or pressure mat; sends foot events.
* ``headset``  - a station's VR headset; receives game state, sends ready/pause.
* ``therapist``- logs in with a password; manages patients and controls stations of their clinic.
  An account with the ``admin`` role also manages the clinic's accounts, station credentials and
  reads its audit log (``server/admin.py``).

A connection lives as long as the credential it authenticated with (``server/revocation.py``).

Everything a client sends is validated before it touches a game or the database. Bad input earns a
clear ``error`` message on that connection only; a client that keeps sending it is disconnected.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import OperationalError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from games.events import FootEvent
from scoring.smallest_change import SMALLEST_CHANGE, load_smallest_changes
from server import auth
from server.adapters.frames import AdapterOutput
from server.cluster import PRESENCE_S, LocalCluster, RedisCluster
from server.codec import Encoding, ProtocolError, decode, encode, envelope, error_reply
from server.config import Settings
from server.connection import Connection
from server.device_input import DeviceInput, event_wire, parse_balance_wire
from server.device_kinds import FOOT_EVENTS, TREADMILL, describe_inputs, describe_kinds, known_kinds, provided_by
from server.device_messages import parse_belt
from server.event_markers import open_marker_outlet
from server.fields import Fields
from server.login_guard import Busy, ConnectionAdmission, HashingPool, LoginThrottle, Throttled
from server.messages import Envelope, Login, fast_foot, open_envelope, parse_foot, parse_hello, parse_login
from server.ratelimit import InputBudget
from server.recovery import recover_metrics
from server.revocation import CHECK_S as REVOCATION_CHECK_S
from server.revocation import RevocationWatch
from server.stations import DeviceFeed, StationRuntime
from server.storage.models import THERAPIST
from server.storage.records import TherapistRecord
from server.storage.store import AsyncStore
from server.therapist import TherapistCommands
from server.tls import listener_context
from server.web import PanelFiles, add_hsts, too_many_requests
from server.wire import DEVICE_FRAME_TYPES, DEVICE_SETUP_TYPES

log = logging.getLogger(__name__)

DEVICE_LOST = "device_lost"
DEVICE_TIMEOUT = "device_timeout"
DEVICE_CHECK_S = 0.5  # how often every station's devices are checked (silence, timeout, presence)
ORPHAN_SWEEP_S = 15.0
SHUTDOWN_GRACE_S = 15.0
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
        self.login_throttle = LoginThrottle()
        self.hashing = HashingPool()
        self.admission = ConnectionAdmission(settings.new_connections_per_address_per_s,
                                             burst=4 * settings.new_connections_per_address_per_s)
        self._throttle_logged: dict[tuple[str, str], tuple[float, int]] = {}  # when, refused since
        self._unauthenticated: collections.Counter[str] = collections.Counter()  # by address
        self.node_id = settings.node_id
        self.therapists: set[Connection] = set()  # logged-in therapist connections here
        self.revocations = RevocationWatch(store, self._authenticated)
        # the thresholds assessment reports use (the clinic's, where it set them)
        self.smallest_change = (load_smallest_changes(settings.smallest_change_path)
                                if settings.smallest_change_path else SMALLEST_CHANGE)
        self.event_markers = open_marker_outlet(settings.lsl_markers, settings.node_id)
        self.cluster: LocalCluster | RedisCluster = (
            RedisCluster(settings.redis_url, settings.node_id, settings.cluster_secret, settings.redis_prefix)
            if settings.redis_url
            else LocalCluster(settings.node_id)
        )

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        # first: a broken install or certificate stops here, before joining anything
        tls = listener_context(self.settings.host, self.settings.tls_cert, self.settings.tls_key,
                               self.settings.insecure_http)
        panel = PanelFiles(secure=tls is not None)
        await self.cluster.start(self)
        await self._close_orphaned_sessions(starting=True)
        self._server = await serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            max_size=self.settings.max_frame_bytes,
            compression=None,
            ping_interval=20,
            ping_timeout=20,
            process_request=partial(self._process_request, panel),
            open_timeout=self.settings.auth_timeout_s,  # a socket that never completes the handshake
            server_header=None,  # no software names or versions for a scanner to match
            ssl=tls,  # the TLS handshake has open_timeout too
            process_response=add_hsts if tls is not None else None,
        )
        self._ticker = asyncio.create_task(self._tick_loop(), name="game-ticker")
        # Everything loaded so far (Panda3D, SQLAlchemy, ...) lives for the whole process: freeze
        # it out of the collector, and collect young objects less often. Full collections over
        # that heap stalled the event loop for 40-50 ms under load (bench/load.py).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 50)
        log.info("StrideVR listening on %s://%s:%d (therapist panel: %s://%s:%d/)", self.settings.scheme,
                 self.settings.host, self.port, self.settings.web_scheme, self.settings.host, self.port)

    def _process_request(self, panel: PanelFiles, connection: ServerConnection, request: Request) -> Response | None:
        """Every new connection: admitted per address first, then the panel's files or the websocket."""
        if not self.admission.admit(_address(connection)):
            return too_many_requests(retry_after_s=1)
        return panel.process_request(connection, request)

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        """Stop accepting clients, end running sessions with every trial stored, then close."""
        if self._ticker is not None:
            self._ticker.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.revocations.wait()
        for station in self.stations.values():
            try:
                await asyncio.wait_for(self.finish_play(station, "server_shutdown"), SHUTDOWN_GRACE_S)
            except TimeoutError:
                log.error("database unreachable at shutdown: results of %s still in memory are lost "
                          "(its session is closed as server_restart on the next start)", station.name)
        log.info("shutdown: games ended; leaving the cluster")
        await self.cluster.stop()
        if self._server is not None:
            log.info("shutdown: closing client connections")
            self._server.close()
            await self._server.wait_closed()
        self.hashing.close()
        log.info("shutdown: done")

    async def _close_orphaned_sessions(self, starting: bool = False) -> None:
        """Sessions this node left open (it restarted) or whose host node is gone for good: ended,
        then their metrics computed in the background from what was stored (``server.recovery``).
        On start, also those whose metrics an earlier stop left uncomputed."""
        open_sessions = await self.store.call(self.store.store.open_sessions)
        mine = [sid for sid, node in open_sessions.items() if node == self.node_id]
        dead = [sid for sid, node in open_sessions.items()
                if node != self.node_id and not await self.cluster.node_alive(node)]
        ended: list[int] = []
        for ids, reason in ((mine, "server_restart"), (dead, "host_lost")):
            closed = await self.store.call(self.store.store.end_sessions, ids, reason)
            if closed:
                log.warning("closed %d session(s) left open (end_reason=%s)", len(closed), reason)
            ended += closed
        if starting:
            waiting = await self.store.call(self.store.store.sessions_awaiting_metrics)
            ended += [sid for sid, node in waiting.items() if sid not in ended
                      and (node == self.node_id or not await self.cluster.node_alive(node))]
        if ended:
            self._in_background(recover_metrics(self.store, ended))

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
            if name not in self.stations:
                runtime = StationRuntime(record, silence_s=self.settings.device_silence_s,
                                         event_markers=self.event_markers)
                runtime.publish = partial(self.cluster.publish_out, name)
                self.stations[name] = runtime
            return self.stations[name]

    async def finish_play(self, station: StationRuntime, reason: str) -> None:
        """Detach the station's game at once (no more events reach it), then end it cleanly."""
        play = station.play
        if play is None:
            return
        station.play = None
        try:
            await play.stop(reason)
        finally:
            await self.cluster.release(station.name)
        station.broadcast_state()
        station.publish("state", station.state_message())  # followers elsewhere see it end too

    def _in_background(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self._background.add(task)  # keep a reference until done, or asyncio may drop it
        task.add_done_callback(self._background.discard)

    async def _tick_loop(self) -> None:
        """Fixed-rate timers for every running game, paced by perf_counter, not by sleep counts."""
        period = 1.0 / self.settings.tick_hz
        next_tick = time.perf_counter()
        next_devices = next_sweep = next_revocation = next_tick
        while True:
            now = time.perf_counter()
            if now >= next_devices:  # devices gone silent, a station too long without one
                next_devices = now + DEVICE_CHECK_S
                for station in self.stations.values():
                    self.check_devices(station)
            if now >= next_revocation:  # credentials revoked elsewhere (another process, the CLI)
                next_revocation = now + REVOCATION_CHECK_S
                self.revocations.check_soon()
            if self.cluster.distributed and now >= next_sweep:
                next_sweep = now + ORPHAN_SWEEP_S  # sessions of a node that died and stayed away
                self._in_background(self._close_orphaned_sessions())
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
        address = _address(conn.ws)
        waiting = self._unauthenticated
        if (sum(waiting.values()) >= self.settings.max_unauthenticated
                or waiting[address] >= self.settings.max_unauthenticated_per_address):
            conn.error(ProtocolError("busy", "too many connections waiting to authenticate; try again shortly",
                                     retry_after_s=1.0))
            await conn.close(1013, "try again later")
            return
        waiting[address] += 1
        try:
            try:
                frame = await asyncio.wait_for(conn.ws.recv(), self.settings.auth_timeout_s)
            except TimeoutError:
                conn.error(ProtocolError("auth_timeout", "send 'hello' or 'login' first"))
                await conn.close(1008, "authentication timeout")
                return
            role_handler = await self._authenticate(conn, frame)
        finally:
            waiting[address] -= 1
            if not waiting[address]:
                del waiting[address]
        if role_handler is None:
            return
        conn.budget = budget = InputBudget.for_role(conn.role or "device", self.settings.max_frame_bytes)
        async for frame in conn.ws:
            request_id = None
            encoding: Encoding | None = None
            try:
                if not budget.admit_frame(len(frame)):
                    continue  # over the byte budget; already reported this second
                data, encoding = decode(frame)
                message = open_envelope(data)
                request_id = message.request_id
                await role_handler(message, encoding)
            except ProtocolError as exc:
                if not conn.error(exc, request_id, encoding):
                    await conn.close(1008, "too many invalid messages")
                    return
            except OperationalError:
                log.warning("database unavailable for a %s request", conn.role)
                conn.send(error_reply("unavailable", "the database is unavailable; try again shortly",
                                   request_id), encoding)
            except Exception:  # a bug must cost this request, not the connection or the server
                log.exception("request from %s failed", conn.peer)
                conn.send(error_reply("internal_error", "the server could not complete this request; "
                                   "see its log", request_id), encoding)

    async def _authenticate(self, conn: Connection, frame: bytes | str) -> Any:
        """Check the first message; returns the role's message handler, or None after a close."""
        try:
            data, conn.encoding = decode(frame)
            message = open_envelope(data)
            if message.type == "hello":
                hello = parse_hello(message.fields)
                station = await self.station(hello.station)
                found = await self.store.call(self.store.store.station_credential, hello.station, hello.role)
                if station is None or found is None or not auth.verify_token(hello.token, found[1]):
                    raise ProtocolError("auth_failed", f"unknown station or wrong token for the {hello.role} role")
                conn.credential_hash = found[1]  # checked again while the connection lives (revocation)
                return await self._join_station(conn, hello.role, station, message.request_id)
            if message.type == "login":
                login = parse_login(message.fields)
                return await self._login(conn, login, message.request_id)
            raise ProtocolError("auth_required", "the first message must be 'hello' or 'login'")
        except ProtocolError as exc:
            conn.error(exc)
            await conn.close(1008, exc.code)
            return None
        except OperationalError:
            log.warning("database unavailable: cannot check credentials")
            conn.send(error_reply("unavailable", "the database is unavailable; try again shortly"))
            await conn.close(1013, "try again later")
            return None

    async def _check_password(self, username: str, password: str, address: str) -> TherapistRecord:
        """The therapist, or ProtocolError: throttled before any hashing, hashed on a bounded pool,
        every failure counted, audited and logged."""
        self._throttle_check(username, address)
        therapist = await self.store.call(self.store.store.find_therapist, username)
        try:
            if therapist is None or not therapist.active:
                await self.hashing.run(address, auth.dummy_verify, password)  # the same time as a real check
                ok = False
            else:
                ok = await self.hashing.run(address, auth.verify_password, password, therapist.password_hash)
        except Busy as exc:
            raise ProtocolError("busy", str(exc), retry_after_s=1.0) from None
        if not ok:
            await self._login_failed(username, address, "wrong username or password", therapist)
            raise ProtocolError("auth_failed", "wrong username or password")
        assert therapist is not None
        self.login_throttle.succeeded(username, address)
        return therapist

    def _throttle_check(self, username: str | None, address: str) -> None:
        try:
            self.login_throttle.check(username, address)
        except Throttled as exc:
            self._background_audit_throttled(username, address, exc)
            raise ProtocolError("throttled", f"{exc}", retry_after_s=round(exc.retry_after_s, 1)) from None

    def _background_audit_throttled(self, username: str | None, address: str, exc: Throttled) -> None:
        """Refused attempts are audited and logged once a minute per key and address, with how
        many were refused since: a flood must not turn into one database write per attempt."""
        now = time.monotonic()
        key = (exc.key, address)
        last, refused = self._throttle_logged.get(key, (-60.0, 0))
        if now - last < 60.0:
            self._throttle_logged[key] = (last, refused + 1)
            return
        if len(self._throttle_logged) > 10_000:
            self._throttle_logged.clear()
        self._throttle_logged[key] = (now, 0)
        log.warning("login throttled for %s from %s (%s); retry in %.0f s; %d more refused in the last minute",
                    username or "a token", address, exc.key, exc.retry_after_s, refused)
        self._in_background(self.store.call(
            self.store.store.audit, None, None, "login_throttled", _login_subject(username),
            {"address": address, "retry_after_s": round(exc.retry_after_s, 1), "refused_since_last_entry": refused}))

    async def _login_failed(self, username: str | None, address: str, reason: str,
                            therapist: TherapistRecord | None) -> None:
        wait = self.login_throttle.failed(username, address)
        log.warning("login failed for %s from %s: %s%s", username or "a session token", address, reason,
                    f" (next attempt in {wait:.0f} s)" if wait else "")
        known = therapist is not None and therapist.username == username
        await self.store.call(self.store.store.audit, therapist.clinic_id if known and therapist else None,
                              therapist.id if known and therapist else None, "login_failed",
                              _login_subject(username), {"address": address, "reason": reason})

    async def _login(self, conn: Connection, login: Login, request_id: object) -> Any:
        """Password or session token; a password login opens a new session that expires."""
        address = _address(conn.ws)
        if login.token is not None:
            self._throttle_check(None, address)
            found = await self.store.call(self.store.store.find_login, auth.hash_token(login.token))
            if found is None:
                await self._login_failed(None, address, "session token unknown, expired or revoked", None)
                raise ProtocolError("auth_failed", "session token unknown, expired or revoked; log in again")
            therapist, expires_at = found
            token = login.token
        else:
            assert login.username is not None and login.password is not None
            therapist = await self._check_password(login.username, login.password, address)
            token = auth.new_token()
            expires_at = datetime.now(UTC) + timedelta(seconds=self.settings.session_ttl_s)
            await self.store.call(self.store.store.create_login, therapist.id, auth.hash_token(token), expires_at)
        conn.role, conn.credential_hash = "therapist", auth.hash_token(token)
        self.therapists.add(conn)
        await self.store.call(self.store.store.audit, therapist.clinic_id, therapist.id,
                              "login", f"therapist:{therapist.id}", {"with": "token" if login.token else "password"})
        remaining_s = (expires_at - datetime.now(UTC)).total_seconds()
        conn.expire_after(remaining_s)
        commands = TherapistCommands(self, conn, therapist, token)
        conn.send(envelope("welcome", role="therapist", id=request_id,
                           therapist={"id": therapist.id, "username": therapist.username,
                                      "display_name": therapist.display_name, "role": therapist.role},
                           clinic_id=therapist.clinic_id, node=self.node_id,
                           session_token=token, expires_at=expires_at.isoformat(),
                           expires_in_s=round(remaining_s, 1)))
        return commands.handle

    async def _join_station(
        self, conn: Connection, role: str, station: StationRuntime, request_id: object
    ) -> Any:
        conn.role, conn.station = role, station.name
        inputs = DeviceInput()
        if role == "device":
            station.devices[conn] = inputs
            self._devices_changed(station)
        else:
            station.headsets.add(conn)
        conn.send(envelope("welcome", role=role, station=station.name, id=request_id,
                           tick_hz=self.settings.tick_hz))
        for watcher in station.watchers:
            watcher.send(envelope("station", **station.status()))
        if role == "headset":
            await self.send_current_state(station, conn)

        async def device_message(message: Envelope, enc: Encoding) -> None:
            type_, request_id = message.type, message.request_id
            if type_ == "foot":
                event = fast_foot(message.fields.data) or parse_foot(message.fields)
                if FOOT_EVENTS not in inputs.kinds:  # what a device is, from what it sends
                    self._identified(station, conn, inputs, FOOT_EVENTS)
                if station.play is not None:
                    station.play.on_foot(event, time.perf_counter())
                elif self.cluster.distributed:
                    self.cluster.publish_in(station.name, "foot", message.fields.data)
            elif type_ in DEVICE_FRAME_TYPES:
                self._device_output(station, conn, inputs.frame(type_, message.fields, conn.budget))
            elif type_ in DEVICE_SETUP_TYPES:
                before = set(inputs.kinds)
                conn.send(envelope("ok", id=request_id, **inputs.setup(type_, message.fields)), enc)
                if inputs.kinds != before:
                    self._identified(station, conn, inputs, None)
            elif type_ == "belt":
                speed = parse_belt(message.fields)
                if TREADMILL not in inputs.kinds:
                    self._identified(station, conn, inputs, TREADMILL)
                self._belt(station, conn, speed)
                if station.play is None and self.cluster.distributed:
                    self.cluster.publish_in(station.name, "belt", {"speed_m_s": speed})
            elif type_ == "ping":
                conn.send(envelope("pong", id=request_id), enc)
            else:
                raise ProtocolError("unknown_type", f"a device cannot send '{type_}'")

        async def headset_message(message: Envelope, enc: Encoding) -> None:
            type_, request_id = message.type, message.request_id
            if type_ in ("ready", "pause"):
                if station.play is not None:
                    self._headset_request(station, type_)
                elif self.cluster.distributed and await self.cluster.owner(station.name):
                    self.cluster.publish_in(station.name, "headset", {"type": type_})
                else:
                    raise ProtocolError("no_game", f"no game is running on {station.name}")
                conn.send(envelope("ok", id=request_id), enc)
            elif type_ == "ping":
                conn.send(envelope("pong", id=request_id), enc)
            else:
                raise ProtocolError("unknown_type", f"a headset cannot send '{type_}'")

        return device_message if role == "device" else headset_message

    @staticmethod
    def _belt(station: StationRuntime, source: object, speed_m_s: float) -> None:
        """A treadmill's belt speed: remembered for games started later, applied to one running."""
        station.belt_reports[source] = (speed_m_s, time.monotonic())
        if station.play is not None:
            station.play.device_settings({"belt_speed_m_s": speed_m_s}, "treadmill belt")

    def _device_output(self, station: StationRuntime, conn: Connection, output: AdapterOutput) -> None:
        """Adapter output to the game (here, or relayed to the process hosting it); notices to the
        device and to the watching therapists."""
        play, now = station.play, time.perf_counter()
        for event in output.events:
            if play is not None:
                if isinstance(event, FootEvent):
                    play.on_foot(event, now)
                else:
                    play.on_balance(event, now)
            elif self.cluster.distributed:
                self.cluster.publish_in(station.name, *event_wire(event))
        if play is not None and output.markers is not None and output.t_s is not None:
            play.on_markers(output.t_s, output.markers)
        for notice in output.notices:
            message = envelope("device_status", station=station.name, kind=notice.kind,
                               message=notice.message, detail=notice.detail)
            conn.send(message)
            station.notify(message)

    async def send_current_state(self, station: StationRuntime, conn: Connection) -> None:
        """A new viewer gets the state at once: from here if the game runs here; if it runs on
        another node, that node's resync (asked for by ``follow``) brings it."""
        if station.play is None:
            await self.cluster.follow(station.name)
            if self.cluster.distributed and await self.cluster.owner(station.name) not in (None, self.node_id):
                return
        conn.push_state({conn.encoding: encode(station.state_message(), conn.encoding)})

    async def maybe_unfollow(self, station: StationRuntime) -> None:
        """No local viewer left for a game hosted elsewhere: stop receiving its stream."""
        if station.play is None and not station.headsets and not station.watchers:
            await self.cluster.unfollow(station.name)

    def _headset_request(self, station: StationRuntime, type_: str) -> None:
        assert station.play is not None
        if type_ == "pause":
            station.play.pause(HEADSET, time.perf_counter())
        else:
            station.play.resume(HEADSET, time.perf_counter())

    def _devices_changed(self, station: StationRuntime) -> None:
        if station.play is not None:
            self.check_devices(station)
        elif self.cluster.distributed:
            self.cluster.publish_in(station.name, "devices", station.local_presence())

    def _identified(self, station: StationRuntime, conn: Connection, inputs: DeviceInput, kind: str | None) -> None:
        """A device said what it is (a setup, or the first message of a kind): the station's
        status shows it, and a running game it cannot feed says so instead of waiting silently."""
        if kind is not None:
            inputs.kinds.add(kind)
        self._devices_changed(station)
        for watcher in station.watchers:
            watcher.send(envelope("station", **station.status()))
        notice = self._mismatch_notice(station, inputs.kinds)
        if notice is not None:
            conn.send(notice)
            station.notify(notice)

    def _mismatch_notice(self, station: StationRuntime, kinds: frozenset[str] | set[str]) -> dict[str, Any] | None:
        """A ``device_status`` notice when a device of these kinds joins a running game here that
        it gives none of the inputs of, or that the station's devices still cannot all feed."""
        play = station.play
        if play is None or not kinds:
            return None
        feed = station.device_feed()
        if provided_by(kinds) & play.uses and feed.feeds(play.needs):
            return None
        missing = play.needs - feed.provides
        stays = (f"; the game stays paused until a device giving {describe_inputs(missing)} connects"
                 if missing and not feed.unknown else "")
        joined = f"a {describe_kinds(kinds)} connected to {station.name}"
        message = (f"{joined} cannot feed {play.game.name}, which needs {describe_inputs(play.needs)}{stays}"
                   if not provided_by(kinds) & play.uses
                   else f"{joined}; {play.game.name} also needs {describe_inputs(missing)}{stays}")
        return envelope("device_status", station=station.name, kind="device_mismatch", message=message,
                        detail={"device_kinds": sorted(kinds), "game": play.game.name,
                                "needs": sorted(play.needs), "missing": sorted(missing)})

    def check_devices(self, station: StationRuntime) -> None:
        """No device that can feed the game (gone, silent, or of the wrong kind), here or on
        another process: pause, voiding the trial in progress rather than scoring it as a miss; one
        back: resume. Paused so for ``device_timeout_s``: the session ends."""
        play = station.play
        if play is None:
            return
        now = time.perf_counter()
        fed = station.device_feed(fresh_s=PRESENCE_S).feeds(play.needs)
        if not fed and DEVICE_LOST not in play.paused_by:
            play.pause(DEVICE_LOST, now)
        elif fed and DEVICE_LOST in play.paused_by:
            play.resume(DEVICE_LOST, now)
        elif not fed and now - play.paused_at[DEVICE_LOST] >= self.settings.device_timeout_s:
            self._in_background(self._device_timeout(station))

    async def _device_timeout(self, station: StationRuntime) -> None:
        play = station.play
        if play is None or play.stopping:
            return
        timeout_s = self.settings.device_timeout_s
        station.notify(envelope(
            "device_status", station=station.name, kind=DEVICE_TIMEOUT,
            message=f"no device fed {station.name} for {timeout_s:g} s: session #{play.session_id} ended, "
                    f"its {play.game.trials_done} completed trial(s) stored; the station is free",
            detail={"session_id": play.session_id, "timeout_s": timeout_s}))
        await self.finish_play(station, DEVICE_TIMEOUT)

    # -- the cluster's callbacks (see server/cluster.py) ----------------------------------------

    def remote_output(self, station_name: str, kind: str, message: dict[str, Any]) -> None:
        station = self.stations.get(station_name)
        if station is None or station.play is not None:
            return
        if kind == "state":
            if message.get("phase") == "idle":
                station.remote_config = None
            station.push_state(message)
        elif kind == "event":
            if message.get("type") == "config":  # kept for watchers who come later
                station.remote_config = message
            elif message.get("type") == "game_stopped":
                station.remote_config = None
            station.notify_local(message)

    def remote_input(self, station_name: str, node: str, kind: str, message: dict[str, Any]) -> None:
        station = self.stations.get(station_name)
        if station is None:
            return
        if kind in ("devices", "belt"):  # remembered even with no game here: one may start later
            self._remote_devices(station, node, kind, message)
        if station.play is None:
            return
        if kind == "foot":
            try:
                event = parse_foot(Fields(message, "foot"))
            except ProtocolError:
                return  # validated where it arrived; never trust the bus either
            station.play.on_foot(event, time.perf_counter())
        elif kind == "balance":
            try:
                balance = parse_balance_wire(message)
            except ProtocolError:
                return
            station.play.on_balance(balance, time.perf_counter())
        elif kind == "devices":
            self.check_devices(station)
        elif kind == "headset" and message.get("type") in ("pause", "ready"):
            self._headset_request(station, message["type"])
        elif kind == "resync":  # a process with a new watcher: its state and configuration
            station.broadcast_state()
            station.publish("event", station.config_message())

    def _remote_devices(self, station: StationRuntime, node: str, kind: str, message: dict[str, Any]) -> None:
        """Another process's devices for this station: how many (its heartbeat) and the belt speed
        its treadmill reports (with the heartbeat, and at once when it changes)."""
        speed = message.get("belt_speed_m_s") if kind == "devices" else message.get("speed_m_s")
        if kind == "devices":
            feed = DeviceFeed.from_presence(message)
            before = station.remote_devices.get(node)
            station.remote_devices[node] = (feed, time.monotonic())
            if before is None or feed.kinds != before[0].kinds:
                for watcher in station.watchers:
                    watcher.send(envelope("station", **station.status()))
                if notice := self._mismatch_notice(station, feed.kinds - (before[0].kinds if before else set())):
                    station.notify(notice)
                    self.cluster.tell(node, notice)  # for the device itself, connected there
            if speed is None:
                station.belt_reports.pop(node, None)
        if speed is not None:
            try:
                self._belt(station, node, parse_belt(Fields({"speed_m_s": speed}, "belt")))
            except ProtocolError:
                pass  # validated where it arrived; never trust the bus either

    async def remote_command(self, message: dict[str, Any]) -> dict[str, Any]:
        """A therapist command forwarded by another node because this node hosts the station."""
        t = message["therapist"]
        therapist = TherapistRecord(t["id"], t["clinic_id"], t["username"], t["display_name"], "", True,
                                    t.get("role", THERAPIST))
        return await TherapistCommands(self, None, therapist, None).run(message["request"])

    def lease_lost(self, station_name: str) -> None:
        station = self.stations.get(station_name)
        if station is not None:
            self._in_background(self.finish_play(station, "lease_lost"))

    def device_notice(self, message: dict[str, Any]) -> None:
        """A host's ``device_mismatch`` notice: to the devices here of the kinds it names."""
        station = self.stations.get(str(message.get("station")))
        detail = message.get("detail")
        if station is None or message.get("type") != "device_status" or not isinstance(detail, dict):
            return
        kinds = known_kinds(detail.get("device_kinds"))
        for conn, inputs in station.devices.items():
            if inputs.kinds & kinds:
                conn.send(message)

    def owned_stations(self) -> list[str]:
        return [name for name, st in self.stations.items() if st.play is not None]

    def device_presence(self) -> dict[str, dict[str, Any]]:
        return {name: st.local_presence() for name, st in self.stations.items() if st.devices}

    def _authenticated(self) -> list[Connection]:
        """Every connection here that authenticated with a credential (for revocation)."""
        conns = list(self.therapists)
        for station in self.stations.values():
            conns += station.devices
            conns += station.headsets
        return conns

    async def _forget(self, conn: Connection) -> None:
        self.therapists.discard(conn)
        if conn.station is None:
            for watched in self.stations.values():
                if conn in watched.watchers:
                    watched.watchers.discard(conn)
                    await self.maybe_unfollow(watched)
            return
        station = self.stations.get(conn.station)
        if station is None:
            return
        station.devices.pop(conn, None)
        station.headsets.discard(conn)
        station.belt_reports.pop(conn, None)
        if conn.role == "device":
            self._devices_changed(station)
        await self.maybe_unfollow(station)
        for watcher in station.watchers:
            watcher.send(envelope("station", **station.status()))


def _address(ws: ServerConnection) -> str:
    """The client's IP address (the key of the per-address limits and the login throttle)."""
    remote = ws.remote_address
    return str(remote[0]) if isinstance(remote, tuple) and remote else str(remote)


def _login_subject(username: str | None) -> str:
    return f"username:{username[:64]}" if username is not None else "session-token"
