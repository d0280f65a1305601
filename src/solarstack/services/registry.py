"""Services layer: the registry — one row per service and per simulator solarstack ships.

DESIGN.md, "One registry". `solarstack run` offers SERVICES and `solarstack sim` SIMULATORS
(cli.py); `solarstack dev` starts them (dev.py). The static files that name services —
docker-compose.yml, prometheus/prometheus.yml, the broker's ACL (mosquitto/acl.template and
the reader loop in mosquitto/entrypoint.sh) and docs/services.md — are held to these rows by
tests/stack/test_registry.py, which names the file that lacks a service or names one too many.
Every image builds from the one services/Dockerfile with the row's `extra`.

A row is added when its code lands (the module must exist): a new reader is one row here, its
compose service, its scrape job, its name in the entrypoint's reader loop and a line in
docs/services.md.

Data only: it imports nothing from solarstack — the CLI reads it before any other module is
loaded, and `solarstack dev` must not import service code.
"""

from __future__ import annotations

from typing import NamedTuple


class Service(NamedTuple):
    """A long-running service: `solarstack run <name>`, one container, one MQTT user."""

    name: str  # `solarstack run <name>`; also its MQTT user and its Prometheus job
    module: str  # the entry point: `main(argv)` in this module
    extra: str  # the pyproject extra its image installs
    compose: str  # its docker-compose service name
    port: int  # /metrics /health /ready inside its container
    port_var: str = "METRICS_PORT"  # the variable that sets `port`
    devices_var: str | None = None  # readers: <NAME>_DEVICES; its device ids scope the reader's ACL
    folder: str | None = None  # services/<folder>/: files only this service needs (none do yet)
    # readers whose demo device needs no simulator process (the house sensor's fake I2C bus lives
    # in the reader): the URL `solarstack dev` and compose's default give it
    demo_devices: str | None = None

    @property
    def mqtt_user(self) -> str:
        return self.name

    @property
    def command(self) -> tuple[str, ...]:
        """The container's command (the image's entry point is `solarstack`)."""
        return ("run", self.name)


class Simulator(NamedTuple):
    """A simulated device: `solarstack sim <name>`, serving the real wire protocol over TCP."""

    name: str  # `solarstack sim <name>`
    module: str  # `main(argv)` in this module
    compose: str  # its service in compose's `demo` profile
    port: int  # its TCP port in the demo
    reader: str  # the service that polls it
    device: str  # the device id the demo gives it (`name=`), also its MQTT topic level
    protocol: str  # the protocol it speaks, first part of the reader's device URL
    args: tuple[str, ...] = ()  # simulator options before `--tcp`
    extra: str = "sim"
    transport: str = "tcp"  # second part of the reader's device URL (`http` for a web API)
    options: str = ""  # more device-URL options for the demo (`&`-joined), after `name=`

    def command(self, host: str, port: int | None = None) -> tuple[str, ...]:
        """Arguments after `solarstack`: serve on host:port (the demo port unless given)."""
        return ("sim", self.name, *self.args, "--tcp", str(self.port if port is None else port), "--host", host)

    def url(self, host: str, port: int | None = None) -> str:
        """The device URL its reader polls."""
        url = f"{self.protocol}+{self.transport}://{host}:{self.port if port is None else port}?name={self.device}"
        return f"{url}&{self.options}" if self.options else url


# In start order: readers first, the web last (it then sees retained state at once).
SERVICES: tuple[Service, ...] = (
    Service(
        "inverter", "solarstack.services.inverter.main", "inverter", "inverter", 9100, devices_var="INVERTER_DEVICES"
    ),
    Service("bms", "solarstack.services.bms.main", "bms", "bms", 9100, devices_var="BMS_DEVICES"),
    Service("weather", "solarstack.services.weather.main", "weather", "weather", 9100, devices_var="WEATHER_DEVICES"),
    Service(
        "hoymiles", "solarstack.services.hoymiles.main", "hoymiles", "hoymiles", 9100, devices_var="HOYMILES_DEVICES"
    ),
    Service(
        "house",
        "solarstack.services.house.main",
        "house",
        "house-sensor",
        9100,
        devices_var="HOUSE_DEVICES",
        demo_devices="bme280+i2c://1/0x76?name=house&fake=plant",
    ),
    # after the readers, so it finds their retained catalogues; before the web
    Service("collector", "solarstack.services.collector.main", "collector", "collector", 9100),
    Service("web", "solarstack.services.web.main", "web", "web", 8080, port_var="WEB_PORT"),
)

SIMULATORS: tuple[Simulator, ...] = (
    Simulator("inverter", "solarstack.sim.inverter", "sim-inverter", 8899, "inverter", "inverter", "pi30"),
    Simulator("bms", "solarstack.sim.bms", "sim-bms", 8898, "bms", "bms", "jkserial", ("--protocol", "jkserial")),
    # the plant's site (latitude 45, solar time = UTC) and its 4 kWp as an east and a west roof
    Simulator(
        "weather",
        "solarstack.sim.weather",
        "sim-weather",
        8897,
        "weather",
        "weather",
        "openmeteo",
        transport="http",
        options="latitude=45&longitude=0&timezone=GMT&arrays=east:2.2:30:90:14;west:2.2:30:270:14",
    ),
    # a DTU with two microinverters (2 and 4 ports) on the plant's sun
    Simulator(
        "hoymiles",
        "solarstack.sim.hoymiles",
        "sim-hoymiles",
        10081,
        "hoymiles",
        "roof",
        "hoymiles",
        ("--inverters", "2"),
        options="inverters=114410000000;116410001111",  # the simulated serials: the ACL's scope
    ),
)

#: MQTT users that are not solarstack services: Home Assistant (compose profile `ha`) and the
#: broker's own healthcheck (a random password made at each start, mosquitto/entrypoint.sh).
OTHER_MQTT_USERS = ("homeassistant", "healthcheck")


def readers() -> tuple[Service, ...]:
    return tuple(s for s in SERVICES if s.devices_var)
