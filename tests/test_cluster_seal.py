"""The cluster seal's rules, with a simulated clock: what it accepts and what it refuses."""

from __future__ import annotations

import logging

import pytest

from server.cluster_seal import REPLAY_WINDOW_S, ClusterSeal

SECRET = b"a-cluster-secret-for-tests"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_an_authentic_fresh_message_opens_once_and_only_on_its_channel(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    sender, receiver = ClusterSeal(SECRET, clock), ClusterSeal(SECRET, clock)
    data = sender.seal("p:in:station-1", {"node": "a", "kind": "headset", "msg": {"type": "pause"}})
    opened = receiver.open("p:in:station-1", data)
    assert opened is not None and opened["msg"] == {"type": "pause"} and opened["node"] == "a"
    assert receiver.open("p:in:station-1", data) is None  # the same message again: a replay
    assert receiver.open("p:in:station-2", sender.seal("p:in:station-1", {"kind": "x"})) is None
    assert receiver.refused == 2
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1  # one line per 10 s


def test_stale_foreign_and_tampered_messages_are_refused() -> None:
    clock = Clock()
    seal = ClusterSeal(SECRET, clock)
    stale = seal.seal("c", {"kind": "x"})
    clock.now += REPLAY_WINDOW_S + 1
    assert seal.open("c", stale) is None
    assert seal.open("c", ClusterSeal(b"another-secret-entirely", clock).seal("c", {"kind": "x"})) is None
    good = seal.seal("c", {"kind": "x"})
    assert seal.open("c", good[:-1] + bytes([good[-1] ^ 1])) is None
    assert seal.open("c", b"") is None and seal.open("c", b"\x81\xa1a\x01") is None
    assert seal.open("c", good) is not None
    with pytest.raises(ValueError):
        ClusterSeal(b"short")


def test_nonces_are_forgotten_after_the_window() -> None:
    clock = Clock()
    seal = ClusterSeal(SECRET, clock)
    for _ in range(100):
        assert seal.open("c", seal.seal("c", {"kind": "x"})) is not None
        clock.now += 1.0
    assert len(seal._seen) <= 2 * REPLAY_WINDOW_S + 1  # bounded memory, whatever the traffic's length
