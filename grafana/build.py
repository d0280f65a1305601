"""Grafana dashboards as code: `python grafana/build.py` writes grafana/dashboards/*.json.

Top layer (a build script next to the files it writes, like the compose file beside the
services). Every series a panel names comes from the project's own rows, never typed by
hand: Prometheus names are the catalogue's `metric` (core/catalog.py, over core/metrics.py
`metric_name`) of the readers' field tables, picked by role (`core.catalog.ROLES`,
`ENERGY_FLOWS`) and group; InfluxQL measurements and fields follow the collector's point
schema (measurement = the device kind, tag `device`, fields = the state's keys). A panel is a
few lines of data below; the helpers turn it into Grafana's JSON with a stable uid per
dashboard, and ids and positions that only move when panels do.

`--check` writes nothing and exits 1 when a committed file differs from what this produces
(tests/grafana/test_dashboards.py runs the same comparison): the JSON is never edited by hand.
It must not read the environment or open a network connection.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from solarstack.core import catalog
from solarstack.core.catalog import ENERGY_FLOWS, GROUPS
from solarstack.core.fields import UNITS, Field, FieldTable, Kind
from solarstack.core.metrics import is_counter, metric_name
from solarstack.services.registry import readers

OUT = Path(__file__).resolve().parent / "dashboards"
PROMETHEUS = {"type": "prometheus", "uid": "solarstack-prometheus"}
INFLUXDB = {"type": "influxdb", "uid": "solarstack-influxdb"}
#: What Grafana's schema migrations start from (Grafana 11.2, the compose image).
SCHEMA_VERSION = 39
TAGS = ["solarstack"]
# Grafana's own unit ids for the base units metrics carry (core/metrics.py: value * to_base).
_GRAFANA_UNITS = {
    "watts": "watt",
    "volts": "volt",
    "amperes": "amp",
    "voltamperes": "voltamp",
    "hertz": "hertz",
    "celsius": "celsius",
    "ratio": "percentunit",
    "seconds": "s",
    "hectopascals": "pressurehpa",
    "ohms": "ohm",
    "dbm": "dBm",
    "kilometres_per_hour": "velocitykmh",
    "millimetres": "lengthmm",
    "degrees": "degree",
    "watts_per_square_metre": "suffix: W/m²",
    "grams_per_cubic_metre": "suffix: g/m³",
}
KWH = UNITS["kWh"].to_base  # energy counters are joules in Prometheus; panels show kWh
FLOW_TITLES = {
    "pv": "PV",
    "load": "Load",
    "grid_import": "Grid import",
    "grid_export": "Grid export",
    "battery_charge": "Battery charge",
    "battery_discharge": "Battery discharge",
}
GROUP_TITLES = {"pv": "PV", "output": "AC output"}
POWER_ROLES = (("pv_power", "PV"), ("load_power", "Load"), ("grid_power", "Grid"), ("battery_power", "Battery"))


# --- what the readers report, by device kind ----------------------------------------------


def kind_fields() -> dict[str, FieldTable]:
    """Every field a device of each kind can put in its catalogue: the tables its reader
    polls plus its energy counters (services/reader.py `fields()` builds the same union)."""
    from solarstack.devices import hoymiles as hoymiles_device
    from solarstack.devices import openmeteo as openmeteo_device
    from solarstack.devices.bms import BATTERY_COUNTERS
    from solarstack.devices.bms_ble import LINK_FIELDS
    from solarstack.protocols import bme280, daly, hoymiles, jk02, jkserial, openmeteo, pi30, vedirect
    from solarstack.protocols.pi30.energy import PI30_COUNTERS

    counters = tuple(f for c in BATTERY_COUNTERS for f in c.fields())
    # the commands devices/pi30.py schedules (Pi30Device.schedule)
    pi30_polled = ("QPIGS", "QMOD", "QPIWS", "QPIRI", "QFLAG")
    return {
        "inverter": _unique(
            (*(f for c in pi30_polled for f in pi30.table(c)), *(f for c in PI30_COUNTERS for f in c.fields()))
        ),
        "battery": _unique(
            (*jkserial.READ_ALL, *daly.ALL_FIELDS, *jk02.table(jk02.TYPE_CELL_INFO), *LINK_FIELDS, *counters)
        ),
        "shunt": _unique((*vedirect.FIELDS, *counters)),
        "house": _unique(bme280.table(humidity=True, altitude=True)),  # legacy sensors reuse these rows
        "weather": _unique(
            (*openmeteo.CURRENT, *openmeteo.SERIES, openmeteo.STALE, *openmeteo.PV, *openmeteo_device.LEARNING)
        ),
        # a DTU: its own figures and the totals over its microinverters; a microinverter with
        # four ports (devices/hoymiles.py)
        "dtu": _unique((*hoymiles.dtu_table(), *hoymiles_device.TOTALS_FIELDS)),
        "microinverter": _unique(hoymiles_device.unit_fields((1, 2, 3, 4))),
    }


def _unique(fields: Iterable[Field]) -> FieldTable:
    seen: dict[str, Field] = {}
    for f in fields:
        seen.setdefault(f.key, f)
    return tuple(seen.values())


def kind_jobs() -> dict[str, str]:
    """Device kind -> the Prometheus job (= the registry's service name) whose reader serves it."""
    jobs: dict[str, str] = {}
    for service in readers():
        settings = importlib.import_module(service.module.rsplit(".", 1)[0] + ".settings")
        for kind in settings.KINDS:
            jobs[kind] = service.name
    return jobs


class Site:
    """The field tables and jobs the panels are built from, with the lookups panels need."""

    def __init__(self, fields: Mapping[str, FieldTable], jobs: Mapping[str, str]) -> None:
        self.fields = {k: v for k, v in fields.items() if k in jobs}  # a kind no reader serves: no panels
        self.jobs = jobs

    def with_role(self, role: str, kinds: Sequence[str]) -> list[Field]:
        return [f for k in kinds for f in self.fields.get(k, ()) if f.role == role]

    def field(self, kind: str, key: str) -> Field:
        for f in self.fields[kind]:
            if f.key == key:
                return f
        raise KeyError(f"no field {key!r} in the {kind} tables: the dashboards need it (grafana/build.py)")

    def kinds_with(self, role: str, kinds: Sequence[str] | None = None) -> list[str]:
        return [k for k in (self.fields if kinds is None else kinds) if self.with_role(role, [k])]

    def selector(self, fields: Iterable[Field], kinds: Sequence[str]) -> str:
        """One PromQL selector for the series of `fields`, scoped to the readers of `kinds`
        (house and weather both export `solarstack_temperature_celsius`)."""
        names = sorted({series(f) for f in fields})
        jobs = sorted({self.jobs[k] for k in kinds})
        if not names:
            raise ValueError("no field to select")
        job = f'job="{jobs[0]}"' if len(jobs) == 1 else f'job=~"{"|".join(jobs)}"'
        if len(names) == 1:
            return f"{names[0]}{{{job}}}"
        return f'{{__name__=~"{"|".join(names)}", {job}}}'

    def role_selector(self, role: str, kinds: Sequence[str]) -> str:
        found = self.kinds_with(role, kinds)
        return self.selector(self.with_role(role, found), found)


def series(f: Field) -> str:
    """The Prometheus series of a field: its catalogue's `metric`, as a reader publishes it."""
    metric = catalog.parse(catalog.build({"id": "x", "name": "x", "kind": "x"}, [f])).fields[f.key].metric
    # the catalogue names no series for text and enums: theirs is the `<key>_info{value=…}` gauge
    return metric or metric_name(f)


def grafana_unit(f: Field) -> str:
    if f.unit is None:
        return "none"
    return (
        "kwatth" if UNITS[f.unit].metric_suffix == "joules" else _GRAFANA_UNITS.get(UNITS[f.unit].metric_suffix, "none")
    )


def charted(f: Field) -> bool:
    """A live measurement worth a line: numeric, not a rating, flag, counter or array."""
    return (
        f.kind in (Kind.FLOAT, Kind.INT)
        and not f.diagnostic
        and f.role not in ("rating", "warning")
        and not is_counter(f)
        and f.attribute_of is None
    )


# --- Grafana JSON -------------------------------------------------------------------------


def prom(expr: str, legend: str = "") -> dict[str, Any]:
    return {"datasource": PROMETHEUS, "expr": expr, "legendFormat": legend or "__auto", "range": True}


def influxql(query: str, alias: str = "") -> dict[str, Any]:
    return {"datasource": INFLUXDB, "query": query, "rawQuery": True, "resultFormat": "time_series", "alias": alias}


def panel(
    kind: str,
    title: str,
    targets: Sequence[dict[str, Any]],
    *,
    unit: str = "none",
    width: int = 12,
    height: int = 8,
    description: str = "",
    options: Mapping[str, Any] | None = None,
    custom: Mapping[str, Any] | None = None,
    decimals: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One panel; ids, refIds and positions are filled in by `dashboard`."""
    datasource = targets[0]["datasource"] if targets else PROMETHEUS
    defaults: dict[str, Any] = {"unit": unit, "custom": dict(custom or {})}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": [dict(t) for t in targets],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": dict(options or {}),
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        **(extra or {}),
    }


def timeseries(title: str, targets: Sequence[dict[str, Any]], unit: str = "none", **kw: Any) -> dict[str, Any]:
    return panel(
        "timeseries",
        title,
        targets,
        unit=unit,
        custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"},
        options={"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        **kw,
    )


def bars(title: str, targets: Sequence[dict[str, Any]], unit: str = "none", **kw: Any) -> dict[str, Any]:
    return panel(
        "timeseries",
        title,
        targets,
        unit=unit,
        custom={"drawStyle": "bars", "fillOpacity": 80, "lineWidth": 1, "showPoints": "never"},
        options={"legend": {"displayMode": "table", "placement": "right", "calcs": ["sum"], "showLegend": True}},
        **kw,
    )


def stat(title: str, targets: Sequence[dict[str, Any]], unit: str = "none", **kw: Any) -> dict[str, Any]:
    return panel(
        "stat",
        title,
        targets,
        unit=unit,
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value"},
        **kw,
    )


def bargauge(title: str, targets: Sequence[dict[str, Any]], unit: str = "none", **kw: Any) -> dict[str, Any]:
    return panel(
        "bargauge",
        title,
        targets,
        unit=unit,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "basic",
        },
        **kw,
    )


def state_timeline(title: str, targets: Sequence[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return panel(
        "state-timeline",
        title,
        targets,
        options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
        **kw,
    )


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Sequence[dict[str, Any]],
    *,
    time_from: str = "now-6h",
    refresh: str = "30s",
    variables: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A dashboard with panels laid out left to right, top to bottom on Grafana's 24-column grid."""
    laid: list[dict[str, Any]] = []
    x = y = row_height = 0
    for number, p in enumerate(panels, start=1):
        grid = dict(p["gridPos"])
        if x + grid["w"] > 24:
            x, y, row_height = 0, y + row_height, 0
        grid.update(x=x, y=y)
        x += grid["w"]
        row_height = max(row_height, grid["h"])
        targets = [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(p["targets"])]
        laid.append({**p, "id": number, "gridPos": grid, "targets": targets})
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": TAGS,
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "annotations": {"list": []},
        "templating": {"list": list(variables)},
        "links": [
            {"type": "dashboards", "tags": TAGS, "asDropdown": True, "title": "solarstack", "icon": "external link"}
        ],
        "panels": laid,
    }


# --- the dashboards -----------------------------------------------------------------------


def _by_unit(fields: Iterable[Field]) -> dict[str, list[Field]]:
    out: dict[str, list[Field]] = {}
    for f in fields:
        out.setdefault(grafana_unit(f), []).append(f)
    return out


def group_panels(site: Site, kind: str, groups: Sequence[str] = GROUPS) -> list[dict[str, Any]]:
    """One chart per (group, unit) of a single-protocol kind, one line per field and device."""
    job = site.jobs[kind]
    out = []
    for group in groups:
        fields = [f for f in site.fields.get(kind, ()) if f.group == group and charted(f)]
        for unit, same in _by_unit(fields).items():
            # one query per chart: a field only some models send (PI30's solar_feed_to_grid_power)
            # leaves the others drawn; the `field` label carries each line's title
            expr = " or ".join(
                f'label_replace({series(f)}{{job="{job}"}}, "field", {json.dumps(f.title)}, "", "")' for f in same
            )
            targets = [prom(expr, "{{field}} {{device}}")]
            suffix = f" · {UNITS[same[0].unit].metric_suffix.replace('_', ' ')}" if len(_by_unit(fields)) > 1 else ""
            out.append(timeseries(f"{GROUP_TITLES.get(group, group.capitalize())}{suffix}", targets, unit))
    return out


def power_targets(site: Site) -> list[tuple[str, dict[str, Any]]]:
    """(label, target) per power role the inverter reports."""
    kinds = ["inverter"]  # the power flow as the inverter sees it: a BMS's battery power would count twice
    return [
        (label, prom(f"sum by (device) ({site.role_selector(role, kinds)})", f"{label} {{{{device}}}}"))
        for role, label in POWER_ROLES
        if site.kinds_with(role, kinds)
    ]


def today_targets(site: Site, kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Today's kWh per flow and device, from the counters that roll over at local midnight."""
    out = []
    for flow in ENERGY_FLOWS:
        role = f"{flow}_energy_today"
        found = site.kinds_with(role, kinds)
        if found:
            expr = f"sum by (device) ({site.role_selector(role, found)}) / {KWH:g}"
            out.append(prom(expr, f"{FLOW_TITLES[flow]} {{{{device}}}}"))
    return out


def overview(site: Site) -> dict[str, Any]:
    power = power_targets(site)
    soc = prom(site.role_selector("soc", site.kinds_with("soc")), "{{device}}")
    soc_unit = grafana_unit(site.with_role("soc", site.kinds_with("soc"))[0])
    panels = [
        *(stat(label, [t], "watt", width=4, height=4) for label, t in power),
        stat("Battery SOC", [soc], soc_unit, width=24 - 4 * len(power), height=4),
        timeseries(
            "Power flow",
            [t for _, t in power],
            "watt",
            width=16,
            height=10,
            description="Grid + import / - export; battery + charge / - discharge.",
        ),
        bargauge("Today's energy", today_targets(site), "kwatth", width=8, height=10, decimals=2),
        timeseries("State of charge", [soc], soc_unit, width=24, height=7),
    ]
    return dashboard(
        "solarstack-overview", "solarstack · Overview", "Power flow, state of charge and today's energy.", panels
    )


def inverter(site: Site) -> dict[str, Any]:
    kind = "inverter"
    warnings = site.role_selector("warning", [kind])
    mode = site.role_selector("mode", [kind])
    today = today_targets(site, [kind])
    panels = [
        state_timeline("Mode", [prom(f"max by (device, value) ({mode})", "{{device}} {{value}}")], width=12, height=5),
        stat("Active warnings", [prom(f"sum by (device) ({warnings})", "{{device}}")], width=4, height=5),
        bargauge("Energy today", today, "kwatth", width=8, height=5, decimals=2),
        *group_panels(site, kind, [g for g in GROUPS if g not in ("energy",)]),
        state_timeline("Warnings", [prom(warnings, "{{device}} {{__name__}}")], width=24, height=10),
    ]
    return dashboard("solarstack-inverter", "solarstack · Inverter", "Every live value the inverter reports.", panels)


def battery(site: Site) -> dict[str, Any]:
    kinds = site.kinds_with("soc", ["battery", "shunt"]) or ["battery"]
    cell_kinds = site.kinds_with("cell_voltage", kinds)
    cells = site.role_selector("cell_voltage", cell_kinds)
    alarms = site.role_selector("warning", site.kinds_with("warning", kinds))

    def role_chart(role: str, title: str, width: int = 12) -> dict[str, Any]:
        found = site.kinds_with(role, kinds)
        unit = grafana_unit(site.with_role(role, found)[0])
        return timeseries(title, [prom(site.role_selector(role, found), "{{device}}")], unit, width=width)

    panels = [
        role_chart("soc", "State of charge", 8),
        role_chart("battery_voltage", "Voltage", 8),
        role_chart("battery_current", "Current (+ charge)", 8),
        role_chart("battery_power", "Power (+ charge)"),
        timeseries(
            "Temperatures",
            [prom(site.role_selector("temperature", site.kinds_with("temperature", kinds)), "{{device}} {{__name__}}")],
            "celsius",
        ),
        panel(
            "heatmap",
            "Cell voltages (heat-map)",
            [prom(cells, "{{device}} {{cell}}")],
            unit="volt",
            width=12,
            description="How many cells sit at each voltage over time: one tight band is a balanced pack.",
            options={
                "calculate": True,
                "calculation": {"yBuckets": {"mode": "count", "value": "20"}},
                "color": {"mode": "scheme", "scheme": "Spectral", "steps": 64},
                "yAxis": {"unit": "volt", "decimals": 3},
                "cellGap": 0,
                "tooltip": {"show": True, "yHistogram": True},
            },
        ),
        timeseries(
            "Cell delta (max - min)",
            [prom(f"max by (device) ({cells}) - min by (device) ({cells})", "{{device}}")],
            "volt",
            decimals=3,
        ),
        timeseries("Cell voltages", [prom(cells, "{{device}} cell {{cell}}")], "volt", width=24, height=10, decimals=3),
        stat("Active alarms", [prom(f"sum by (device) ({alarms})", "{{device}}")], width=6, height=8),
        state_timeline("Alarms", [prom(alarms, "{{device}} {{__name__}}")], width=18, height=8),
    ]
    return dashboard(
        "solarstack-battery", "solarstack · Battery", "Packs: charge, cells, temperatures and alarms.", panels
    )


def house_weather(site: Site) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    house = site.kinds_with("indoor_temperature", ["house"])
    for role, title in (
        ("indoor_temperature", "Indoor temperature"),
        ("humidity", "Indoor humidity"),
        ("pressure", "Pressure"),
    ):
        found = site.kinds_with(role, house)
        if found:
            unit = grafana_unit(site.with_role(role, found)[0])
            panels.append(timeseries(title, [prom(site.role_selector(role, found), "{{device}}")], unit, width=8))
    if "weather" in site.fields:
        job = site.jobs["weather"]
        forecast_now = site.field("weather", "pv_forecast_power_now")
        forecast_today = site.field("weather", "pv_forecast_today")
        pv = site.role_selector("pv_power", site.kinds_with("pv_power"))
        pv_today = site.role_selector("pv_energy_today", site.kinds_with("pv_energy_today"))
        panels += [
            timeseries(
                "PV forecast vs actual",
                [
                    prom(f"sum({pv})", "Actual PV"),
                    prom(f'sum({series(forecast_now)}{{job="{job}"}})', "Forecast"),
                ],
                "watt",
                width=16,
                height=9,
            ),
            bargauge(
                "PV energy today: forecast vs actual",
                [
                    prom(f"sum({pv_today}) / {KWH:g}", "Actual"),
                    prom(
                        f'sum({series(forecast_today)}{{job="{job}"}}) / {to_base(forecast_today):g}',
                        "Forecast",
                    ),
                ],
                "kwatth",
                width=8,
                height=9,
                decimals=2,
            ),
            *group_panels(site, "weather", ["weather"]),
        ]
    return dashboard(
        "solarstack-house-weather",
        "solarstack · House & weather",
        "Indoor climate, the weather outside and the PV forecast against what the panels made.",
        panels,
    )


def to_base(f: Field) -> float:
    """What a field's value was multiplied by on its way into Prometheus."""
    return UNITS[f.unit].to_base if f.unit else 1.0


def health(site: Site) -> dict[str, Any]:
    rate = "[$__rate_interval]"
    polls = f"sum by (device) (rate(solarstack_polls_total{rate}))"
    written = f"sum(rate(solarstack_collector_points_written_total{rate}))"
    panels = [
        state_timeline("Scrape targets up", [prom("up", "{{job}}")], height=7),
        state_timeline("Devices answering", [prom("max by (device) (solarstack_device_up)", "{{device}}")], height=7),
        timeseries("Polls per second", [prom(polls, "{{device}}")], "reqps", width=8),
        timeseries(
            "Link errors per second by kind",
            # zero lines where a device never failed (the counter has no series until the first error)
            [
                prom(
                    f"sum by (device, kind) (rate(solarstack_poll_errors_total{rate})) or {polls} * 0",
                    "{{device}} {{kind}}",
                )
            ],
            "reqps",
            width=8,
            description="crc, nak, frame, timeout, disconnect … per device.",
        ),
        timeseries(
            "Reconnects (1 h)",
            [
                prom(
                    "sum by (device) (increase(solarstack_reconnects_total[1h])) or "
                    "max by (device) (solarstack_device_up) * 0",
                    "{{device}}",
                )
            ],
            width=8,
        ),
        timeseries(
            "Poll duration",
            [
                prom(
                    "histogram_quantile(0.95, sum by (device, le) "
                    f"(rate(solarstack_poll_duration_seconds_bucket{rate})))",
                    "p95 {{device}}",
                ),
                prom(
                    f"sum by (device) (rate(solarstack_poll_duration_seconds_sum{rate})) / "
                    f"sum by (device) (rate(solarstack_poll_duration_seconds_count{rate}))",
                    "mean {{device}}",
                ),
            ],
            "s",
        ),
        timeseries(
            "MQTT messages per second",
            [prom(f"sum by (job, path) (rate(solarstack_mqtt_messages_total{rate}))", "{{job}} {{path}}")],
            "ops",
        ),
        state_timeline("MQTT connected", [prom("solarstack_mqtt_connected", "{{job}} {{client}}")], width=8, height=7),
        timeseries("Reader spool depth", [prom("solarstack_spool_depth", "{{job}} {{client}}")], width=8, height=7),
        timeseries(
            "Spool drops (1 h)",
            [prom("sum by (job) (increase(solarstack_spool_dropped_total[1h]))", "{{job}}")],
            width=8,
            height=7,
        ),
        timeseries(
            "Collector lag behind the broker", [prom("solarstack_collector_lag_seconds", "{{instance}}")], "s", width=8
        ),
        timeseries("Collector points written per second", [prom(written, "points")], "ops", width=8),
        timeseries(
            "Collector spool (points on disk)", [prom("solarstack_collector_spool_points", "{{instance}}")], width=8
        ),
        timeseries(
            "Collector write latency",
            [
                prom(
                    f"histogram_quantile(0.95, sum by (le) (rate(solarstack_collector_write_seconds_bucket{rate})))",
                    "p95",
                )
            ],
            "s",
        ),
        timeseries(
            "Collector write errors per second",
            [prom(f"sum by (kind) (rate(solarstack_collector_write_errors_total{rate})) or {written} * 0", "{{kind}}")],
            "ops",
        ),
    ]
    return dashboard(
        "solarstack-health",
        "solarstack · System health",
        "Links to the devices, polls, the broker, spools and the collector.",
        panels,
        time_from="now-3h",
    )


def _names(names: Iterable[str]) -> str:
    """InfluxQL identifiers, double-quoted and comma-separated."""
    return ", ".join(f'"{n}"' for n in names)


def energy_history(site: Site) -> dict[str, Any]:
    """From InfluxDB in InfluxQL (1.x, 2.x through DBRP and 3 Core answer it): per flow, the
    spread (last - first) of the cumulative kWh counters the collector wrote."""
    tz = {
        "type": "textbox",
        "name": "tz",
        "label": "Time zone (days start at its midnight)",
        "query": "UTC",
        "current": {"text": "UTC", "value": "UTC"},
        "options": [{"selected": True, "text": "UTC", "value": "UTC"}],
        "hide": 0,
    }

    def flow_query(flow: str, group_by_time: bool) -> dict[str, Any] | None:
        role = f"{flow}_energy"
        kinds = site.kinds_with(role)
        if not kinds:
            return None
        # each counter key with the measurements (kinds) that carry it: PV is `pv_energy` on an
        # inverter and `yield_total` on a Victron MPPT; one subquery each renames it to `kwh`,
        # so a device gets one series, not a null column per other protocol's key
        sources: dict[str, list[str]] = {}
        for kind in kinds:
            for f in site.with_role(role, [kind]):
                sources.setdefault(f.key, []).append(kind)
        group = 'time(1d), "device" fill(none)' if group_by_time else '"device"'
        if len(sources) == 1:
            ((key, found),) = sources.items()
            source, column = _names(found), key
        else:
            subqueries = (
                f'(SELECT "{key}" AS "kwh" FROM {_names(found)} GROUP BY "device")' for key, found in sources.items()
            )
            source, column = ", ".join(sorted(subqueries)), "kwh"
        query = f'SELECT spread("{column}") AS "kwh" FROM {source} WHERE $timeFilter GROUP BY {group} tz(\'$tz\')'
        return influxql(query, f"{FLOW_TITLES[flow]} $tag_device")

    daily = [t for t in (flow_query(f, True) for f in ENERGY_FLOWS) if t]
    totals = [t for t in (flow_query(f, False) for f in ENERGY_FLOWS) if t]
    panels = [
        bars("Energy per day", daily, "kwatth", width=24, height=10, decimals=2),
        bargauge("Today", totals, "kwatth", width=8, height=9, decimals=1, extra={"timeFrom": "now/d"}),
        bargauge("This month", totals, "kwatth", width=8, height=9, decimals=1, extra={"timeFrom": "now/M"}),
        bargauge("This year", totals, "kwatth", width=8, height=9, decimals=0, extra={"timeFrom": "now/y"}),
    ]
    return dashboard(
        "solarstack-energy-history",
        "solarstack · Energy history",
        "kWh per flow by day, month and year, from InfluxDB (InfluxQL). Set the time zone to yours.",
        panels,
        time_from="now-30d",
        refresh="5m",
        variables=[tz],
    )


def build(site: Site | None = None) -> dict[str, dict[str, Any]]:
    """File name -> dashboard, for every dashboard solarstack ships."""
    site = site or Site(kind_fields(), kind_jobs())
    boards = (overview, inverter, battery, house_weather, health, energy_history)
    return {f"{b['uid'].removeprefix('solarstack-')}.json": b for b in (f(site) for f in boards)}


def render(board: Mapping[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a committed file differs")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the JSON goes (default {OUT})")
    args = parser.parse_args(argv)
    boards = {name: render(b) for name, b in build().items()}
    stale = sorted(
        name
        for name, text in boards.items()
        if not (args.out / name).is_file() or (args.out / name).read_text() != text
    )
    extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in boards) if args.out.is_dir() else []
    if args.check:
        for name in (*stale, *extra):
            print(f"grafana/dashboards/{name} is not what grafana/build.py makes: run python grafana/build.py")
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.out / name).write_text(boards[name])
    for name in extra:
        (args.out / name).unlink()
    print(f"{len(boards)} dashboards in {args.out} ({len(stale)} written, {len(extra)} removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
