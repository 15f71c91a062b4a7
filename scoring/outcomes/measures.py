"""The outcome-measure catalogue: every standard measure StrideVR stores or reports, with its unit,
range, better direction, the published minimal detectable change (MDC) and minimal clinically
important difference (MCID) in stroke, normative values by age (and sex where published), and the
codes FHIR needs, each number with the study it comes from.

Where no study gives a value this catalogue says so (``None`` with a reason) rather than guessing:
a report then shows the change without an MDC/MCID verdict. Instrumented measures (10-metre walk,
Timed Up and Go, Five Times Sit-to-Stand, Four Square Step Test) are listed too, so that assessment
stages which measure them store under these ids and report and export with no change here.
``docs/outcomes.md`` lists the same entries with the full references.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Better = Literal["higher", "lower"]
Sex = Literal["F", "M", ""]  # "" : both sexes together


@dataclass(frozen=True, slots=True)
class Reference:
    """A published value, or the reason there is none (``value`` None), with its source."""

    value: float | None
    source: str


@dataclass(frozen=True, slots=True)
class Norm:
    """The mean of healthy people aged ``age_low``..``age_high`` (inclusive), of one sex or both."""

    age_low: int
    age_high: int
    sex: Sex
    value: float


@dataclass(frozen=True, slots=True)
class Measure:
    """One outcome measure. ``unit`` is the clinical unit shown in reports (values are stored in
    it too: points, m/s, s); ``ucum`` the same unit in UCUM for FHIR. ``loinc`` is the LOINC code
    where one exists, else StrideVR's own code system is used with ``id`` as the code. ``digits``:
    the rounding reports use."""

    id: str
    name: str
    unit: str
    ucum: str
    low: float | None
    high: float | None
    better: Better | None
    mdc: Reference
    mcid: Reference
    norms: tuple[Norm, ...] = ()
    norms_source: str = ""
    loinc: str | None = None
    kind: Literal["scale", "instrumented"] = "scale"
    digits: int = 0
    about: str = ""
    references: tuple[str, ...] = field(default=())
    # the session metric an assessment stage stores this measure as (instrumented measures only)
    stored_as: str | None = None
    ideal: float | None = None  # with no better direction: nearer this is better (line bisection: 0)

    def norm_for(self, age: int | None, sex: str | None) -> Norm | None:
        """The norm for this age and sex: a sex-specific one first, else one for both sexes."""
        if age is None:
            return None
        matches = [n for n in self.norms if n.age_low <= age <= n.age_high]
        for n in matches:
            if sex and n.sex == sex:
                return n
        return next((n for n in matches if n.sex == ""), None)

    def describe(self) -> dict[str, object]:
        """The entry as plain data (the panel and the wire)."""
        return {"id": self.id, "name": self.name, "unit": self.unit, "ucum": self.ucum, "low": self.low,
                "high": self.high, "better": self.better, "ideal": self.ideal, "digits": self.digits, "kind": self.kind,
                "mdc": self.mdc.value, "mdc_source": self.mdc.source, "mcid": self.mcid.value,
                "mcid_source": self.mcid.source, "loinc": self.loinc, "norms_source": self.norms_source,
                "norms": [{"age_low": n.age_low, "age_high": n.age_high, "sex": n.sex, "value": n.value}
                          for n in self.norms]}


# -- references (full citations; docs/outcomes.md repeats them) --------------------------------

BERG_1992 = ("Berg KO, Wood-Dauphinee SL, Williams JI, Maki B. Measuring balance in the elderly: validation "
             "of an instrument. Can J Public Health 1992;83 Suppl 2:S7-11")
STEVENSON_2001 = ("Stevenson TJ. Detecting change in patients with stroke using the Berg Balance Scale. "
                  "Aust J Physiother 2001;47(1):29-38")
STEFFEN_2002 = ("Steffen TM, Hacker TA, Mollinger L. Age- and gender-related test performance in "
                "community-dwelling elderly people: Six-Minute Walk Test, Berg Balance Scale, Timed Up & Go "
                "Test, and gait speeds. Phys Ther 2002;82(2):128-37")
FUGL_MEYER_1975 = ("Fugl-Meyer AR, Jääskö L, Leyman I, Olsson S, Steglind S. The post-stroke hemiplegic "
                   "patient. 1. A method for evaluation of physical performance. Scand J Rehabil Med "
                   "1975;7(1):13-31")
PANDIAN_2016 = ("Pandian S, Arya KN, Kumar D. Minimal clinically important difference of the lower-extremity "
                "Fugl-Meyer assessment in chronic-stroke. Top Stroke Rehabil 2016;23(4):233-9")
HOLDEN_1984 = ("Holden MK, Gill KM, Magliozzi MR, Nathan J, Piehl-Baker L. Clinical gait assessment in the "
               "neurologically impaired: reliability and meaningfulness. Phys Ther 1984;64(1):35-40")
MEHRHOLZ_2007 = ("Mehrholz J, Wagner K, Rutte K, Meissner D, Pohl M. Predictive validity and responsiveness "
                 "of the functional ambulation category in hemiparetic patients after stroke. Arch Phys Med "
                 "Rehabil 2007;88(10):1314-9")
BOHANNON_SMITH_1987 = ("Bohannon RW, Smith MB. Interrater reliability of a modified Ashworth scale of muscle "
                       "spasticity. Phys Ther 1987;67(2):206-7")
LINCOLN_1998 = ("Lincoln NB, Jackson JM, Adams SA. Reliability and validity of the Nottingham Sensory "
                "Assessment for stroke patients. Physiotherapy 1998;84(8):358-65")
STOLK_HORNSVELD_2006 = ("Stolk-Hornsveld F, Crow JL, Hendriks EP, van der Baan R, Harmeling-van der Wel BC. "
                        "The Erasmus MC modifications to the (revised) Nottingham Sensory Assessment: a "
                        "reliable somatosensory assessment measure for patients with intracranial disorders. "
                        "Clin Rehabil 2006;20(2):160-72")
MARTINA_1998 = ("Martina IS, van Koningsveld R, Schmitz PI, van der Meché FG, van Doorn PA. Measuring "
                "vibration threshold with a graduated tuning fork in normal aging and in patients with "
                "polyneuropathy. J Neurol Neurosurg Psychiatry 1998;65(5):743-7")
WILSON_1987 = ("Wilson B, Cockburn J, Halligan P. Development of a behavioral test of visuospatial neglect. "
               "Arch Phys Med Rehabil 1987;68(2):98-102")
HALLIGAN_1989 = ("Halligan PW, Marshall JC, Wade DT. Visuospatial neglect: underlying factors and test "
                 "sensitivity. Lancet 1989;2(8668):908-11")
SCHENKENBERG_1980 = ("Schenkenberg T, Bradford DC, Ajax ET. Line bisection and unilateral visual neglect in "
                     "patients with neurologic impairment. Neurology 1980;30(5):509-17")
AZOUVI_2003 = ("Azouvi P, Olivier S, de Montety G, Samuel C, Louis-Dreyfus A, Tesio L. Behavioral assessment "
               "of unilateral neglect: study of the psychometric properties of the Catherine Bergego Scale. "
               "Arch Phys Med Rehabil 2003;84(1):51-7")
PODSIADLO_1991 = ("Podsiadlo D, Richardson S. The timed \"Up & Go\": a test of basic functional mobility for "
                  "frail elderly persons. J Am Geriatr Soc 1991;39(2):142-8")
FLANSBJER_2005 = ("Flansbjer UB, Holmbäck AM, Downham D, Patten C, Lexell J. Reliability of gait performance "
                  "tests in men and women with hemiparesis after stroke. J Rehabil Med 2005;37(2):75-82")
BOHANNON_TUG_2006 = ("Bohannon RW. Reference values for the timed up and go test: a descriptive "
                     "meta-analysis. J Geriatr Phys Ther 2006;29(2):64-8")
TILSON_2010 = ("Tilson JK, Sullivan KJ, Cen SY, Rose DK, Behrman CH, Azen SP, Duncan PW. Meaningful gait "
               "speed improvement during the first 60 days poststroke: minimal clinically important "
               "difference. Phys Ther 2010;90(2):196-208")
BOHANNON_GAIT_2011 = ("Bohannon RW, Williams Andrews A. Normal walking speed: a descriptive meta-analysis. "
                      "Physiotherapy 2011;97(3):182-9")
BOHANNON_STS_2006 = ("Bohannon RW. Reference values for the five-repetition sit-to-stand test: a descriptive "
                     "meta-analysis of data from elders. Percept Mot Skills 2006;103(1):215-22")
MONG_2010 = ("Mong Y, Teo TW, Ng SS. 5-repetition sit-to-stand test in subjects with chronic stroke: "
             "reliability and validity. Arch Phys Med Rehabil 2010;91(3):407-13")
DITE_2002 = ("Dite W, Temple VA. A clinical test of stepping and change of direction to identify multiple "
             "falling older adults. Arch Phys Med Rehabil 2002;83(11):1566-71")
BLENNERHASSETT_2008 = ("Blennerhassett JM, Jayalath VM. The Four Square Step Test is a feasible and valid "
                       "clinical test of dynamic standing balance for use in ambulant people poststroke. "
                       "Arch Phys Med Rehabil 2008;89(11):2156-61")

_NONE_PUBLISHED = "no published value for stroke is recorded in this catalogue"


def _none(why: str = _NONE_PUBLISHED) -> Reference:
    return Reference(None, why)


def _by_decade(values: dict[tuple[int, int], tuple[float, float] | float]) -> tuple[Norm, ...]:
    """Norms per age band: (men, women) or one value for both sexes."""
    out: list[Norm] = []
    for (low, high), value in values.items():
        if isinstance(value, tuple):
            out += [Norm(low, high, "M", value[0]), Norm(low, high, "F", value[1])]
        else:
            out.append(Norm(low, high, "", value))
    return tuple(out)


# -- the catalogue ------------------------------------------------------------------------------

_SCALES = (
    Measure("bbs", "Berg Balance Scale", "points", "{score}", 0, 56, "higher",
            mdc=Reference(6.0, f"{STEVENSON_2001} (95 % confidence, patients in stroke rehabilitation)"),
            mcid=_none("no MCID is recorded here: published stroke estimates differ widely between "
                       "acute and chronic samples"),
            norms=_by_decade({(60, 69): (55, 55), (70, 79): (54, 53), (80, 89): (53, 50)}),
            norms_source=STEFFEN_2002, about="14 items, 0-4 each", references=(BERG_1992,)),
    Measure("fma_le", "Fugl-Meyer Assessment, lower extremity motor", "points", "{score}", 0, 34, "higher",
            mdc=_none(),
            mcid=Reference(6.0, f"{PANDIAN_2016} (chronic stroke)"),
            norms_source="no age norms: an unimpaired leg scores 34 by the scale's design",
            about="17 items, 0-2 each (reflex items 0 or 2)", references=(FUGL_MEYER_1975,)),
    Measure("fac", "Functional Ambulation Categories", "category", "{score}", 0, 5, "higher",
            mdc=_none("none: an ordinal scale of six categories; any change of category is a change of level"),
            mcid=_none("none published; responsiveness after stroke in " + MEHRHOLZ_2007),
            norms_source="no age norms: 5 is independent walking on any surface by the scale's design",
            references=(HOLDEN_1984, MEHRHOLZ_2007)),
    Measure("mas_max", "Modified Ashworth Scale, highest grade", "grade", "{score}", 0, 4, "lower",
            mdc=_none(), mcid=_none(),
            norms_source="no norms: 0 (no increase in tone) is normal",
            about="per muscle group and side: 0, 1, 1+, 2, 3, 4 (1+ counted as 1.5); the measure is the "
                  "highest grade of the groups tested", digits=1, references=(BOHANNON_SMITH_1987,)),
    Measure("light_touch", "Light touch, foot (Nottingham Sensory Assessment)", "points", "{score}", 0, 10,
            "higher", mdc=_none(), mcid=_none(),
            norms_source="no norms: 2 per site (normal) is the scale's ceiling",
            about="per foot: 5 sites scored 0 absent, 1 impaired, 2 normal; the measure is the lower foot's sum",
            references=(LINCOLN_1998, STOLK_HORNSVELD_2006)),
    Measure("vibration", "Vibration sense, foot (graduated tuning fork)", "/8", "{score}", 0, 8, "higher",
            mdc=_none(), mcid=_none(),
            norms_source="age-dependent lower limits are published in " + MARTINA_1998 + "; not reproduced here",
            about="Rydel-Seiffer reading 0-8 per site; the measure is the lowest reading", digits=1,
            references=(MARTINA_1998,)),
    Measure("jps", "Joint position sense, leg (Erasmus MC Nottingham Sensory Assessment)", "points",
            "{score}", 0, 12, "higher", mdc=_none(), mcid=_none(),
            norms_source="no norms: 3 per joint (position sense intact) is the scale's ceiling",
            about="per joint (hip, knee, ankle, big toe): 0 absent, 1 movement, 2 direction, 3 position; "
                  "the measure is the lower leg's sum", references=(STOLK_HORNSVELD_2006,)),
    Measure("star_cancellation", "Star cancellation", "stars", "{score}", 0, 54, "higher",
            mdc=_none(), mcid=_none(),
            norms_source=f"fewer than 51 of 54 stars suggests neglect: {HALLIGAN_1989}",
            about="small stars cancelled on the left and right halves (27 each)", references=(WILSON_1987,)),
    Measure("line_bisection", "Line bisection, deviation", "% of half-line", "%", -100, 100, None,
            mdc=_none(), mcid=_none(), norms_source="0 % (the true centre) is ideal; positive is rightward",
            about="mean deviation of the marks from the true centre", digits=1, ideal=0.0,
            references=(SCHENKENBERG_1980,)),
    Measure("cbs", "Catherine Bergego Scale", "points", "{score}", 0, 30, "lower",
            mdc=_none(), mcid=_none(),
            norms_source="0 no neglect; 1-10 mild, 11-20 moderate, 21-30 severe: " + AZOUVI_2003,
            about="10 items of daily life, 0-3 each", references=(AZOUVI_2003,)),
)

_INSTRUMENTED = (
    Measure("gait_speed_comfortable", "10-metre walk, comfortable gait speed", "m/s", "m/s", 0, 3, "higher",
            mdc=_none(), mcid=Reference(0.16, f"{TILSON_2010} (subacute stroke)"),
            norms=_by_decade({(20, 29): (1.36, 1.34), (30, 39): (1.43, 1.34), (40, 49): (1.43, 1.39),
                              (50, 59): (1.43, 1.40), (60, 69): (1.34, 1.24), (70, 79): (1.26, 1.13),
                              (80, 99): (0.97, 0.94)}),
            norms_source=BOHANNON_GAIT_2011, loinc="83172-7", kind="instrumented", digits=2,
            about="speed over the middle 6 m of a 10 m walk at the patient's own pace",
            stored_as="gait_speed_comfortable_m_s"),
    Measure("gait_speed_fast", "10-metre walk, fast gait speed", "m/s", "m/s", 0, 4, "higher",
            mdc=_none(), mcid=_none(), norms_source="no norms recorded in this catalogue",
            kind="instrumented", digits=2, about="speed over the middle 6 m walking as fast as safely possible",
            stored_as="gait_speed_fast_m_s"),
    Measure("tug", "Timed Up and Go", "s", "s", 0, 300, "lower",
            mdc=Reference(2.9, f"{FLANSBJER_2005} (chronic stroke)"), mcid=_none(),
            norms=_by_decade({(60, 69): 8.1, (70, 79): 9.2, (80, 99): 11.3}), norms_source=BOHANNON_TUG_2006,
            loinc="89423-8", kind="instrumented", digits=1, references=(PODSIADLO_1991,), stored_as="tug_s",
            about="from the pelvis leaving the seat to resting on it again, through a 3 m line; phase times "
                  "(sit to stand, walk out, turn, walk back, turn and sit) are stored beside it"),
    Measure("five_sts", "Five Times Sit-to-Stand", "s", "s", 0, 300, "lower",
            mdc=_none("none recorded; reliability in chronic stroke: " + MONG_2010), mcid=_none(),
            norms=_by_decade({(60, 69): 11.4, (70, 79): 12.6, (80, 89): 14.8}), norms_source=BOHANNON_STS_2006,
            kind="instrumented", digits=1, stored_as="five_sts_s",
            about="from the first rise to seated after the fifth stand (to the fifth stand stored beside it)"),
    Measure("fsst", "Four Square Step Test", "s", "s", 0, 300, "lower",
            mdc=_none("none recorded; validity after stroke: " + BLENNERHASSETT_2008), mcid=_none(),
            norms_source=f"over 15 s identified older multiple fallers: {DITE_2002}", kind="instrumented",
            digits=1, stored_as="fsst_s",
            about="from the first foot in square 2 to the last foot back in square 1; sequence errors stored "
                  "beside it"),
)

MEASURES: dict[str, Measure] = {m.id: m for m in (*_SCALES, *_INSTRUMENTED)}
# session metric name -> the instrumented measure stored under it
BY_STORED_METRIC: dict[str, Measure] = {m.stored_as: m for m in _INSTRUMENTED if m.stored_as}
