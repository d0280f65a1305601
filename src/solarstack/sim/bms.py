"""Simulators: a battery pack speaking JK serial (4E 57), Daly (A5) or VE.Direct text.

`solarstack sim bms --protocol jkserial|daly|vedirect (--pty [LINK] | --tcp PORT)`
prints the pty path or `tcp://127.0.0.1:PORT` as its first line of output, then serves
until SIGTERM / SIGINT. The pack's numbers come from the shared plant model
(sim/plant.py): cells drifting apart and balancing, temperatures, SOC and current
follow the sun and the house load, so the demo is coherent with the inverter.

The frames are built with the codecs' own frame builders from the wire layouts in
their docstrings; the codec tests hold the simulator honest against recorded frames
(a bug shared by our encoder and decoder would not survive them). The byte-stream
server, pacing and fault injection are sim/stream.py's; this module only knows the
protocols' sessions. It must not do I/O of its own beyond printing the endpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from solarstack.core.errors import ConfigError
from solarstack.core.log import setup_logging_from
from solarstack.protocols import daly, jkserial, vedirect
from solarstack.protocols.binary import checksum8
from solarstack.sim.faults import parse_fault
from solarstack.sim.pacing import Pacing
from solarstack.sim.plant import Plant, PlantState
from solarstack.sim.session import BaseSession
from solarstack.sim.stream import StreamServer
from solarstack.sim.tcp import tcp_port

PROTOCOLS = ("jkserial", "daly", "vedirect")
DEFAULT_BAUD = {"jkserial": 115200, "daly": 9600, "vedirect": 19200}
SENSORS = 2  # pack temperature probes


def _mv(v: float) -> int:
    return max(0, round(v * 1000))


def _jk_temperature(c: float) -> bytes:
    # vendor rule: values above 100 are negative with 100 as zero (101 = -1 °C)
    raw = round(c) if c >= 0 else 100 + round(-c)
    return raw.to_bytes(2, "big")


def jkserial_reply(s: PlantState, *, capacity_ah: float, runtime_min: int) -> bytes:
    """A read-all reply for the plant's pack (protocol version 1)."""
    cells = s.cell_voltages
    cell_bytes = b"".join(bytes([i + 1]) + _mv(v).to_bytes(2, "big") for i, v in enumerate(cells))
    amps = min(0x7FFF, round(abs(s.battery_current) * 100))
    current = amps | (0x8000 if s.battery_current > 0 else 0)
    status = 0b011 | (0b100 if any(s.balancing) else 0)
    regs = [
        (0x79, bytes([len(cell_bytes)]) + cell_bytes),
        (0x80, _jk_temperature(s.mosfet_celsius)),
        (0x81, _jk_temperature(s.pack_celsius[0])),
        (0x82, _jk_temperature(s.pack_celsius[1])),
        (0x83, round(s.battery_voltage * 100).to_bytes(2, "big")),
        (0x84, current.to_bytes(2, "big")),
        (0x85, bytes([max(0, min(100, round(s.soc)))])),
        (0x86, bytes([SENSORS])),
        (0x87, int(s.cycles).to_bytes(2, "big")),
        (0x89, round(s.cycles * capacity_ah).to_bytes(4, "big")),
        (0x8A, len(cells).to_bytes(2, "big")),
        (0x8B, b"\x00\x00"),
        (0x8C, status.to_bytes(2, "big")),
        (0x90, (3650).to_bytes(2, "big")),
        (0x93, (2700).to_bytes(2, "big")),
        (0x97, (200).to_bytes(2, "big")),
        (0x99, (100).to_bytes(2, "big")),
        (0x9B, (3400).to_bytes(2, "big")),
        (0x9D, b"\x01"),
        (0xAA, round(capacity_ah).to_bytes(4, "big")),
        (0xB6, runtime_min.to_bytes(4, "big")),
        (0xB7, b"11.XW_S11.26___"),
        (0xBA, b"solarstack-sim".ljust(24, b"\x00")),
        (0xC0, b"\x01"),
    ]
    return jkserial.encode_registers(regs)


