"""The headset's connection to the server, on its own thread with its own asyncio loop.

A VR frame must never wait for the network: this thread receives ``state`` messages and leaves
only the newest in a :class:`LatestSlot`; the render loop reads that slot once per frame without
blocking (a lock held for a pointer swap). ``game_event`` messages (a neglect cue, an assessment
stage) must each be acted on once, so they go into a small :class:`EventQueue` instead, which the
render loop drains every frame. The thread reconnects by itself after a drop, with
exponential backoff (0.5 s doubling to 5 s), and the server pushes its current state on every
connect, so a reconnect is also a resync.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from clients.headset.state import GameEvent, StateView, parse_event, parse_state
from clients.link import tls_options
from server.wire import PROTOCOL_VERSION

MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0
REFUSED_RETRY_S = 5.0  # wrong token or unknown station: retry slowly, it will not fix itself soon
HELLO_TIMEOUT_S = 5.0
MAX_QUEUED_EVENTS = 64  # game events the renderer has not drained yet; the oldest go first

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """One value, replaced by the writer, read by the renderer; ``version`` counts puts so the
    reader can tell whether anything new arrived since its last look."""

    def __init__(self, value: T) -> None:
        self._lock = threading.Lock()
        self._value = value
        self._version = 0

    def put(self, value: T) -> None:
        with self._lock:
            self._value = value
            self._version += 1

    def get(self) -> tuple[int, T]:
        with self._lock:
            return self._version, self._value


class EventQueue(Generic[T]):
    """A few values in arrival order, put by the network thread and drained by the renderer
    (a lock held for an append or a swap). Bounded: when the renderer stalls, the oldest are
    dropped (``dropped`` counts them) rather than growing without end."""

    def __init__(self, maxlen: int = MAX_QUEUED_EVENTS) -> None:
        self._lock = threading.Lock()
        self._items: deque[T] = deque(maxlen=maxlen)
        self.put_count = 0
        self.dropped = 0

    def put(self, value: T) -> None:
        with self._lock:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(value)
            self.put_count += 1

    def drain(self) -> list[T]:
        with self._lock:
            if not self._items:
                return []
            items = list(self._items)
            self._items.clear()
            return items


@dataclass(frozen=True, slots=True)
class Received:
    """A state as it arrived: ``at_s`` (client monotonic clock) and the ``connection`` it came
    on (1 for the first successful connect, 2 after the first reconnect, ...)."""

    view: StateView
    raw: dict[str, Any]
    at_s: float
    connection: int


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """A ``game_event`` as it arrived (client monotonic clock), on connection ``connection``."""

    event: GameEvent
    raw: dict[str, Any]
    at_s: float
    connection: int


@dataclass(frozen=True, slots=True)
class LinkStatus:
    connected: bool = False
    connections: int = 0  # successful connects (welcome received) so far
    attempts: int = 0
    error: str | None = None  # the last server error or connection failure, for the screen
    refused: bool = False  # the server refused the station credentials
    retry_at_s: float | None = None  # when the next attempt is due (client monotonic clock)


class StateSource(Protocol):
    """What the renderer reads: the newest state, the game events not yet taken and the link's
    status, without blocking."""

    def latest(self) -> tuple[int, Received | None]: ...

    def take_events(self) -> list[ReceivedEvent]: ...

    def status(self) -> LinkStatus: ...

    def send(self, message: dict[str, Any]) -> bool: ...


@dataclass
class Backoff:
    """Delays between connection attempts: ``low`` doubling to ``high``, reset on success. A
    little jitter (``jitter`` share) keeps a room of headsets from reconnecting in lockstep."""

    low_s: float = MIN_BACKOFF_S
    high_s: float = MAX_BACKOFF_S
    jitter: float = 0.0
    _next_s: float = 0.0

    def __post_init__(self) -> None:
        self._next_s = self.low_s

    def next(self) -> float:
        delay = self._next_s
        self._next_s = min(self.high_s, self._next_s * 2.0)
        return delay * (1.0 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self._next_s = self.low_s


class Refused(Exception):
    """The server answered ``hello`` with an error (``auth_failed``, ``unavailable``...)."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.code = str(reply.get("code"))
        super().__init__(f"{self.code}: {reply.get('message')}")


