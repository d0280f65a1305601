"""Devices layer: a Hoymiles DTU and its microinverters — `hoymiles+tcp://192.168.1.60?name=roof`.

The DTU (DTU-Pro, DTU-Lite-S, the built-in one of an HMS-W) answers on TCP 10081 (`:PORT`
overrides it: the simulator). The `hoymiles-wifi` library (PyPI, MIT) speaks to it: its `DTU`
class frames, sends and parses; `_Client` only changes the port it connects to, which the
library hard-codes. The library is asyncio and opens one connection per request, after at
least 2 s since the last one: this device runs each call to completion on its own event loop
in the reader's worker thread (the reader holds one lock per device), so there is one
connection per DTU at a time, never two, and a poll or a setting write never overlaps another.

What the reader publishes (devices/parallel.py, `Reading.units`): the DTU is the system
device — its own figures and the totals over its inverters (PV power, AC power, lifetime and
today's PV energy) — and each microinverter is a device of its own, `<dtu>_<serial>`,
`via_device` the DTU, with its grid values, temperature, power limit and per-port PV voltage,
current, power and energy (protocols/hoymiles.py). Inverters are known after the first answer.

Energy: every port's and inverter's lifetime kWh is the DTU's own counter, held by the
reader's counters (core/energy.py `meter`): never lower than before, and today's figure is
what it gained since local midnight, so a DTU daily counter that dips or resets at another
hour does not move ours.

Settings: `power_limit_<serial>`, percent 2..100, one per inverter, on the DTU (the DTU
takes the command and the inverter's value is read back from the next real-data answer). At
most `limit_writes` writes per inverter in any hour (URL option, HOYMILES_LIMIT_WRITES_PER_HOUR,
default 6): each one is written to the DTU's EEPROM; the service keeps the hour's writes in
STATE_DIR (`keep_writes_in`) so a restart does not reset the count. Every write is audited
(`solarstack.audit`).

A DTU that stops answering (the HMS-W's own DTU sleeps when its panels are dark) is told once
in the log: as expected at night when its last answer was dark (DARK_WATTS), as a warning
otherwise; the reader marks it offline until it answers again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from solarstack.core.device_url import DeviceURL
from solarstack.core.energy import Counter
from solarstack.core.errors import ConfigError, DeviceTimeout, ProtocolError, SettingError
from solarstack.core.fields import Field, FieldTable, Kind, Reading, Setting, Value
from solarstack.devices.base import Identity, OneCommand, SetResult
from solarstack.devices.parallel import ParallelSystem, Total, Unit
from solarstack.protocols import hoymiles as proto

log = logging.getLogger(__name__)
audit = logging.getLogger("solarstack.audit")

DEFAULT_TIMEOUT = 10.0
DEFAULT_LIMIT_WRITES = 6
#: PV power (W) at or below which a DTU that goes silent is taken to be asleep (the alert rules
#: in prometheus/rules/alerts.yml use the same threshold).
DARK_WATTS = 20.0
HOUR = 3600.0
LIMIT_PREFIX = "power_limit_"


def _total(key: str, unit: str, label: str, group: str, precision: int, **kw: Any) -> Field:
    return Field(key, kind=Kind.FLOAT, unit=unit, label=label, group=group, precision=precision, **kw)


#: The DTU's totals over its inverters (the reader sums them: devices/parallel.py).
TOTALS: tuple[Total, ...] = (
    Total("pv_power", _total("pv_power", "W", "PV power", "pv", 1, role="pv_power")),
    Total("ac_power", _total("ac_power", "W", "AC power", "output", 1)),
    Total(
        "pv_energy",
        _total("pv_energy", "kWh", "PV energy", "energy", 3, role="pv_energy", state_class="total_increasing"),
    ),
    Total(
        "pv_energy_today",
        _total(
            "pv_energy_today",
            "kWh",
            "PV energy today",
            "energy",
            3,
            role="pv_energy_today",
            state_class="total_increasing",
        ),
    ),
)


TOTALS_FIELDS: FieldTable = tuple(t.field for t in TOTALS)


def inverter_counters(ports: tuple[int, ...]) -> tuple[Counter, ...]:
    """The DTU's own counters of one inverter, held (core/energy.py `meter`): per port and the
    inverter's sum. No roles: the DTU's totals carry them (a site counts its PV once)."""
    rows = [Counter("pv_energy", "PV energy", (), meter="pv_energy", meter_today="pv_energy_today")]
    for n in ports:
        life, today = proto.port_energy_keys(n)
        rows.append(Counter(life, f"PV{n} energy", (), meter=life, meter_today=today))
    return tuple(rows)


def unit_fields(ports: tuple[int, ...]) -> FieldTable:
    """Every row of one inverter: the codec's and its counters' (kWh, the DTU's own), each
    port's together (a page lists them in this order)."""
    energy = {f.key: f for c in inverter_counters(ports) for f in c.fields()}
    rows: list[Field] = []
    for f in proto.inverter_table(ports):
        rows.append(f)
        if f.key == "pv_power" or (f.key.startswith("pv") and f.key.endswith("_power")):
            stem = f.key.removesuffix("_power")  # pv / pvN: its lifetime and today's energy next
            rows += [energy[f"{stem}_energy"], energy[f"{stem}_energy_today"]]
    return tuple(rows)


def _model(serial: str) -> str:
    """The inverter model its serial names (the library's tables: series-power-ports), or a plain word."""
    try:
        from hoymiles_wifi.hoymiles import get_inverter_power, get_inverter_series, get_inverter_type

        raw = bytes.fromhex(serial)
        return f"{get_inverter_series(raw).value}-{get_inverter_power(raw).value}-{get_inverter_type(raw).value}"
    except Exception:  # a prefix the library does not know yet
        return "Microinverter"


def _dtu_model(serial: str) -> str:
    try:
        from hoymiles_wifi.hoymiles import get_dtu_model_type

        return str(get_dtu_model_type(bytes.fromhex(serial[:4])).value)
    except Exception:
        return "DTU"


def _dtu_version(number: int) -> str | None:
    if not number:
        return None
    try:
        from hoymiles_wifi.hoymiles import generate_dtu_version_string

        return f"V{generate_dtu_version_string(number)}"
    except Exception:
        return str(number)


def _inverter_version(number: int) -> str | None:
    if not number:
        return None
    try:
        from hoymiles_wifi.hoymiles import generate_sw_version_string

        return f"V{generate_sw_version_string(number)}"
    except Exception:
        return str(number)


class _Client:
    """The library's `DTU` on a port of our choosing (it connects to 10081 whatever it is told)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        from hoymiles_wifi.dtu import DTU

        class PortDTU(DTU):  # type: ignore[misc]
            async def async_send_request(
                self,
                command: bytes,
                request: Any,
                response_type: Any,
                dtu_port: int = port,
                is_extended_format: bool = False,
                dtu_serial_number: int = 0,
                number: int = 0,
            ) -> Any:
                # every library call comes here with the library's DTU_PORT: ours instead
                return await super().async_send_request(
                    command, request, response_type, port, is_extended_format, dtu_serial_number, number
                )

        self.dtu = PortDTU(host, timeout=max(1, math.ceil(timeout)))

    def state(self) -> str:
        return str(self.dtu.get_state().name)


class HoymilesDTU(OneCommand):
    """One DTU and its microinverters (see module doc)."""

    protocol = proto.PROTOCOL
    command = proto.COMMAND
    kind = "dtu"
    energy_command = proto.COMMAND

    def __init__(
        self,
        device_id: str,
        host: str,
        port: int = proto.PORT,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        limit_writes: int = DEFAULT_LIMIT_WRITES,
        listed: tuple[str, ...] = (),
        clock: Any = time.time,
    ) -> None:
        self.id = device_id
        self.host = host
        self.port = port
        self.timeout = timeout
        self.limit_writes = limit_writes
        self._clock = clock
        self._client = _Client(host, port, timeout)
        self._answer: proto.Answer | None = None
        self._writes: dict[str, deque[float]] = {}  # wall-clock times of each inverter's writes
        self._writes_file: Path | None = None
        self._silent = False  # told the log it went quiet (once per silence)
        # `inverters=` on the URL: the serials the broker's ACL lets us publish (docs/hoymiles.md)
        self.listed = listed
        self._unlisted: set[str] = set()

    # -- what it is ---------------------------------------------------------------------

    def unit_id(self, serial: str) -> str:
        return f"{self.id}_{serial}"

    def serials(self) -> tuple[str, ...]:
        return tuple(i.serial for i in self._answer.inverters) if self._answer else ()

    def identify(self, values: Mapping[str, Value]) -> Identity:
        if self._answer is None:
            return Identity(manufacturer="Hoymiles", model="DTU")
        serial = self._answer.dtu_serial
        return Identity(
            manufacturer="Hoymiles",
            model=_dtu_model(serial),
            serial_number=serial,
            sw_version=_dtu_version(self._answer.firmware),
        )

    def parallel(self) -> ParallelSystem:
        """The DTU's inverters as units (none before the first answer)."""
        units = tuple(
            Unit(
                self.unit_id(inv.serial),
                inv.serial,
                self.unit_id(inv.serial),
                table=unit_fields(inv.ports),
                counters=inverter_counters(inv.ports),
                kind="microinverter",
                model=_model(inv.serial),
                sw_version=_inverter_version(inv.firmware),
            )
            for inv in (self._answer.inverters if self._answer else ())
        )
        return ParallelSystem(units, (), (), TOTALS, ())

    def table(self, command: str) -> FieldTable:
        self.check_command(command)
        limits = tuple(
            Field(
                f"{LIMIT_PREFIX}{s}",
                kind=Kind.FLOAT,
                unit="%",
                precision=1,
                diagnostic=True,
                group="status",
                label=f"Power limit {s}",
            )
            for s in self.serials()
        )
        return proto.dtu_table() + limits

    def settings(self) -> tuple[Setting, ...]:
        return tuple(
            Setting(
                f"{LIMIT_PREFIX}{s}",
                f"Power limit {s}",
                minimum=proto.LIMIT_MIN,
                maximum=proto.LIMIT_MAX,
                step=1,
                unit="%",
                readback=f"{LIMIT_PREFIX}{s}",
                readback_command=proto.COMMAND,
                icon="mdi:speedometer",
            )
            for s in self.serials()
        )

    # -- reading --------------------------------------------------------------------------

    def _call(self, coro: Any) -> Any:
        """One library call to completion on its own loop (we are in the reader's worker thread)."""
        return asyncio.run(coro)

    def _fetch(self) -> proto.Answer:
        reply = self._call(self._client.dtu.async_get_real_data_new())
        if reply is None:
            if self._client.state() == "Offline":  # no connection, or no answer in time
                self._went_quiet()
                raise DeviceTimeout(f"{self.id}: the DTU at {self.host}:{self.port} does not answer")
            raise ProtocolError(f"{self.id}: no valid real-data answer from the DTU at {self.host}:{self.port}")
        answer = proto.decode(reply)
        for inv in answer.inverters:
            if self.listed and inv.serial not in self.listed and inv.serial not in self._unlisted:
                self._unlisted.add(inv.serial)
                log.warning(
                    "%s: inverter %s is not in the URL's inverters=: the broker's ACL will refuse its topics;"
                    " add it to HOYMILES_DEVICES",
                    self.id,
                    inv.serial,
                )
        if self._silent:
            log.info("%s: the DTU answers again", self.id)
        self._silent = False
        self._answer = answer
        return answer

    def _went_quiet(self) -> None:
        """Say once per silence whether it is the night's (the last answer was dark) or not."""
        if self._silent or self._answer is None:
            return
        self._silent = True
        watts = sum(
            float(w) for i in self._answer.inverters if isinstance(w := i.values.get(proto.PV_POWER.key), int | float)
        )
        if watts <= DARK_WATTS:
            log.info(
                "%s: the DTU stopped answering after its panels went dark: expected at night;"
                " shown offline until it answers again",
                self.id,
            )
        else:
            log.warning("%s: the DTU stopped answering while its inverters made %.0f W", self.id, watts)

    def query(self, command: str) -> Reading:
        self.check_command(command)
        answer = self._fetch()
        return self.reading(answer, datetime.now(UTC))

    def reading(self, answer: proto.Answer, ts: datetime) -> Reading:
        """The DTU's reading of one answer, its inverters' readings inside (`Reading.units`)."""
        self._answer = answer
        units = tuple(
            Reading(self.unit_id(inv.serial), ts, dict(inv.values), unit_fields(inv.ports)) for inv in answer.inverters
        )
        values: dict[str, Value] = dict(answer.values)
        for inv in answer.inverters:
            values[f"{LIMIT_PREFIX}{inv.serial}"] = inv.values["power_limit"]
        return Reading(self.id, ts, values, self.table(proto.COMMAND), units=units)

    # -- the power limit ------------------------------------------------------------------

    def apply(self, setting: str, value: str) -> SetResult:
        what = f"{self.id}.{setting}={value!r}"[:120]
        try:
            serial, percent = self._check(setting, value)
            self._take_write(serial)
        except SettingError as exc:
            audit.warning("refused %s: %s", what, exc)
            return SetResult(False, setting, value if len(value) <= 64 else None, str(exc))
        audit.info("write %s: power limit of inverter %s to %d %%", what, serial, percent)
        try:
            answer = self._call(
                self._client.dtu.async_send_request(
                    proto_command(), proto.limit_command(percent, serial), command_reply_type()
                )
            )
            if answer is None:
                raise ProtocolError("the DTU did not acknowledge the command")
            readback = self._fetch()
        except Exception as exc:  # the device's answer, reported; the reader goes on
            audit.warning("failed %s: %s", what, exc)
            return SetResult(False, setting, percent, f"written, not confirmed: {exc}")
        now = next((i.values["power_limit"] for i in readback.inverters if i.serial == serial), None)
        back = {f"{LIMIT_PREFIX}{i.serial}": i.values["power_limit"] for i in readback.inverters}
        if not isinstance(now, int | float) or abs(float(now) - percent) > 0.5:
            audit.warning("failed %s: the inverter reports %s %% after the write", what, now)
            return SetResult(False, setting, percent, f"the inverter still reports {now} %", back)
        audit.info("done %s: the inverter reports %s %%", what, now)
        return SetResult(True, setting, percent, None, back)

    def _check(self, setting: str, value: str) -> tuple[str, int]:
        serial = setting[len(LIMIT_PREFIX) :] if setting.startswith(LIMIT_PREFIX) else ""
        if serial not in self.serials():
            allowed = ", ".join(s.key for s in self.settings()) or "none until the DTU has answered"
            raise SettingError(f"unknown setting {setting}; allowed: {allowed}")
        try:
            number = float(value.strip())
        except ValueError:
            raise SettingError(f"{setting}: {value!r} is not a number of percent") from None
        if not math.isfinite(number) or number != int(number):
            raise SettingError(f"{setting}: give a whole number of percent, got {value!r}")
        if not proto.LIMIT_MIN <= number <= proto.LIMIT_MAX:
            raise SettingError(f"{setting}: {value} % is outside {proto.LIMIT_MIN}..{proto.LIMIT_MAX} %")
        return serial, int(number)

    def _take_write(self, serial: str) -> None:
        """Count one write of `serial`'s limit, or refuse: at most `limit_writes` in any hour."""
        now = self._clock()
        done = self._writes.setdefault(serial, deque())
        while done and now - done[0] >= HOUR:
            done.popleft()
        if len(done) >= self.limit_writes:
            wait = math.ceil((HOUR - (now - done[0])) / 60)
            raise SettingError(
                f"rate limit: inverter {serial}'s power limit was written {len(done)} times in the last hour"
                f" (at most {self.limit_writes}: HOYMILES_LIMIT_WRITES_PER_HOUR; each write wears the DTU's"
                f" EEPROM); try again in {wait} min"
            )
        done.append(now)
        self._save_writes()

    def keep_writes_in(self, path: Path) -> None:
        """Where the writes of the last hour are kept (STATE_DIR): a restart, or a crash loop,
        must not reset the count that protects the DTU's EEPROM."""
        self._writes_file = path
        try:
            doc = json.loads(path.read_text())
            now = self._clock()
            for serial, stamps in doc.items():
                recent = sorted(float(t) for t in stamps if 0 <= now - float(t) < HOUR)
                self._writes[str(serial)] = deque(recent)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("%s: %s unreadable (%s): power-limit writes counted from now", self.id, path, exc)

    def _save_writes(self) -> None:
        if self._writes_file is None:
            return
        tmp = self._writes_file.with_suffix(".tmp")
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({s: list(d) for s, d in self._writes.items() if d}))
            os.replace(tmp, self._writes_file)
        except OSError as exc:  # the count stays in memory; the write itself went ahead
            log.warning("%s: cannot keep power-limit writes in %s: %s", self.id, self._writes_file, exc)

    def close(self) -> None:
        """Nothing stays open between calls (the library connects per request)."""


def proto_command() -> bytes:
    from hoymiles_wifi.const import CMD_COMMAND_RES_DTO

    return bytes(CMD_COMMAND_RES_DTO)


def command_reply_type() -> Any:
    from hoymiles_wifi.protobuf import CommandPB_pb2

    return CommandPB_pb2.CommandReqDTO


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> HoymilesDTU:
    if url.transport != "tcp":
        raise ConfigError(f"device URL {url.raw!r}: a Hoymiles DTU speaks tcp, e.g. hoymiles+tcp://192.168.1.60")
    host, port = url.host_port(proto.PORT)
    if not host:
        raise ConfigError(f"device URL {url.raw!r}: give the DTU's address, e.g. hoymiles+tcp://192.168.1.60")
    writes = url.int_option("limit_writes", DEFAULT_LIMIT_WRITES)
    if writes < 1:
        raise ConfigError(f"device URL {url.raw!r}: limit_writes must be 1 or more, got {writes}")
    return HoymilesDTU(
        url.name,
        host,
        port,
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
        limit_writes=writes,
        listed=tuple(s.strip().lower() for s in (url.option("inverters") or "").split(";") if s.strip()),
    )
