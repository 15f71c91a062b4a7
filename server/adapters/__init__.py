"""Device adapters: raw tracker markers and pressure-mat data in, normalised events out.

Each adapter owns one device's calibration and state. ``frames`` holds the validated inputs and
the :class:`~server.adapters.frames.AdapterOutput` every adapter returns; the wire parsers live in
``server.device_messages``.
"""

from server.adapters.frames import (
    AdapterOutput,
    CopFrame,
    MarkerFrame,
    MatSetup,
    Notice,
    PressureFrame,
    TrackerSetup,
)
from server.adapters.mat import MatAdapter
from server.adapters.tracker import TrackerAdapter

__all__ = [
    "AdapterOutput",
    "CopFrame",
    "MarkerFrame",
    "MatAdapter",
    "MatSetup",
    "Notice",
    "PressureFrame",
    "TrackerAdapter",
    "TrackerSetup",
]