def daly_replies(command: int, s: PlantState, *, capacity_ah: float) -> list[bytes]:
    """The reply frames to one Daly request (RS485/UART: only frames that carry data)."""
    cells = s.cell_voltages
    temps = s.pack_celsius
    if command == 0x90:
        raw_current = 30000 - round(s.battery_current * 10)  # most firmware: above 30000 = discharging
        v = round(s.battery_voltage * 10)
        data = v.to_bytes(2, "big") + v.to_bytes(2, "big") + raw_current.to_bytes(2, "big")
        data += round(s.soc * 10).to_bytes(2, "big")
        return [daly.reply(command, data)]
    if command == 0x91:
        hi = max(range(len(cells)), key=cells.__getitem__)
        lo = min(range(len(cells)), key=cells.__getitem__)
        data = _mv(cells[hi]).to_bytes(2, "big") + bytes([hi + 1]) + _mv(cells[lo]).to_bytes(2, "big")
        return [daly.reply(command, data + bytes([lo + 1, 0, 0]))]
    if command == 0x92:
        hi = max(range(len(temps)), key=temps.__getitem__)
        lo = min(range(len(temps)), key=temps.__getitem__)
        data = bytes([round(temps[hi]) + 40, hi + 1, round(temps[lo]) + 40, lo + 1]) + bytes(4)
        return [daly.reply(command, data)]
    if command == 0x93:
        state = 1 if s.battery_current > 0.1 else 2 if s.battery_current < -0.1 else 0
        remaining = round(s.soc / 100 * capacity_ah * 1000)
        return [daly.reply(command, bytes([state, 1, 1, 0]) + remaining.to_bytes(4, "big"))]
    if command == 0x94:
        data = bytes([len(cells), len(temps), int(s.battery_current > 0), int(s.load_power_w > 0), 0])
        return [daly.reply(command, data + int(s.cycles).to_bytes(2, "big") + b"\x00")]
    if command == 0x95:
        out = []
        for n in range(0, len(cells), daly.CELLS_PER_FRAME):
            group = cells[n : n + daly.CELLS_PER_FRAME]
            data = bytes([n // daly.CELLS_PER_FRAME + 1]) + b"".join(_mv(v).to_bytes(2, "big") for v in group)
            out.append(daly.reply(command, data.ljust(8, b"\x00")))
        return out
    if command == 0x96:
        data = bytes([1]) + bytes(round(t) + 40 for t in temps)
        return [daly.reply(command, data.ljust(8, b"\x00"))]
    if command == 0x97:
        mask = sum(1 << i for i, on in enumerate(s.balancing) if on)
        return [daly.reply(command, mask.to_bytes(8, "little"))]
    if command == 0x98:
        return [daly.reply(command, bytes(8))]
    return []


def vedirect_blocks(s: PlantState, *, capacity_ah: float) -> list[bytes]:
    """A SmartShunt's two blocks per second: readings, then history."""
    consumed_mah = -round((100 - s.soc) / 100 * capacity_ah * 1000)
    ttg = round(s.soc / 100 * capacity_ah / -s.battery_current * 60) if s.battery_current < -0.05 else -1
    main = [
        ("PID", "0xA389"),
        ("V", str(_mv(s.battery_voltage))),
        ("T", str(round(s.pack_celsius[0]))),
        ("I", str(round(s.battery_current * 1000))),
        ("P", str(round(s.battery_power_w))),
        ("CE", str(consumed_mah)),
        ("SOC", str(round(s.soc * 10))),
        ("TTG", str(ttg)),
        ("Alarm", "OFF"),
        ("Relay", "OFF"),
        ("AR", "0"),
        ("BMV", "SmartShunt 500A/50mV"),
        ("FW", "0414"),
        ("MON", "0"),
    ]
    history = [
        ("H1", str(-round(capacity_ah * 600))),
        ("H4", str(int(s.cycles))),
        ("H7", str(_mv(min(s.battery_voltage, 48.0)))),
        ("H8", str(_mv(max(s.battery_voltage, 55.0)))),
        ("H17", str(round(s.discharge_energy_kwh * 100))),
        ("H18", str(round(s.charge_energy_kwh * 100))),
    ]
    return [vedirect.encode(main), vedirect.encode(history)]


class PackModel:
    """The plant seen as one pack; shared by every client of one simulator process."""

    def __init__(self, plant: Plant, capacity_ah: float, started: float) -> None:
        self.plant = plant
        self.capacity_ah = capacity_ah
        self.started = started

    def state(self) -> PlantState:
        return self.plant.step()

    def runtime_min(self) -> int:
        return int((time.monotonic() - self.started) // 60)


class JkSerialSession(BaseSession):
    def __init__(self, pack: PackModel) -> None:
        self.pack = pack
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out = []
        for frame in jkserial.split_frames(self.buf):
            if len(frame) > 8 and frame[8] == jkserial.CMD_READ_ALL:
                out.append(
                    jkserial_reply(
                        self.pack.state(), capacity_ah=self.pack.capacity_ah, runtime_min=self.pack.runtime_min()
                    )
                )
        return out


class DalySession(BaseSession):
    def __init__(self, pack: PackModel) -> None:
        self.pack = pack
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out = []
        for frame in daly.split_frames(self.buf):
            if frame[1] not in (daly.HOST_RS485, daly.HOST_UART) or checksum8(frame[:12]) != frame[12]:
                continue  # a real BMS ignores frames not addressed from a host or damaged
            replies = daly_replies(frame[2], self.pack.state(), capacity_ah=self.pack.capacity_ah)
            if replies:
                out.append(b"".join(replies))
        return out


class VeDirectSession(BaseSession):
    """Talks unasked: both blocks every tick; what the host sends is ignored."""

    def __init__(self, pack: PackModel) -> None:
        self.pack = pack

    def tick(self, now: float) -> list[bytes]:
        return vedirect_blocks(self.pack.state(), capacity_ah=self.pack.capacity_ah)


def build_server(
    protocol: str,
    *,
    plant: Plant | None = None,
    pacing: Pacing | None = None,
    interval: float = 1.0,
) -> StreamServer:
    """A StreamServer for `protocol` (not yet listening: add_pty / add_tcp, then start)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    plant = plant or Plant()
    pack = PackModel(plant, plant.config.battery_ah, time.monotonic())
    sessions: dict[str, Callable[[], BaseSession]] = {
        "jkserial": lambda: JkSerialSession(pack),
        "daly": lambda: DalySession(pack),
        "vedirect": lambda: VeDirectSession(pack),
    }
    return StreamServer(sessions[protocol], pacing=pacing, tick=interval if protocol == "vedirect" else None)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="solarstack sim bms", description="Simulated BMS / battery monitor")
    ap.add_argument("--protocol", choices=PROTOCOLS, required=True)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", nargs="?", const="", metavar="LINK", help="serve on a pty (optional stable symlink)")
    where.add_argument("--tcp", type=tcp_port, metavar="PORT", help="serve on 127.0.0.1:PORT (0 = any free port)")
    ap.add_argument("--host", default="127.0.0.1", help="TCP address to bind")
    ap.add_argument("--control", type=tcp_port, metavar="PORT", help="control port (faults at run time)")
    ap.add_argument("--fault", action="append", default=[], help="crc|garbage|silence|disconnect[:N|always]")
    ap.add_argument("--baud", type=int, help="pace replies like a serial line at this speed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    ap.add_argument("--interval", type=float, default=1.0, help="VE.Direct block interval, seconds")
    args = ap.parse_args(argv)
    try:
        setup_logging_from(os.environ)
    except ConfigError as exc:
        print(f"solarstack sim bms: {exc}", file=sys.stderr)
        return 2

    plant = Plant(seed=args.seed, speed=args.speed)
    server = build_server(args.protocol, plant=plant, pacing=Pacing(baud=args.baud), interval=args.interval)
    for text in args.fault:
        try:
            fault, count = parse_fault(text)
        except ValueError as exc:
            ap.error(str(exc))
        server.set_fault(fault, count)
    if args.tcp is not None:
        port = server.add_tcp(args.host, args.tcp)
        print(f"tcp://{args.host}:{port}", flush=True)
    else:
        print(server.add_pty(args.pty or None), flush=True)
    if args.control is not None:
        print(f"control tcp://127.0.0.1:{server.add_control('127.0.0.1', args.control)}", flush=True)

    server.serve_until_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
