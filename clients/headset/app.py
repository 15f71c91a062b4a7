"""The headset application: a ShowBase whose one task draws the newest state every frame.

The frame task never waits: it takes whatever state the network thread last left in its slot
(:class:`clients.headset.network.HeadsetLink`) and the game events queued since the last frame,
smooths the feet toward the state, rings the feet a neglect cue points at (and plays the cue's
chime where there is audio), checks the tracking-lost rule and updates the HUD. ``offscreen``
renders into a software buffer (p3tinydisplay): no window, no X, no GPU, for tests, CI and
screenshots; it is silent.

The floor is seen from the patient's eyes (``first_person``, :mod:`clients.headset.first_person`)
or from straight above (the top-down map, :class:`clients.headset.scene.Projection`); ``v``
switches between them. Either camera stays where it is during a game: it is placed anew only
when the game (or an assessment's stage) changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from direct.showbase.ShowBase import ShowBase
from direct.task import Task
from panda3d.core import Filename, OrthographicLens, PerspectiveLens, PNMImage, loadPrcFileData

from clients.headset.audio import CueSound
from clients.headset.first_person import EYE_HEIGHT_M, EyeProjection, aim_eye, eye_for
from clients.headset.hud import HudModel, HudText, hud_model
from clients.headset.network import Received, ReceivedEvent, StateSource
from clients.headset.scene import (
    BACKGROUND,
    BLANK,
    CURSOR_KEY,
    FloorView,
    Projection,
    View,
    aim_camera,
    view_for,
    view_for_state,
)
from clients.headset.state import CueTracker, Foot, FootSmoother, TrackingWatch, countdown_s

DEFAULT_SIZE_PX = (800, 800)


@dataclass(frozen=True, slots=True)
class AppConfig:
    offscreen: bool = False
    size_px: tuple[int, int] = DEFAULT_SIZE_PX
    title: str = "StrideVR headset"
    view: View | None = None  # a fixed view; None: each game's (``scene.GAME_VIEWS``)
    audio: bool | None = None  # the cue's chime; None: on when windowed, off offscreen
    first_person: bool = True  # from the patient's eyes; False: the top-down map
    eye_height_m: float = EYE_HEIGHT_M

    @property
    def wants_audio(self) -> bool:
        return (not self.offscreen) if self.audio is None else self.audio


def configure_panda(config: AppConfig) -> None:
    """Panda3D settings; must run before the ShowBase is made."""
    lines = [f"win-size {config.size_px[0]} {config.size_px[1]}", f"window-title {config.title}",
             "framebuffer-multisample 0", "multisamples 0"]
    if not config.wants_audio:
        lines.append("audio-library-name null")  # otherwise Panda3D's default (OpenAL)
    if config.offscreen:
        # Software rendering into an offscreen buffer: runs without X or a GPU. Tinydisplay
        # still probes X first; its "could not open display" is expected here, so hush it.
        lines += ["window-type offscreen", "load-display p3tinydisplay", "notify-level-x11display fatal",
                  "notify-level-device fatal", "print-pipe-types false", "sync-video false"]
    loadPrcFileData("stridevr-headset", "\n".join(lines))


class HeadsetApp(ShowBase):
    def __init__(self, source: StateSource, config: AppConfig = AppConfig()) -> None:
        configure_panda(config)
        ShowBase.__init__(self, windowType="offscreen" if config.offscreen else None)
        self.app_config = config
        self.source = source
        self.disable_mouse()
        self.set_background_color(*BACKGROUND)
        self.lens = OrthographicLens()
        self.eye_lens = PerspectiveLens()
        self.first_person = config.first_person
        self.eye_height_m = config.eye_height_m
        self.view = config.view or view_for(None)
        self.eye = eye_for(None, height_m=config.eye_height_m)
        self.projection: Projection | EyeProjection = self._aim()
        self.floor = FloorView(self.render, first_person=config.first_person)
        self.hud = HudText(self)
        self.smoother = FootSmoother()
        self.watch = TrackingWatch()
        self.cues = CueTracker()
        managers = getattr(self, "sfxManagerList", None) or [None]
        self.cue_sound = CueSound(managers[0])  # counts played/skipped: no audio, no failure
        self.last_events: dict[str, ReceivedEvent] = {}  # the newest game event of each kind
        self.received: Received | None = None
        self.hud_shown = HudModel()
        self.frames = 0
        self._version = -1
        self._last_frame_s: float | None = None
        self.blanked = False  # an eyes-closed stand: nothing of the floor on screen
        self.taskMgr.add(self._update, "headset-update", sort=-10)  # before rendering (igLoop, 50)
        self.accept("window-event", self._window_event)
        self.accept("p", self._send, [{"type": "pause"}])
        self.accept("r", self._send, [{"type": "ready"}])
        self.accept("v", lambda: self.look(not self.first_person))
        self.accept("escape", self.userExit)

    def use(self, source: StateSource) -> None:
        """Follow another source (tests reuse one window); forgets what was drawn, so the feet
        snap to the new source's positions instead of gliding from the old ones."""
        self.source = source
        self.received = None
        self._version = -1
        self.smoother = FootSmoother()
        self.watch = TrackingWatch()
        self.cues = CueTracker()
        self.last_events = {}
        self.floor.apply(None)

    def look(self, first_person: bool, eye_height_m: float | None = None) -> None:
        """From the patient's eyes (at ``eye_height_m``, if given), or from straight above (the
        ``v`` key; tests)."""
        self.first_person = first_person
        if eye_height_m is not None:
            self.eye_height_m = eye_height_m
            self.eye = self.eye.at_height(eye_height_m)
        self.floor.set_first_person(first_person)
        self.projection = self._aim()

    def _send(self, message: dict[str, object]) -> None:
        self.source.send(message)

    # -- per frame ------------------------------------------------------------------------------

    def _update(self, task: Task.Task) -> int:
        self.update(time.monotonic())
        return Task.cont

    def update(self, now_s: float) -> None:
        """Draw the newest state: never waits, whatever the network is doing."""
        dt = 0.0 if self._last_frame_s is None else max(0.0, now_s - self._last_frame_s)
        self._last_frame_s = now_s
        version, received = self.source.latest()
        if version != self._version:
            self._version = version
            self.received = received
            if received is not None:
                self.watch.observe(received.view, received.at_s)
                self.floor.apply(received.view)
                view = self.app_config.view or view_for_state(received.view)
                stage = None if received.view.stage is None else received.view.stage.name
                eye = eye_for(received.view.game, stage, self.eye_height_m)
                if (view, eye) != (self.view, self.eye):
                    self.view, self.eye = view, eye
                    self.projection = self._aim()
        for queued in self.source.take_events():
            self._on_event(queued)
        state = None if self.received is None else self.received.view
        goals: dict[str, Foot] = {} if state is None or not state.running else dict(state.feet)
        if state is not None and state.running and state.cursor is not None:
            goals[CURSOR_KEY] = Foot(state.cursor.x_m, state.cursor.y_m)
        self._blank(state is not None and state.eyes_closed)
        shown = self.smoother.step(goals, dt)
        self.floor.place_live(shown, goals)
        cued = frozenset() if self.received is None else self.cues.highlighted(state, self.received.at_s, now_s)
        self.floor.place_cues(cued, shown, goals, now_s)
        status = self.source.status()
        countdown = None if self.received is None else countdown_s(self.received.view, self.received.at_s, now_s)
        self.hud_shown = hud_model(state, status, self.watch.lost(now_s), self.watch.silent_s(now_s),
                                   countdown, now_s)
        self.hud.show(self.hud_shown)
        self.frames += 1

    def _blank(self, blank: bool) -> None:
        """Hide the whole floor on a plain dark screen (the HUD keeps its minimal line)."""
        if blank == self.blanked:
            return
        self.blanked = blank
        if blank:
            self.floor.root.hide()
        else:
            self.floor.root.show()
        self.set_background_color(*(BLANK if blank else BACKGROUND))

    def _on_event(self, queued: ReceivedEvent) -> None:
        """A game event, once: a neglect cue rings its foot (see ``CueTracker``) and, when the
        cue asks for it (``cues`` lists ``sound``, or says nothing), plays the chime."""
        event = queued.event
        self.last_events[event.kind] = queued
        if self.cues.on_event(event, queued.at_s):
            wanted = event.fields.get("cues")
            if not isinstance(wanted, (list, tuple)) or "sound" in wanted:
                self.cue_sound.play()

    def step(self, frames: int = 1) -> None:
        """Run ``frames`` frames now (tests, scripted screenshots); call from the main thread."""
        for _ in range(frames):
            self.taskMgr.step()

    # -- output ---------------------------------------------------------------------------------

    def screenshot(self, path: str | Path) -> Path:
        """Render two frames (the buffer is double-buffered) and save the image (PNG by name)."""
        self.step(2)
        path = Path(path)
        if not self.image().write(Filename.from_os_specific(str(path))):
            raise OSError(f"could not save a screenshot to {path}")
        return path

    def image(self) -> PNMImage:
        """The last rendered frame, RGB. The alpha channel is dropped: the software renderer
        leaves it 0 on lines, and image viewers would show those lines over white."""
        image = PNMImage()
        if not self.win.get_screenshot(image):
            raise OSError("no frame rendered yet")
        image.remove_alpha()
        return image

    # -- window ---------------------------------------------------------------------------------

    def _aim(self) -> Projection | EyeProjection:
        size = (self.win.get_x_size(), self.win.get_y_size()) if self.win is not None else self.app_config.size_px
        if self.first_person:
            seen = EyeProjection.of(size, self.eye)
            self.cam.node().set_lens(self.eye_lens)
            aim_eye(self.camera, self.eye_lens, seen)
            return seen
        projection = Projection.of(size, self.view)
        self.cam.node().set_lens(self.lens)
        aim_camera(self.camera, self.lens, projection)
        return projection

    def _window_event(self, window: object) -> None:
        ShowBase.windowEvent(self, window)
        if self.win is not None and (self.win.get_x_size(), self.win.get_y_size()) != (
                self.projection.width_px, self.projection.height_px):
            self.projection = self._aim()
