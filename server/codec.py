"""Frames to dictionaries and back: binary frames are msgpack, text frames are JSON.

Both carry the same schema. Whatever can go wrong while decoding becomes a :class:`ProtocolError`
with a message fit to send back to the client.

Integers are bounded here, at the edge, for both encodings alike: msgpack cannot carry one outside
64 bits, but JSON can (a 400-digit one), and such a number would overflow much later, in whatever
first turns it into a float (a validator, numpy), as a server error instead of bad input.
"""

from __future__ import annotations

import json
import re
import threading
from enum import StrEnum
from typing import Any

import msgpack

from server.wire import ErrorCode
from server.wire_messages import ErrorMessage


class Encoding(StrEnum):
    MSGPACK = "msgpack"
    JSON = "json"


class ProtocolError(Exception):
    """Bad input from a client: ``code`` is machine-readable, ``message`` is for people."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra  # more machine-readable fields of the error (``retry_after_s``)


# msgpack's integer range, the same for JSON
MIN_INT, MAX_INT = -(2**63), 2**64 - 1
_LONG_DIGITS = re.compile(r"\d{20}")  # a cheap scan: only a frame with such a run is checked closely


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number StrideVR accepts")


def _bounded_int(text: str) -> int:
    """JSON's integer hook, for frames holding a long run of digits: refuse before converting
    (a huge literal costs time to convert, and overflows later)."""
    if len(text.lstrip("-")) <= 20:
        value = int(text)
        if MIN_INT <= value <= MAX_INT:
            return value
    shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"
    raise ProtocolError("bad_field", f"integer {shown} is out of range: integers must fit in 64 bits "
                        f"({MIN_INT} to {MAX_INT})")


_BINARY = (bytes, bytearray, memoryview)  # a tuple, built once: every message is decoded here


def decode(frame: bytes | str) -> tuple[dict[str, Any], Encoding]:
    """Decode one frame into a message dictionary and tell which encoding it used."""
    try:
        if isinstance(frame, _BINARY):
            data = msgpack.unpackb(bytes(frame), raw=False, strict_map_key=True)
            encoding = Encoding.MSGPACK
        else:
            if _LONG_DIGITS.search(frame):
                data = json.loads(frame, parse_constant=_reject_constant, parse_int=_bounded_int)
            else:
                data = json.loads(frame, parse_constant=_reject_constant)
            encoding = Encoding.JSON
    except RecursionError:
        raise ProtocolError("malformed", "message is nested too deeply") from None
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        kind = "msgpack" if isinstance(frame, _BINARY) else "JSON"
        raise ProtocolError("malformed", f"frame is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("malformed", "a message must be a map/object with a 'type' field")
    return data, encoding


class _Packers(threading.local):
    """One msgpack packer per thread, reused: ``msgpack.packb`` makes a new one (and its buffer)
    on every call, a quarter of the cost of packing a state."""

    def __init__(self) -> None:
        self.packer = msgpack.Packer(use_bin_type=True)


_PACKERS = _Packers()


def encode(message: dict[str, Any], encoding: Encoding) -> bytes | str:
    if encoding is Encoding.MSGPACK:
        return _PACKERS.packer.pack(message)
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def _map_body(message: dict[str, Any], encoding: Encoding) -> bytes | str:
    """A map's entries encoded, without the map's own header (msgpack) or braces (JSON)."""
    encoded = encode(message, encoding)
    if isinstance(encoded, str):
        return encoded[1:-1]
    n = len(message)
    return encoded[1 if n < 16 else 3 if n < 65536 else 5:]


class PartsEncoder:
    """Encodes a map given in two parts with no key in common: one built afresh for each message,
    and one that stays the same object for many messages and is encoded only once per encoding.

    A station's state goes out on every foot event, but only its clock, phase and feet change that
    often; the target, the last result, the difficulty and the home spots change a few times a
    trial (``Game.snapshot_parts``). Both encodings allow a map's entries to be joined so: msgpack
    counts them in the map's header, JSON separates them with commas.
    """

    __slots__ = ("_bodies", "_part")

    def __init__(self) -> None:
        self._part: dict[str, Any] | None = None
        self._bodies: dict[Encoding, bytes | str] = {}

    def encode(self, fresh: dict[str, Any], constant: dict[str, Any], encoding: Encoding) -> bytes | str:
        """``{**fresh, **constant}`` encoded, reusing ``constant``'s entries while it is the same
        object (it must not be changed in place)."""
        if constant is not self._part:
            self._part, self._bodies = constant, {}
        body = self._bodies.get(encoding)
        if body is None:
            body = self._bodies[encoding] = _map_body(constant, encoding)
        if not body:
            return encode(fresh, encoding)
        head = _map_body(fresh, encoding)
        if isinstance(body, str):
            assert isinstance(head, str)
            return f"{{{head},{body}}}" if head else f"{{{body}}}"
        assert isinstance(head, bytes)
        return _PACKERS.packer.pack_map_header(len(fresh) + len(constant)) + head + body


def error_reply(code: ErrorCode, message: str, request_id: object = None, **extra: Any) -> dict[str, Any]:
    """An ``error`` message, carrying the request id it answers when there is one."""
    return ErrorMessage(code, message, extra).wire(request_id)
