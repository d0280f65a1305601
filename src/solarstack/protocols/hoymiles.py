"""Protocols layer: the Hoymiles DTU's real-time data and power-limit command, as data.

Pure: what the DTU's protobuf answer means (`decode`) and how a power-limit command is
built (`limit_command`). The framing (the "HM" header, command tags, sequence, CRC-16/MODBUS
over the protobuf body, port 10081) and the protobuf classes are the `hoymiles-wifi`
library's (PyPI, MIT): we never re-implement them. No I/O, no logging setup.

The answer to `RealDataNew` (request tag 0xa3 0x11, `RealDataNew_pb2.RealDataNewReqDTO`):

    device_serial_number  the DTU's serial (text)     firmware_version  the DTU's (int)
    dtu_power             the DTU's total, 0.1 W       dtu_daily_energy  the DTU's today, Wh
    sgs_data[]            one per single-phase microinverter (SGSMO):
        serial_number (int; its hex digits are the label's serial), voltage 0.1 V,
        frequency 0.01 Hz, active_power 0.1 W, current 0.01 A, temperature 0.1 °C,
        power_limit 0.1 %, warning_number, link_status
    pv_data[]             one per PV port (PvMO): serial_number (the inverter's), port_number
        (from 1), voltage 0.1 V, current 0.01 A, power 0.1 W, energy_total Wh, energy_daily Wh

Scales are those of the hoymiles-wifi Home Assistant integration (suaveolent/ha-hoymiles-wifi, its
sensor table's `conversion_factor`), which reads the same messages from real DTUs.

What we publish per device (the reader's devices: the DTU and one per microinverter, see
devices/hoymiles.py):

    DTU           dtu_power (the DTU's own figure, diagnostic); the totals over its inverters
                  (pv_power, ac_power, pv_energy, pv_energy_today) are summed by the reader
    microinverter ac_power, grid_voltage, grid_frequency, ac_current, temperature, power_limit,
                  warning_count, link_status, serial_number; pv_power (the sum of its ports);
                  per port N: pvN_voltage, pvN_current, pvN_power, pvN_energy (lifetime kWh)
                  and pvN_energy_today

The energy keys come out of `decode` as the DTU's own counters in kWh; the device's energy
counters (core/energy.py, `meter`) hold them so that they never go down and restart at
local midnight, whatever the DTU's daily counter does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from solarstack.core.errors import ProtocolError
from solarstack.core.fields import Field, FieldTable, Kind, Value

PROTOCOL = "hoymiles"
#: The one read command: the DTU's real-time data of every inverter and port.
COMMAND = "realdata"
#: The DTU's port (hoymiles_wifi.const.DTU_PORT).
PORT = 10081
#: CommandPB action of a persistent power limit (hoymiles_wifi.const.CMD_ACTION_LIMIT_POWER).
ACTION_LIMIT_POWER = 8
#: Power limit, percent of the inverter's rating: below 2 % Hoymiles inverters do not regulate.
LIMIT_MIN, LIMIT_MAX = 2, 100


class Source(NamedTuple):
    """One protobuf attribute read into one field: value = raw * field.scale."""

    attr: str
    field: Field


def _f(key: str, unit: str | None, scale: float, precision: int, **kw: Any) -> Field:
    return Field(key, kind=Kind.FLOAT, unit=unit, scale=scale, precision=precision, **kw)


#: The DTU's own figures (RealDataNewReqDTO). Its total power is shown for comparison only:
#: the site's flow roles are on the reader's totals, summed over the inverters.
DTU: tuple[Source, ...] = (
    Source("dtu_power", _f("dtu_power", "W", 0.1, 1, diagnostic=True, group="pv", label="DTU reported power")),
)

#: One microinverter (SGSMO). No flow roles: the DTU's totals carry them (no double count).
INVERTER: tuple[Source, ...] = (
    Source("active_power", _f("ac_power", "W", 0.1, 1, group="output", label="AC power")),
    Source("voltage", _f("grid_voltage", "V", 0.1, 1, group="grid")),
    Source("frequency", _f("grid_frequency", "Hz", 0.01, 2, group="grid")),
    Source("current", _f("ac_current", "A", 0.01, 2, group="output", label="AC current")),
    Source("temperature", _f("temperature", "°C", 0.1, 1, role="temperature", group="temperature")),
    Source(
        "power_limit",
        _f("power_limit", "%", 0.1, 1, group="status", role="rating", label="Power limit", icon="mdi:speedometer"),
    ),
    Source(
        "warning_number",
        Field("warning_count", kind=Kind.INT, diagnostic=True, group="warnings", label="Warnings", state_class=None),
    ),
    Source("link_status", Field("link_status", kind=Kind.INT, diagnostic=True, group="link", state_class=None)),
)
SERIAL = Field("serial_number", kind=Kind.TEXT, diagnostic=True, group="status")
#: The sum of the inverter's ports (what the DTU's totals add up).
PV_POWER = _f("pv_power", "W", 1.0, 1, group="pv", label="PV power")


def port_sources(n: int) -> tuple[Source, ...]:
    """Port `n`'s live values (PvMO)."""
    return (
        Source("voltage", _f(f"pv{n}_voltage", "V", 0.1, 1, group="pv", label=f"PV{n} voltage")),
        Source("current", _f(f"pv{n}_current", "A", 0.01, 2, group="pv", label=f"PV{n} current")),
        Source("power", _f(f"pv{n}_power", "W", 0.1, 1, group="pv", label=f"PV{n} power")),
    )


