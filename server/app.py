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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy.exc import OperationalError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from scoring.smallest_change import SMALLEST_CHANGE, load_smallest_changes
from server import auth
from server.cluster import LocalCluster, RedisCluster
from server.codec import Encoding, ProtocolError, decode, error_reply
from server.config import Settings
from server.connection import Connection
from server.event_markers import open_marker_outlet
from server.live_sessions import LiveSessions
from server.login_guard import Admission, Busy, ConnectionAdmission, HashingPool, LoginThrottle, Throttled
from server.messages import Envelope, Login, open_envelope, parse_hello, parse_login, request_id_of
from server.pairing import Pairings, paired_message, parse_pair
from server.ratelimit import InputBudget
from server.recovery import recover_metrics
from server.revocation import CHECK_S as REVOCATION_CHECK_S
from server.revocation import RevocationWatch
from server.station_handlers import DeviceMessages, HeadsetMessages
from server.stations import StationRuntime
from server.storage.models import THERAPIST
from server.storage.records import TherapistRecord
from server.storage.store import AsyncStore
from server.therapist import TherapistCommands
from server.tls import listener_context
from server.web import PanelFiles, add_hsts, too_many_requests
from server.wire_messages import StationWelcome, TherapistWelcome
from server.ws_connection import StrideConnection, connection_class

log = logging.getLogger(__name__)

DEVICE_CHECK_S = 0.5  # how often every station's devices are checked (silence, timeout, presence)
ORPHAN_SWEEP_S = 15.0
SHUTDOWN_GRACE_S = 15.0
# What handles an authenticated connection's messages: its therapist commands or headset handler,
# awaited one message at a time by the connection's task; or a device's handler, which never waits
# and so runs as each message is read (``server/ws_connection.py``).
RoleHandler = Callable[[Envelope, Encoding], Awaitable[None]]
DecodedHandler = Callable[[dict[str, Any], Encoding], None]  # a device's, for each decoded message


