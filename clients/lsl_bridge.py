"""Feed a station from a Lab Streaming Layer stream: motion capture or a force plate as its device.

    python -m clients.lsl_bridge --token TOKEN --therapist demo --password PW --patient DEMO-001 \\
        --stream-name Vicon --kind markers [--units mm] [--up +z] [--game stepping]
    python -m clients.lsl_bridge --token TOKEN --headset-token HTOKEN --join \\
        --stream-type Force --kind force_plate [--forward +y]

The stream is resolved by name or type (``--resolve-timeout-s``, default 10 s); its channel labels
and units are read from its metadata (``clients/lsl_channels.py``: ``LHEE_x`` and the C3D reader's
label conventions for markers, ``Fx..Mz``/``COPx, COPy`` for a plate; ``--units`` and friends when
the stream names none). The bridge then connects as the station's device and sends a
``tracker_setup`` (calibrate: the patient stands still for ``--calibrate-s``) or a ``mat_setup`` of
kind ``cop``, and one ``markers`` / ``cop`` message per LSL sample, so the server's adapters do the
calibration and gap handling they do for any tracker or plate. Each message's ``t_s`` is the
sample's LSL time stamp, corrected to this machine's LSL clock (``time_correction``): the latency
from capture to the server can be measured against it, and the bridge prints its own share (capture
to sent) when it stops.

It runs until interrupted (Ctrl-C, SIGTERM), for ``--seconds``, or until the stream has been silent
for ``--silence-s``; a session it started is then stopped (unless ``--leave-running``).

Exit status: 0 done; 1 the server is down or refused; 2 the command line is incomplete (no patient
named, pylsl missing); 3 no such stream within the timeout, or it went silent; 4 the stream's
channels are not what ``--kind`` needs (labels unknown, no units).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from clients.link import Link
from clients.lsl_channels import (
    ChannelError,
    MarkerChannels,
    PlateChannels,
    effective_labels,
    marker_channels,
    plate_channels,
)
from clients.start import GameOnStation, add_station_arguments, check_choice, refuse, run, start_or_join, stop_started
from scoring.errors import RecordingError
from scoring.recordings.labels import parse_key

NOT_FOUND = 3
BAD_CHANNELS = 4
KINDS = ("markers", "force_plate")
GAMES = {"markers": "stepping", "force_plate": "weight_shift"}


class StreamGone(Exception):
    """The stream was not found, or went silent."""


@dataclass
class BridgeReport:
    samples: int = 0
    errors: int = 0
    notices: list[dict[str, Any]] = field(default_factory=list)
    # capture (LSL time) to sent, per chunk: the newest hour's worth at 100 chunks a second
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=360_000))
    silent: bool = False


def _pylsl() -> Any:
    try:
        import pylsl
    except ImportError:
        refuse("the LSL bridge needs pylsl: pip install 'stridevr[lsl]'")
    return pylsl


def resolve(pylsl: Any, name: str | None, type_: str | None, timeout_s: float) -> Any:
    """The stream's inlet, its full metadata read; :class:`StreamGone` when none is found in time."""
    prop, value = ("name", name) if name else ("type", type_)
    found = pylsl.resolve_byprop(prop, value, 1, timeout_s)
    if not found:
        seen = pylsl.resolve_streams(1.0)
        listed = ", ".join(f"{s.name()!r} ({s.type()})" for s in seen[:10]) or "none"
        raise StreamGone(f"no LSL stream with {prop} {value!r} within {timeout_s:g} s (streams seen: {listed})")
    inlet = pylsl.StreamInlet(found[0], max_buflen=10, processing_flags=pylsl.proc_clocksync)
    inlet.open_stream(timeout_s)  # samples are kept from now on (10 s of them) while the session starts
    return inlet


def channels_of(info: Any) -> tuple[list[str | None], list[str | None]]:
    """Channel labels and units from the stream's ``desc/channels`` metadata (a channel that names
    its ``marker`` and a ``PositionX`` type is labelled ``<marker>_x``)."""
    fields: dict[str, list[str | None]] = {"label": [], "unit": [], "marker": [], "type": []}
    channel = info.desc().child("channels").child("channel")
    count = info.channel_count()
    while not channel.empty() and len(fields["label"]) < count:
        for name, values in fields.items():
            values.append(channel.child_value(name) or None)
        channel = channel.next_sibling()
    for values in fields.values():
        values += [None] * (count - len(values))
    return effective_labels(fields["label"], fields["marker"], fields["type"]), fields["unit"]


def plan(args: argparse.Namespace, info: Any) -> MarkerChannels | PlateChannels:
    labels, units = channels_of(info)
    if args.kind == "markers":
        mapping = {}
        for item in args.map:
            key, _, label = item.partition("=")
            parse_key(key)
            mapping[key] = label
        return marker_channels(labels, units, given_units=args.units, mapping=mapping or None)
    return plate_channels(labels, units, cop_units=args.units, force_units=args.force_units,
                          moment_units=args.moment_units)


