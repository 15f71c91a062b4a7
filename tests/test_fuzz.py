"""Property-based tests: no input, however malformed, gets past the edge as anything but a clear
ProtocolError; and a real server survives a fuzzing client while another station plays."""

from __future__ import annotations

import asyncio
import json
import math
import random

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from clients.link import Link
from clients.sim_patient import Ability
from clients.sim_tracker import run_sim_tracker
from server.codec import ProtocolError, decode
from server.messages import (
    fast_foot,
    open_envelope,
    parse_difficulty,
    parse_foot,
    parse_hello,
    parse_login,
    parse_new_patient,
    parse_start_game,
)
from tests.conftest import RunningServer

PARSERS = [parse_foot, parse_hello, parse_login, parse_new_patient, parse_start_game,
           lambda f: parse_difficulty(f, "stepping")]

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what msgpack can carry
scalars = st.one_of(
    st.none(), st.booleans(), int64,
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=50), st.binary(max_size=20),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)), max_leaves=20)
field_names = st.sampled_from(["type", "v", "id", "side", "pos_m", "contact", "force_n", "t_s", "seq",
                               "role", "station", "token", "username", "password", "code",
                               "affected_side", "leg_length_m", "step_reach_m", "notes", "patient_id",
                               "game", "settings", "difficulty", "bounds", "target_success", "level"])
messages = st.dictionaries(st.one_of(field_names, st.text(max_size=8)), values, max_size=10)
near_valid_foot = st.fixed_dictionaries({
    "type": st.just("foot"), "v": st.sampled_from([1, 1.0, 2, True, "1"]),
    "side": st.sampled_from(["L", "R", "l", "", None]),
    "pos_m": st.lists(st.one_of(st.floats(), int64, st.text(max_size=2)), max_size=4),
    "t_s": st.one_of(st.floats(), int64), "seq": st.one_of(int64, st.floats()),
}, optional={"contact": values, "force_n": values})
valid_foot = st.fixed_dictionaries({
    "type": st.just("foot"), "v": st.just(1), "side": st.sampled_from(["L", "R"]),
    "pos_m": st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.floats(-0.5, 2.0)).map(list),
    "t_s": st.floats(0, 1e9), "seq": st.integers(0, 2**53),
}, optional={"contact": st.booleans(), "force_n": st.floats(0, 5000), "id": st.integers(0, 99)})


def check_parsers(data: dict) -> None:
    for parse in PARSERS:
        try:
            parse(open_envelope(data).fields)
        except ProtocolError as exc:
            assert exc.code and exc.message
        else:
            if parse is parse_foot:  # anything accepted is physically sane
                event = parse_foot(open_envelope(data).fields)
                assert all(math.isfinite(v) and abs(v) <= 5.0 for v in (event.x_m, event.y_m, event.z_m))
                assert event.seq >= 0 and math.isfinite(event.device_time_s)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_frame_decodes_or_fails_clearly(frame: bytes | str) -> None:
    try:
        data, _ = decode(frame)
    except ProtocolError as exc:
        # not a message at all, or (JSON) an integer beyond 64 bits, refused before it is converted
        assert exc.code == "malformed" or (exc.code == "bad_field" and "must fit in 64 bits" in exc.message), exc
        return
    check_parsers(data)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(messages, near_valid_foot, valid_foot))
def test_the_fast_foot_path_accepts_exactly_what_the_full_parser_accepts(data: dict) -> None:
    fast = fast_foot(data)  # checks the envelope itself
    try:
        envelope = open_envelope(data)
        if envelope.type != "foot":
            raise ProtocolError("unknown_type", envelope.type)
        full = parse_foot(envelope.fields)
    except ProtocolError:
        assert fast is None
    else:
        assert fast is None or fast == full
        if "id" not in data and data.get("pos_m") and all(type(v) in (int, float) for v in data["pos_m"]):
            assert fast == full, "a plain valid event must take the fast path"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(messages, near_valid_foot))
