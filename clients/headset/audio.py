"""The neglect cue's sound: a short two-tone chime, made here (no sound file to ship), played
through a Panda3D audio manager when one works.

Where there is no audio (offscreen rendering, tests, a machine without a sound device, or
``audio-library-name null``) Panda3D gives a NullAudioManager, which is not ``is_valid()``;
then a cue is counted as ``skipped`` and nothing else happens, so a headless headset never fails
on a cue.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from typing import Any

from panda3d.core import Filename, VirtualFileMountRamdisk, VirtualFileSystem

SAMPLE_RATE_HZ = 22050
CHIME = ((880.0, 0.12), (1320.0, 0.18))  # (frequency Hz, seconds): rising, easy to notice
VOLUME = 0.6
RAM_DIR = "/stridevr-headset-ram"  # a ramdisk in Panda3D's virtual file system
CUE_PATH = f"{RAM_DIR}/cue.wav"


def chime_wav(rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    """16-bit mono WAV of the chime, each tone faded in and out (no clicks)."""
    frames = bytearray()
    for freq, seconds in CHIME:
        n = int(rate_hz * seconds)
        fade = max(1, int(rate_hz * 0.01))
        for i in range(n):
            envelope = min(1.0, i / fade, (n - 1 - i) / fade)
            frames += struct.pack("<h", round(32767 * VOLUME * envelope * math.sin(2 * math.pi * freq * i / rate_hz)))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(bytes(frames))
    return out.getvalue()


def _ram_file() -> Filename:
    """The chime as a file Panda3D's loaders can open, kept in memory."""
    vfs = VirtualFileSystem.get_global_ptr()
    name = Filename(CUE_PATH)
    if not vfs.exists(name):
        if not vfs.is_directory(Filename(RAM_DIR)):
            vfs.mount(VirtualFileMountRamdisk(), RAM_DIR, 0)
        vfs.write_file(name, chime_wav(), False)
    return name


class CueSound:
    """Plays the chime on ``manager`` (a Panda3D AudioManager, or None). ``played`` and
    ``skipped`` count the cues that did and did not make a sound."""

    def __init__(self, manager: Any | None) -> None:
        self.played = 0
        self.skipped = 0
        self.error: str | None = None
        self._sound: Any | None = None
        try:
            if manager is not None and manager.is_valid():
                sound = manager.get_sound(_ram_file())
                if sound is not None and sound.length() > 0:
                    self._sound = sound
        except Exception as exc:  # audio must never take the headset down
            self.error = f"{type(exc).__name__}: {exc}"
            self._sound = None

    @property
    def available(self) -> bool:
        return self._sound is not None

    def play(self) -> bool:
        if self._sound is None:
            self.skipped += 1
            return False
        try:
            self._sound.stop()
            self._sound.play()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.skipped += 1
            return False
        self.played += 1
        return True
