"""The server's websocket connection class: admission is decided when TCP accepts the socket.

``websockets`` reads and parses the HTTP request of every connection before ``process_request``
can refuse it. A client reconnecting in a tight loop from one address (an attacker, or a broken
device) would make the server do that thousands of times a second, on the event loop that also
serves the playing stations. Here a connection over its address's rate is reset as soon as it is
accepted (see :class:`server.login_guard.ConnectionAdmission`); the one refusal a second that is
answered with HTTP 429 goes through ``process_request`` as before, which reads the verdict here.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from websockets.asyncio.server import ServerConnection

from server.login_guard import Admission, ConnectionAdmission


def admitted_connection(admission: ConnectionAdmission) -> type[ServerConnection]:
    """A ``ServerConnection`` class for ``serve(create_connection=...)`` that applies ``admission``."""

    class AdmittedConnection(ServerConnection):
        verdict = Admission.ADMIT

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer: Any = transport.get_extra_info("peername")
            self.verdict = admission.at_accept(str(peer[0]) if peer else "")
            if self.verdict is Admission.DROP:
                cast(asyncio.Transport, transport).abort()  # nothing was set up: no handler task, no handshake timer
                return
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.verdict is not Admission.DROP:
                super().connection_lost(exc)

    return AdmittedConnection
