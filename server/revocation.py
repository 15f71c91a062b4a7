"""Revocation: a connection lives only as long as the credential it authenticated with.

Logout, a password change or reset, a deactivated account, a station token rotated or revoked, and
a headset un-paired (``server/pairing.py``) end the connections that used them, with an ``error``
(code ``revoked``) saying why sent first.
Each process checks the credentials of its open connections against the database every
``CHECK_S`` seconds (one query), and at once after a revocation made through it. The database is
the one place every revocation lands, whoever made it: an admin on another process, or the
command line, which talks to no server at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from server.codec import error_reply
from server.connection import Connection
from server.storage.store import AsyncStore

log = logging.getLogger(__name__)

CHECK_S = 1.0
STATION_CREDENTIAL = "station_credential"
UNPAIRED = "unpaired"
WHY = {
    "logout": "this session was logged out",
    "password_changed": "the account's password was changed",
    "password_reset": "the account's password was reset by an admin",
    "deactivated": "the account was deactivated",
    "revoked": "this session was revoked",
    STATION_CREDENTIAL: "the station's token for this role was rotated or revoked",
    UNPAIRED: "this headset was un-paired from the station",
}


class RevocationWatch:
    """Closes the connections whose credential is gone; ``connections`` lists the open ones."""

    def __init__(self, store: AsyncStore, connections: Callable[[], Iterable[Connection]],
                 unpaired: Callable[[set[int]], Awaitable[set[int]]] | None = None) -> None:
        self.store = store
        self.connections = connections
        self.unpaired = unpaired  # of these headset pairings, the ones un-paired
        self._running: asyncio.Task[None] | None = None
        self._again = False
        self._failing = False
        self._closing: set[asyncio.Task[None]] = set()

    def check_soon(self) -> None:
        """Check now (a revocation was just made here), or right after the check under way."""
        if self._running is not None and not self._running.done():
            self._again = True
            return
        self._running = asyncio.create_task(self._check(), name="revocation-check")

    async def wait(self) -> None:
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _check(self) -> None:
        while True:
            self._again = False
            try:
                await self._check_once()
                self._failing = False
            except Exception as exc:  # the database may be away: the next round tries again
                if not self._failing:  # once per outage, not every second
                    log.warning("cannot check credentials for revocation (retrying every %g s): %r", CHECK_S, exc)
                self._failing = True
            if not self._again:
                return

    async def _check_once(self) -> None:
        open_ = [c for c in self.connections() if c.credential_hash is not None and not c.revoked]
        sessions = {h for c in open_ if c.role == "therapist" and (h := c.credential_hash) is not None}
        stations = {h for c in open_
                    if c.role != "therapist" and c.pairing_id is None and (h := c.credential_hash) is not None}
        pairings = {p for c in open_ if (p := c.pairing_id) is not None}
        if not open_:
            return
        revoked, gone = await self.store.revoked_credentials(sessions, stations)
        unpaired = await self.unpaired(pairings) if pairings and self.unpaired is not None else set()
        for conn in open_:
            if conn.role == "therapist":
                reason = revoked.get(conn.credential_hash or "")
                if reason == "expired":
                    continue  # the connection's own timer says so (``session_expired``)
            elif conn.pairing_id is not None:
                reason = UNPAIRED if conn.pairing_id in unpaired else None
            else:
                reason = STATION_CREDENTIAL if conn.credential_hash in gone else None
            if reason is not None:
                self._close(conn, reason)

    def _close(self, conn: Connection, reason: str) -> None:
        conn.revoked = True
        log.info("closing %s: %s", conn.peer, WHY.get(reason, reason))
        conn.send(error_reply("revoked", WHY.get(reason, reason), reason=reason))
        task = asyncio.create_task(conn.close(1008, "credential revoked"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
