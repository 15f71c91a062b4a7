"""What the owner of live sessions needs of the cluster, as a protocol.

:class:`server.live_sessions.LiveSessions` runs games and feeds their viewers here; where a game runs
on another process it reaches it through this, and nothing else of the transport. Implemented by
:class:`server.cluster.LocalCluster` (one process: every call is a no-op or answers "here") and
:class:`server.cluster.RedisCluster`.
"""

from __future__ import annotations

from typing import Any, Protocol


class StationRelay(Protocol):
    @property
    def distributed(self) -> bool:
        """Whether other processes may host games or hold viewers (false: everything is here)."""
        ...

    @property
    def node_id(self) -> str: ...

    async def claim(self, station: str) -> bool:
        """Take the station's lease: its game will run here. False when a process holds it."""
        ...

    async def release(self, station: str) -> None: ...

    async def owner(self, station: str) -> str | None:
        """The process hosting the station's game, or None."""
        ...

    async def note_devices(self, station: str, present: bool) -> None:
        """Some of the station's devices are connected here (``present``), or the last one left."""
        ...

    async def devices_at(self, station: str) -> str | None:
        """The process the station's devices are connected to (this one when some are here)."""
        ...

    async def follow(self, station: str) -> None:
        """Receive the state and events of the station's game hosted elsewhere (it resyncs)."""
        ...

    async def unfollow(self, station: str) -> None: ...

    def publish_out(self, station: str, kind: str, message: dict[str, Any]) -> None:
        """The hosted game's state or event, for viewers on other processes."""
        ...

    def followed(self, station: str) -> bool:
        """Whether another process has viewers of this hosted station: only then is its state
        worth building for ``publish_out``, which drops it otherwise."""
        ...

    def publish_in(self, station: str, kind: str, message: dict[str, Any]) -> None:
        """Input (a device's event, a headset's request, the devices here) for the game's host."""
        ...

    def tell(self, node: str, message: dict[str, Any]) -> None:
        """A notice for devices connected to another process."""
        ...
