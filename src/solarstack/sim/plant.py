"""Simulators: the plant model — sun, house load, battery, inverter — behind every simulator.

One model drives the inverter, BMS, house and weather simulators so a demo is
coherent: the PV power the inverter reports is the power that charges the battery the
BMS reports. It is time-driven and deterministic when seeded: simulated time is
`start + (clock() - clock at start) * speed`, and the state advances in fixed
simulated ticks, so the same seed and the same simulated instant give the same state
however often `step()` is called. Without an explicit start, the start is the last
wall-clock boundary of ANCHOR_SECONDS/speed, so separate simulator processes with the
same seed and speed agree with each other. API: `Plant.step(now=None) -> PlantState` and
`Plant.snapshot() -> PlantState` (frozen); `Plant.controls` holds the inverter
settings the model obeys (output and charger priority, voltages, current limits).

Energy balance per tick (W, battery + = charging, all exact by construction):
    pv_power + grid_power = load_power + battery_power + loss_power

This module must not know any wire protocol or do any I/O.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

CELLS = 16
#: Without an explicit start, simulated time starts at the last multiple of this many
#: simulated seconds (see Plant.__init__).
ANCHOR_SECONDS = 3600.0
#: LiFePO4 open-circuit voltage per cell by state of charge (%), piecewise linear.
_OCV = ((0.0, 2.80), (5.0, 3.10), (10.0, 3.20), (20.0, 3.25), (50.0, 3.29), (80.0, 3.32), (95.0, 3.36), (100.0, 3.45))


class OutputPriority(StrEnum):
    UTILITY = "utility"  # POP00: utility first
    SOLAR = "solar"  # POP01: solar first, utility when PV falls short
    SBU = "sbu"  # POP02: solar, then battery, then utility


class ChargerPriority(StrEnum):
    UTILITY = "utility"  # PCP00: utility first
    SOLAR = "solar"  # PCP01: solar first (utility when there is no PV)
    SOLAR_UTILITY = "solar_utility"  # PCP02: both at once
    SOLAR_ONLY = "solar_only"  # PCP03: never from utility


class Mode(StrEnum):
    LINE = "line"
    BATTERY = "battery"
    FAULT = "fault"


@dataclass(frozen=True)
class Controls:
    """The inverter settings the plant obeys (the inverter simulator keeps them in step with setters)."""

    output_priority: OutputPriority = OutputPriority.SBU
    charger_priority: ChargerPriority = ChargerPriority.SOLAR
    back_to_grid_voltage: float = 48.0  # PBCV: below this, go to Line mode
    back_to_battery_voltage: float = 52.0  # PBDV: above this, back to Battery mode (0 = when full)
    cutoff_voltage: float = 42.0  # PSDV
    bulk_voltage: float = 56.4  # PCVV
    float_voltage: float = 54.0  # PBFT
    max_charging_current: float = 60.0  # MCHGC, A
    max_utility_charging_current: float = 30.0  # MUCHGC, A


@dataclass(frozen=True)
class PlantConfig:
    """What is installed: sizes and where it is (for the sun)."""

    pv_peak_w: float = 4000.0
    pv_voc: float = 400.0
    pv_vmp: float = 330.0
    battery_ah: float = 200.0
    battery_nominal_v: float = 48.0
    battery_resistance: float = 0.025  # ohm, whole pack: sag under load, rise when charging
    inverter_rated_w: float = 5000.0
    inverter_efficiency: float = 0.93  # DC -> AC and AC -> DC
    grid_voltage: float = 230.0
    grid_frequency: float = 50.0
    latitude: float = 45.0
    tz: tzinfo = UTC  # local time of the sun curve and the household
    base_load_w: float = 180.0
    initial_soc: float = 60.0


@dataclass(frozen=True)
class PlantState:
    """Everything a simulator reads, at one simulated instant (units in the names)."""

    time: datetime  # simulated local time
    irradiance_w_m2: float
    cloud_cover: float  # 0..1
    ambient_celsius: float
    # weather and house (the BME280 and Open-Meteo simulators read these)
    outdoor_humidity_percent: float
    pressure_hpa: float
    wind_kmh: float
    precipitation_mm_h: float
    indoor_celsius: float
    indoor_humidity_percent: float
    pv_power_w: float  # what the MPPT draws (curtailed when nothing can take it)
    pv_available_w: float
    pv_voltage: float
    pv_current: float
    load_power_w: float
    load_apparent_va: float
    load_percent: float
    grid_available: bool
    grid_power_w: float  # import, >= 0
    grid_voltage: float
    grid_frequency: float
    output_voltage: float
    output_frequency: float
    battery_power_w: float  # + charging
    battery_current: float  # + charging
    battery_voltage: float
    soc: float  # percent, 0..100
    loss_power_w: float
    mode: Mode
    charging_from_pv: bool
    charging_from_grid: bool
    inverter_celsius: float
    bus_voltage: float
    cell_voltages: tuple[float, ...]
    balancing: tuple[bool, ...]
    pack_celsius: tuple[float, float]
    mosfet_celsius: float
    warnings: frozenset[str]
    # energy counters since the plant started, kWh (only ever increase)
    pv_energy_kwh: float
    load_energy_kwh: float
    grid_energy_kwh: float
    charge_energy_kwh: float
    discharge_energy_kwh: float
    loss_energy_kwh: float
    cycles: float

    @property
    def cell_delta_v(self) -> float:
        return max(self.cell_voltages) - min(self.cell_voltages)


@dataclass
class _Appliance:
    name: str
    power_w: float
    until: datetime


@dataclass
class _Internal:
    """Mutable model state, private to Plant."""

    time: datetime
    soc: float
    cloud: float
    mode: Mode
    grid_up: bool = True
    grid_back_at: datetime | None = None
    fan_fault_until: datetime | None = None
    inverter_c: float = 25.0
    load_w: float = 0.0
    pressure: float = 1015.0
    wind: float = 8.0
    indoor_c: float = 21.0
    cell_offsets: list[float] = field(default_factory=list)  # SOC offset of each cell, percent
    appliances: list[_Appliance] = field(default_factory=list)
    energy_wh: dict[str, float] = field(default_factory=dict)
    throughput_ah: float = 0.0


class Plant:
    """The model. Not thread-safe: one owner steps it (the simulator's loop)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        speed: float = 1.0,
        start: datetime | None = None,
        clock: Callable[[], float] = time.time,
        config: PlantConfig | None = None,
        controls: Controls | None = None,
        tick_seconds: float = 5.0,
    ) -> None:
        if speed <= 0 or tick_seconds <= 0:
            raise ValueError("speed and tick_seconds must be positive")
        self.config = config or PlantConfig()
        self.controls = controls or Controls()
        self.speed = speed
        self.tick = timedelta(seconds=tick_seconds)
        self._clock = clock
        now = clock()
        if start is None:
            # Anchor simulated time to a wall-clock boundary, not to this process's start:
            # simulators with the same seed and speed (inverter, BMS, house) then show the
            # same plant at the same moment, even after one of them restarts in the window.
            window = max(1.0, ANCHOR_SECONDS / speed)
            self._clock0 = math.floor(now / window) * window
            begin = datetime.fromtimestamp(self._clock0, UTC)
        else:
            self._clock0 = now
            begin = start
        self._start = begin.astimezone(self.config.tz)
        self._rng = random.Random(seed)
        cells = [self._rng.gauss(0.0, 0.6) for _ in range(CELLS)]
        self._s = _Internal(
            time=self._start,
            soc=self.config.initial_soc,
            cloud=self._rng.uniform(0.0, 0.6),
            mode=Mode.BATTERY,
            load_w=self.config.base_load_w,
            cell_offsets=cells,
            energy_wh=dict.fromkeys(("pv", "load", "grid", "charge", "discharge", "loss"), 0.0),
        )
        self._state = self._evaluate(self._s.time, advance=False)
        self.step(now)  # catch up from the anchor (at most ANCHOR_SECONDS simulated)

    # -- public ----------------------------------------------------------------------

    def sim_time(self, now: float | None = None) -> datetime:
        """The simulated instant for a clock reading (default: the clock now)."""
        elapsed = ((self._clock() if now is None else now) - self._clock0) * self.speed
        return self._start + timedelta(seconds=max(0.0, elapsed))

    def step(self, now: float | None = None) -> PlantState:
        """Advance to the simulated instant for clock reading `now`; returns the new state."""
        target = self.sim_time(now)
        while self._s.time + self.tick <= target:
            self._s.time += self.tick
            self._state = self._evaluate(self._s.time, advance=True)
        return self._state

    def snapshot(self) -> PlantState:
        return self._state

    def set_controls(self, **changes: object) -> Controls:
        """Change inverter settings (a setter was applied); the state is re-evaluated at once."""
        self.controls = replace(self.controls, **changes)  # type: ignore[arg-type]
        # Re-decide the mode and flows now (a real inverter switches within a second), same instant.
        self._state = self._evaluate(self._s.time, advance=False)
        return self.controls

    # -- the physics ---------------------------------------------------------------------

    def _sun(self, t: datetime) -> float:
        """Clear-sky irradiance, W/m², from solar elevation (declination + hour angle)."""
        doy = t.timetuple().tm_yday
        hours = t.hour + t.minute / 60 + t.second / 3600
        decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365)
        lat = math.radians(self.config.latitude)
        hour_angle = math.radians(15.0 * (hours - 12.0))
        sin_elev = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
        if sin_elev <= 0:
            return 0.0
        return 1000.0 * math.pow(sin_elev, 1.15)

    def _load(self, t: datetime, rng: random.Random) -> float:
        """Household: base + morning and evening peaks + appliances switched on at random."""
        c = self.config
        h = t.hour + t.minute / 60
        morning = 450.0 * math.exp(-(((h - 7.5) / 0.8) ** 2))
        evening = 900.0 * math.exp(-(((h - 19.5) / 1.6) ** 2))
        s = self._s
        s.appliances = [a for a in s.appliances if a.until > t]
        dt_h = self.tick.total_seconds() / 3600
        awake = 6.5 <= h <= 23.0
        # (name, W, minutes, switch-ons per waking hour)
        for name, watts, minutes, per_hour in (
            ("kettle", 2000.0, 3, 0.25),
            ("microwave", 1100.0, 4, 0.15),
            ("washing_machine", 600.0, 70, 0.03),
            ("fridge", 120.0, 20, 1.5),
        ):
            rate = per_hour if (awake or name == "fridge") else 0.0
            if rng.random() < rate * dt_h and not any(a.name == name for a in s.appliances):
                s.appliances.append(_Appliance(name, watts, t + timedelta(minutes=minutes)))
        noise = rng.gauss(0.0, 15.0)
        return max(50.0, c.base_load_w + morning + evening + sum(a.power_w for a in s.appliances) + noise)

    def _evaluate(self, t: datetime, *, advance: bool) -> PlantState:
        c, k, s = self.config, self.controls, self._s
        rng = self._rng
        dt = self.tick.total_seconds() if advance else 0.0
        dt_h = dt / 3600
        if advance:
            # Clouds: a mean-reverting random walk, so cloudy spells last a while.
            s.cloud = min(1.0, max(0.0, s.cloud + 0.02 * (0.35 - s.cloud) + rng.gauss(0.0, 0.04)))
            # Grid outages: rare, short.
            if s.grid_up and rng.random() < dt_h / 72:
                s.grid_up, s.grid_back_at = False, t + timedelta(minutes=rng.uniform(2, 40))
            elif not s.grid_up and s.grid_back_at is not None and t >= s.grid_back_at:
                s.grid_up, s.grid_back_at = True, None
            # Weather drifts slowly; the house follows the outside with a lag of hours.
            s.pressure = min(1040.0, max(985.0, s.pressure + 0.02 * (1015.0 - s.pressure) * dt_h + rng.gauss(0, 0.05)))
            s.wind = min(80.0, max(0.0, s.wind + 0.1 * (8.0 + 20.0 * s.cloud - s.wind) * dt_h * 6 + rng.gauss(0, 0.3)))
            if s.fan_fault_until is None and rng.random() < dt_h / 200:
                s.fan_fault_until = t + timedelta(minutes=rng.uniform(5, 30))
            elif s.fan_fault_until is not None and t >= s.fan_fault_until:
                s.fan_fault_until = None
        clear = self._sun(t)
        irradiance = clear * (1.0 - 0.75 * s.cloud)
        doy = t.timetuple().tm_yday
        hours = t.hour + t.minute / 60
        ambient = 14.0 - 8.0 * math.cos(2 * math.pi * (doy - 20) / 365) + 5.0 * math.sin(math.pi * (hours - 9) / 12)
        # PV derates ~0.4 %/K above 25 °C cell temperature (cells run ~25 K above ambient in full sun).
        cell_c = ambient + 25.0 * irradiance / 1000
        pv_available = c.pv_peak_w * irradiance / 1000 * (1.0 - 0.004 * max(0.0, cell_c - 25.0))
        load = self._load(t, rng) if advance else s.load_w
        s.load_w = load

        soc = s.soc
        v_ocv = self._ocv(soc) * CELLS
        eff = c.inverter_efficiency
        # How much the battery can take (W): current limit, tapering over the last 5 % (CV phase).
        taper = min(1.0, max(0.0, (100.0 - soc) / 5.0))
        accept_w = k.max_charging_current * v_ocv * taper
        if soc >= 99.9:
            accept_w = 0.0

        # Mode: Line when the grid is preferred or the battery is low (hysteresis on voltage).
        v_est = v_ocv  # decisions use resting voltage, so a kettle's sag does not flap the mode
        if s.mode is Mode.BATTERY and (v_est < k.back_to_grid_voltage or soc <= 5.0):
            low = True
        elif s.mode is Mode.LINE and s.grid_up:
            back = k.back_to_battery_voltage
            low = not ((back == 0.0 and soc >= 99.0) or (back > 0 and v_est >= back))
        else:
            low = False
        if not s.grid_up:
            mode = Mode.BATTERY if soc > 0.5 else Mode.FAULT
        elif k.output_priority is OutputPriority.UTILITY:
            mode = Mode.LINE
        elif k.output_priority is OutputPriority.SOLAR:
            mode = Mode.BATTERY if pv_available * eff >= load and not low else Mode.LINE
        else:
            mode = Mode.LINE if low else Mode.BATTERY
        s.mode = mode

        pv_used = grid = battery = 0.0
        from_grid_charge = 0.0
        if mode is Mode.BATTERY:
            need_dc = load / eff
            pv_to_load = min(pv_available, need_dc)
            surplus = pv_available - pv_to_load
            pv_charge = min(surplus, accept_w)
            pv_used = pv_to_load + pv_charge
            battery = pv_charge - (need_dc - pv_to_load)
        elif mode is Mode.LINE:
            pv_charge = min(pv_available, accept_w)
            utility_ok = k.charger_priority in (ChargerPriority.UTILITY, ChargerPriority.SOLAR_UTILITY) or (
                k.charger_priority is ChargerPriority.SOLAR and pv_available < 1.0
            )
            if utility_ok:
                from_grid_charge = min(k.max_utility_charging_current * v_ocv * taper, accept_w - pv_charge)
                from_grid_charge = max(0.0, from_grid_charge) if soc < 99.9 else 0.0
            # PV left after charging offsets the load (through the inverter).
            pv_to_load = min(pv_available - pv_charge, load / eff)
            pv_used = pv_charge + pv_to_load
            battery = pv_charge + from_grid_charge
            grid = (load - pv_to_load * eff) + from_grid_charge / eff
        else:  # FAULT: no grid, empty battery, output off
            load = 0.0
            pv_used = pv_charge = min(pv_available, accept_w)
            battery = pv_charge
        # Never below empty: the inverter cuts off.
        if battery < 0 and soc <= 0.0:
            battery = 0.0
        loss = pv_used + grid - load - battery

        current = battery / v_ocv if v_ocv > 0 else 0.0
        v_batt = v_ocv + current * c.battery_resistance
        if advance:
            s.soc = min(100.0, max(0.0, soc + current * dt_h / c.battery_ah * 100.0))
            s.throughput_ah += abs(current) * dt_h
            e = s.energy_wh
            e["pv"] += pv_used * dt_h
            e["load"] += load * dt_h
            e["grid"] += grid * dt_h
            e["charge"] += max(0.0, battery) * dt_h
            e["discharge"] += max(0.0, -battery) * dt_h
            e["loss"] += loss * dt_h
            throughput = abs(load) + abs(battery)
            target_c = ambient + 8.0 + 30.0 * throughput / c.inverter_rated_w + (10.0 if s.fan_fault_until else 0.0)
            s.inverter_c += (target_c - s.inverter_c) * min(1.0, dt / 600)
            self._balance(current, dt)

        if advance:
            # Heating/cooling holds the house near 21 °C; the sun through the windows adds some.
            indoor_target = 21.0 + 0.15 * (ambient - 15.0) + 1.5 * irradiance / 1000
            s.indoor_c += (indoor_target - s.indoor_c) * min(1.0, dt / 7200)
        outdoor_rh = min(100.0, max(15.0, 75.0 - 2.0 * (ambient - 12.0) + 20.0 * s.cloud))
        pv_voltage, pv_current = self._pv_electrics(irradiance, pv_used, pv_available, cell_c)
        cells = self._cells(s.soc, current)
        balancing = self._balancing_flags(cells, current)
        pack = ambient + 3.0 + abs(current) * 0.05
        warnings = self._warnings(s, mode, load, v_batt, s.soc)
        apparent = load / 0.92
        out_v = c.grid_voltage if mode is Mode.LINE else 230.0
        return PlantState(
            time=t,
            irradiance_w_m2=irradiance,
            cloud_cover=s.cloud,
            ambient_celsius=ambient,
            outdoor_humidity_percent=outdoor_rh,
            pressure_hpa=s.pressure,
            wind_kmh=s.wind,
            precipitation_mm_h=max(0.0, (s.cloud - 0.8) * 20.0),
            indoor_celsius=s.indoor_c,
            indoor_humidity_percent=min(70.0, max(30.0, 0.5 * outdoor_rh + 10.0)),
            pv_power_w=pv_used,
            pv_available_w=pv_available,
            pv_voltage=pv_voltage,
            pv_current=pv_current,
            load_power_w=load,
            load_apparent_va=apparent,
            load_percent=min(100.0 * apparent / c.inverter_rated_w, 999.0),
            grid_available=s.grid_up,
            grid_power_w=grid,
            grid_voltage=(c.grid_voltage + rng.gauss(0, 1.0) if advance else c.grid_voltage) if s.grid_up else 0.0,
            grid_frequency=c.grid_frequency if s.grid_up else 0.0,
            output_voltage=out_v if mode is not Mode.FAULT else 0.0,
            output_frequency=c.grid_frequency if mode is not Mode.FAULT else 0.0,
            battery_power_w=battery,
            battery_current=current,
            battery_voltage=v_batt,
            soc=s.soc,
            loss_power_w=loss,
            mode=mode,
            charging_from_pv=pv_used > 0 and battery > 0 and (battery - from_grid_charge) > 0.5,
            charging_from_grid=from_grid_charge > 0.5,
            inverter_celsius=s.inverter_c,
            bus_voltage=380.0 if mode is not Mode.FAULT else 0.0,
            cell_voltages=cells,
            balancing=balancing,
            pack_celsius=(pack, pack + 0.6),
            mosfet_celsius=pack + abs(current) * 0.03,
            warnings=warnings,
            pv_energy_kwh=s.energy_wh["pv"] / 1000,
            load_energy_kwh=s.energy_wh["load"] / 1000,
            grid_energy_kwh=s.energy_wh["grid"] / 1000,
            charge_energy_kwh=s.energy_wh["charge"] / 1000,
            discharge_energy_kwh=s.energy_wh["discharge"] / 1000,
            loss_energy_kwh=s.energy_wh["loss"] / 1000,
            cycles=s.throughput_ah / (2 * c.battery_ah),
        )

    @staticmethod
    def _ocv(soc: float) -> float:
        soc = min(100.0, max(0.0, soc))
        for (s0, v0), (s1, v1) in itertools.pairwise(_OCV):
            if soc <= s1:
                return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)
        return _OCV[-1][1]

    def _pv_electrics(self, irradiance: float, used: float, available: float, cell_c: float) -> tuple[float, float]:
        """Array voltage and current: near Vmp under MPPT, towards Voc when curtailed, ~0 at night."""
        c = self.config
        if irradiance < 1.0:
            return 0.0, 0.0
        temp = 1.0 - 0.0035 * (cell_c - 25.0)
        voc = c.pv_voc * temp * (0.9 + 0.1 * min(1.0, irradiance / 200))
        vmp = c.pv_vmp * temp * (0.92 + 0.08 * min(1.0, irradiance / 600))
        fraction = used / available if available > 0 else 0.0
        volts = vmp + (voc - vmp) * (1.0 - fraction)
        return volts, used / volts if volts > 0 else 0.0

    def _cells(self, soc: float, current: float) -> tuple[float, ...]:
        r_cell = self.config.battery_resistance / CELLS
        return tuple(round(self._ocv(soc + off) + current * r_cell, 3) for off in self._s.cell_offsets)

    def _balance(self, current: float, dt: float) -> None:
        """Cells drift a little; near full charge the balancer pulls the high ones down."""
        offs = self._s.cell_offsets
        for i in range(CELLS):
            offs[i] += self._rng.gauss(0.0, 0.002) * math.sqrt(dt)
        if current > 0 and self._s.soc > 90.0:
            mean = sum(offs) / CELLS
            for i in range(CELLS):
                if offs[i] > mean + 0.1:
                    offs[i] -= min(offs[i] - mean, 0.0005 * dt)

    def _balancing_flags(self, cells: tuple[float, ...], current: float) -> tuple[bool, ...]:
        if current <= 0 or self._s.soc <= 90.0:
            return (False,) * CELLS
        mean = sum(cells) / CELLS
        return tuple(v > mean + 0.005 for v in cells)

    def _warnings(self, s: _Internal, mode: Mode, load: float, v_batt: float, soc: float) -> frozenset[str]:
        """Named conditions; the inverter simulator maps them to QPIWS bits."""
        k = self.controls
        w: set[str] = set()
        if not s.grid_up:
            w.add("line_fail")
        if soc < 20.0 or v_batt < k.back_to_grid_voltage + 0.5:
            w.add("battery_low")
        if soc <= 0.5:
            w.add("battery_under_shutdown")
        if load > self.config.inverter_rated_w:
            w.add("overload")
        if s.inverter_c > 70.0:
            w.add("over_temperature")
        if s.fan_fault_until is not None:
            w.add("fan_locked")
        if mode is Mode.FAULT:
            w.add("inverter_fault")
        return frozenset(w)
