"""Pairing a headset with a code the panel shows, and un-pairing it, over real sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack
import pytest
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from clients.link import Link, ServerError
from server import auth
from server.codec import ProtocolError
from server.fields import Fields
from server.pairing import CODE_TTL_S, PAIR_RULE, parse_pair
from server.storage.models import HeadsetPairing, utcnow
from tests.conftest import RunningServer
from tests.test_roles import REVOKED_WITHIN_S, closed_with, hello, two_servers  # noqa: F401 (a fixture)

pytestmark = pytest.mark.db


async def pair(url: str, code: str, label: str = "Quest 3") -> tuple[dict[str, Any], int | None]:
    """A fresh connection whose first message is ``pair``: the reply and the close code that followed."""
    ws = await connect(url, compression=None)
    await ws.send(json.dumps({"type": "pair", "v": 1, "code": code, "label": label}))
    reply = json.loads(await ws.recv())
    try:
        await ws.recv()
    except ConnectionClosed as closed:
        return reply, closed.rcvd.code if closed.rcvd else None
    raise AssertionError("the server kept a pairing connection open")


async def therapist(running: RunningServer) -> Link:
    return await Link.therapist(running.url, running.creds.username, running.creds.password)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_the_right_code_pairs_once_and_its_credentials_open_the_station(running: RunningServer) -> None:
    panel = await therapist(running)
    issued = await panel.call({"type": "pair_headset", "station": "station-1", "tracker": True})
    assert issued["type"] == "pairing_code" and issued["expires_in_s"] == CODE_TTL_S
    code = issued["code"]
    assert len(code) == 6 and code.isdigit()

    paired, close_code = await pair(running.url, code)
    assert paired["type"] == "paired" and close_code == 1000
    assert paired["station"] == "station-1" and paired["pairing_id"] == issued["pairing_id"]
    assert paired["headset_token"] != paired["device_token"]
    assert {paired["headset_token"], paired["device_token"]}.isdisjoint(running.tokens)

    again, close_code = await pair(running.url, code)  # one use
    assert again["code"] == "pairing_failed" and close_code == 1008

    headset, welcome = await hello(running.url, "headset", paired["headset_token"])
    assert welcome["type"] == "welcome" and welcome["role"] == "headset"
    device, welcome = await hello(running.url, "device", paired["device_token"])
    assert welcome["type"] == "welcome" and welcome["role"] == "device"
    _, refused = await hello(running.url, "device", paired["headset_token"])  # each token opens its own role
    assert refused["code"] == "auth_failed"

    listed = await panel.call({"type": "list_pairings", "station": "station-1"})
    [row] = listed["pairings"]
    assert row["pairing_id"] == paired["pairing_id"] and row["label"] == "Quest 3" and row["tracker"] is True
    assert row["connected"] == ["device", "headset"] and row["last_seen_at"] is not None
    await headset.close()
    await device.close()
    await panel.close()


async def test_a_headset_only_pairing_gets_no_device_token(running: RunningServer) -> None:
    panel = await therapist(running)
    issued = await panel.call({"type": "pair_headset", "station": "station-1"})
    paired, _ = await pair(running.url, issued["code"])
    assert paired["type"] == "paired" and paired["device_token"] is None
    await panel.close()


async def test_wrong_expired_replaced_and_malformed_codes_are_refused(running: RunningServer) -> None:
    panel = await therapist(running)
    first = (await panel.call({"type": "pair_headset", "station": "station-1"}))["code"]
    second = (await panel.call({"type": "pair_headset", "station": "station-1"}))["code"]
    if first != second:  # a new code replaces the station's unused one
        reply, close_code = await pair(running.url, first)
        assert reply["code"] == "pairing_failed" and close_code == 1008
    reply, _ = await pair(running.url, wrong(second))
    assert reply["code"] == "pairing_failed" and "new code" in reply["message"]
    with running.store.store.engine.begin() as db:  # the 2 minutes pass
        db.execute(update(HeadsetPairing).values(code_expires_at=utcnow()))
    reply, close_code = await pair(running.url, second)
    assert reply["code"] == "pairing_failed" and close_code == 1008
    for bad in ("12345", "12a456", "1234567"):
        reply, close_code = await pair(running.url, bad)
        assert reply["code"] == "bad_field" and close_code == 1008
    await panel.close()


async def test_wrong_codes_are_throttled_per_address(running: RunningServer) -> None:
    panel = await therapist(running)
    code = (await panel.call({"type": "pair_headset", "station": "station-1"}))["code"]
    for _ in range(PAIR_RULE.free_failures + 1):
        reply, _ = await pair(running.url, wrong(code))
        assert reply["code"] == "pairing_failed"
    reply, close_code = await pair(running.url, code)  # even the right code waits its turn
    assert reply["code"] == "throttled" and reply["retry_after_s"] > 0 and close_code == 1008
    # logins from the same address are not slowed by a patient's typing
    await (await therapist(running)).close()
    await panel.close()


async def test_another_clinic_cannot_pair_unpair_or_list_a_station(running: RunningServer) -> None:
    store = running.store.store
    clinic = store.ensure_clinic("Other Clinic")
    store.create_therapist(clinic, "other-t", auth.hash_password("other-password-1"), "Other", "therapist")
    other = await Link.therapist(running.url, "other-t", "other-password-1")
    panel = await therapist(running)
    issued = await panel.call({"type": "pair_headset", "station": "station-1"})
    paired, _ = await pair(running.url, issued["code"])
    for request in ({"type": "pair_headset", "station": "station-1"},
                    {"type": "unpair_headset", "station": "station-1", "pairing_id": paired["pairing_id"]},
                    {"type": "list_pairings", "station": "station-1"},
                    {"type": "align_station", "station": "station-1"}):
        with pytest.raises(ServerError) as refused:
            await other.call(request)
        assert refused.value.code == "not_found"
    headset, welcome = await hello(running.url, "headset", paired["headset_token"])
    assert welcome["type"] == "welcome"  # still paired
    await headset.close()
    await other.close()
    await panel.close()


async def unpaired_within_2_s(ws: ClientConnection) -> None:
    last, took = await closed_with(ws)
    assert last["code"] == "revoked" and last["reason"] == "unpaired" and took < REVOKED_WITHIN_S


async def test_unpairing_closes_exactly_that_pairing_s_connections_and_refuses_its_tokens(
        running: RunningServer) -> None:
    panel = await therapist(running)
    pairings = []
    for label in ("Quest A", "Quest B"):
        issued = await panel.call({"type": "pair_headset", "station": "station-1", "tracker": True})
        pairings.append((await pair(running.url, issued["code"], label))[0])
    a, b = pairings
    a_headset, _ = await hello(running.url, "headset", a["headset_token"])
    a_device, _ = await hello(running.url, "device", a["device_token"])
    b_headset, _ = await hello(running.url, "headset", b["headset_token"])
    own_headset, _ = await hello(running.url, "headset", running.creds.headset_token)

    left = await panel.call({"type": "unpair_headset", "station": "station-1", "pairing_id": a["pairing_id"]})
    assert [p["label"] for p in left["pairings"]] == ["Quest B"]
    await unpaired_within_2_s(a_headset)
    await unpaired_within_2_s(a_device)
    for role, token in (("headset", a["headset_token"]), ("device", a["device_token"])):
        _, refused = await hello(running.url, role, token)
        assert refused["code"] == "auth_failed"
    for ws in (b_headset, own_headset):  # the other pairing and the station's own token live on
        await ws.send(msgpack.packb({"type": "ping", "v": 1, "id": 7}))
        while (reply := msgpack.unpackb(await asyncio.wait_for(ws.recv(decode=False), 5)))["type"] == "state":
            pass
        assert reply["type"] == "pong"
    with pytest.raises(ServerError) as again:  # no such pairing on the station
        await panel.call({"type": "unpair_headset", "station": "station-1", "pairing_id": 99999})
    assert again.value.code == "not_found"

    entries = (await Link.therapist(running.url, running.creds.admin_username, running.creds.admin_password))
    audit = (await entries.call({"type": "audit_log", "limit": 50}))["entries"]
    actions = [e["action"] for e in audit]
    assert actions.count("pair_headset") == 2 and actions.count("headset_paired") == 2
    assert "unpair_headset" in actions
    paired_entry = next(e for e in audit if e["action"] == "headset_paired")
    assert paired_entry["subject"] == "station:station-1" and paired_entry["detail"]["address"]
    for ws in (b_headset, own_headset):
        await ws.close()
    await entries.close()
    await panel.close()



async def test_a_code_shown_through_one_process_pairs_on_another_and_unpairing_reaches_both(
        two_servers: Any) -> None:  # noqa: F811 (the fixture imported above)
    """Codes and pairings live in the database: no process holds them in memory."""
    a, b, creds = two_servers
    url_a, url_b = (f"ws://127.0.0.1:{s.port}" for s in (a, b))
    panel = await Link.therapist(url_a, creds.username, creds.password)
    issued = await panel.call({"type": "pair_headset", "station": "station-1", "tracker": True})
    paired, close_code = await pair(url_b, issued["code"])
    assert paired["type"] == "paired" and close_code == 1000
    again, _ = await pair(url_a, issued["code"])
    assert again["code"] == "pairing_failed"
    headset, welcome = await hello(url_b, "headset", paired["headset_token"])
    assert welcome["type"] == "welcome"
    await panel.call({"type": "unpair_headset", "station": "station-1", "pairing_id": paired["pairing_id"]})
    await unpaired_within_2_s(headset)  # connected to the other process
    await panel.close()


def test_a_pair_message_s_code_is_six_digits_and_its_label_is_plain_text() -> None:
    request = parse_pair(Fields({"type": "pair", "v": 1, "code": "004217", "label": " Quest\n3\x00 bay\t2 "}, "pair"))
    assert request == type(request)("004217", "Quest 3 bay 2")
    assert parse_pair(Fields({"type": "pair", "v": 1, "code": "999999"}, "pair")).label == "headset"
    for bad in ({"code": 4217}, {"code": "4217"}, {"code": "0042170"}, {"code": "00421a"},
                {"code": "004217", "label": "x" * 65}, {"code": "004217", "station": "station-1"}):
        with pytest.raises(ProtocolError):
            parse_pair(Fields({"type": "pair", "v": 1, **bad}, "pair"))


# -- the panel (browser) ---------------------------------------------------------------------------


async def test_the_panel_shows_a_code_a_headset_pairs_with_lists_it_and_unpairs_it(panel: Any,
                                                                                 running: RunningServer) -> None:
    page = panel.page
    await page.goto(panel.base)
    await panel.login(running.creds.username, running.creds.password)
    await page.click("#nav-session")
    await page.wait_for_selector("#pairings li")  # the watched station's (empty) list
    assert "No headset paired" in await page.inner_text("#pairings")
    await page.check("#pair-tracker")
    await page.click("#pair-headset")
    await page.wait_for_selector("#pair-box:not([hidden])")
    code = (await page.inner_text("#pair-code")).strip()
    assert len(code) == 6 and code.isdigit()
    assert "more, once" in await page.inner_text("#pair-countdown")
    font_px = await page.eval_on_selector("#pair-code", "n => parseFloat(getComputedStyle(n).fontSize)")
    assert font_px >= 40  # read from across the room
    await panel.shot("pairing-code")

    paired, _ = await pair(running.url, code, "Quest 3 (bay 2)")
    assert paired["type"] == "paired" and "device_token" in paired
    headset, _ = await hello(running.url, "headset", paired["headset_token"])
    await page.wait_for_selector("#pairings li:has-text('Quest 3 (bay 2)'):has-text('connected as headset')")
    await page.wait_for_selector("#pair-box", state="hidden")  # the code was used
    assert "headset and tracker" in await page.inner_text("#pairings")

    await page.click("#align-station")
    await page.wait_for_selector("#headsets-status:has-text('Aligning')")
    while msgpack.unpackb(await asyncio.wait_for(headset.recv(decode=False), 5))["type"] != "align":
        pass

    await page.click("#pairings [data-testid=unpair]")
    await page.wait_for_selector("#unpair-confirm:not([hidden])")
    await panel.shot("unpair-confirm")
    await page.click("#unpair-confirm-yes")
    await unpaired_within_2_s(headset)
    await page.wait_for_selector("#pairings li:has-text('No headset paired')")
    assert "un-paired" in await page.inner_text("#headsets-status")
    assert panel.problems == []