def test_any_message_parses_or_fails_clearly(data: dict) -> None:
    check_parsers(data)
    # the same message through both encodings decodes to the same thing (where it can be encoded)
    try:
        as_json = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):  # bytes, NaN: not expressible in JSON
        return
    assert decode(as_json)[0] == decode(msgpack.packb(json.loads(as_json)))[0]


def hostile_frames(rng: random.Random, n: int) -> list[bytes | str]:
    """Mutations of a valid foot event plus raw garbage, reproducible from the seed."""
    valid = {"type": "foot", "v": 1, "side": "L", "pos_m": [0.0, 0.1, 0.0], "t_s": 1.0, "seq": 1}
    nasty: list[object] = [None, True, -1, 2**63 - 1, -(2**63), 1e308, float("nan"), float("inf"),
                           "x" * 5000, [], {}, [[[[[]]]]], b"\x00\xff"]
    frames: list[bytes | str] = []
    for _ in range(n):
        kind = rng.randrange(5)
        if kind == 0:
            frames.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        elif kind == 1:
            frames.append("".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(1, 200))))
        else:
            msg = dict(valid)
            key = rng.choice([*msg, "extra", "type"])
            if kind == 2:
                msg.pop(key, None)
            else:
                msg[key] = rng.choice(nasty)
            try:
                frames.append(msgpack.packb(msg) if rng.random() < 0.5 else json.dumps(msg))
            except (TypeError, ValueError):
                frames.append(msgpack.packb(msg))
    return frames


async def _read_all(ws: ClientConnection) -> None:
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


@pytest.mark.db
async def test_server_survives_a_fuzzing_client_while_a_station_plays(running: RunningServer) -> None:
    therapist = await Link.therapist(running.url, running.creds.username, running.creds.password)
    patient_id = (await therapist.call({"type": "list_patients"}))["patients"][0]["id"]
    await therapist.call({"type": "start_game", "station": "station-1", "patient_id": patient_id,
                          "game": "stepping", "settings": {"dwell_s": 0.2, "inter_trial_s": 0.2}})
    play = asyncio.create_task(run_sim_tracker(running.url, "station-1", running.tokens,
                                               Ability(hold_s=0.4), trials=4, seed=1, timeout_s=60))
    rng = random.Random(1234)
    closed_by_server = 0
    for i in range(8):  # several fuzzing connections, each until the server has had enough
        ws = await connect(running.url, compression=None)
        await ws.send(msgpack.packb({"type": "hello", "v": 1, "role": ("device", "headset")[i % 2],
                                     "station": "station-1", "token": running.tokens[i % 2]}))
        drain = asyncio.create_task(_read_all(ws))  # a fuzzer that reads its errors
        try:
            for frame in hostile_frames(rng, 200):
                await ws.send(frame)
        except ConnectionClosed:
            pass
        await asyncio.wait_for(drain, 10)
        assert ws.close_code in (1008, 1009), ws.close_code
        closed_by_server += 1
    report = await play
    assert len(report.outcomes) == 4, "the real station kept playing through the fuzzing"
    assert closed_by_server == 8, "30 bad messages a minute is the limit"
    assert (await therapist.call({"type": "ping"}))["type"] == "pong"
    await therapist.close()


@pytest.mark.db
async def test_a_flood_is_rate_limited_then_closed(running: RunningServer) -> None:
    ws = await connect(running.url, compression=None)
    await ws.send(msgpack.packb({"type": "hello", "v": 1, "role": "headset", "station": "station-1",
                                 "token": running.creds.headset_token}))
    ping = msgpack.packb({"type": "ping", "v": 1})
    codes = []
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(500):  # valid messages, far beyond a headset's 50 per second
            await ws.send(ping)
        while True:
            reply = msgpack.unpackb(await ws.recv(decode=False))
            codes.append(reply.get("code"))
    assert "rate_limited" in codes and closed.value.rcvd is not None and closed.value.rcvd.code == 1008
