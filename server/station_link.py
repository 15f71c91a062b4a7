"""What a game being played needs from its station, as a protocol.

:class:`server.play.Play` is typed against this rather than :class:`server.stations.StationRuntime`,
which holds the play: the station module imports the play module, never the other way round.
"""

from __future__ import annotations

from typing import Any, Protocol


class StationLink(Protocol):
    """The station a play runs on (implemented by :class:`server.stations.StationRuntime`)."""

    @property
    def name(self) -> str: ...
    @property
    def play(self) -> object | None:
        """The play the station runs now (a play that is ending is no longer it)."""
        ...

    def broadcast_state(self) -> None:
        """Push the station's state to its headsets and watching therapists."""
        ...

    def notify(self, message: dict[str, Any]) -> None:
        """Send a message to the station's watching therapists."""
        ...

    def config_changed(self, by: str) -> None:
        """Tell watching therapists that the session's live configuration changed (``by``: who)."""
        ...
