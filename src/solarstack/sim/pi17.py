"""Simulators: a virtual PI17 inverter on its real wire format, driven by the plant model.

`solarstack sim inverter --protocol pi17 …` (sim/inverter.py: the same options, transport,
pacing, faults and control port as the PI30 simulator). A single-phase 5 kW Infini-Solar
with two PV inputs; the S and T phases read 0. Replies are built with the PI17 codec
(`format_fields`, `reply_frame`, `ack_frame`: a plain CRC, which may contain a CR byte),
but what the device *does* is this module's own:

  * a request is `^P` (query) or `^S` (setter), three digits counting the bytes after
    them, the text, on the energy-of-a-period queries the three-digit decimal sum, `\\r`,
    and no CRC. Anything else — a wrong length or sum, an unknown command, a query sent
    as `^S` or a setter as `^P` — is answered `^0`;
  * every query the codec knows is answered from the plant's state and the unit's settings;
    PS leaves its battery power empty, as every recorded unit does (`ps_battery_power=True`
    fills it, as the PDF describes);
  * setters follow the unit's own rules: charge voltages and the charging current within
    its MAR ranges, every battery voltage within the PDFs' 40.0-60.0 V, BDCM 10-300 A, and
    — as the front panel refuses them; neither PDF nor our setter code checks it — a float
    voltage above the bulk voltage, or a cut-off "back" voltage not above its cut-off.

`setter_log` records the setter texts that arrived and whether each was ACKed. A session
splits requests at `\\r` (requests carry no CRC, so a CR only ends them); faults look like
PI17's (`^0`, a flipped payload byte). Must not import devices/ or services/.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Value
from solarstack.protocols import pi17
from solarstack.protocols.pi17 import enums
from solarstack.sim.inverter import Pi30Session, Refused, WireCount
from solarstack.sim.plant import ChargerPriority, Mode, OutputPriority, Plant, PlantState

SERIAL = "96161704100242"
#: Every battery voltage a setter takes, V (both PDFs: `400~600` in 0.1 V).
VOLTS = (40.0, 60.0)
#: Hybrid-mode discharge current, A (BDCM: "range: 10~300").
DISCHARGE_AMPS = (10, 300)
#: Utility charging current, A: the PDFs give no range; mpp-solar's digits allow 0-299.9.
UTILITY_AMPS = (0.0, 300.0)

RATINGS: Mapping[str, Value] = {  # PIRI, the 2016 PDF's 11 fields
    "rated_grid_voltage": 230.0,
    "rated_input_frequency": 50.0,
    "rated_input_current": 21.7,
    "rated_ac_output_voltage": 230.0,
    "rated_ac_output_current": 21.7,
    "rated_mppt_current": 18.0,
    "rated_battery_voltage": 48.0,
    "mppt_strings": 2,
    "machine_type": "hybrid",
    "topology": "transformerless",
    "parallel_output_enabled": False,
}
MODEL: Mapping[str, Value] = {  # MD
    "model": "infini_solar_wp",
    "rated_ac_output_apparent_power": 5000,
    "rated_power_factor": 1.0,
    "ac_input_phases": 1,
    "ac_output_phases": 1,
    "rated_ac_output_voltage": 230.0,
    "rated_grid_voltage": 230.0,
    "battery_count": 4,
    "battery_unit_voltage": 12.0,
}
DEFAULT_BATTERY: Mapping[str, Value] = {  # BATS, the 2016 PDF's 18 fields
    "max_charging_current": 60.0,
    "battery_bulk_voltage": 56.4,
    "battery_float_voltage": 54.0,
    "float_stop_charging_current": 2.0,
    "float_stop_charging_delay": 60,
    "float_recharge_voltage": 52.0,
    "battery_under_voltage": 42.0,
    "battery_under_back_voltage": 46.0,
    "battery_weak_voltage": 48.0,
    "battery_weak_back_voltage": 52.0,
    "battery_type": "ordinary",
    "ac_charger_keep_voltage_enabled": False,
    "ac_charger_keep_voltage": 54.0,
    "battery_temperature_compensation": 0.0,
    "max_ac_charging_current": 30.0,
    "max_hybrid_discharging_current": 150,
}
DEFAULT_ENERGY_CONTROL: Mapping[str, Value] = {  # HECS
    "solar_power_priority": "load_battery_utility",
    "solar_charge_battery": True,
    "ac_charge_battery": True,
    "feed_to_grid": False,
    "battery_to_load_when_solar_ok": True,
    "battery_to_load_when_solar_lost": True,
    "battery_to_grid_when_solar_ok": False,
    "battery_to_grid_when_solar_lost": False,
}
DEFAULT_FLAGS: Mapping[str, bool] = {key: key == "wide_ac_input_range" for _, key in enums.FLAG_LETTERS}
#: MAR: this unit's setting ranges (upper and lower limit of each), a 5 kW 48 V unit.
RANGES: Mapping[str, Value] = {
    "feed_voltage_high_max": 264.5,
    "feed_voltage_high_min": 230.0,
    "feed_voltage_low_max": 230.0,
    "feed_voltage_low_min": 184.0,
    "feed_frequency_high_max": 52.0,
    "feed_frequency_high_min": 50.0,
    "feed_frequency_low_max": 50.0,
    "feed_frequency_low_min": 47.5,
    "feed_wait_time_max": 900,
    "feed_wait_time_min": 5,
    "pv_voltage_high_max": 500.0,
    "pv_voltage_high_min": 350.0,
    "pv_voltage_low_max": 150.0,
    "pv_voltage_low_min": 90.0,
    "mppt_voltage_high_max": 450.0,
    "mppt_voltage_high_min": 300.0,
    "mppt_voltage_low_max": 150.0,
    "mppt_voltage_low_min": 100.0,
    "charge_voltage_max": 58.4,
    "charge_voltage_min": 48.0,
    "charging_current_max": 120.0,
    "charging_current_min": 10.0,
    "feed_power_max": 5000,
    "feed_power_min": 0,
}
_MODE = {Mode.LINE: "hybrid", Mode.BATTERY: "battery", Mode.FAULT: "fault"}
#: The plant's warning names -> WS fields.
_WARNINGS = {
    "line_fail": "ac_input_voltage_loss",
    "battery_low": "battery_low",
    "battery_under_shutdown": "battery_under",
    "overload": "overload",
    "over_temperature": "over_temperature",
}
_DISCHARGE_VOLTAGES = (
    "battery_under_voltage",
    "battery_under_back_voltage",
    "battery_weak_voltage",
    "battery_weak_back_voltage",
)


class HourlyLedger:
    """PV energy by hour (Wh) since the simulator started: what the dated energy queries
    of PI17 and PI16 add up."""

    def __init__(self) -> None:
        self.wh: dict[datetime, float] = {}
        self._last_kwh = 0.0

    def add(self, state: PlantState) -> None:
        hour = state.time.replace(minute=0, second=0, microsecond=0)
        self.wh[hour] = self.wh.get(hour, 0.0) + (state.pv_energy_kwh - self._last_kwh) * 1000
        self._last_kwh = state.pv_energy_kwh

    def kwh(self, digits: str = "") -> float:
        """The PV energy of the period `digits` names (`2024`, `202401`, `2024011512`; all
        of it when empty), kWh to the Wh."""
        total = sum(wh for hour, wh in self.wh.items() if hour.strftime("%Y%m%d%H").startswith(digits))
        return round(total) / 1000.0


class Pi17Inverter(WireCount):
    """The virtual PI17 device: settings, flags, PV energy ledger and the plant it runs on.

    One instance is shared by every connection (a TCP reconnect sees the same settings).
    """

    def __init__(self, plant: Plant, *, serial: str = SERIAL, ps_battery_power: bool = False) -> None:
        self.plant = plant
        self.serial = serial
        self.ps_battery_power = ps_battery_power
        self.battery: dict[str, Value] = dict(DEFAULT_BATTERY)
        self.energy_control: dict[str, Value] = dict(DEFAULT_ENERGY_CONTROL)
        self.flags: dict[str, bool] = dict(DEFAULT_FLAGS)
        self.ledger = HourlyLedger()
        WireCount.__init__(self)
        self._sync_plant()

    # -- wire level ----------------------------------------------------------------------

    def handle(self, request: bytes) -> bytes:
        """One request frame (up to its `\\r`) -> the reply frame."""
        self.requests += 1
        setter = False
        text = ""
        try:
            text = _unframe(request)
            spec = pi17.lookup(text)
            setter = not spec.read_only
            if setter:
                self.apply(spec.name, text[len(spec.name) :])
                reply = pi17.ack_frame(True)
            else:
                reply = pi17.reply_frame(self.payload(spec.name, text))
        except (Refused, ConfigError, ValueError, KeyError):
            # ValueError/KeyError: an argument the pattern let through but this unit cannot take.
            reply = pi17.ack_frame(False)
        self.counted(text, setter=setter, refused=reply == pi17.ack_frame(False))
        return reply

    def payload(self, name: str, command: str) -> str:
        text = pi17.format_fields(command, self.query(name, command))
        if name == "PS" and not self.ps_battery_power:
            fields = text.split(",")
            fields[2] = ""  # "reserved": empty on every recorded unit
            text = ",".join(fields)
        return text

    # -- queries -------------------------------------------------------------------------

    def step(self) -> PlantState:
        state = self.plant.step()
        self.ledger.add(state)
        return state

    def query(self, name: str, command: str) -> dict[str, Value]:
        s = self.step()
        fixed: Mapping[str, Mapping[str, Value]] = {
            "PI": {"protocol_id": "17"},
            "ID": {"serial_number": self.serial},
            "VFW": {"main_cpu_firmware": "00001.01"},
            "VFW2": {"secondary_cpu_firmware": "00001.01"},
            "MD": MODEL,
            "DM": {"machine_model": "050"},
            "PIRI": RATINGS,
            "BATS": self.battery,
            "HECS": self.energy_control,
            "FLAG": self.flags,
            "MAR": RANGES,
        }
        if name in fixed:
            return dict(fixed[name])
        if name == "GS":
            return self._gs(s)
        if name == "PS":
            return self._ps(s)
        if name == "MOD":
            return {"mode": _MODE[s.mode]}
        if name == "WS":
            flagged = {_WARNINGS[w] for w in s.warnings if w in _WARNINGS}
            return {key: key in flagged for key in enums.WARNINGS}
        if name == "T":
            return {"device_time": s.time.strftime("%Y%m%d%H%M%S")}
        if name == "ET":
            return {"pv_energy_total": float(int(self.ledger.kwh()))}  # whole kWh
        # EY / EM / ED / EH: the text carries the period's digits
        return {pi17.table(command)[0].key: self.ledger.kwh(command[2:])}

    def _gs(self, s: PlantState) -> dict[str, Value]:
        volts = s.output_voltage or 230.0
        return {
            "pv_input_voltage": round(s.pv_voltage, 1),
            "pv2_input_voltage": 0.0,
            "pv_input_current": round(s.pv_current, 2),
            "pv2_input_current": 0.0,
            "battery_voltage": round(s.battery_voltage, 1),
            "battery_capacity": round(s.soc),
            "battery_current": round(s.battery_current, 1),
            "ac_input_voltage": round(s.grid_voltage, 1),
            "ac_input_voltage_s": 0.0,
            "ac_input_voltage_t": 0.0,
            "ac_input_frequency": round(s.grid_frequency, 2),
            "ac_input_current": round(s.grid_power_w / (s.grid_voltage or 230.0), 1),
            "ac_input_current_s": 0.0,
            "ac_input_current_t": 0.0,
            "ac_output_voltage": round(s.output_voltage, 1),
            "ac_output_voltage_s": 0.0,
            "ac_output_voltage_t": 0.0,
            "ac_output_frequency": round(s.output_frequency, 2),
            "ac_output_current": round(s.load_apparent_va / volts, 1),
            "ac_output_current_s": 0.0,
            "ac_output_current_t": 0.0,
            "inner_temperature": round(s.inverter_celsius),
            "max_temperature": round(s.inverter_celsius + 3),
            "battery_temperature": round(s.pack_celsius[0]),
            "configuration_changed": False,
        }

    def _ps(self, s: PlantState) -> dict[str, Value]:
        load, grid = round(s.load_power_w), round(s.grid_power_w)
        charging, discharging = s.battery_current > 0.5, s.battery_current < -0.5
        return {
            "pv_input_power": round(s.pv_power_w),
            "pv2_input_power": 0,
            "battery_power": round(s.battery_power_w),
            "grid_power_r": grid,
            "grid_power_s": 0,
            "grid_power_t": 0,
            "grid_power": grid,
            "ac_output_active_power_r": load,
            "ac_output_active_power_s": 0,
            "ac_output_active_power_t": 0,
            "ac_output_active_power": load,
            "ac_output_apparent_power_r": round(s.load_apparent_va),
            "ac_output_apparent_power_s": 0,
            "ac_output_apparent_power_t": 0,
            "ac_output_apparent_power": round(s.load_apparent_va),
            "ac_output_load": round(s.load_percent),
            "ac_output_connected": s.mode is not Mode.FAULT,
            "pv_working": s.pv_power_w > 0,
            "pv2_working": False,
            "battery_power_direction": "charge" if charging else "discharge" if discharging else "idle",
            "converter_power_direction": "dc_to_ac" if s.mode is Mode.BATTERY else "ac_to_dc" if charging else "idle",
            "line_power_direction": "input" if grid > 0 else "idle",
        }

    # -- setters -------------------------------------------------------------------------

    def apply(self, name: str, arg: str) -> None:
        """Apply one setter (text already matched the command's pattern) or raise Refused."""
        bats = self.battery
        if name == "SEP":
            self.energy_control["solar_power_priority"] = enums.SOLAR_POWER_PRIORITY[arg]
        elif name == "ED":
            self.energy_control[dict(enums.ENERGY_FLAGS)[arg[0]]] = arg[1] == "1"
        elif name == "MCHGC":
            bats["max_charging_current"] = _within(name, int(arg) / 10, _range("charging_current"))
        elif name == "MUCHGC":
            bats["max_ac_charging_current"] = _within(name, int(arg) / 10, UTILITY_AMPS)
        elif name == "MCHGV":
            bulk, floating = (_within(name, int(v) / 10, _range("charge_voltage")) for v in arg.split(","))
            if floating > bulk:
                raise Refused(f"MCHGV: float {floating} V above bulk {bulk} V")
            bats["battery_bulk_voltage"], bats["battery_float_voltage"] = bulk, floating
        elif name == "BATDV":
            under, under_back, weak, weak_back = (_within(name, int(v) / 10, VOLTS) for v in arg.split(","))
            if under_back <= under or weak_back <= weak:
                raise Refused(f"BATDV {arg}: a back voltage not above its cut-off")
            bats.update(zip(_DISCHARGE_VOLTAGES, (under, under_back, weak, weak_back), strict=True))
        elif name == "BDCM":
            bats["max_hybrid_discharging_current"] = round(_within(name, int(arg), DISCHARGE_AMPS))
        elif name == "BT":
            bats["battery_type"] = enums.BATTERY_TYPE[arg]
        elif name in ("PE", "PD"):
            self.flags[dict(enums.FLAG_LETTERS)[arg]] = name == "PE"
        else:
            raise Refused(f"{name} not simulated")
        self._sync_plant()

    def _sync_plant(self) -> None:
        b, e = self.battery, self.energy_control
        from_grid = e["ac_charge_battery"] is True
        self.plant.set_controls(
            # the battery feeds the loads without solar: solar, battery, utility
            output_priority=OutputPriority.SBU if e["battery_to_load_when_solar_lost"] else OutputPriority.SOLAR,
            charger_priority=ChargerPriority.SOLAR if from_grid else ChargerPriority.SOLAR_ONLY,
            back_to_grid_voltage=b["battery_weak_voltage"],  # hybrid-mode cut-off: the grid takes over
            back_to_battery_voltage=b["battery_weak_back_voltage"],
            cutoff_voltage=b["battery_under_voltage"],
            bulk_voltage=b["battery_bulk_voltage"],
            float_voltage=b["battery_float_voltage"],
            max_charging_current=float(b["max_charging_current"]),  # type: ignore[arg-type]
            max_utility_charging_current=float(b["max_ac_charging_current"]),  # type: ignore[arg-type]
        )


def _unframe(request: bytes) -> str:
    """The command text of a well-formed request (its frame exactly what the codec sends
    for that text: `^P`/`^S` by kind, length, decimal sum), else Refused."""
    if not request.startswith((b"^P", b"^S")) or not request.endswith(b"\r") or len(request) < 7:
        raise Refused("not a PI17 request")
    rest = request[5:-1].decode("ascii", "replace")
    for text in (rest, rest[:-3]):  # the energy queries end in three digits of sum
        try:
            if pi17.encode(text) == request:
                return text
        except ConfigError:
            continue
    raise Refused(f"{request[:24]!r} is not a PI17 request this unit knows")


def _range(key: str) -> tuple[float, float]:
    return float(RANGES[f"{key}_min"]), float(RANGES[f"{key}_max"])  # type: ignore[arg-type]


def _within(name: str, value: float, bounds: tuple[float, float]) -> float:
    if not bounds[0] <= value <= bounds[1]:
        raise Refused(f"{name}: {value:g} outside {bounds[0]:g}-{bounds[1]:g}")
    return value


class Pi17Session(Pi30Session):
    """One client conversation (requests end at `\\r`); PI17's faults."""

    def corrupt(self, reply: bytes) -> bytes:
        # Flip bit 0 of the first payload byte (`^Dnnn` + payload), or of `1` in `^1`:
        # digits and letters stay printable, so only the CRC disagrees.
        i = 5 if reply.startswith(b"^D") and len(reply) > 8 else 1
        return reply[:i] + bytes([reply[i] ^ 0x01]) + reply[i + 1 :] if len(reply) > i + 3 else reply

    def nak(self) -> bytes | None:
        return pi17.ack_frame(False)

    def garbage(self, rng: random.Random) -> bytes:
        # Noise up to a `\r` (a bad frame, not a timeout); never a `^` start.
        noise = bytes(rng.choice([*range(0x01, 0x0D), *range(0x0E, 0x5E), *range(0x5F, 0x100)]) for _ in range(12))
        return noise + b"\r"
