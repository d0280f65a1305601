"""Simulators: a Hoymiles DTU — `solarstack sim hoymiles --tcp PORT [--inverters N]`.

Prints `tcp://HOST:PORT` (and `control tcp://HOST:PORT` with `--control`), then serves the
DTU's real wire format until SIGTERM / SIGINT. Frames are the `hoymiles-wifi` library's own:
its `DTU.parse_response` checks a request's "HM" header, length and CRC and parses the
protobuf body; its `DTU.generate_message` frames the answer (echoing the request's sequence
number); the messages are its protobuf classes (`RealDataNew_pb2`, `CommandPB_pb2`). A bug in
the library's framing is therefore not caught here; tests/hoymiles holds a frame built by
hand from the format for that.

N microinverters (`--inverters`, default 2; serials 1144… with 2 ports, 1164… with 4 ports,
alternating) whose ports follow the plant model's sun (sim/plant.py: clear-sky irradiance,
clouds, ambient temperature), each port a 400 Wp panel. Each port keeps a lifetime and a daily
counter (Wh); the daily ones restart at the plant's local midnight.

Quirks of the real DTU (firmware V00.07.02):
- one connection at a time: a second one while one is open is closed at once (`busy`);
- a minimum interval: a connection opened less than `--min-interval` seconds (default 1)
  after the last one closed is closed unanswered (`too_soon`).

Faults on demand, at run time on the control port (one line in, one line out):

    fault drop [N|always]   read the request, close without an answer (mid-poll)
    dark on|off             the panels make nothing (dusk), whatever the plant's sun
    night on|off            stop listening (connections refused), as a DTU whose panels are dark
    dip                     every port's daily counter drops to 0 (and counts on from there)
    limit SERIAL            ok <percent>: an inverter's power limit
    answered                ok <JSON: per inverter and port, the last answer's power and counters>
    log                     ok <JSON list of connection events>
    clear                   ok (faults off, night and dark off)

The connection log (`--log FILE` as JSON lines, and `log` on the control port): one event per
connection — `open`, `answer` (with the command tag), `close`, `busy`, `too_soon`, `dropped`
— with its connection number and `time.monotonic()`, so a test can see that no two
connections overlapped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import signal
import struct
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, TextIO

from solarstack.core.errors import ConfigError
from solarstack.core.log import setup_logging_from
from solarstack.protocols import hoymiles as proto
from solarstack.sim.plant import Plant, PlantConfig
from solarstack.sim.tcp import tcp_port

log = logging.getLogger("solarstack.sim.hoymiles")

PANEL_WP = 400.0
INVERTER_EFFICIENCY = 0.965
DTU_SERIAL = "413212345678"  # DTU-W100/DTU-Lite-S by its prefix (hoymiles_wifi.hoymiles.type_mapping)
DTU_FIRMWARE = 8197
HEADER = 10  # "HM", tag, sequence, CRC, length
PER_PACKAGE = 4


@dataclass
class Port:
    number: int
    share: float  # this panel's fraction of full sun (orientation, shading)
    total_wh: float
    daily_wh: float = 0.0
    power_w: float = 0.0
    voltage: float = 0.0


@dataclass
class Micro:
    serial: int
    rating_w: float
    ports: list[Port]
    limit_per_mille: int = 1000
    temperature: float = 20.0
    ac_power_w: float = 0.0


@dataclass
class DTUModel:
    """The DTU's inverters, stepped with the plant's sun (one owner: the event loop)."""

    plant: Plant
    micros: list[Micro]
    rng: random.Random
    day: date | None = None
    stepped_at: float | None = None
    dark: bool = False  # the sun has set, whatever the plant says (`dark on`)
    # what the last answer said, per inverter serial (hex) and port: the wire's integers
    last: dict[str, dict[int, dict[str, int]]] = field(default_factory=dict)

    def step(self) -> None:
        s = self.plant.step()
        now = time.monotonic()
        dt = 0.0 if self.stepped_at is None else (now - self.stepped_at) * self.plant.speed
        self.stepped_at = now
        if self.day is not None and s.time.date() != self.day:
            for m in self.micros:
                for p in m.ports:
                    p.daily_wh = 0.0
        self.day = s.time.date()
        sun = 0.0 if self.dark else s.irradiance_w_m2 / 1000.0
        for m in self.micros:
            dc = 0.0
            for p in m.ports:
                watts = PANEL_WP * sun * p.share
                p.voltage = 0.0 if watts <= 0 else 30.0 + 8.0 * min(1.0, sun) + self.rng.uniform(-0.3, 0.3)
                # the energy the port made since the last step (trapezoid), then its power now
                gained = (p.power_w + watts) / 2 * dt / 3600.0
                p.total_wh += gained
                p.daily_wh += gained
                p.power_w = watts
                dc += watts
            m.ac_power_w = min(dc * INVERTER_EFFICIENCY, m.rating_w * m.limit_per_mille / 1000)
            m.temperature = s.ambient_celsius + m.ac_power_w / 40.0

    def answer(self, cp: int = 0) -> Any:
        """Package `cp` of the answer: PER_PACKAGE inverters each (the library reads at most
        1024 bytes per answer and asks for packages 1..ap-1 itself); totals in every one."""
        from hoymiles_wifi.protobuf import RealDataNew_pb2

        s = self.plant.snapshot()
        reply = RealDataNew_pb2.RealDataNewReqDTO()
        reply.device_serial_number = DTU_SERIAL
        reply.timestamp = int(time.time())
        reply.ap = max(1, math.ceil(len(self.micros) / PER_PACKAGE))
        reply.cp = cp
        reply.firmware_version = DTU_FIRMWARE
        total_power = total_daily = 0
        for i, m in enumerate(self.micros):
            for p in m.ports:
                total_power += round(p.power_w * 10)
                total_daily += int(p.daily_wh)
            if i // PER_PACKAGE != cp:
                continue
            sgs = reply.sgs_data.add()
            sgs.serial_number = m.serial
            sgs.firmware_version = 10012
            sgs.voltage = round(s.grid_voltage * 10)
            sgs.frequency = round(s.grid_frequency * 100)
            sgs.active_power = round(m.ac_power_w * 10)
            sgs.current = round(m.ac_power_w / max(s.grid_voltage, 1.0) * 100)
            sgs.power_factor = 1000
            sgs.temperature = round(m.temperature * 10)
            sgs.power_limit = m.limit_per_mille
            sgs.link_status = 1
            for p in m.ports:
                pv = reply.pv_data.add()
                pv.serial_number = m.serial
                pv.port_number = p.number
                power = round(p.power_w * 10)
                pv.voltage = round(p.voltage * 10)
                pv.current = round(p.power_w / p.voltage * 100) if p.voltage > 0 else 0
                pv.power = power
                pv.energy_total = int(p.total_wh)
                pv.energy_daily = int(p.daily_wh)
                self.last.setdefault(proto.serial_text(m.serial), {})[p.number] = {
                    "power": power,
                    "energy_total": pv.energy_total,
                    "energy_daily": pv.energy_daily,
                }
        # the DTU's own totals: the sum of its ports, as it reports them
        reply.dtu_power = total_power
        reply.dtu_daily_energy = total_daily
        return reply


def build_model(plant: Plant, inverters: int, seed: int) -> DTUModel:
    rng = random.Random(seed)
    micros = []
    for i in range(inverters):
        four = i % 2 == 1
        prefix = 0x1164 if four else 0x1144  # HMS-1600/1800/2000-4T, HMS-1000-2T (the library's tables)
        serial = (prefix << 32) | (0x10000000 + i * 0x1111)
        ports = [
            Port(n, rng.uniform(0.8, 1.0), total_wh=rng.uniform(50_000, 900_000)) for n in range(1, 5 if four else 3)
        ]
        micros.append(Micro(serial, 1800.0 if four else 1000.0, ports))
    return DTUModel(plant, micros, rng)


@dataclass
class Faults:
    drop: int | None = 0  # connections still to drop (None: always)
    night: bool = False

    def take_drop(self) -> bool:
        if self.drop is None:
            return True
        if self.drop > 0:
            self.drop -= 1
            return True
        return False


@dataclass
class DTUServer:
    model: DTUModel
    host: str
    port: int
    min_interval: float = 1.0
    log_file: TextIO | None = None
    faults: Faults = field(default_factory=Faults)
    events: list[dict[str, Any]] = field(default_factory=list)
    server: asyncio.Server | None = None
    open_conn: int | None = None
    closed_at: float | None = None
    conns: int = 0

    def event(self, kind: str, conn: int, **extra: Any) -> None:
        ev = {"event": kind, "conn": conn, "t": time.monotonic(), **extra}
        self.events.append(ev)
        del self.events[:-2000]
        if self.log_file is not None:
            self.log_file.write(json.dumps(ev) + "\n")
            self.log_file.flush()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, self.host, self.port, reuse_address=True)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def night(self, on: bool) -> None:
        self.faults.night = on
        if on and self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        elif not on and self.server is None:
            await self.start()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conns += 1
        conn = self.conns
        now = time.monotonic()
        peer = writer.get_extra_info("peername")
        # every simulator's line per connection (sim/stream.py), whatever the DTU then does with it
        log.info("client %s connected", f"{peer[0]}:{peer[1]}" if peer else "?")
        try:
            if self.open_conn is not None:
                self.event("busy", conn, open=self.open_conn)
                return
            if self.closed_at is not None and now - self.closed_at < self.min_interval:
                self.event("too_soon", conn, after=round(now - self.closed_at, 3))
                return
            self.open_conn = conn
            self.event("open", conn)
            try:
                await self.serve(conn, reader, writer)
            finally:
                self.open_conn = None
                self.closed_at = time.monotonic()
                self.event("close", conn)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def serve(self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readexactly(HEADER), 10.0)
            length = struct.unpack(">H", head[8:10])[0]
            body = await asyncio.wait_for(reader.readexactly(max(0, length - HEADER)), 10.0)
        except (asyncio.IncompleteReadError, TimeoutError, OSError):
            return  # a port probe, or a client that gave up
        frame = head + body
        tag = frame[2:4]
        if self.faults.take_drop():
            self.event("dropped", conn, tag=tag.hex())
            return
        out = self.respond(frame)
        if out is None:
            self.event("unknown", conn, tag=tag.hex())
            return
        writer.write(out)
        await writer.drain()
        self.event("answer", conn, tag=tag.hex())

    def respond(self, frame: bytes) -> bytes | None:
        """The answer frame to one request frame (the library's parser and framer), or None."""
        from hoymiles_wifi.const import CMD_COMMAND_RES_DTO, CMD_REAL_RES_DTO
        from hoymiles_wifi.dtu import DTU
        from hoymiles_wifi.protobuf import CommandPB_pb2, RealDataNew_pb2

        codec = DTU("sim")
        tag = frame[2:4]
        sequence = struct.unpack(">H", frame[4:6])[0]
        if tag == CMD_REAL_RES_DTO:
            request = codec.parse_response(frame, RealDataNew_pb2.RealDataNewResDTO, False)
            if request is None:
                return None
            if request.cp == 0:  # a new poll: the plant moves on (further packages are of this one)
                self.model.step()
            message = self.model.answer(int(request.cp))
        elif tag == CMD_COMMAND_RES_DTO:
            request = codec.parse_response(frame, CommandPB_pb2.CommandResDTO, False)
            if request is None:
                return None
            try:
                percent, serials = proto.parse_limit_command(request)
            except Exception:
                return None
            for m in self.model.micros:
                if not serials or proto.serial_text(m.serial) in serials:
                    m.limit_per_mille = percent * 10
            message = CommandPB_pb2.CommandReqDTO()
            message.dtu_sn = DTU_SERIAL
            message.time = int(time.time())
            message.action = request.action
            message.tid = request.tid
            message.err_code = 0
        else:
            return None
        codec.sequence = (sequence - 1) & 0xFFFF  # generate_message counts on: the answer echoes it
        answer_tag = bytes([0xA2, tag[1]])  # the DTU answers 0xa2 nn to the app's 0xa3 nn
        return bytes(codec.generate_message(answer_tag, message, False, 0, 0))

    def control(self, line: str) -> str:
        words = line.split()
        if not words:
            return "error empty command"
        cmd, args = words[0].lower(), words[1:]
        if cmd == "fault" and args and args[0] == "drop":
            count = args[1] if len(args) > 1 else "1"
            self.faults.drop = None if count == "always" else int(count)
            return "ok"
        if cmd == "dark" and args and args[0] in ("on", "off"):
            self.model.dark = args[0] == "on"
            return "ok"
        if cmd == "dip":
            for m in self.model.micros:
                for p in m.ports:
                    p.daily_wh = 0.0
            return "ok"
        if cmd == "limit" and args:
            for m in self.model.micros:
                if proto.serial_text(m.serial) == args[0]:
                    return f"ok {m.limit_per_mille / 10:g}"
            return "error unknown inverter"
        if cmd == "log":
            return "ok " + json.dumps(self.events)
        if cmd == "answered":
            return "ok " + json.dumps(self.model.last)
        if cmd == "status":
            return f"ok connections={self.conns} night={self.faults.night} drop={self.faults.drop}"
        if cmd == "clear":
            self.faults.drop = 0
            self.model.dark = False
            return "ok"
        return f"error unknown command {cmd!r}"

    async def control_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").strip()
                words = text.split()
                if words[:1] == ["night"] and len(words) == 2 and words[1] in ("on", "off"):
                    await self.night(words[1] == "on")
                    reply = "ok"
                elif words[:1] == ["clear"]:
                    await self.night(False)
                    reply = self.control(text)
                else:
                    reply = self.control(text)
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="solarstack sim hoymiles", description="Simulated Hoymiles DTU")
    p.add_argument("--tcp", "--port", dest="port", type=tcp_port, default=10081, help="DTU port (0: any free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--control", type=tcp_port, default=None, help="control port (faults, the connection log)")
    p.add_argument("--inverters", type=int, default=2, help="microinverters behind the DTU (1-16)")
    p.add_argument("--min-interval", type=float, default=1.0, help="seconds between connections the DTU takes")
    p.add_argument("--log", default=None, help="append the connection log here (JSON lines)")
    p.add_argument("--seed", type=int, default=1, help="plant model seed (same seed, same day as the others)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--utc-offset", type=float, default=0.0, help="local time zone of the sun, hours")
    p.add_argument(
        "--start", default=None, help="local time of day the plant starts at, HH:MM (default: the clock's; tests: noon)"
    )
    return p


