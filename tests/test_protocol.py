"""Edge validation of incoming messages, without a network."""

from __future__ import annotations

import json

import msgpack
import pytest

from games.events import Side
from server.codec import Encoding, ProtocolError, decode
from server.messages import open_envelope, parse_difficulty, parse_foot, parse_start_game

GOOD_FOOT = {"type": "foot", "v": 1, "side": "L", "pos_m": [0.1, 0.2, 0.03], "t_s": 12.5, "seq": 7}


def foot(**changes: object) -> dict:
    return {**GOOD_FOOT, **changes}


def parse(data: dict):
    return parse_foot(open_envelope(data).fields)


def test_same_schema_over_msgpack_and_json() -> None:
    a, enc_a = decode(msgpack.packb(GOOD_FOOT))
    b, enc_b = decode(json.dumps(GOOD_FOOT))
    assert (enc_a, enc_b) == (Encoding.MSGPACK, Encoding.JSON)
    assert parse(a) == parse(b)
    event = parse(a)
    assert event.side is Side.LEFT and (event.x_m, event.y_m, event.z_m) == (0.1, 0.2, 0.03)
    assert event.contact is None and event.seq == 7


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xc1\xff", "malformed"),
        ("{not json", "malformed"),
        ('{"type": "foot", "v": 1, "x": NaN}', "malformed"),
        ("[1, 2, 3]", "malformed"),
        (msgpack.packb([1, 2]), "malformed"),
        ("[" * 100_000, "malformed"),
    ],
)
def test_undecodable_frames(frame: bytes | str, code: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode(frame)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        ({k: v for k, v in GOOD_FOOT.items() if k != "v"}, "missing_field", "protocol version"),
        (foot(v=2), "unsupported_version", "version 2"),
        ({k: v for k, v in GOOD_FOOT.items() if k != "type"}, "missing_field", "'type'"),
        (foot(type=5), "bad_field", "'type'"),
        (foot(side="middle"), "bad_field", "'side'"),
        (foot(pos_m=[0.1, 0.2]), "bad_field", "list of 3"),
        (foot(pos_m=[0.1, float("nan"), 0.0]), "bad_field", "finite"),
        (foot(pos_m=[0.1, float("inf"), 0.0]), "bad_field", "finite"),
        (foot(pos_m=[1e9, 0.0, 0.0]), "bad_field", "5.0 m"),
        (foot(pos_m=[0.0, 0.0, -3.0]), "bad_field", "height"),
        (foot(pos_m=["a", 0.0, 0.0]), "bad_field", "numbers"),
        (foot(pos_m=[True, 0.0, 0.0]), "bad_field", "numbers"),
        (foot(t_s="now"), "bad_field", "'t_s'"),
        (foot(seq=-1), "bad_field", "'seq'"),
        (foot(seq=1.5), "bad_field", "'seq'"),
        (foot(contact="yes"), "bad_field", "'contact'"),
        (foot(force_n=-5), "bad_field", "'force_n'"),
        (foot(extra=1), "unknown_field", "extra"),
        ({k: v for k, v in GOOD_FOOT.items() if k != "seq"}, "missing_field", "'seq'"),
        (foot(id=[1]), "bad_field", "'id'"),
    ],
)
def test_invalid_foot_events_are_explained(data: dict, code: str, words: str) -> None:
    with pytest.raises(ProtocolError) as err:
        parse(data)
    assert err.value.code == code
    assert words in err.value.message


def test_difficulty_request_keeps_current_bounds_for_omitted_fields() -> None:
    from scoring.difficulty import ParameterBounds

    current = {"target_radius_m": ParameterBounds(0.06, 0.12, True, 0.08)}
    msg = {"type": "set_difficulty", "v": 1, "station": "s",
           "bounds": {"target_radius_m": {"high": 0.1}}}
    req = parse_difficulty(open_envelope(msg).fields, "stepping", current)
    assert req.bounds["target_radius_m"] == ParameterBounds(0.06, 0.1, True, 0.08)
    msg["bounds"] = {"target_radius_m": {"locked": False}}
    req = parse_difficulty(open_envelope(msg).fields, "stepping", current)
    assert req.bounds["target_radius_m"] == ParameterBounds(0.06, 0.12, False, None)
    msg["bounds"] = {"target_radius_m": {"low": 0.2, "high": 0.1}}
    with pytest.raises(ProtocolError, match="low must not exceed high"):
        parse_difficulty(open_envelope(msg).fields, "stepping", current)
    msg["bounds"] = {"radius": {"low": 0.2}}
    with pytest.raises(ProtocolError, match="unknown field"):
        parse_difficulty(open_envelope(msg).fields, "stepping", current)


def test_start_game_settings_are_checked() -> None:
    msg = {"type": "start_game", "v": 1, "station": "station-1", "patient_id": 3, "game": "stepping",
           "settings": {"trials": 10, "directions": ["anterior", "lateral"]}}
    req = parse_start_game(open_envelope(msg).fields)
    assert req.settings == {"trials": 10, "directions": ("anterior", "lateral")}
    msg["settings"] = {"directions": ["sideways"]}
    with pytest.raises(ProtocolError, match="directions"):
        parse_start_game(open_envelope(msg).fields)
    msg["settings"] = {}
    msg["game"] = "tetris"
    with pytest.raises(ProtocolError, match="'game'"):
        parse_start_game(open_envelope(msg).fields)
