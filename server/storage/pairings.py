"""Headset pairings in the database: codes waiting to be used, and the credentials each pairing issued.

Kept in the database, not in a server process's memory, so a code shown by the panel connected to
one process can be redeemed on another, and an un-pairing made anywhere closes the headset's
connections on every process (their revocation check reads this table). These are
:class:`~server.storage.store.Store` operations (it inherits them), synchronous and run on the
store's thread like the rest. Codes and tokens are stored hashed only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from server.storage.database import rows_changed
from server.storage.models import DEVICE, AuditEntry, HeadsetPairing, Station, utcnow


class CodeTaken(Exception):
    """Another station's live code has the same digits (about one in a million): draw again."""


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A code just used: the pairing it completed and its station."""

    pairing_id: int
    station_id: int
    station: str
    clinic_id: int
    tracker: bool


@dataclass(frozen=True, slots=True)
class PairingRecord:
    id: int
    label: str
    tracker: bool
    created_at: datetime
    paired_at: datetime
    last_seen_at: datetime | None


class PairingQueries:
    """The store's pairing operations (mixed into ``Store``, whose sessions they use)."""

    _sessions: sessionmaker[Session]

    def issue_pairing_code(self, station_id: int, clinic_id: int, station: str, therapist_id: int, code_hash: str,
                   expires_at: datetime, tracker: bool) -> int:
        """A new code for the station, replacing its unused one; expired unused codes of every
        station are cleared on the way (their digits become free again). Audited."""
        now = utcnow()
        try:
            with self._sessions.begin() as s:
                replaced = rows_changed(s.execute(delete(HeadsetPairing).where(
                    HeadsetPairing.paired_at.is_(None),
                    (HeadsetPairing.station_id == station_id) | (HeadsetPairing.code_expires_at <= now))))
                row = HeadsetPairing(station_id=station_id, created_by_id=therapist_id, tracker=tracker,
                                     code_hash=code_hash, code_expires_at=expires_at)
                s.add(row)
                s.flush()
                _audit(s, clinic_id, therapist_id, "pair_headset", f"station:{station}",
                       {"pairing_id": row.id, "tracker": tracker, "replaced_codes": replaced})
                return row.id
        except IntegrityError as exc:
            raise CodeTaken from exc

    def redeem_pairing_code(self, code_hash: str, label: str, headset_hash: str, device_hash: str,
               address: str) -> Redeemed | None:
        """Use a code once: its pairing gets the headset credential (and the device one if it was
        asked for with ``tracker``); None for a code unknown, expired, used or revoked."""
        now = utcnow()
        with self._sessions.begin() as s:
            done = s.execute(
                update(HeadsetPairing)
                .where(HeadsetPairing.code_hash == code_hash, HeadsetPairing.paired_at.is_(None),
                       HeadsetPairing.revoked_at.is_(None), HeadsetPairing.code_expires_at > now)
                .values(code_hash=None, paired_at=now, last_seen_at=now, label=label,
                        headset_token_hash=headset_hash)
                .returning(HeadsetPairing.id, HeadsetPairing.station_id, HeadsetPairing.tracker)).first()
            if done is None:
                return None
            pairing_id, station_id, tracker = done
            if tracker:
                s.execute(update(HeadsetPairing).where(HeadsetPairing.id == pairing_id)
                          .values(device_token_hash=device_hash))
            station = s.get(Station, station_id)
            assert station is not None
            _audit(s, station.clinic_id, None, "headset_paired", f"station:{station.name}",
                   {"pairing_id": pairing_id, "label": label, "tracker": tracker, "address": address})
            return Redeemed(pairing_id, station_id, station.name, station.clinic_id, tracker)

    def unpair_headset(self, clinic_id: int, station: str, pairing_id: int, therapist_id: int) -> bool | None:
        """Revoke the credentials one pairing issued: None when the clinic's station has no such
        pairing; False when it was already revoked. Audited."""
        with self._sessions.begin() as s:
            row = s.execute(select(HeadsetPairing).join(Station, Station.id == HeadsetPairing.station_id)
                            .where(HeadsetPairing.id == pairing_id, Station.name == station,
                                   Station.clinic_id == clinic_id, HeadsetPairing.paired_at.is_not(None))
                            ).scalar_one_or_none()
            if row is None:
                return None
            revoked = row.revoked_at is None
            if revoked:
                row.revoked_at = utcnow()
            _audit(s, clinic_id, therapist_id, "unpair_headset", f"station:{station}",
                   {"pairing_id": pairing_id, "label": row.label, "revoked": revoked})
            return revoked

    def station_pairings(self, station_id: int) -> list[PairingRecord]:
        """The station's headsets paired and not un-paired, oldest first."""
        with self._sessions() as s:
            rows = s.scalars(select(HeadsetPairing).where(
                HeadsetPairing.station_id == station_id, HeadsetPairing.paired_at.is_not(None),
                HeadsetPairing.revoked_at.is_(None)).order_by(HeadsetPairing.id))
            return [PairingRecord(r.id, r.label, r.tracker, _aware(r.created_at), _aware(r.paired_at),
                                  None if r.last_seen_at is None else _aware(r.last_seen_at))
                    for r in rows if r.paired_at is not None]

    def pairing_credential(self, station: str, role: str, token_hash: str) -> int | None:
        """The live pairing whose credential for ``role`` on this station is ``token_hash``, marked
        seen now; None when there is none."""
        column = HeadsetPairing.device_token_hash if role == DEVICE else HeadsetPairing.headset_token_hash
        with self._sessions.begin() as s:
            pairing_id = s.scalar(select(HeadsetPairing.id).join(Station, Station.id == HeadsetPairing.station_id)
                                  .where(column == token_hash, Station.name == station,
                                         HeadsetPairing.revoked_at.is_(None)))
            if pairing_id is not None:
                s.execute(update(HeadsetPairing).where(HeadsetPairing.id == pairing_id).values(last_seen_at=utcnow()))
            return pairing_id

    def revoked_pairings(self, pairing_ids: set[int]) -> set[int]:
        """Of these pairings, the ones un-paired (or gone)."""
        if not pairing_ids:
            return set()
        with self._sessions() as s:
            live = set(s.scalars(select(HeadsetPairing.id).where(HeadsetPairing.id.in_(pairing_ids),
                                                                 HeadsetPairing.revoked_at.is_(None))))
        return pairing_ids - live


def _audit(s: Session, clinic_id: int | None, therapist_id: int | None, action: str, subject: str,
           detail: dict[str, Any]) -> None:
    s.add(AuditEntry(clinic_id=clinic_id, therapist_id=therapist_id, action=action, subject=subject, detail=detail))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
