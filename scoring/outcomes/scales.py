"""Therapist-entered scales: their items, the values each item allows, and the scoring rules that
turn item-level answers into the totals the measure catalogue (:mod:`scoring.outcomes.measures`)
describes. Items are stored as entered; totals are always computed here, never typed in.

Each scale checks what it is given and raises :class:`ScaleError` naming the item and the values it
allows, so the panel can show the therapist what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SIDES = ("L", "R")
MAS_GRADES: dict[str, float] = {"0": 0.0, "1": 1.0, "1+": 1.5, "2": 2.0, "3": 3.0, "4": 4.0}


class ScaleError(ValueError):
    """Item answers a scale cannot score; the message names the item and what it allows."""


@dataclass(frozen=True, slots=True)
class Item:
    """One item: ``choices`` lists the allowed answers (numbers, or codes such as MAS's "1+");
    with no choices the answer is a number from ``low`` to ``high``. ``optional`` items may be
    left out (not tested)."""

    key: str
    label: str
    choices: tuple[int | str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    optional: bool = False
    section: str = ""

    def check(self, value: Any) -> int | float | str:
        if self.choices:
            if isinstance(value, bool) or value not in self.choices:
                raise ScaleError(f"item '{self.key}' ({self.label}) must be one of "
                                 f"{', '.join(str(c) for c in self.choices)}, not {value!r}")
            return value  # type: ignore[no-any-return]
        if isinstance(value, bool) or not isinstance(value, int | float) or not self.low <= value <= self.high:
            raise ScaleError(f"item '{self.key}' ({self.label}) must be a number from {self.low:g} to "
                             f"{self.high:g}, not {value!r}")
        return value

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "choices": list(self.choices), "low": self.low,
                "high": self.high, "optional": self.optional, "section": self.section}


@dataclass(frozen=True, slots=True)
class Score:
    """A scale's result: the items as checked (rules may fill one in), the total (the measure's
    value, in its unit; None when too little was tested to give one) and named part totals."""

    items: dict[str, int | float | str]
    total: float | None
    parts: dict[str, float] = field(default_factory=dict)


Rule = Callable[[dict[str, int | float | str]], Score]


@dataclass(frozen=True, slots=True)
class Scale:
    """A scale: ``measure`` is its entry in the measure catalogue, ``score`` its scoring rule."""

    id: str
    name: str
    measure: str
    items: tuple[Item, ...]
    rule: Rule
    instructions: str = ""

    def score(self, answers: Mapping[str, Any]) -> Score:
        if not isinstance(answers, Mapping):
            raise ScaleError(f"{self.id}: items must be a table of item → answer")
        known = {i.key: i for i in self.items}
        unknown = sorted(set(answers) - set(known))
        if unknown:
            raise ScaleError(f"{self.id}: unknown items {', '.join(map(str, unknown))}")
        checked = {key: known[key].check(value) for key, value in answers.items() if value is not None}
        return self.rule(checked)

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "measure": self.measure, "instructions": self.instructions,
                "items": [i.describe() for i in self.items]}


def _require(items: dict[str, int | float | str], scale: tuple[Item, ...], name: str) -> None:
    missing = [i.key for i in scale if not i.optional and i.key not in items]
    if missing:
        raise ScaleError(f"{name}: every item must be scored; missing {', '.join(missing)}")


def _num(value: int | float | str) -> float:
    return MAS_GRADES[value] if isinstance(value, str) else float(value)


# -- Berg Balance Scale ---------------------------------------------------------------------------

_BBS_ITEMS = ("sitting to standing", "standing unsupported", "sitting with back unsupported",
              "standing to sitting", "transfers", "standing with eyes closed", "standing with feet together",
              "reaching forward with outstretched arm", "retrieving an object from the floor",
              "turning to look behind", "turning 360 degrees", "placing alternate foot on a step",
              "standing with one foot in front", "standing on one leg")
BBS_ITEMS = tuple(Item(f"b{n}", label, (0, 1, 2, 3, 4)) for n, label in enumerate(_BBS_ITEMS, 1))


def _bbs(items: dict[str, int | float | str]) -> Score:
    """Berg's rule: a patient who stands 2 minutes safely (item 2 = 4) scores full points for
    sitting unsupported (item 3), which is then not tested."""
    items = dict(items)
    if items.get("b2") == 4:
        if items.setdefault("b3", 4) != 4:
            raise ScaleError("bbs: item 'b3' scores 4 when item 'b2' (standing unsupported) scores 4")
    _require(items, BBS_ITEMS, "bbs")
    return Score(items, sum(_num(v) for v in items.values()))


# -- Fugl-Meyer lower extremity, motor ------------------------------------------------------------

_ZERO_TWO = (0, 1, 2)
FMA_LE_ITEMS = (
    Item("i_knee_flexors", "Reflex activity: knee flexors", (0, 2), section="I reflex activity"),
    Item("i_patellar_achilles", "Reflex activity: patellar, Achilles", (0, 2), section="I reflex activity"),
    Item("iia_hip_flexion", "Flexor synergy: hip flexion", _ZERO_TWO, section="II within synergies"),
    Item("iia_knee_flexion", "Flexor synergy: knee flexion", _ZERO_TWO, section="II within synergies"),
    Item("iia_ankle_dorsiflexion", "Flexor synergy: ankle dorsiflexion", _ZERO_TWO, section="II within synergies"),
    Item("iib_hip_extension", "Extensor synergy: hip extension", _ZERO_TWO, section="II within synergies"),
    Item("iib_hip_adduction", "Extensor synergy: hip adduction", _ZERO_TWO, section="II within synergies"),
    Item("iib_knee_extension", "Extensor synergy: knee extension", _ZERO_TWO, section="II within synergies"),
    Item("iib_ankle_plantarflexion", "Extensor synergy: ankle plantar flexion", _ZERO_TWO,
         section="II within synergies"),
    Item("iii_knee_flexion", "Sitting: knee flexion beyond 90°", _ZERO_TWO, section="III mixing synergies"),
    Item("iii_ankle_dorsiflexion", "Sitting: ankle dorsiflexion", _ZERO_TWO, section="III mixing synergies"),
    Item("iv_knee_flexion", "Standing: knee flexion to 90°", _ZERO_TWO, section="IV little or no synergy"),
    Item("iv_ankle_dorsiflexion", "Standing: ankle dorsiflexion", _ZERO_TWO, section="IV little or no synergy"),
    Item("v_normal_reflexes", "Normal reflex activity", _ZERO_TWO, section="V normal reflexes"),
    Item("f_tremor", "Coordination/speed: tremor", _ZERO_TWO, section="F coordination/speed"),
    Item("f_dysmetria", "Coordination/speed: dysmetria", _ZERO_TWO, section="F coordination/speed"),
    Item("f_time", "Coordination/speed: time", _ZERO_TWO, section="F coordination/speed"),
)


def _fma_le(items: dict[str, int | float | str]) -> Score:
    """Fugl-Meyer's rule: normal reflex activity (V) is scored only after full marks (4) in part IV;
    below that it counts 0. Totals: E motor function 0-28, F coordination/speed 0-6, E+F 0-34."""
    _require(items, FMA_LE_ITEMS, "fma_le")
    part_iv = _num(items["iv_knee_flexion"]) + _num(items["iv_ankle_dorsiflexion"])
    if part_iv < 4 and items["v_normal_reflexes"] != 0:
        raise ScaleError("fma_le: item 'v_normal_reflexes' is scored only with 4 points in part IV "
                         f"(here {part_iv:g}); score it 0")
    motor = sum(_num(v) for k, v in items.items() if not k.startswith("f_"))
    coordination = sum(_num(v) for k, v in items.items() if k.startswith("f_"))
    return Score(items, motor + coordination, {"motor_e": motor, "coordination_f": coordination})


# -- Functional Ambulation Categories ------------------------------------------------------------

FAC_ITEMS = (Item("category", "0 cannot walk or needs 2 helpers; 1 continuous support of 1 person; "
                  "2 intermittent help of 1 person; 3 verbal supervision; 4 independent on level ground; "
                  "5 independent anywhere, stairs included", (0, 1, 2, 3, 4, 5)),)


def _fac(items: dict[str, int | float | str]) -> Score:
    _require(items, FAC_ITEMS, "fac")
    return Score(items, _num(items["category"]))


# -- per-side scales: Modified Ashworth, light touch, vibration, joint position sense ---------------

def _per_side(parts: tuple[tuple[str, str], ...], choices: tuple[int | str, ...], section: str,
              low: float = 0.0, high: float = 0.0) -> tuple[Item, ...]:
    return tuple(Item(f"{side}.{key}", f"{'left' if side == 'L' else 'right'} {label}", choices, low, high,
                      optional=True, section=f"{section} {'left' if side == 'L' else 'right'}")
                 for side in SIDES for key, label in parts)


def _sides(items: dict[str, int | float | str]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for key, value in items.items():
        out.setdefault(key.partition(".")[0], []).append(_num(value))
    return out


def _complete_sides(items: dict[str, int | float | str], scale: tuple[Item, ...], name: str) -> dict[str, float]:
    """Per tested side, the sum of its items; a side is tested whole or not at all."""
    sums: dict[str, float] = {}
    for side in SIDES:
        keys = [i.key for i in scale if i.key.startswith(f"{side}.")]
        given = [k for k in keys if k in items]
        if given and len(given) != len(keys):
            raise ScaleError(f"{name}: test every item of a side or none; missing "
                             f"{', '.join(k for k in keys if k not in items)}")
        if given:
            sums[side] = sum(_num(items[k]) for k in keys)
    if not sums:
        raise ScaleError(f"{name}: score at least one side")
    return sums


MAS_GROUPS = (("hip_flexors", "hip flexors"), ("hip_adductors", "hip adductors"),
              ("knee_extensors", "knee extensors"), ("knee_flexors", "knee flexors"),
              ("ankle_plantarflexors", "ankle plantar flexors"))
MAS_ITEMS = _per_side(MAS_GROUPS, tuple(MAS_GRADES), "Modified Ashworth")


def _mas(items: dict[str, int | float | str]) -> Score:
    """Graded per muscle group and side (1+ counts 1.5); the measure is the highest grade tested,
    with each side's highest as a part."""
    if not items:
        raise ScaleError("mas: grade at least one muscle group")
    per_side = {side: max(values) for side, values in _sides(items).items()}
    return Score(items, max(per_side.values()), per_side)


