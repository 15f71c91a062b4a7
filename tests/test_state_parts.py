"""A state encoded from its two parts (``Game.snapshot_parts``, ``server.codec.PartsEncoder``)
reads back as the whole snapshot, in every game and mode and both encodings; the per-trial part is
encoded once while it stays the same object, and anew when it changes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from games.events import BalanceEvent, FootEvent, Side
from games.setting_fields import PatientInfo
from server.codec import Encoding, PartsEncoder, decode
from tests.simulation import make_game

pytestmark = pytest.mark.unit

PATIENT = PatientInfo(Side.LEFT, leg_length_m=0.9, step_reach_m=0.5)
CASES: list[tuple[str, dict[str, Any]]] = [
    ("stepping", {}), ("stepping", {"mirror": True}), ("stepping", {"neglect_cueing": True}),
    ("stepping", {"vision": "target_vanishes"}), ("reaching", {}), ("weight_shift", {}),
    ("treadmill", {"belt_speed_m_s": 0.6}), ("assessment", {}),
]
scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)


@given(st.dictionaries(st.text(max_size=6), values, max_size=20), st.dictionaries(st.text(max_size=6), values,
                                                                                  max_size=20))
def test_two_parts_read_back_as_one_map(fresh: dict[str, Any], constant: dict[str, Any]) -> None:
    constant = {f"c-{key}": value for key, value in constant.items()}  # no key in common
    encoder = PartsEncoder()
    for encoding in Encoding:
        for _ in range(2):  # encoded, then from the kept encoding
            assert decode(encoder.encode(fresh, constant, encoding))[0] == {**fresh, **constant}


def test_the_constant_part_is_encoded_again_only_when_it_is_another_object() -> None:
    encoder, constant = PartsEncoder(), {"target": {"x_m": 0.3}}
    assert decode(encoder.encode({"t_s": 1.0}, constant, Encoding.MSGPACK))[0]["target"] == {"x_m": 0.3}
    kept = encoder.encode({"t_s": 2.0}, constant, Encoding.MSGPACK)
    replaced = encoder.encode({"t_s": 3.0}, {"target": None}, Encoding.MSGPACK)
    assert decode(kept)[0] == {"t_s": 2.0, "target": {"x_m": 0.3}}
    assert decode(replaced)[0] == {"t_s": 3.0, "target": None}


@pytest.mark.parametrize(("name", "settings"), CASES)
def test_every_game_s_parts_are_its_snapshot_and_the_per_trial_part_is_kept(name: str,
                                                                           settings: dict[str, Any]) -> None:
    game = make_game(name, settings, PATIENT)
    home = {side: game.home_spot(side) for side in Side}
    encoder, kept, changed = PartsEncoder(), 0, 0
    previous: dict[str, Any] | None = None
    for i in range(2400):  # twenty seconds at 120 Hz standing at home: targets come and time out
        t = i / 120.0
        side = Side.LEFT if i % 2 else Side.RIGHT
        game.on_foot(FootEvent(side, *home[side], 0.0, None, None, t, i), t)
        game.on_balance(BalanceEvent(0.002, 0.001, 700.0, 0.5, "cop", t, i), t)
        game.tick(t)
        fresh, constant = game.snapshot_parts()
        assert not fresh.keys() & constant.keys()
        assert {**fresh, **constant} == game.snapshot()
        for encoding in Encoding:
            assert decode(encoder.encode(fresh, constant, encoding))[0] == game.snapshot()
        if previous is not None:
            kept += constant is previous
            changed += constant is not previous
        previous = constant
    assert kept > 2000  # the per-trial part stays the same object from event to event
    if name != "assessment":
        assert changed >= 2  # and is rebuilt when a trial comes or goes
    game.close()
