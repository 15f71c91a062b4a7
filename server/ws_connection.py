"""The server's websocket connection class: admission at accept, and messages without a queue.

Two things ``websockets``' own ``ServerConnection`` does that cost a game server too much:

* It reads and parses the HTTP request of every connection before ``process_request`` can refuse
  it. A client reconnecting in a tight loop from one address (an attacker, or a broken device)
  would make the server do that thousands of times a second, on the event loop that also serves
  the playing stations. Here a connection over its address's rate is dropped as soon as it is
  accepted: held open and unread for a while, then reset (see
  :class:`server.login_guard.ConnectionAdmission`); the one refusal a second that is answered with
  HTTP 429 goes through ``process_request`` as before, which reads the verdict here.
* Every message goes through a queue to a task that ``recv()`` wakes: a future, a task switch and
  a coroutine resumption per message. A tracker sends 120 messages a second per station, each
  handled without waiting on anything, so once a connection has a *message handler*
  (:meth:`StrideConnection.handle_messages`) each complete message is handed to it as it is parsed,
  inside the transport's read callback. Connections without one (logins, the therapist's commands,
  which wait on the database) read their messages with :meth:`StrideConnection.next_message`.

* Its Sans-I/O core parses every frame with a generator and a ``Frame`` object, and writes each
  message through them too: several microseconds a frame, at 120 frames a second per tracker and one
  state back per event. Once the opening handshake is done, whole unfragmented data frames are read
  and written here (:mod:`server.ws_frames`); every other frame (pings, pongs, the close, fragments,
  anything malformed or over the size limit) is handed to the core whole, so its parser always
  stands at a frame boundary, and the protocol (fragments and their size limit, pings, the closing
  handshake, every error and close code) stays ``websockets``'.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any, Protocol, cast

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State

from server.login_guard import Admission, ConnectionAdmission
from server.ws_frames import BINARY_FIN, MASKED, TEXT_FIN, apply_mask, frame_at, server_frame

log = logging.getLogger(__name__)

MessageHandler = Callable[[bytes | str], None]


class ReadObserver(Protocol):
    """Told when each read from the socket begins and ends, its messages handled in between: what
    the messages of one read change can then go out once, as the read ends. Neither may raise."""

    def read_began(self) -> None: ...

    def read_ended(self) -> None: ...


# Unread messages held for a task that reads with ``next_message``: past the high mark the socket
# stops being read (TCP then slows the client down), below the low mark it is read again.
INBOX_HIGH = 64
INBOX_LOW = 16
_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)  # looked up once: every message passes here
_CONT, _TEXT = Opcode.CONT, Opcode.TEXT
_OPEN = State.OPEN
_REQUEST_END = b"\r\n\r\n"
_WHOLE_DATA = (BINARY_FIN, TEXT_FIN)


class StrideConnection(ServerConnection):
    """A ``ServerConnection`` that applies admission at accept and delivers complete messages
    either to a handler, synchronously, or to one reader task."""

    verdict = Admission.ADMIT
    admission: ConnectionAdmission | None = None  # set on the class by ``connection_class``

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inbox: collections.deque[bytes | str] = collections.deque()
        self._reader: asyncio.Future[None] | None = None
        self._handler: MessageHandler | None = None
        self._reads: ReadObserver | None = None
        self._fragments: list[bytes] = []
        self._fragmented_text = False
        self._reading_paused = False
        self._held: asyncio.TimerHandle | None = None  # a dropped connection held open: its reset
        # Framing (see the module's docstring): until the HTTP request's end is seen, the last bytes
        # read (it may straddle two reads); whether anything followed it before the handshake ended
        # (then websockets parses this connection's frames all along); and once frames are read
        # here, the start of one not all received yet.
        self._request_tail: bytes | None = b""
        self._may_frame = True
        self._framing = False
        self._unparsed = b""

    # -- admission ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer: Any = transport.get_extra_info("peername")
        if self.admission is not None:
            self.verdict = self.admission.at_accept(str(peer[0]) if peer else "")
        if self.verdict is Admission.DROP:  # nothing is set up: no handler task, no handshake timer
            tcp = cast(asyncio.Transport, transport)
            if self.admission is not None and self.admission.hold():
                tcp.pause_reading()
                self._held = asyncio.get_running_loop().call_later(self.admission.hold_s, tcp.abort)
            else:
                tcp.abort()
            return
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        reads = self._reads
        if reads is None:
            self._receive(data)
            return
        reads.read_began()
        try:
            self._receive(data)
        finally:  # whatever happened, the read is over: the observer must not wait for another
            reads.read_ended()

    def _receive(self, data: bytes) -> None:
        if self._framing:
            self._read_frames(data)
        else:
            self._read(data)

    def _read(self, data: bytes) -> None:
        """Bytes not read as frames here (the opening handshake; a connection whose first frames
        came with its request): websockets reads them, and where the request ends is noted."""
        if self.verdict is Admission.DROP:  # a held connection's bytes are never read
            return
        if self._may_frame and self.protocol.state is _OPEN and self._request_tail is None:
            self._framing = True  # websockets was given the request and nothing after it
            self._read_frames(data)
            return
        if self._request_tail is not None:  # the opening handshake's request is still arriving
            seen = self._request_tail + data
            end = seen.find(_REQUEST_END)
            if end < 0:
                self._request_tail = seen[-3:]
            else:
                self._request_tail = None
                self._may_frame = end + len(_REQUEST_END) == len(seen)
        elif self.protocol.state is not _OPEN:
            self._may_frame = False  # bytes after the request, before the handshake's answer
        super().data_received(data)

    def eof_received(self) -> None:
        if self.verdict is Admission.DROP:
            return  # the client of a held connection gave up: the transport closes itself
        if self._framing and self._unparsed:  # websockets judges a frame cut short
            self._stop_framing(self._unparsed)
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.verdict is Admission.DROP:
            if self._held is not None and self.admission is not None:
                self._held.cancel()
                self._held = None
                self.admission.release()
            return
        super().connection_lost(exc)
        self._wake_reader()

    # -- incoming messages ----------------------------------------------------------------------

    def handle_messages(self, handler: MessageHandler, reads: ReadObserver | None = None) -> None:
        """From now on, hand each complete message to ``handler`` as it arrives (in order: any
        already waiting for ``next_message`` go to it first), and tell ``reads`` when each read
        from the socket begins and ends. The handler may not raise."""
        self._handler, self._reads = handler, reads
        while self._inbox and self._handler is handler:
            handler(self._inbox.popleft())
        self._resume_if_drained()

    async def next_message(self) -> bytes | str:
        """The next complete message; raises ``ConnectionClosed`` once the connection is closed."""
        while not self._inbox:
            if self.connection_lost_waiter.done():  # connection_lost ran: the protocol is CLOSED
                raise self.close_exc
            self._reader = self.loop.create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        message = self._inbox.popleft()
        self._resume_if_drained()
        return message

    # -- framing --------------------------------------------------------------------------------

    def _read_frames(self, data: bytes) -> None:
        """Whole unfragmented data frames are delivered from here; any other frame goes to
        websockets whole, and once the connection is no longer open, everything does."""
        buf = self._unparsed + data if self._unparsed else data
        protocol = self.protocol
        limit = protocol.max_message_size
        start, size = 0, len(buf)
        while start < size:
            at = frame_at(buf, start)
            if at is None:
                break
            first, head, end = at
            if limit is not None and end - head > limit:  # websockets refuses it from its header
                self._stop_framing(buf[start:])
                return
            if end > size:
                break
            if (first in _WHOLE_DATA and buf[start + 1] & MASKED
                    and protocol.current_size is None and protocol.state is _OPEN):
                self._deliver(apply_mask(buf[head:end], buf[head - 4:head]), first == TEXT_FIN)
            else:
                super().data_received(buf[start:end])
                if protocol.state is not _OPEN:
                    self._stop_framing(buf[end:])
                    return
            start = end
        self._unparsed = buf[start:] if start < size else b""

    @property
    def reads_frames(self) -> bool:
        """Whether this connection's whole data frames are read here now (else by websockets)."""
        return self._framing

    def _stop_framing(self, rest: bytes) -> None:
        """websockets reads everything from here on (its parser stands at a frame boundary)."""
        self._framing, self._unparsed = False, b""
        if rest:
            super().data_received(rest)

    def write_message(self, payload: bytes | str) -> bool:
        """Write one whole message at once, without a lock, a task or websockets' frame objects
        (text for a ``str``, else binary); False, and nothing written, once the connection is no
        longer open. For code that never waits: the caller watches the transport's buffer."""
        if self.protocol.state is not _OPEN:
            return False
        self.transport.write(server_frame(payload))
        return True

    # -- messages ---------------------------------------------------------------------------------

    def process_event(self, event: Any) -> None:
        if not isinstance(event, Frame) or event.opcode not in _DATA:
            super().process_event(event)  # the handshake, pings and pongs: as websockets does
            return
        opcode = event.opcode
        if opcode is not _CONT and not event.fin:  # the first of several fragments
            self._fragments, self._fragmented_text = [bytes(event.data)], opcode is _TEXT
            return
        if opcode is _CONT:  # the protocol holds a fragmented message to max_size
            self._fragments.append(bytes(event.data))
            if not event.fin:
                return
            data, text = b"".join(self._fragments), self._fragmented_text
            self._fragments = []
        else:
            data, text = bytes(event.data), opcode is _TEXT  # bytes already: not copied
        self._deliver(data, text)

    def _deliver(self, data: bytes, text: bool) -> None:
        """A complete message: to the handler, or to the inbox ``next_message`` reads."""
        if text:
            try:
                message: bytes | str = data.decode()
            except UnicodeDecodeError:
                self.protocol.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
                self.send_data()
                return
        else:
            message = data
        handler = self._handler
        if handler is not None:
            handler(message)
            return
        self._inbox.append(message)
        self._wake_reader()
        if len(self._inbox) >= INBOX_HIGH and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    def _resume_if_drained(self) -> None:
        if self._reading_paused and len(self._inbox) <= INBOX_LOW:
            self._reading_paused = False
            self.transport.resume_reading()


def connection_class(admission: ConnectionAdmission) -> type[StrideConnection]:
    """The connection class for ``serve(create_connection=...)``, applying ``admission``."""
    return cast(type[StrideConnection], type("AdmittedConnection", (StrideConnection,), {"admission": admission}))
