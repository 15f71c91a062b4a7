"""Which C3D marker is which foot landmark, across the common labelling conventions.

Recognised (case-insensitive, ignoring a ``Subject:`` prefix and ``.``, ``_``, ``-`` or space
separators): a side, as a prefix or a suffix token (``L``/``R``/``Left``/``Right``: ``LHEE``,
``L.Heel``, ``l_heel``, ``LeftHeel``, ``Left_Heel``, ``L_HEEL``, ``Heel_L``), and a landmark:

* heel: ``HEE``, ``HEEL``, ``CAL``, ``CALC``;
* toe, by preference: ``TOE``/``TOES`` (Plug-in Gait: 2nd metatarsal head), ``MT2``/``MTH2``/
  ``2MT``, then ``MT1``/``MTH1``, then ``MT5``/``MTH5``/``5MT`` (first and fifth heads: the
  nearest stand-ins for the toe);
* ankle: ``ANK``, ``ANKLE``, ``LMAL``/``LATMAL``/``MAL`` (lateral malleolus), then ``MMAL``/``MEDMAL``;
* pelvis, grouped as ``("C", "pelvis")``: ``ASI``/``ASIS``, ``PSI``/``PSIS`` with a side, and
  ``SACR``/``SACRUM``/``SACRAL``/``SAC`` with or without.

Where several markers fit one landmark the preferred name wins, and among equal names the one that
holds the most data (C3D files often carry an empty duplicate). An explicit mapping
``{"L.heel": "MyLabel"}`` overrides all of this.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from games.events import FOOT_MARKERS, MarkerKey
from scoring.errors import RecordingError
from scoring.trajectories import SIDES

PELVIS: MarkerKey = ("C", "pelvis")
# name -> rank (lower is preferred) for each landmark
LANDMARKS: dict[str, dict[str, int]] = {
    "heel": {"hee": 0, "heel": 0, "cal": 1, "calc": 1},
    "toe": {"toe": 0, "toes": 0, "mt2": 1, "mth2": 1, "2mt": 1, "mt1": 2, "mth1": 2, "mt5": 3, "mth5": 3, "5mt": 3},
    "ankle": {"ank": 0, "ankle": 0, "lmal": 1, "latmal": 1, "mal": 1, "mmal": 2, "medmal": 2},
    "pelvis": {"asi": 0, "asis": 0, "psi": 0, "psis": 0, "sacr": 0, "sacrum": 0, "sacral": 0, "sac": 0},
}
SIDELESS_PELVIS = {"sacr", "sacrum", "sacral", "sac"}
SIDE_WORDS = {"l": "L", "left": "L", "r": "R", "right": "R"}


def _landmark(name: str) -> tuple[str, int] | None:
    for marker, names in LANDMARKS.items():
        if name in names:
            return marker, names[name]
    return None


def bare(label: str) -> str:
    """The label without a ``Subject:`` prefix, stripped and lower-cased."""
    return label.rsplit(":", 1)[-1].strip().lower()


def parse_label(label: str) -> tuple[MarkerKey, int] | None:
    """(side, landmark) and the name's rank for a recognised label, else None."""
    tokens = [t for t in re.split(r"[\s_.\-]+", bare(label)) if t]
    if not tokens:
        return None
    candidates: list[tuple[str | None, str]] = []
    if len(tokens) > 1 and tokens[0] in SIDE_WORDS:
        candidates.append((SIDE_WORDS[tokens[0]], "".join(tokens[1:])))
    if len(tokens) > 1 and tokens[-1] in SIDE_WORDS:
        candidates.append((SIDE_WORDS[tokens[-1]], "".join(tokens[:-1])))
    joined = "".join(tokens)
    for word, letter in (("left", "L"), ("right", "R")):
        if joined.startswith(word):
            candidates.append((letter, joined[len(word):]))
        if joined.endswith(word):
            candidates.append((letter, joined[: -len(word)]))
    if joined[:1] in ("l", "r"):
        candidates.append((SIDE_WORDS[joined[0]], joined[1:]))
    candidates.append((None, joined))
    for side, rest in candidates:
        found = _landmark(rest)
        if found is None:
            continue
        marker, rank = found
        if marker == "pelvis" and (side is not None or rest in SIDELESS_PELVIS):
            return PELVIS, rank
        if side is not None and marker != "pelvis":
            return (side, marker), rank
    return None


def parse_key(text: str) -> MarkerKey:
    """``"L.heel"`` -> ``("L", "heel")``; the keys of an explicit mapping."""
    side, _, marker = text.strip().partition(".")
    side, marker = side.upper(), marker.lower()
    if (side in SIDES and marker in FOOT_MARKERS) or (side, marker) == PELVIS:
        return side, marker
    raise RecordingError(f"bad marker name {text!r}: use L.heel, R.toe, L.ankle... or C.pelvis")


def match_labels(labels: Sequence[str], frames_seen: Sequence[int],
                 mapping: Mapping[str, str] | None = None) -> dict[MarkerKey, list[int]]:
    """Channel indices for each landmark: one per foot landmark, every match for the pelvis group.

    ``frames_seen[i]`` is how many frames channel ``i`` holds data for; it breaks ties between
    duplicates and skips empty channels.
    """
    chosen: dict[MarkerKey, list[int]] = {}
    best: dict[MarkerKey, tuple[int, int]] = {}
    for i, label in enumerate(labels):
        parsed = parse_label(label)
        if parsed is None or frames_seen[i] == 0:
            continue
        key, rank = parsed
        if key == PELVIS:
            chosen.setdefault(PELVIS, []).append(i)
        elif key not in best or (rank, -frames_seen[i]) < best[key]:
            best[key] = (rank, -frames_seen[i])
            chosen[key] = [i]
    for key_text, wanted in (mapping or {}).items():
        key = parse_key(key_text)
        hits = [i for i, label in enumerate(labels) if bare(label) == bare(wanted)]
        if not hits:
            raise RecordingError(f"{key_text}={wanted}: no marker {wanted!r} in the file "
                                 f"(labels: {', '.join(labels)})")
        chosen[key] = [max(hits, key=lambda i: frames_seen[i])]
    return chosen
