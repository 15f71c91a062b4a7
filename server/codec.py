"""Frames to dictionaries and back: binary frames are msgpack, text frames are JSON.

Both carry the same schema. Whatever can go wrong while decoding becomes a :class:`ProtocolError`
with a message fit to send back to the client.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import msgpack

PROTOCOL_VERSION = 1


class Encoding(StrEnum):
    MSGPACK = "msgpack"
    JSON = "json"


class ProtocolError(Exception):
    """Bad input from a client: ``code`` is machine-readable, ``message`` is for people."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra  # more machine-readable fields of the error (``retry_after_s``)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number StrideVR accepts")


def decode(frame: bytes | str) -> tuple[dict[str, Any], Encoding]:
    """Decode one frame into a message dictionary and tell which encoding it used."""
    try:
        if isinstance(frame, bytes | bytearray | memoryview):
            data = msgpack.unpackb(bytes(frame), raw=False, strict_map_key=True)
            encoding = Encoding.MSGPACK
        else:
            data = json.loads(frame, parse_constant=_reject_constant)
            encoding = Encoding.JSON
    except RecursionError:
        raise ProtocolError("malformed", "message is nested too deeply") from None
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        kind = "msgpack" if isinstance(frame, bytes | bytearray | memoryview) else "JSON"
        raise ProtocolError("malformed", f"frame is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("malformed", "a message must be a map/object with a 'type' field")
    return data, encoding


def encode(message: dict[str, Any], encoding: Encoding) -> bytes | str:
    if encoding is Encoding.MSGPACK:
        return msgpack.packb(message, use_bin_type=True)
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def envelope(type_: str, **fields: Any) -> dict[str, Any]:
    """A server message: every one carries its type and the protocol version."""
    return {"type": type_, "v": PROTOCOL_VERSION, **fields}


def error_reply(code: str, message: str, request_id: object = None, **extra: Any) -> dict[str, Any]:
    """An ``error`` message, carrying the request id it answers when there is one."""
    reply = envelope("error", code=code, message=message, **extra)
    if request_id is not None:
        reply["id"] = request_id
    return reply
