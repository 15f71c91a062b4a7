"""One client connection: how the server talks back without ever waiting on a slow client.

While a client keeps up, a message is written straight to its socket (no task switch: this is the
latency path for VR). Once its write buffer passes ``DIRECT_WRITE_LIMIT`` bytes, the connection's
sender task takes over and waits for the client. Game state then goes into a *latest-state slot*:
a newer state replaces one not yet sent (counted in ``dropped_states``), so a stalled headset
costs one slot of memory and never slows the game loop or other stations. Replies and events
(errors, stored trials) go into a bounded reliable queue; a client that lets it fill up is closed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from websockets.exceptions import ConnectionClosed

from server.codec import Encoding, ProtocolError, encode, error_reply
from server.log_limit import LimitedLog
from server.ratelimit import InputBudget
from server.ws_connection import StrideConnection

log = logging.getLogger(__name__)
_UNAUTHENTICATED_LOG = LimitedLog(log)

RELIABLE_QUEUE_LIMIT = 1000
DIRECT_WRITE_LIMIT = 64 * 1024


class Connection:
    def __init__(self, ws: StrideConnection, max_errors_per_minute: int) -> None:
        self.ws = ws
        self.encoding = Encoding.JSON
        self.role: str | None = None
        self.station: str | None = None
        # its input limits once the role is known; ``budget.messages.last``: when it last sent anything
        self.budget: InputBudget | None = None
        # the hash of the credential it authenticated with (a station token for its role, or a
        # therapist's session token): revoking that credential closes this connection
        self.credential_hash: str | None = None
        # the headset pairing that issued that credential (``server/pairing.py``), if one did
        self.pairing_id: int | None = None
        self.revoked = False  # that credential was revoked: the connection is closing
        self.dropped_states = 0
        self._reliable: collections.deque[bytes | str] = collections.deque()
        self._latest: bytes | str | None = None
        self._wake = asyncio.Event()
        self._sending = False
        self._expiry: asyncio.TimerHandle | None = None
        self._errors: collections.deque[float] = collections.deque()
        self._max_errors = max_errors_per_minute
        self._errors_logged = False
        self._sender = asyncio.create_task(self._send_loop(), name=f"sender-{ws.id}")
        self._closing: asyncio.Future[None] | None = None  # held: the loop holds tasks only weakly

    @property
    def peer(self) -> str:
        return f"{self.role or 'unauthenticated'}@{self.ws.remote_address}"

    def send(self, message: dict[str, Any], encoding: Encoding | None = None) -> None:
        """Queue a message that must arrive (reply, error, stored trial)."""
        if len(self._reliable) >= RELIABLE_QUEUE_LIMIT:
            log.warning("closing %s: it stopped reading (%d messages queued)", self.peer, len(self._reliable))
            self.close_soon(1008, "client is not reading its messages", flush=False)
            return
        frame = encode(message, encoding or self.encoding)
        if not self._write_now(frame):
            self._reliable.append(frame)
            self._wake.set()

    def push_state(self, frames: dict[Encoding, bytes | str]) -> None:
        """Offer the newest state, already encoded; replaces an unsent older one."""
        frame = frames[self.encoding]
        if self._write_now(frame):
            return
        if self._latest is not None:
            self.dropped_states += 1
        self._latest = frame
        self._wake.set()

    def _write_now(self, frame: bytes | str) -> bool:
        """Write without waiting if nothing is queued and the client is keeping up."""
        if self._reliable or self._latest is not None or self._sending:
            return False
        if self.ws.transport.get_write_buffer_size() > DIRECT_WRITE_LIMIT:
            return False
        return self.ws.write_message(frame)

    def error(self, exc: ProtocolError, request_id: object = None, encoding: Encoding | None = None) -> bool:
        """Report bad input; returns False once the client has sent too much of it. Only a
        connection's first bad message is logged, and refusals before authentication (a failed
        login, an idle socket timed out: one per connection, so a flood of connections) at most
        every 10 s in all: a client repeating itself cannot flood the log."""
        now = time.monotonic()
        if self.role is None:
            _UNAUTHENTICATED_LOG.warning("refused before authentication: %s: %s: %s", self.peer, exc.code,
                                         exc.message)
        elif not self._errors_logged:
            self._errors_logged = True
            log.warning("bad input from %s: %s: %s (further errors on this connection are not logged)",
                        self.peer, exc.code, exc.message)
        self._errors.append(now)
        while self._errors and now - self._errors[0] > 60.0:
            self._errors.popleft()
        self.send(error_reply(exc.code, exc.message, request_id, **exc.extra), encoding)
        return len(self._errors) <= self._max_errors

    def expire_after(self, seconds: float) -> None:
        """Close the connection when its login expires, with a message saying so."""
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(max(0.0, seconds), lambda: asyncio.ensure_future(self._expire()))

    async def _expire(self) -> None:
        self.send(error_reply("session_expired", "your session has expired; log in again"))
        await self.close(1008, "session expired")

    @property
    def closing(self) -> bool:
        return self._closing is not None

    def close_soon(self, code: int, reason: str, flush: bool = True) -> None:
        """Close from code that cannot wait (a message handler): :meth:`close` in the background,
        once; what the client sends meanwhile is ignored."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self.close(code, reason, flush))

    async def close(self, code: int = 1000, reason: str = "", flush: bool = True) -> None:
        """Send what is queued (``flush``), then close. Messages the client keeps sending are
        dropped meanwhile: otherwise its unread backlog would hide its close frame from the handshake."""
        self.ws.handle_messages(_ignore)
        if flush:
            await self.flush()
        await self.ws.close(code, reason)

    async def flush(self, timeout_s: float = 2.0) -> None:
        """Wait (briefly) until queued messages went out, e.g. an error before a close."""
        deadline = time.monotonic() + timeout_s
        while (self._reliable or self._latest is not None) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    def stop(self) -> None:
        self._sender.cancel()
        if self._expiry is not None:
            self._expiry.cancel()

    async def _send_loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._sending = True
                while self._reliable:
                    await self.ws.send(self._reliable.popleft())
                if self._latest is not None:
                    frame, self._latest = self._latest, None
                    await self.ws.send(frame)
                self._sending = False
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise


def _ignore(message: bytes | str) -> None:
    pass
