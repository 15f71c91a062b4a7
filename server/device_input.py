"""One device connection's input: its setup, its adapter, and what each frame produced.

A device first says what it is (``tracker_setup``, ``mat_setup``, ``board_setup`` or ``xr_setup``);
its frames (``markers``, ``cop``, ``pressure``, ``load_cells``, ``xr_pose``) then go through that adapter
(``server/adapters/``) and come out as the normalised events the games consume. Plain ``foot``
events need no setup and bypass all this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from games.events import BalanceEvent, FootEvent
from server.adapters.board import BoardAdapter, BoardSetup
from server.adapters.frames import AdapterOutput, MatSetup, TrackerSetup, XrSetup
from server.adapters.mat import MatAdapter
from server.adapters.tracker import TrackerAdapter
from server.adapters.xr import XrAdapter
from server.board_messages import parse_board_setup, parse_load_cells
from server.device_kinds import BALANCE_BOARD, FORCE_PLATE, HEADSET_TRACKER, PRESSURE_MAT, TRACKER
from server.device_messages import (
    parse_cop,
    parse_markers,
    parse_mat_setup,
    parse_pressure,
    parse_tracker_setup,
    parse_xr_pose,
    parse_xr_setup,
)
from server.fields import Fields
from server.messages import MAX_DEVICE_TIME_S, MAX_POSITION_M, MAX_SEQ
from server.ratelimit import InputBudget
from server.wire import PROTOCOL_VERSION


@dataclass(eq=False)
class DeviceInput:
    """The setups and adapters of one device connection (none until its setup message). A frame
    before the matching setup is refused by its parser (``no_setup``), never guessed at."""

    tracker: TrackerAdapter | None = None
    tracker_setup: TrackerSetup | None = None
    mat: MatAdapter | None = None
    mat_setup: MatSetup | None = None
    board: BoardAdapter | None = None
    board_setup: BoardSetup | None = None
    xr: XrAdapter | None = None
    xr_setup: XrSetup | None = None
    # what this connection is (``server.device_kinds``): from its setups and first messages
    kinds: set[str] = field(default_factory=set)

    def setup(self, type_: str, fields: Fields) -> dict[str, Any]:
        """A (re)setup starts the adapter afresh, so a new calibration starts from nothing."""
        if type_ == "tracker_setup":
            self.tracker_setup = parse_tracker_setup(fields)
            self.tracker = TrackerAdapter(self.tracker_setup)
            self.kinds.add(TRACKER)
            return {"device": "tracker", "mode": self.tracker_setup.mode}
        if type_ == "board_setup":
            self.board_setup = parse_board_setup(fields)
            self.board = BoardAdapter(self.board_setup)
            self.kinds.add(BALANCE_BOARD)
            return {"device": "balance board", "mode": self.board_setup.mode}
        if type_ == "xr_setup":
            self.xr_setup = parse_xr_setup(fields)
            self.xr = XrAdapter(self.xr_setup)
            self.kinds.add(HEADSET_TRACKER)
            return {"device": HEADSET_TRACKER, "mode": "calibrate"}
        self.mat_setup = parse_mat_setup(fields)
        self.mat = MatAdapter(self.mat_setup)
        self.kinds -= {PRESSURE_MAT, FORCE_PLATE}
        self.kinds.add(PRESSURE_MAT if self.mat_setup.kind == "grid" else FORCE_PLATE)
        return {"device": f"mat ({self.mat_setup.kind})", "mode": self.mat_setup.mode}

    def recalibrate(self) -> bool:
        """Start the calibration of this device's adapters afresh, where they calibrate by standing
        still (the therapist's *align*); False when none does. A balance board is left alone: its
        calibration starts with the board empty (the tare), which a standing patient cannot give."""
        again = False
        if self.xr is not None:
            self.xr.recalibrate()
            again = True
        if self.tracker_setup is not None and self.tracker_setup.mode == "calibrate":
            self.tracker = TrackerAdapter(self.tracker_setup)
            again = True
        if self.mat_setup is not None and self.mat_setup.mode == "calibrate":
            self.mat = MatAdapter(self.mat_setup)
            again = True
        return again

    def frame(self, type_: str, fields: Fields, budget: InputBudget | None = None) -> AdapterOutput:
        """A frame's events; a pressure grid over the connection's cell budget, or a headset pose
        over its pose budget, is dropped unread (nothing comes out of it) before the work it would cost."""
        if type_ == "xr_pose":
            if budget is not None and not budget.admit_pose():
                return AdapterOutput()
            pose = parse_xr_pose(fields, self.xr_setup)
            assert self.xr is not None
            return self.xr.on_pose(pose)
        if type_ == "markers":
            frame = parse_markers(fields, self.tracker_setup)
            assert self.tracker is not None  # set with its setup, which the parser required
            return self.tracker.on_markers(frame)
        if type_ == "cop":
            cop = parse_cop(fields, self.mat_setup)
            assert self.mat is not None
            return self.mat.on_cop(cop)
        if type_ == "load_cells":
            cells = parse_load_cells(fields, self.board_setup)
            assert self.board is not None
            return self.board.on_load_cells(cells)
        grid = self.mat_setup
        if budget is not None and grid is not None and grid.kind == "grid" and not budget.admit_cells(
                grid.rows * grid.cols):
            return AdapterOutput()
        pressure = parse_pressure(fields, self.mat_setup)
        assert self.mat is not None
        return self.mat.on_pressure(pressure)


def event_wire(event: FootEvent | BalanceEvent) -> tuple[str, dict[str, Any]]:
    """A normalised event as plain data, to relay to the server process hosting the game."""
    if isinstance(event, FootEvent):
        data: dict[str, Any] = {"type": "foot", "v": PROTOCOL_VERSION, "side": event.side.value,
                                "pos_m": [event.x_m, event.y_m, event.z_m], "t_s": event.device_time_s,
                                "seq": event.seq}
        if event.contact is not None:
            data["contact"] = event.contact
        if event.force_n is not None:
            data["force_n"] = event.force_n
        return "foot", data
    balance: dict[str, Any] = {"x_m": event.x_m, "y_m": event.y_m, "force_n": event.force_n,
                               "left_share": event.left_share, "source": event.source,
                               "t_s": event.device_time_s, "seq": event.seq}
    if event.z_m is not None:  # a tracker's pelvis height
        balance["z_m"] = event.z_m
    return "balance", balance


def parse_balance_wire(data: dict[str, Any]) -> BalanceEvent:
    """The inverse of :func:`event_wire` for relayed balance events: checked, never trusted."""
    f = Fields(data, "balance")
    f.only(("x_m", "y_m", "z_m", "force_n", "left_share", "source", "t_s", "seq"))
    x = f.number("x_m", low=-MAX_POSITION_M, high=MAX_POSITION_M, unit="m")
    y = f.number("y_m", low=-MAX_POSITION_M, high=MAX_POSITION_M, unit="m")
    force = f.number("force_n", low=0.0, high=10_000.0, required=False, unit="N")
    share = f.number("left_share", low=0.0, high=1.0, required=False)
    source = f.choice("source", ("cop", "com_proxy"))
    t = f.number("t_s", low=0.0, high=MAX_DEVICE_TIME_S, unit="s")
    seq = f.integer("seq", low=0, high=MAX_SEQ)
    z = f.number("z_m", low=-MAX_POSITION_M, high=MAX_POSITION_M, required=False, unit="m")
    assert x is not None and y is not None and source and t is not None and seq is not None
    return BalanceEvent(x, y, force, share, source, t, seq, z)


__all__ = ["DeviceInput", "event_wire", "parse_balance_wire"]
