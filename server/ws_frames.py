"""The websocket frames a game server handles thousands of times a second, read and written here.

A tracker sends one small, unfragmented, masked binary frame per foot event, and every such event
sends one small unmasked frame back to each viewer. ``websockets``' Sans-I/O core handles any
frame (a generator per connection, a ``Frame`` object per frame, its checks and its output
buffer), at several microseconds a frame; these two functions handle just this common shape
(RFC 6455, section 5.2) at a fraction of that. Everything else (control frames, fragments,
anything malformed or too big) stays with ``websockets``: :class:`server.ws_connection.StrideConnection`
hands such frames to it whole, so its parser always stands at a frame boundary.
"""

from __future__ import annotations

try:  # websockets' C helper where it was built, as websockets itself imports it
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

__all__ = ["BINARY_FIN", "TEXT_FIN", "apply_mask", "frame_at", "server_frame"]

# A frame's first byte for a whole message (FIN set, no extension bits): text, binary
TEXT_FIN = 0x81
BINARY_FIN = 0x82
MASKED = 0x80  # in the second byte: every frame from a client must be masked


def frame_at(buf: bytes, start: int) -> tuple[int, int, int] | None:
    """The frame beginning at ``buf[start]``: (its first byte, where its payload begins, where it
    ends), or None while its header is incomplete. The end may lie past ``buf``: the frame is still
    arriving. A masked frame's four mask bytes sit just before its payload."""
    size = len(buf)
    if size - start < 2:
        return None
    second = buf[start + 1]
    length = second & 0x7F
    head = start + 2
    if length == 126:
        head = start + 4
        if size < head:
            return None
        length = int.from_bytes(buf[start + 2:head], "big")
    elif length == 127:
        head = start + 10
        if size < head:
            return None
        length = int.from_bytes(buf[start + 2:head], "big")
    if second & MASKED:
        head += 4
    return buf[start], head, head + length


def server_frame(payload: bytes | str) -> bytes:
    """One whole message as a server's frame (unmasked): text for a ``str``, else binary."""
    if isinstance(payload, str):
        data, first = payload.encode(), TEXT_FIN
    else:
        data, first = payload, BINARY_FIN
    n = len(data)
    if n < 126:
        return bytes((first, n)) + data
    if n < 65536:
        return bytes((first, 126)) + n.to_bytes(2, "big") + data
    return bytes((first, 127)) + n.to_bytes(8, "big") + data