async def bridge(url: str, station: str, token: str, inlet: Any, channels: MarkerChannels | PlateChannels,
                 setup: dict[str, Any], *, seconds: float | None = None, silence_s: float = 10.0,
                 stop: asyncio.Event | None = None, local_clock: Any = time.perf_counter,
                 ca_file: str | None = None) -> BridgeReport:
    """Forward the inlet's samples as the station's device until ``stop``, ``seconds`` or silence."""
    report = BridgeReport()
    stop = stop or asyncio.Event()
    link = await Link.station(url, "device", station, token, ca_file=ca_file)

    async def replies() -> None:
        while True:
            message = await link.recv()
            if message.get("type") == "error":
                report.errors += 1
                print(f"server: {message.get('code')}: {message.get('message')}", file=sys.stderr)
            elif message.get("type") == "device_status":
                report.notices.append(message)
                print(f"  {message.get('kind')}: {message.get('message')}")

    try:
        await link.call(setup)
        reader = asyncio.create_task(replies())
        loop = asyncio.get_running_loop()
        started = heard = loop.time()
        seq = 0
        try:
            while not stop.is_set() and (seconds is None or loop.time() - started < seconds):
                chunk, stamps = await asyncio.to_thread(inlet.pull_chunk, 0.05, 1024)
                now = loop.time()
                if not stamps:
                    if now - heard > silence_s:
                        report.silent = True
                        break
                    continue
                heard = now
                for sample, stamp in zip(chunk, stamps, strict=True):
                    await link.send(channels.message(sample, float(stamp), seq))
                    seq += 1
                sent_at = local_clock()
                report.latencies_s.append(sent_at - float(stamps[-1]))
                report.samples += len(stamps)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        await link.request({"type": "ping"}, timeout_s=5.0)  # every sample handled by the server
    finally:
        await link.close()
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_station_arguments(p, watches=False)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--stream-name", help="the LSL stream's name")
    which.add_argument("--stream-type", help="the LSL stream's type (Mocap, Force...): the first found")
    p.add_argument("--kind", choices=KINDS, required=True,
                   help="markers: motion capture (heel/toe/ankle markers); force_plate: forces and moments or COP")
    p.add_argument("--units", choices=("mm", "cm", "m"),
                   help="marker or COP units, when the stream's metadata does not say")
    p.add_argument("--force-units", choices=("N", "kN"), help="force units (default: the metadata's, else N)")
    p.add_argument("--moment-units", choices=("Nm", "Nmm"), help="moment units (default: the metadata's, else Nm)")
    p.add_argument("--up", default="+z", help="markers: the lab axis pointing up (default +z: Vicon, Qualisys; "
                                              "OptiTrack streams are +y)")
    p.add_argument("--forward", default="+y", help="force plate: the plate axis the patient faces (default +y)")
    p.add_argument("--map", action="append", default=[], metavar="SIDE.MARKER=LABEL",
                   help="name a marker whose label is not recognised, e.g. L.heel=LHeel (repeatable)")
    p.add_argument("--calibrate-s", type=float, default=2.0, help="standing still this long calibrates (s)")
    p.add_argument("--resolve-timeout-s", type=float, default=10.0, help="give up finding the stream after this")
    p.add_argument("--silence-s", type=float, default=10.0, help="stop when the stream sends nothing this long")
    p.add_argument("--seconds", type=float, help="stop after this long (default: until interrupted)")
    p.add_argument("--game", help="the game to start with --therapist (default: stepping for markers, "
                                  "weight_shift for a force plate)")
    p.add_argument("--leave-running", action="store_true", help="leave the session this bridge started running")
    args = p.parse_args(argv)
    check_choice(args)
    pylsl = _pylsl()
    try:
        inlet = resolve(pylsl, args.stream_name, args.stream_type, args.resolve_timeout_s)
        info = inlet.info(args.resolve_timeout_s)
    except StreamGone as exc:
        print(f"error: {exc}", file=sys.stderr)
        return NOT_FOUND
    except Exception as exc:  # pylsl raises its own TimeoutError and LostError
        print(f"error: the stream did not send its metadata: {exc}", file=sys.stderr)
        return NOT_FOUND
    try:
        channels = plan(args, info)
    except (ChannelError, RecordingError) as exc:
        print(f"error: stream {info.name()!r}: {exc}", file=sys.stderr)
        return BAD_CHANNELS
    what = (", ".join(f"{s}.{m}={channels.labels[(s, m)]}" for s, m in sorted(channels.labels))
            if isinstance(channels, MarkerChannels) else "force plate")
    print(f"stream {info.name()!r} ({info.type()}, {info.channel_count()} channels, "
          f"{info.nominal_srate():g} Hz): {what}")
    setup = (channels.setup(args.up, args.calibrate_s) if isinstance(channels, MarkerChannels)
             else channels.setup(args.forward, args.calibrate_s))
    game = start_or_join(args, args.game or GAMES[args.kind], {}, source="live")
    report = run(_run(args, inlet, channels, setup, pylsl.local_clock))
    lat = sorted(report.latencies_s)
    latency = (f"; capture to sent: median {statistics.median(lat) * 1000:.1f} ms, "
               f"95th {lat[int(0.95 * (len(lat) - 1))] * 1000:.1f} ms" if lat else "")
    print(f"forwarded {report.samples} samples; server errors: {report.errors}{latency}")
    _end(args, game)
    if report.silent:
        print(f"error: the stream sent nothing for {args.silence_s:g} s", file=sys.stderr)
        return NOT_FOUND
    return 0 if report.errors == 0 else 1


async def _run(args: argparse.Namespace, inlet: Any, channels: MarkerChannels | PlateChannels,
               setup: dict[str, Any], local_clock: Any) -> BridgeReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not on this platform or thread
            pass
    return await bridge(args.url, args.station, args.token, inlet, channels, setup, seconds=args.seconds,
                        silence_s=args.silence_s, stop=stop, local_clock=local_clock, ca_file=args.ca_file)


def _end(args: argparse.Namespace, game: GameOnStation) -> None:
    if not game.started:
        print(f"session {game.session_id} (joined) left running on {game.station}")
    elif args.leave_running:
        print(f"session {game.session_id} left running on {game.station} (--leave-running)")
    else:
        print(run(stop_started(args.url, args.therapist, args.password, game, ca_file=args.ca_file)))


if __name__ == "__main__":
    raise SystemExit(main())