def port_energy_keys(n: int) -> tuple[str, str]:
    """Port `n`'s lifetime and today's energy keys (kWh): the DTU's counters in `decode`'s
    values, our held counters in what the reader publishes."""
    return f"pv{n}_energy", f"pv{n}_energy_today"


def serial_text(serial: int) -> str:
    """An inverter's serial as on its label: the hex digits of the protobuf integer."""
    return f"{serial:x}"


class Inverter(NamedTuple):
    """One microinverter of a DTU answer: its serial, its ports and its values."""

    serial: str
    ports: tuple[int, ...]
    values: dict[str, Value]
    firmware: int = 0  # its own firmware version number (hoymiles_wifi.hoymiles.generate_sw_version_string)


class Answer(NamedTuple):
    """The DTU's answer, decoded."""

    dtu_serial: str
    firmware: int
    values: dict[str, Value]  # the DTU's own figures
    inverters: tuple[Inverter, ...]


def _walk(msg: Any, sources: Sequence[Source]) -> dict[str, Value]:
    out: dict[str, Value] = {}
    for s in sources:
        raw = getattr(msg, s.attr)
        if s.field.kind is Kind.INT:
            out[s.field.key] = int(raw)
        else:
            value = float(raw) * s.field.scale
            out[s.field.key] = round(value, s.field.precision) if s.field.precision is not None else value
    return out


def inverter_table(ports: Sequence[int]) -> FieldTable:
    """Every row a microinverter with `ports` publishes from `decode` (energy rows are the
    counters', core/energy.py)."""
    rows = [SERIAL, *(s.field for s in INVERTER), PV_POWER]
    for n in ports:
        rows += [s.field for s in port_sources(n)]
    return tuple(rows)


def dtu_table() -> FieldTable:
    return tuple(s.field for s in DTU)


def decode(reply: Any) -> Answer:
    """A `RealDataNewReqDTO` (merged over its packages) to values; ProtocolError when it is not one."""
    try:
        dtu_serial = str(reply.device_serial_number)
        firmware = int(reply.firmware_version)
        dtu = _walk(reply, DTU)
        ports: dict[int, list[Any]] = {}
        for pv in reply.pv_data:
            ports.setdefault(int(pv.serial_number), []).append(pv)
        inverters: list[Inverter] = []
        for sgs in reply.sgs_data:
            serial = int(sgs.serial_number)
            values = _walk(sgs, INVERTER)
            values[SERIAL.key] = serial_text(serial)
            own = sorted(ports.get(serial, []), key=lambda p: int(p.port_number))
            total_w = 0.0
            lifetime = today = 0.0
            for pv in own:
                n = int(pv.port_number)
                live = _walk(pv, port_sources(n))
                values.update(live)
                power = live[f"pv{n}_power"]
                total_w += float(power) if isinstance(power, int | float) else 0.0
                life_key, today_key = port_energy_keys(n)
                values[life_key] = int(pv.energy_total) / 1000.0
                values[today_key] = int(pv.energy_daily) / 1000.0
                lifetime += int(pv.energy_total) / 1000.0
                today += int(pv.energy_daily) / 1000.0
            values[PV_POWER.key] = round(total_w, 1)
            values["pv_energy"] = round(lifetime, 3)
            values["pv_energy_today"] = round(today, 3)
            ports_of = tuple(int(p.port_number) for p in own)
            inverters.append(Inverter(serial_text(serial), ports_of, values, int(sgs.firmware_version)))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ProtocolError(f"not a real-data answer: {exc}") from None
    if not dtu_serial:
        raise ProtocolError("real-data answer without the DTU's serial number")
    return Answer(dtu_serial, firmware, dtu, tuple(inverters))


def limit_command(percent: int, serial: str, now: float | None = None) -> Any:
    """The `CommandResDTO` that sets inverter `serial`'s persistent power limit to `percent`
    (the library's `async_set_power_limit` text `A:<per mille>,B:0,C:0`, addressed to one
    inverter through `mi_to_sn` rather than to every inverter of the DTU)."""
    from hoymiles_wifi.protobuf import CommandPB_pb2

    if not LIMIT_MIN <= percent <= LIMIT_MAX:
        raise ValueError(f"power limit {percent} % is outside {LIMIT_MIN}..{LIMIT_MAX}")
    stamp = int(time.time() if now is None else now)
    request = CommandPB_pb2.CommandResDTO()
    request.time = stamp
    request.action = ACTION_LIMIT_POWER
    request.package_nub = 1
    request.tid = stamp
    request.data = f"A:{percent * 10},B:0,C:0\r"
    request.mi_to_sn.append(int(serial, 16))
    return request


def parse_limit_command(request: Any) -> tuple[int, tuple[str, ...]]:
    """(percent, serials) of a power-limit `CommandResDTO` (the simulator's side of it);
    ProtocolError for anything else."""
    if int(request.action) != ACTION_LIMIT_POWER:
        raise ProtocolError(f"not a power-limit command (action {request.action})")
    fields: Mapping[str, str] = dict(part.split(":", 1) for part in str(request.data).strip().split(",") if ":" in part)
    try:
        per_mille = int(fields["A"])
    except (KeyError, ValueError):
        raise ProtocolError(f"power-limit command without a limit: {request.data!r}") from None
    return per_mille // 10, tuple(serial_text(int(s)) for s in request.mi_to_sn)