class HeadsetLink:
    """Role ``headset`` over msgpack, run on a daemon thread. ``on_state`` and ``on_event``
    (optional) are called on the network thread for every state or game event received, for
    logging or tests; they must be quick."""

    def __init__(
        self, url: str, station: str, token: str, *, backoff: Backoff | None = None,
        refused_retry_s: float = REFUSED_RETRY_S, on_state: Callable[[Received], None] | None = None,
        on_event: Callable[[ReceivedEvent], None] | None = None, ca_file: str | None = None,
    ) -> None:
        """``ca_file``: check a ``wss://`` server against this CA alone (:func:`clients.link.tls_options`;
        raises :class:`clients.link.TLSOptionError` at once when it cannot be used)."""
        self.url, self.station, self._token = url, station, token
        self._tls = tls_options(url, ca_file)
        self.backoff = backoff or Backoff(jitter=0.1)
        self.refused_retry_s = refused_retry_s
        self.on_state = on_state
        self.on_event = on_event
        self.states: LatestSlot[Received | None] = LatestSlot(None)
        self.events: EventQueue[ReceivedEvent] = EventQueue()
        self._status: LatestSlot[LinkStatus] = LatestSlot(LinkStatus())
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._stopping = threading.Event()  # a cancel can be swallowed (asyncio.wait_for races): also a flag
        self.local_address: tuple[Any, ...] | None = None  # of the current connection

    # -- the render thread's side ---------------------------------------------------------------

    def start(self) -> HeadsetLink:
        self._thread = threading.Thread(target=self._thread_main, name="headset-network", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the connection and end the thread. Waits for the close handshake (at most 1 s):
        from a thread whose event loop runs the server too (tests), call it via
        ``asyncio.to_thread``."""
        self._stopping.set()
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(main.cancel)
            except RuntimeError:
                pass  # the loop closed meanwhile: the thread is ending anyway
        if self._thread is not None:
            self._thread.join(timeout_s)

    def latest(self) -> tuple[int, Received | None]:
        return self.states.get()

    def take_events(self) -> list[ReceivedEvent]:
        return self.events.drain()

    def status(self) -> LinkStatus:
        return self._status.get()[1]

    def send(self, message: dict[str, Any]) -> bool:
        """Queue ``pause``/``ready``/``ping`` from any thread; False when not connected."""
        loop, ws = self._loop, self._ws
        if loop is None or ws is None or loop.is_closed():
            return False
        frame = msgpack.packb({"v": PROTOCOL_VERSION, **message})
        asyncio.run_coroutine_threadsafe(_send_quietly(ws, frame), loop)
        return True

    # -- the network thread ---------------------------------------------------------------------

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._main = loop.create_task(self._run())
            if self._stopping.is_set():  # stop() came before the task existed
                self._main.cancel()
            loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    def _set_status(self, **changes: Any) -> None:
        self._status.put(replace(self.status(), **changes))

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._set_status(attempts=self.status().attempts + 1, retry_at_s=None)
            try:
                await self._session()
                delay, error = self.backoff.next(), "connection closed"
            except Refused as exc:
                refused = exc.code == "auth_failed"
                delay = self.refused_retry_s if refused else self.backoff.next()
                error = str(exc)
                self._set_status(refused=refused)
            except (OSError, TimeoutError, WebSocketException) as exc:
                delay, error = self.backoff.next(), describe(exc)
            finally:
                self._ws = None
            self._set_status(connected=False, error=error, retry_at_s=time.monotonic() + delay)
            if self._stopping.is_set():
                return
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        """One connection: hello, welcome, then states and game events until it closes."""
        async with connect(self.url, compression=None, max_size=1 << 20, open_timeout=HELLO_TIMEOUT_S,
                           ping_interval=5, ping_timeout=5, close_timeout=1, **self._tls) as ws:
            hello = {"type": "hello", "v": PROTOCOL_VERSION, "role": "headset", "station": self.station,
                     "token": self._token}
            await ws.send(msgpack.packb(hello))
            reply = _decode(await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT_S))
            if reply.get("type") != "welcome":
                raise Refused(reply)
            self._ws, self.local_address = ws, ws.local_address
            self.backoff.reset()
            connection = self.status().connections + 1
            self._set_status(connected=True, connections=connection, error=None, refused=False)
            async for frame in ws:
                if self._stopping.is_set():
                    return
                message = _decode(frame)
                if message.get("type") == "state":
                    received = Received(parse_state(message), message, time.monotonic(), connection)
                    self.states.put(received)
                    if self.on_state is not None:
                        self.on_state(received)
                elif message.get("type") == "game_event":
                    event = parse_event(message)
                    if event is not None:
                        queued = ReceivedEvent(event, message, time.monotonic(), connection)
                        self.events.put(queued)
                        if self.on_event is not None:
                            self.on_event(queued)
                elif message.get("type") == "error":  # e.g. no_game for a pause: show it briefly
                    self._set_status(error=f"{message.get('code')}: {message.get('message')}")


def describe(exc: BaseException) -> str:
    """A short, readable reason for a failed or lost connection (it goes on screen)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    if isinstance(exc, ConnectionClosed):
        return "connection lost"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({exc.verify_message}): --ca-file names the clinic CA"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


def _decode(frame: bytes | str) -> dict[str, Any]:
    data = msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)
    return data if isinstance(data, dict) else {}


async def _send_quietly(ws: ClientConnection, frame: bytes) -> None:
    try:
        await ws.send(frame)
    except WebSocketException:
        pass  # the connection is going away; the reconnect loop takes over


class FixedSource:
    """A source that always shows one state: for tests, screenshots and demos without a server."""

    def __init__(self, view: StateView | None = None, status: LinkStatus | None = None) -> None:
        self._slot: LatestSlot[Received | None] = LatestSlot(None)
        self._events: EventQueue[ReceivedEvent] = EventQueue()
        self._status = status or LinkStatus(connected=True, connections=1, attempts=1)
        if view is not None:
            self.show(view)

    def show(self, view: StateView, raw: dict[str, Any] | None = None, at_s: float | None = None) -> None:
        self._slot.put(Received(view, raw or {}, time.monotonic() if at_s is None else at_s, 1))

    def event(self, message: dict[str, Any], at_s: float | None = None) -> None:
        """Deliver a ``game_event`` message as if it had just arrived."""
        event = parse_event(message)
        if event is not None:
            self._events.put(ReceivedEvent(event, message, time.monotonic() if at_s is None else at_s, 1))

    def latest(self) -> tuple[int, Received | None]:
        return self._slot.get()

    def take_events(self) -> list[ReceivedEvent]:
        return self._events.drain()

    def status(self) -> LinkStatus:
        return self._status

    def send(self, message: dict[str, Any]) -> bool:
        return False
