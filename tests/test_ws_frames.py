"""The server's own reading and writing of whole data frames (``server/ws_frames.py``, used by
``server/ws_connection.py``), held to ``websockets``' frames: over real sockets, a stream of
client frames cut at every byte gives the same messages, in order, as whole; control frames,
fragments, oversized, unmasked and pipelined frames keep ``websockets``' behaviour."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import CLIENT, OPEN, Protocol

from server.ws_connection import StrideConnection
from server.ws_frames import frame_at, server_frame

MAX_SIZE = 100_000


def client_frame(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
    """A client's masked frame, built by websockets."""
    return Frame(opcode, data, fin).serialize(mask=True, extensions=[])


@pytest.mark.unit
@given(st.binary(max_size=70_000) | st.text(max_size=300))
def test_server_frames_read_back_by_websockets_as_the_same_message(payload: bytes | str) -> None:
    client = Protocol(CLIENT, state=OPEN, max_size=None)
    client.receive_data(server_frame(payload))
    [frame] = client.events_received()
    assert isinstance(frame, Frame) and frame.fin
    assert frame.opcode is (Opcode.TEXT if isinstance(payload, str) else Opcode.BINARY)
    assert frame.data == (payload.encode() if isinstance(payload, str) else payload)


@pytest.mark.unit
@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_frame_at_reads_the_header_websockets_writes(length: int) -> None:
    frame = client_frame(Opcode.BINARY, os.urandom(length))
    header = len(frame) - length  # 2 bytes, the extended length (0, 2 or 8), the mask (4)
    assert frame_at(b"xx" + frame, 2) == (0x82, 2 + header, 2 + len(frame))
    length_known = header - 4
    assert all(frame_at(frame[:k], 0) is None for k in range(length_known))
    assert frame_at(frame[:length_known], 0) == (0x82, header, len(frame))


async def _echo(ws: ServerConnection) -> None:
    """Each message straight back, as the server writes states: ``write_message``."""
    assert isinstance(ws, StrideConnection)

    def back(message: bytes | str) -> None:
        ws.write_message(message)

    ws.handle_messages(back)
    await ws.wait_closed()


def _reads_frames(server: Server) -> list[bool]:
    return [cast(StrideConnection, c).reads_frames for c in server.connections]


@pytest.fixture
async def echo() -> AsyncIterator[Server]:
    async with serve(_echo, "127.0.0.1", 0, create_connection=StrideConnection, max_size=MAX_SIZE,
                     compression=None) as server:
        yield server


def _url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def _received(client: ClientConnection, count: int) -> list[bytes | str]:
    return [await asyncio.wait_for(client.recv(), 5) for _ in range(count)]


@pytest.mark.integration
async def test_frames_cut_anywhere_arrive_whole_and_in_order(echo: Server) -> None:
    messages: list[bytes | str] = [b"\x01", "text \u00e9" * 20, os.urandom(300), b"", os.urandom(70_000)]
    stream = b"".join(client_frame(Opcode.TEXT, m.encode()) if isinstance(m, str) else client_frame(Opcode.BINARY, m)
                      for m in messages)
    ping = client_frame(Opcode.PING, b"are you there")
    fragments = client_frame(Opcode.BINARY, b"frag", fin=False) + client_frame(Opcode.CONT, b"mented")
    small = len(stream) - len(client_frame(Opcode.BINARY, cast(bytes, messages[-1])))
    async with connect(_url(echo), compression=None, max_size=None) as client:
        client.transport.get_extra_info("socket").setsockopt(6, 1, 1)  # TCP_NODELAY: cuts stay cuts
        for cut in (1, 2, 3, 5, 7, 1000):  # the big message only in the largest pieces
            data = stream[:small] + ping + fragments + (stream[small:] if cut == 1000 else b"")
            for i in range(0, len(data), cut):
                client.transport.write(data[i:i + cut])
                if cut < 1000 or i % 16_000 == 0:
                    await asyncio.sleep(0.0005)
            want = [*messages[:4], b"fragmented", *(messages[4:] if cut == 1000 else [])]
            assert await _received(client, len(want)) == want
        await asyncio.wait_for(await client.ping(), 5)  # pings still answered by websockets
        assert _reads_frames(echo) == [True]
    assert client.close_code == 1000  # and the closing handshake


@pytest.mark.integration
async def test_an_oversized_frame_is_refused_from_its_header(echo: Server) -> None:
    async with connect(_url(echo), compression=None) as client:
        client.transport.write(client_frame(Opcode.BINARY, b"ok"))
        assert await _received(client, 1) == [b"ok"]
        client.transport.write(client_frame(Opcode.BINARY, b"x" * (MAX_SIZE + 1))[:20])  # the header only
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.integration
async def test_an_unmasked_client_frame_is_a_protocol_error(echo: Server) -> None:
    async with connect(_url(echo), compression=None) as client:
        client.transport.write(Frame(Opcode.BINARY, b"bare").serialize(mask=False, extensions=[]))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002


@pytest.mark.integration
async def test_frames_sent_with_the_request_are_read_by_websockets(echo: Server) -> None:
    """A client that does not wait for the handshake's answer: its first frames arrive with the
    request, and websockets, which has them, reads all of this connection's frames."""
    reader, writer = await asyncio.open_connection("127.0.0.1", echo.sockets[0].getsockname()[1])
    request = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    first = client_frame(Opcode.BINARY, b"early")
    writer.write(request + first[:3])  # the request, and a frame cut inside its header
    await writer.drain()
    assert b" 101 " in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.write(first[3:] + client_frame(Opcode.BINARY, b"later"))
    received = []
    for _ in range(2):  # the server's frames: unmasked, short
        _, length = await asyncio.wait_for(reader.readexactly(2), 5)
        received.append(await reader.readexactly(length))
    assert received == [b"early", b"later"]
    assert _reads_frames(echo) == [False]
    writer.close()