class StrideServer:
    def __init__(self, settings: Settings, store: AsyncStore) -> None:
        self.settings = settings
        self.store = store
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.login_throttle = LoginThrottle()
        self.hashing = HashingPool(suspect=self.login_throttle.failing, trusted=self.login_throttle.trusted)
        self.admission = ConnectionAdmission(settings.new_connections_per_address_per_s,
                                             burst=4 * settings.new_connections_per_address_per_s)
        self._throttle_logged: dict[tuple[str, str], tuple[float, int]] = {}  # when, refused since
        self._unauthenticated: collections.Counter[str] = collections.Counter()  # by address
        self.node_id = settings.node_id
        self.therapists: set[Connection] = set()  # logged-in therapist connections here
        self.pairings = Pairings(store)
        self.revocations = RevocationWatch(store, self._authenticated, self.pairings.revoked)
        # the thresholds assessment reports use (the clinic's, where it set them)
        self.smallest_change = (load_smallest_changes(settings.smallest_change_path)
                                if settings.smallest_change_path else SMALLEST_CHANGE)
        self.event_markers = open_marker_outlet(settings.lsl_markers, settings.node_id)
        self.cluster: LocalCluster | RedisCluster = (
            RedisCluster(settings.redis_url, settings.node_id, settings.cluster_secret, settings.redis_prefix)
            if settings.redis_url
            else LocalCluster(settings.node_id)
        )
        self.live = LiveSessions(settings, store, self.cluster, self.event_markers)

    @property
    def stations(self) -> dict[str, StationRuntime]:
        return self.live.stations

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
            create_connection=connection_class(self.admission),  # over-rate sockets held unread, then reset
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
        if getattr(connection, "verdict", Admission.ADMIT) is Admission.ANSWER_429:  # see ws_connection
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
        await self.live.wait()
        await self.revocations.wait()
        await self.live.finish_all("server_shutdown", SHUTDOWN_GRACE_S)
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
        On start, also those whose metrics an earlier stop left uncomputed. Later sweeps (several
        processes) leave this node's own sessions alone: those open now are the games it runs."""
        open_sessions = await self.store.open_sessions()
        mine = [sid for sid, node in open_sessions.items() if node == self.node_id] if starting else []
        dead = [sid for sid, node in open_sessions.items()
                if node != self.node_id and not await self.cluster.node_alive(node)]
        ended: list[int] = []
        for ids, reason in ((mine, "server_restart"), (dead, "host_lost")):
            closed = await self.store.end_sessions(ids, reason)
            if closed:
                log.warning("closed %d session(s) left open (end_reason=%s)", len(closed), reason)
            ended += closed
        if starting:
            waiting = await self.store.sessions_awaiting_metrics()
            ended += [sid for sid, node in waiting.items() if sid not in ended
                      and (node == self.node_id or not await self.cluster.node_alive(node))]
        if ended:
            self.live.in_background(recover_metrics(self.store, ended))

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.stop()

    async def _tick_loop(self) -> None:
        """Fixed-rate timers for every running game, paced by perf_counter, not by sleep counts."""
        period = 1.0 / self.settings.tick_hz
        next_tick = time.perf_counter()
        next_devices = next_sweep = next_revocation = next_tick
        while True:
            now = time.perf_counter()
            if now >= next_devices:  # devices gone silent, a station too long without one
                next_devices = now + DEVICE_CHECK_S
                self.live.check_all_devices()
            if now >= next_revocation:  # credentials revoked elsewhere (another process, the CLI)
                next_revocation = now + REVOCATION_CHECK_S
                self.revocations.check_soon()
            if self.cluster.distributed and now >= next_sweep:
                next_sweep = now + ORPHAN_SWEEP_S  # sessions of a node that died and stayed away
                self.live.in_background(self._close_orphaned_sessions())
            self.live.tick(now)
            next_tick += period
            delay = next_tick - time.perf_counter()
            if delay < -period:  # fell far behind (machine stalled): don't try to catch up
                next_tick = time.perf_counter()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    # -- connections ----------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection(cast(StrideConnection, ws), self.settings.max_errors_per_minute)
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
                frame = await asyncio.wait_for(conn.ws.next_message(), self.settings.auth_timeout_s)
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
        conn.budget = InputBudget.for_role(conn.role or "device", self.settings.max_frame_bytes)
        if isinstance(role_handler, DeviceMessages):  # handled as read, each read's state sent as it ends
            conn.ws.handle_messages(partial(self._device_message, conn, role_handler.receive),
                                    reads=role_handler.station)
            await conn.ws.wait_closed()
            return
        handle = role_handler
        while True:
            frame = await conn.ws.next_message()
            message: Envelope | None = None
            encoding: Encoding | None = None
            try:
                if (decoded := self._decode(conn, frame)) is None:
                    continue
                data, encoding = decoded
                message = open_envelope(data)
                await handle(message, encoding)
            except Exception as exc:
                if not self._refused(conn, exc, None if message is None else message.request_id, encoding):
                    await conn.close(1008, "too many invalid messages")
                    return

    def _device_message(self, conn: Connection, handler: DecodedHandler, frame: bytes | str) -> None:
        """A device's message, handled as it is read (the hot path: a tracker's foot events)."""
        if conn.closing:
            return
        data: dict[str, Any] = {}
        encoding: Encoding | None = None
        try:
            if (decoded := self._decode(conn, frame)) is not None:
                data, encoding = decoded
                handler(data, encoding)
        except Exception as exc:
            if not self._refused(conn, exc, request_id_of(data), encoding):
                conn.close_soon(1008, "too many invalid messages")

    @staticmethod
    def _decode(conn: Connection, frame: bytes | str) -> tuple[dict[str, Any], Encoding] | None:
        """Decode a message; None when it is over the connection's byte budget (already reported
        this second)."""
        assert conn.budget is not None
        if not conn.budget.admit_frame(len(frame)):
            return None
        return decode(frame)

    @staticmethod
    def _refused(conn: Connection, exc: Exception, request_id: object, encoding: Encoding | None) -> bool:
        """Answer a message that failed; returns False once the client has sent too many bad ones."""
        if isinstance(exc, ProtocolError):
            return conn.error(exc, request_id, encoding)
        if isinstance(exc, OperationalError):
            log.warning("database unavailable for a %s request", conn.role)
            conn.send(error_reply("unavailable", "the database is unavailable; try again shortly", request_id),
                      encoding)
            return True
        # a bug must cost this request, not the connection or the server
        log.error("request from %s failed", conn.peer, exc_info=exc)
        conn.send(error_reply("internal_error", "the server could not complete this request; see its log",
                              request_id), encoding)
        return True

    async def _authenticate(self, conn: Connection, frame: bytes | str) -> RoleHandler | DeviceMessages | None:
        """Check the first message; returns the role's message handler, or None after a close."""
        try:
            data, conn.encoding = decode(frame)
            message = open_envelope(data)
            if message.type == "hello":
                hello = parse_hello(message.fields)
                station = await self.live.station(hello.station)
                found = await self.store.station_credential(hello.station, hello.role)
                if station is not None and found is not None and auth.verify_token(hello.token, found[1]):
                    conn.credential_hash = found[1]  # checked again while the connection lives (revocation)
                elif station is not None and (pairing := await self.pairings.credential(
                        hello.station, hello.role, hello.token)) is not None:
                    conn.credential_hash, conn.pairing_id = auth.hash_token(hello.token), pairing
                else:
                    raise ProtocolError("auth_failed", f"unknown station or wrong token for the {hello.role} role")
                return await self._join_station(conn, hello.role, station, message.request_id)
            if message.type == "login":
                login = parse_login(message.fields)
                return await self._login(conn, login, message.request_id)
            if message.type == "pair":
                await self._pair(conn, message)
                return None
            raise ProtocolError("auth_required", "the first message must be 'hello', 'login' or 'pair'")
        except ProtocolError as exc:
            conn.error(exc)
            await conn.close(1008, exc.code)
            return None
        except OperationalError:
            log.warning("database unavailable: cannot check credentials")
            conn.send(error_reply("unavailable", "the database is unavailable; try again shortly"))
            await conn.close(1013, "try again later")
            return None

    async def _pair(self, conn: Connection, message: Envelope) -> None:
        """A headset's pairing code (``server/pairing.py``): the right one, once, gets the station's
        paired credentials and the connection closes; a wrong one is counted against the address."""
        address = _address(conn.ws)
        request = parse_pair(message.fields)
        try:
            self.pairings.throttle.check(None, address)
        except Throttled as exc:
            raise ProtocolError("throttled", f"too many wrong pairing codes from this address; retry in "
                                f"{exc.retry_after_s:.0f} s", retry_after_s=round(exc.retry_after_s, 1)) from None
        paired = await self.pairings.redeem(request, address)
        if paired is None:
            wait = self.pairings.throttle.failed(None, address)
            log.warning("wrong pairing code from %s%s", address, f" (next attempt in {wait:.0f} s)" if wait else "")
            raise ProtocolError("pairing_failed", "wrong pairing code, or it expired or was already used: "
                                "ask for a new code on the therapist's panel")
        self.pairings.throttle.succeeded(None, address)
        log.info("headset %r paired with %s (pairing %d) from %s", request.label, paired.redeemed.station,
                 paired.redeemed.pairing_id, address)
        conn.send(paired_message(paired).wire(message.request_id))
        await conn.close(1000, "paired")

    async def _check_password(self, username: str, password: str, address: str) -> TherapistRecord:
        """The therapist, or ProtocolError: throttled before any hashing, hashed on a bounded pool,
        every failure counted, audited and logged."""
        self._throttle_check(username, address)
        therapist = await self.store.find_therapist(username)
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
        self.live.in_background(self.store.audit(None, None, "login_throttled", _login_subject(username),
            {"address": address, "retry_after_s": round(exc.retry_after_s, 1), "refused_since_last_entry": refused}))

    async def _login_failed(self, username: str | None, address: str, reason: str,
                            therapist: TherapistRecord | None) -> None:
        wait = self.login_throttle.failed(username, address)
        log.warning("login failed for %s from %s: %s%s", username or "a session token", address, reason,
                    f" (next attempt in {wait:.0f} s)" if wait else "")
        known = therapist is not None and therapist.username == username
        await self.store.audit(therapist.clinic_id if known and therapist else None,
                              therapist.id if known and therapist else None, "login_failed",
                              _login_subject(username), {"address": address, "reason": reason})

    async def _login(self, conn: Connection, login: Login, request_id: object) -> RoleHandler:
        """Password or session token; a password login opens a new session that expires."""
        address = _address(conn.ws)
        if login.token is not None:
            self._throttle_check(None, address)
            found = await self.store.find_login(auth.hash_token(login.token))
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
            await self.store.create_login(therapist.id, auth.hash_token(token), expires_at)
        conn.role, conn.credential_hash = "therapist", auth.hash_token(token)
        self.therapists.add(conn)
        await self.store.audit(therapist.clinic_id, therapist.id,
                              "login", f"therapist:{therapist.id}", {"with": "token" if login.token else "password"})
        remaining_s = (expires_at - datetime.now(UTC)).total_seconds()
        conn.expire_after(remaining_s)
        commands = TherapistCommands(self, conn, therapist, token)
        conn.send(TherapistWelcome(
            role="therapist", therapist={"id": therapist.id, "username": therapist.username,
                                         "display_name": therapist.display_name, "role": therapist.role},
            clinic_id=therapist.clinic_id, node=self.node_id, session_token=token,
            expires_at=expires_at.isoformat(), expires_in_s=round(remaining_s, 1)).wire(request_id))
        return commands.handle

    async def _join_station(
        self, conn: Connection, role: str, station: StationRuntime, request_id: object
    ) -> RoleHandler | DeviceMessages:
        """A device or headset joins its station: welcomed, then its messages go to its handler."""
        inputs = self.live.join(conn, role, station)
        conn.send(StationWelcome(role=role, station=station.name, tick_hz=self.settings.tick_hz).wire(request_id))
        await self.live.joined(conn, station)
        if role == "device":
            return DeviceMessages(self.live, station, conn, inputs)
        return HeadsetMessages(self.live, station, conn).handle

    # -- the cluster's callbacks (see server/cluster.py): the live sessions' but for commands --------

    def remote_output(self, station_name: str, kind: str, message: dict[str, Any]) -> None:
        self.live.remote_output(station_name, kind, message)

    def remote_input(self, station_name: str, node: str, kind: str, message: dict[str, Any]) -> None:
        self.live.remote_input(station_name, node, kind, message)

    async def remote_command(self, message: dict[str, Any]) -> dict[str, Any]:
        """A therapist command forwarded by another node because this node hosts the station."""
        t = message["therapist"]
        therapist = TherapistRecord(t["id"], t["clinic_id"], t["username"], t["display_name"], "", True,
                                    t.get("role", THERAPIST))
        return await TherapistCommands(self, None, therapist, None).run(message["request"])

    def lease_lost(self, station_name: str) -> None:
        self.live.lease_lost(station_name)

    def device_notice(self, message: dict[str, Any]) -> None:
        self.live.device_notice(message)

    def owned_stations(self) -> list[str]:
        return self.live.owned_stations()

    def device_presence(self) -> dict[str, dict[str, Any]]:
        return self.live.device_presence()

    def _authenticated(self) -> list[Connection]:
        """Every connection here that authenticated with a credential (for revocation)."""
        return list(self.therapists) + self.live.connections()

    async def _forget(self, conn: Connection) -> None:
        self.therapists.discard(conn)
        await self.live.leave(conn)


def _address(ws: ServerConnection) -> str:
    """The client's IP address (the key of the per-address limits and the login throttle)."""
    remote = ws.remote_address
    return str(remote[0]) if isinstance(remote, tuple) and remote else str(remote)


def _login_subject(username: str | None) -> str:
    return f"username:{username[:64]}" if username is not None else "session-token"
