"""What therapist commands need from the server that runs them, as a protocol.

:class:`server.therapist.TherapistCommands` is typed against this, not against the server class, so
the commands do not import ``server.app`` (which creates them): no import cycle, and the few
server members a command may use are named here in one place. Stations and their games are not the
server's: commands act on them through :class:`server.live_sessions.LiveSessions`.
"""

from __future__ import annotations

from typing import Protocol

from scoring.smallest_change import SmallestChange
from server.cluster import LocalCluster, RedisCluster
from server.live_sessions import LiveSessions
from server.login_guard import HashingPool
from server.pairing import Pairings
from server.revocation import RevocationWatch
from server.storage.store import AsyncStore


class CommandHost(Protocol):
    """The server as therapist commands see it (implemented by :class:`server.app.StrideServer`)."""

    @property
    def live(self) -> LiveSessions:
        """The owner of stations and their running games: commands start, pause and stop them there."""
        ...
    @property
    def store(self) -> AsyncStore: ...
    @property
    def node_id(self) -> str: ...
    @property
    def cluster(self) -> LocalCluster | RedisCluster: ...
    @property
    def hashing(self) -> HashingPool:
        """The bounded pool password hashes run on (an admin setting a password uses it too)."""
        ...
    @property
    def revocations(self) -> RevocationWatch:
        """Closes connections whose credential was revoked; ``check_soon`` after revoking one."""
        ...
    @property
    def pairings(self) -> Pairings:
        """Headset pairing codes and the credentials they issued."""
        ...
    @property
    def smallest_change(self) -> dict[str, SmallestChange]:
        """The thresholds assessment reports use (the clinic's, where it set them)."""
        ...