FOOT_SITES = (("hallux", "big toe"), ("first_metatarsal", "first metatarsal head"),
              ("fifth_metatarsal", "fifth metatarsal head"), ("heel", "heel"), ("dorsum", "dorsum of the foot"))
LIGHT_TOUCH_ITEMS = _per_side(FOOT_SITES, (0, 1, 2), "Light touch")


def _light_touch(items: dict[str, int | float | str]) -> Score:
    """Per foot: 5 sites, 0 absent, 1 impaired, 2 normal (0-10); the measure is the lower foot."""
    sums = _complete_sides(items, LIGHT_TOUCH_ITEMS, "light_touch")
    return Score(items, min(sums.values()), sums)


VIBRATION_SITES = (("hallux", "big toe (interphalangeal joint)"), ("first_metatarsal", "first metatarsal head"),
                   ("medial_malleolus", "medial malleolus"))
VIBRATION_ITEMS = _per_side(VIBRATION_SITES, (), "Vibration", 0.0, 8.0)


def _vibration(items: dict[str, int | float | str]) -> Score:
    """Rydel-Seiffer readings 0-8 (half steps allowed); the measure is the lowest reading, each
    side's lowest a part."""
    if not items:
        raise ScaleError("vibration: enter at least one site's reading")
    per_side = {side: min(values) for side, values in _sides(items).items()}
    return Score(items, min(per_side.values()), per_side)


