"""The text over the floor: score, countdown, the last outcome, an assessment stage's
instruction, a small mode note (mirror, belt speed) and the banners that must not be missed
(connecting, tracking lost, paused). :func:`hud_model` decides *what* to show from plain
data (unit-tested); :class:`HudText` only puts those strings on screen.

In an assessment the last-trial line belongs to the running stage (a new stage starts without
one) and a quiet stand never has one: it has nothing to hit, only its instruction and time.
While an eyes-closed stand is timed the screen is blank but for :data:`EYES_CLOSED` (and any
banner), so nothing on it can steady the patient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clients.headset.network import LinkStatus
from clients.headset.state import DEVICE_LOST, StateView

if TYPE_CHECKING:
    from direct.showbase.ShowBase import ShowBase

Colour = tuple[float, float, float, float]

WHITE: Colour = (1.0, 1.0, 1.0, 1.0)
GREY: Colour = (0.70, 0.72, 0.76, 1.0)
OUTCOME_COLOUR: dict[str, Colour] = {
    "hit": (0.30, 0.95, 0.40, 1.0),
    "miss": (1.00, 0.55, 0.20, 1.0),
    "timeout": (1.00, 0.80, 0.35, 1.0),
    "fault": (1.00, 0.30, 0.30, 1.0),
}
WARNING: Colour = (1.00, 0.25, 0.25, 1.0)
PAUSED: Colour = (1.00, 0.85, 0.30, 1.0)
FINISHED: Colour = (0.30, 0.95, 0.40, 1.0)
GAME_TITLES = {"stepping": "Stepping", "reaching": "Reaching", "weight_shift": "Weight shift",
               "treadmill": "Treadmill", "assessment": "Assessment"}
FOOT_NAMES = {"L": "LEFT", "R": "RIGHT"}
MAX_BANNERS = 4
EYES_CLOSED = "Eyes closed \u2014 stand still"
WHO_PAUSED = {"therapist": "the therapist", "headset": "the headset", DEVICE_LOST: "device lost"}


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    colour: Colour = WHITE


@dataclass(frozen=True, slots=True)
class HudModel:
    title: str = ""
    score: str = ""
    countdown: str = ""
    feedback: Line | None = None
    banners: tuple[Line, ...] = ()
    instruction: str = ""  # an assessment stage's instruction (and progress), large, mid-screen
    note: str = ""  # a small line under the score: "mirror", the belt speed

    def banner_text(self) -> str:
        return "\n".join(b.text for b in self.banners)


def hud_model(view: StateView | None, status: LinkStatus, tracking_lost: bool = False,
              silent_s: float | None = None, countdown_s: float | None = None, now_s: float = 0.0) -> HudModel:
    """What the HUD says. Banners in order of urgency: the link, tracking, pause, the end."""
    banners: list[Line] = []
    if not status.connected:
        retry = "" if status.retry_at_s is None else f" (retry in {max(0.0, status.retry_at_s - now_s):.0f} s)"
        if status.refused:
            banners.append(Line(f"Station refused: {status.error}", WARNING))
            banners.append(Line(f"check the station name and token{retry}", GREY))
        else:
            banners.append(Line("connecting\u2026", WHITE))
            if status.error:
                banners.append(Line(f"{status.error}{retry}", GREY))
    if view is None:
        return HudModel(banners=tuple(banners))
    if status.connected and tracking_lost:
        why = "device lost" if DEVICE_LOST in view.paused_by else (
            f"no foot data for {silent_s:.1f} s" if silent_s is not None else "no foot data")
        banners.append(Line(f"TRACKING LOST \u2014 {why}", WARNING))
    if view.phase == "paused" or view.paused_by:
        who = ", ".join(WHO_PAUSED.get(p, p) for p in view.paused_by) or "?"
        banners.append(Line(f"PAUSED \u2014 by {who}", PAUSED))
    elif view.phase == "finished" and view.game == "assessment":
        banners.append(Line("Assessment finished \u2014 thank you", FINISHED))
    elif view.phase == "finished":
        banners.append(Line(f"Finished \u2014 {view.hits} hits in {view.trial} trials", FINISHED))
    elif view.phase == "idle" and status.connected:
        banners.append(Line("Waiting for the therapist to start a game", GREY))
    if not view.running and view.phase != "finished":
        return HudModel(banners=tuple(banners))
    if view.eyes_closed:
        return HudModel(banners=tuple(banners), instruction=EYES_CLOSED)
    # On the wire ``trial`` is the 0-based index of the current trial (= trials done); people
    # count from 1.
    current = view.trial + 1 if not view.trials_planned else min(view.trial + 1, view.trials_planned)
    planned = f" / {view.trials_planned}" if view.trials_planned else ""
    score = f"Hits {view.hits}   Trial {current}{planned}"
    instruction = ""
    stage = view.stage if view.game == "assessment" else None
    if stage is not None:
        # like ``trial``, the stage's ``index`` is 0-based on the wire
        score = "" if stage.index is None else f"Stage {stage.index + 1}" + (
            f" / {stage.count}" if stage.count else "")
        instruction = "\n".join(t for t in (stage.instruction, stage.progress) if t)
    return HudModel(
        title=_title(view),
        score=score,
        countdown="" if countdown_s is None else f"{countdown_s:.1f} s",
        feedback=_feedback(view),
        banners=tuple(banners),
        instruction=instruction,
        note=_note(view),
    )


def _note(view: StateView) -> str:
    notes = []
    if view.mirror is not None:
        notes.append("mirror")
    if view.game == "treadmill" and view.belt_speed_m_s is not None:
        notes.append(f"belt {view.belt_speed_m_s:.2f} m/s")
    return "   ".join(notes)


def _title(view: StateView) -> str:
    game = GAME_TITLES.get(view.game or "", view.game or "")
    target = view.target
    if view.game == "assessment":  # the stage's instruction says what to do, in large type
        name = None if view.stage is None else view.stage.name
        return f"{game}: {name.replace('_', ' ')}" if name else game
    if view.phase == "home":
        if view.game == "weight_shift":
            return f"{game}: both feet down, weight back to the centre"
        return f"{game}: stand on the home spots"
    if target is None:
        return game
    foot = FOOT_NAMES.get(target.foot or "", "")
    if view.game == "weight_shift":
        return f"{game}: lean {target.direction or 'to the target'} and hold"
    if view.game == "reaching":
        return f"{game}: reach {target.direction or ''} with the {foot} foot"
    return f"{game}: step with the {foot} foot"


def _feedback(view: StateView) -> Line | None:
    last = view.last
    if last is None:
        return None
    if view.game == "assessment":
        stage = view.stage
        if stage is None or stage.quiet or last.stage != stage.name:
            return None
    text = f"Trial {last.trial + 1}: {last.outcome.upper()}"
    if last.fault:
        text += f" ({last.fault.replace('_', ' ')})"
    if last.placement_error_m is not None:
        text += f", {100 * last.placement_error_m:.1f} cm off"
    return Line(text, OUTCOME_COLOUR.get(last.outcome, WHITE))


class HudText:
    """OnscreenText nodes at the screen's corners and centre; text is only regenerated when a
    string changes (cheap per frame)."""

    def __init__(self, base: ShowBase) -> None:
        from direct.gui.OnscreenText import OnscreenText
        from panda3d.core import TextNode

        width = 2.0 * base.getAspectRatio() * 0.92  # aspect2d units, less a margin

        def text(parent: Any, pos: tuple[float, float], scale: float, align: int,
                 bg: tuple[float, float, float, float] | None = None) -> Any:
            return OnscreenText(parent=parent, pos=pos, scale=scale, align=align, fg=WHITE, bg=bg,
                                mayChange=True, text="", wordwrap=width / scale)

        self.title = text(base.a2dTopCenter, (0.0, -0.19), 0.055, TextNode.A_center)
        self.score = text(base.a2dTopLeft, (0.05, -0.09), 0.06, TextNode.A_left)
        self.countdown = text(base.a2dTopRight, (-0.05, -0.10), 0.08, TextNode.A_right)
        self.feedback = text(base.a2dBottomCenter, (0.0, 0.08), 0.065, TextNode.A_center)
        self.note = text(base.a2dTopLeft, (0.05, -0.17), 0.045, TextNode.A_left)
        self.instruction = text(base.aspect2d, (0.0, 0.62), 0.085, TextNode.A_center, bg=(0.0, 0.0, 0.0, 0.6))
        self.banners = [text(base.aspect2d, (0.0, -0.45 - 0.1 * i), 0.07, TextNode.A_center, bg=(0.0, 0.0, 0.0, 0.75))
                        for i in range(MAX_BANNERS)]
        self._shown: HudModel | None = None

    def show(self, model: HudModel) -> None:
        if model == self._shown:
            return
        old = self._shown or HudModel()
        self._shown = model
        for node, new, before in ((self.title, model.title, old.title), (self.score, model.score, old.score),
                                  (self.countdown, model.countdown, old.countdown),
                                  (self.instruction, model.instruction, old.instruction),
                                  (self.note, model.note, old.note)):
            if new != before:
                node.setText(new)
        if model.feedback != old.feedback:
            self.feedback.setText("" if model.feedback is None else model.feedback.text)
            self.feedback.setFg(WHITE if model.feedback is None else model.feedback.colour)
        if model.banners != old.banners:
            for i, node in enumerate(self.banners):
                line = model.banners[i] if i < len(model.banners) else Line("")
                node.setText(line.text)
                node.setFg(line.colour)