def _start(text: str | None, tz: tzinfo) -> datetime | None:
    """Today at HH:MM in `tz` (a test's sun does not depend on when it runs), or None."""
    if text is None:
        return None
    try:
        hour, minute = (int(x) for x in text.split(":"))
        return datetime.now(tz).replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError:
        raise ConfigError(f"--start {text!r}: give a local time of day as HH:MM, e.g. 12:00") from None


async def serve(args: argparse.Namespace) -> int:
    if not 1 <= args.inverters <= 16:
        raise ConfigError(f"--inverters {args.inverters}: give 1 to 16")
    if not math.isfinite(args.min_interval) or args.min_interval < 0:
        raise ConfigError("--min-interval must be 0 or more seconds")
    tz = timezone(timedelta(hours=args.utc_offset)) if args.utc_offset else UTC
    plant = Plant(seed=args.seed, speed=args.speed, start=_start(args.start, tz), config=PlantConfig(tz=tz))
    model = build_model(plant, args.inverters, args.seed)
    model.step()
    log_file = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115
    server = DTUServer(model, args.host, args.port, args.min_interval, log_file)
    port = await server.start()
    print(f"tcp://{args.host}:{port}", flush=True)
    control = None
    if args.control is not None:
        control = await asyncio.start_server(server.control_client, args.host, args.control, reuse_address=True)
        print(f"control tcp://{args.host}:{control.sockets[0].getsockname()[1]}", flush=True)
    # the same first line as every simulator's log (sim/stream.py): where it serves
    log.info("serving on tcp://%s:%d (a DTU with %d inverters)", args.host, port, len(model.micros))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if server.server is not None:
        server.server.close()
    if control is not None:
        control.close()
    if log_file is not None:
        log_file.close()
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        setup_logging_from(os.environ)
        return asyncio.run(serve(args))
    except (ConfigError, ValueError, OSError) as exc:
        print(f"solarstack sim hoymiles: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