JPS_JOINTS = (("hip", "hip"), ("knee", "knee"), ("ankle", "ankle"), ("hallux", "big toe"))
JPS_ITEMS = _per_side(JPS_JOINTS, (0, 1, 2, 3), "Joint position sense")


def _jps(items: dict[str, int | float | str]) -> Score:
    """Per joint 0 absent, 1 appreciates movement, 2 direction of movement, 3 joint position
    (0-12 per leg); the measure is the lower leg."""
    sums = _complete_sides(items, JPS_ITEMS, "jps")
    return Score(items, min(sums.values()), sums)


# -- neglect ---------------------------------------------------------------------------------------

STAR_ITEMS = (Item("left", "stars cancelled, left half", tuple(range(28))),
              Item("right", "stars cancelled, right half", tuple(range(28))))


def _stars(items: dict[str, int | float | str]) -> Score:
    """Total 0-54, and the laterality index left ÷ (left + right) (0.5: no side bias)."""
    _require(items, STAR_ITEMS, "star_cancellation")
    left, right = _num(items["left"]), _num(items["right"])
    parts = {"left": left, "right": right}
    if left + right > 0:
        parts["laterality_index"] = left / (left + right)
    return Score(items, left + right, parts)


LINE_ITEMS = tuple(Item(f"line{n}", f"line {n}: deviation (% of half-line, + rightward)", (), -100.0, 100.0,
                        optional=n > 1) for n in range(1, 11))


