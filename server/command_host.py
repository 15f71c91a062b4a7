"""What therapist commands need from the server that runs them, as a protocol.

:class:`server.therapist.TherapistCommands` is typed against this, not against the server class, so
the commands do not import ``server.app`` (which creates them): no import cycle, and the few
server members a command may use are named here in one place.
"""

from __future__ import annotations

from typing import Protocol

from scoring.smallest_change import SmallestChange
from scoring.storage.store import AsyncStore
from server.cluster import LocalCluster, RedisCluster
from server.connection import Connection
from server.login_guard import HashingPool
from server.pairing import Pairings
from server.revocation import RevocationWatch
from server.stations import StationRuntime


class CommandHost(Protocol):
    """The server as therapist commands see it (implemented by :class:`server.app.StrideServer`)."""

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

    async def station(self, name: str) -> StationRuntime | None:
        """The station of that name, loaded on first use; None when there is none."""
        ...

    async def finish_play(self, station: StationRuntime, reason: str) -> None:
        """Detach the station's game at once, then end it cleanly."""
        ...

    async def maybe_unfollow(self, station: StationRuntime) -> None:
        """Stop receiving the stream of a game hosted elsewhere once nobody here watches it."""
        ...

    async def send_current_state(self, station: StationRuntime, conn: Connection) -> None:
        """Send a new viewer the station's state at once."""
        ...

    def check_devices(self, station: StationRuntime) -> None:
        """Pause (or resume) the station's game as its devices go (or come back)."""
        ...
