"""Pairing a headset with a station by a short code, so nobody types a token in VR.

The therapist asks for a code for a station of their clinic (``pair_headset``); the panel shows its
6 digits for 2 minutes. The headset page opens a connection whose first message is ``pair`` with
those digits; the right code, once, gets it a headset token for that station (and a device token,
when the therapist asked for the headset to stream its poses as the station's tracker), and the
connection is closed: the page then says ``hello`` with them like any station client. A new code
for a station replaces its unused one.

Why it is safe enough: a code is drawn with :mod:`secrets`, lives 2 minutes, works once, and only
its SHA-256 is stored. Wrong codes are throttled per address (``server/login_guard.py``'s
throttle, a separate instance, so a patient mistyping a code does not slow the therapists' logins
from the clinic's address): past 5 free failures each further one waits, doubling up to 5
minutes, so an attacker on the clinic network gets a few dozen guesses at one million codes in a
code's 2 minutes. The credentials a pairing issues are 192-bit tokens of their own, distinct from
the station's, so un-pairing (``unpair_headset``) revokes exactly them: their connections close
within 2 s (``server/revocation.py``, reason ``unpaired``) and the station's own tracker and
headset keep working. Codes and pairings live in the database, so a code shown by one server
process can be used on another, and every process closes an un-paired headset's connections.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from server import auth, wire_messages
from server.codec import ProtocolError
from server.fields import Fields
from server.login_guard import LoginThrottle, ThrottleRule
from server.messages import COMMON, NAME_PATTERN
from server.storage.models import utcnow
from server.storage.pairings import CodeTaken, PairingRecord, Redeemed
from server.storage.records import StationRecord, TherapistRecord
from server.storage.store import AsyncStore

CODE_DIGITS = 6
CODE_TTL_S = 120.0
MAX_LABEL = 64
# A patient mistyping on the keypad gets 5 free tries; then 1 s, 2 s, 4 s ... up to 5 minutes.
PAIR_RULE = ThrottleRule(free_failures=5, first_delay_s=1.0, max_delay_s=300.0)


@dataclass(frozen=True, slots=True)
class PairRequest:
    code: str
    label: str


@dataclass(frozen=True, slots=True)
class Paired:
    """A code redeemed: the pairing and the credentials issued (shown once, stored hashed)."""

    redeemed: Redeemed
    headset_token: str
    device_token: str | None


def parse_pair(f: Fields) -> PairRequest:
    f.only(COMMON + ("code", "label"))
    code = f.string("code", max_len=CODE_DIGITS, pattern=rf"[0-9]{{{CODE_DIGITS}}}")
    label = f.string("label", max_len=MAX_LABEL, required=False)
    assert code is not None
    words = ("".join(ch for ch in word if ch.isprintable()) for word in (label or "").split())
    shown = " ".join(word for word in words if word)  # one line, no control characters
    return PairRequest(code, shown or "headset")


def parse_pair_headset(f: Fields) -> tuple[str, bool]:
    """``pair_headset``: the station and whether the headset is also to be its tracker."""
    f.only(COMMON + ("station", "tracker"))
    station = f.string("station", max_len=64, pattern=NAME_PATTERN)
    tracker = f.boolean("tracker", required=False)
    assert station is not None
    return station, bool(tracker)


def parse_unpair_headset(f: Fields) -> tuple[str, int]:
    f.only(COMMON + ("station", "pairing_id"))
    station = f.string("station", max_len=64, pattern=NAME_PATTERN)
    pairing_id = f.integer("pairing_id", low=1, high=2**31 - 1)
    assert station is not None and pairing_id is not None
    return station, pairing_id


def hash_code(code: str) -> str:
    return hashlib.sha256(f"stridevr-pairing:{code}".encode()).hexdigest()


class Pairings:
    """Codes, pairings and their credentials, through the store's thread."""

    def __init__(self, store: AsyncStore) -> None:
        self.store = store
        self.throttle = LoginThrottle(address=PAIR_RULE)

    async def issue(self, therapist: TherapistRecord, station: StationRecord, tracker: bool) -> tuple[str, int]:
        """A fresh code for the station (its unused one is replaced): the digits and the pairing's id."""
        for _ in range(8):
            code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            expires_at = utcnow() + timedelta(seconds=CODE_TTL_S)
            try:
                pairing_id = await self.store.issue_pairing_code(station.id, station.clinic_id, station.name,
                                                                 therapist.id, hash_code(code), expires_at, tracker)
            except CodeTaken:
                continue
            return code, pairing_id
        raise ProtocolError("busy", "could not draw a free pairing code; try again")

    async def redeem(self, request: PairRequest, address: str) -> Paired | None:
        headset_token, device_token = auth.new_token(), auth.new_token()
        redeemed = await self.store.redeem_pairing_code(hash_code(request.code), request.label,
                                                        auth.hash_token(headset_token), auth.hash_token(device_token),
                                                        address)
        if redeemed is None:
            return None
        return Paired(redeemed, headset_token, device_token if redeemed.tracker else None)

    async def unpair(self, therapist: TherapistRecord, station: str, pairing_id: int) -> bool | None:
        return await self.store.unpair_headset(therapist.clinic_id, station, pairing_id, therapist.id)

    async def of_station(self, station: StationRecord) -> list[PairingRecord]:
        return await self.store.station_pairings(station.id)

    async def credential(self, station: str, role: str, token: str) -> int | None:
        """The pairing whose credential ``token`` is for this station and role, if it is live."""
        return await self.store.pairing_credential(station, role, auth.hash_token(token))

    async def revoked(self, pairing_ids: set[int]) -> set[int]:
        return await self.store.revoked_pairings(pairing_ids)


def paired_message(paired: Paired) -> wire_messages.Paired:
    """The ``paired`` reply (the device token only when the headset is also the tracker)."""
    return wire_messages.Paired(paired.redeemed.station, paired.redeemed.pairing_id, paired.headset_token,
                                paired.device_token)