def _lines(items: dict[str, int | float | str]) -> Score:
    """Each line's mark as its deviation from the true centre in % of the half-line (Schenkenberg);
    the measure is their mean."""
    _require(items, LINE_ITEMS, "line_bisection")
    values = [_num(v) for v in items.values()]
    return Score(items, sum(values) / len(values), {"lines": float(len(values))})


_CBS_ITEMS = (
    "forgets to groom or shave the neglected side of the face",
    "trouble adjusting the neglected-side sleeve or slipper",
    "forgets to eat food on the neglected side of the plate",
    "forgets to clean the neglected side of the mouth",
    "trouble looking towards the neglected side",
    "forgets a part of the body on the neglected side",
    "trouble paying attention to noise or people on the neglected side",
    "collides with people or objects on the neglected side",
    "trouble finding the way towards the neglected side",
    "trouble finding personal belongings on the neglected side",
)
CBS_ITEMS = tuple(Item(f"c{n}", label, (0, 1, 2, 3)) for n, label in enumerate(_CBS_ITEMS, 1))


def _cbs(items: dict[str, int | float | str]) -> Score:
    _require(items, CBS_ITEMS, "cbs")
    return Score(items, sum(_num(v) for v in items.values()))


SCALES: dict[str, Scale] = {s.id: s for s in (
    Scale("bbs", "Berg Balance Scale", "bbs", BBS_ITEMS, _bbs,
          "0-4 per item; with item 2 scored 4, item 3 is scored 4 without testing"),
    Scale("fma_le", "Fugl-Meyer lower extremity (motor)", "fma_le", FMA_LE_ITEMS, _fma_le,
          "0-2 per item (reflexes I: 0 or 2); V is scored only with 4 points in IV"),
    Scale("fac", "Functional Ambulation Categories", "fac", FAC_ITEMS, _fac),
    Scale("mas", "Modified Ashworth Scale", "mas_max", MAS_ITEMS, _mas,
          "per muscle group and side; leave groups not tested empty"),
    Scale("light_touch", "Light touch (foot)", "light_touch", LIGHT_TOUCH_ITEMS, _light_touch,
          "0 absent, 1 impaired, 2 normal; test a foot's five sites or none"),
    Scale("vibration", "Vibration sense (Rydel-Seiffer tuning fork)", "vibration", VIBRATION_ITEMS, _vibration,
          "reading 0-8 per site; leave sites not tested empty"),
    Scale("jps", "Joint position sense", "jps", JPS_ITEMS, _jps,
          "0 absent, 1 movement, 2 direction, 3 position; test a leg's four joints or none"),
    Scale("star_cancellation", "Star cancellation", "star_cancellation", STAR_ITEMS, _stars),
    Scale("line_bisection", "Line bisection", "line_bisection", LINE_ITEMS, _lines,
          "deviation of each mark in % of the half-line, positive to the right; at least one line"),
    Scale("cbs", "Catherine Bergego Scale", "cbs", CBS_ITEMS, _cbs,
          "0 no neglect, 1 mild, 2 moderate, 3 severe, per item"),
)}
